"""`bert-predict` for a question-answering model: answers taken from the context, with span and score.

    bert-predict --model runs/squad --question "Who wrote it?" --context "It was written by Pina Bausch."
    bert-predict --model runs/squad --input questions.jsonl --output answers.jsonl

--input: JSON lines, each an object with "question" and "context" strings (and optionally "id"). Each
answer is written as a JSON line: id (the input's, or its line number), question, answer, start, end
(characters [start, end) of the context) and score (start logit + end logit), to --output or stdout.
Windows and decoding follow the `bert-finetune` run that wrote the model (its summary.json), so a
long context is read the way the model was trained to read it; defaults otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

from bert.errors import InputError
from bert.files import atomic_write
from finetune.export.onnx_runner import load_onnx_model
from finetune.qa.decoding import Decoding, PredictedAnswer
from finetune.qa.family import QuestionAnswering, load_question_answerer
from finetune.qa.squad import QuestionExample
from finetune.qa.windows import Windowing
from finetune.run_summary import run_summary_file
from finetune.table_files import read_utf8
from tokenizer.text_files import check_unicode
from training import Precision


def is_question_answerer(model_dir: Path) -> bool:
    """True when config.json names a *ForQuestionAnswering architecture (what bert-finetune --task squad saves)."""
    try:
        config = json.loads((model_dir / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return any(name.endswith("ForQuestionAnswering") for name in config.get("architectures") or [])


def fine_tuned_family(model_dir: Path, max_seq_length: int | None) -> QuestionAnswering:
    """Windowing and decoding of the bert-finetune run that wrote `model_dir` (OUT/seed-N/model), where its
    summary.json is found; defaults otherwise. --max-seq-length, when given, wins: in shorter windows the
    question keeps at most half of each window, and a stride that no longer fits becomes half of what the
    context has left."""
    recorded = {}
    summary = run_summary_file(model_dir)
    if summary.is_file():
        run = json.loads(summary.read_text())
        recorded = {**run.get("windowing", {}), **run.get("decoding", {})}

    def settings(kind):
        return kind(**{f.name: recorded[f.name] for f in fields(kind) if isinstance(recorded.get(f.name), int)})

    windowing, decoding = settings(Windowing), settings(Decoding)
    if max_seq_length is not None:
        query = min(windowing.max_query_length, max_seq_length // 2)
        context_room = max_seq_length - query - 3  # [CLS] question [SEP] context [SEP]
        if context_room < 2:
            raise InputError(f"--max-seq-length {max_seq_length} leaves no room for the context")
        stride = windowing.doc_stride if windowing.doc_stride < context_room else context_room // 2
        windowing = Windowing(max_seq_length, stride, query)
    windowing.check()
    return QuestionAnswering(windowing, decoding)


def read_questions(path: Path) -> list[QuestionExample]:
    """Questions of a JSON-lines file; a bad line (or a repeated id) is an InputError naming file and line."""
    examples, lines_of_ids = [], {}
    # Lines end at "\n" only: JSON strings may hold U+2028 and other breaks that splitlines() would cut at.
    for line_no, line in enumerate(read_utf8(path).split("\n"), start=1):
        if line.strip():
            example = _question(line, f"{path}:{line_no}", line_no)
            if example.id in lines_of_ids:
                raise InputError(f"{path}:{line_no}: id {example.id!r} is also line {lines_of_ids[example.id]}'s "
                                 "(a line without an id has its line number)")
            lines_of_ids[example.id] = line_no
            examples.append(example)
    if not examples:
        raise InputError(f"{path}: no questions in the file")
    return examples


def _question(line: str, where: str, line_no: int) -> QuestionExample:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        raise InputError(f"{where}: not valid JSON ({e.msg})") from None
    except RecursionError:
        raise InputError(f"{where}: not valid JSON (nested too deep)") from None
    if not (isinstance(record, dict) and isinstance(record.get("question"), str)
            and isinstance(record.get("context"), str)):
        raise InputError(f'{where}: expected an object with "question" and "context" strings')
    return checked_question(str(record.get("id", line_no)), record["question"], record["context"], where)


def checked_question(question_id: str, question: str, context: str, where: str) -> QuestionExample:
    if not question.strip() or not context.strip():
        raise InputError(f"{where}: the question and the context must not be empty")
    check_unicode(question, f"{where}: the question")
    check_unicode(context, f"{where}: the context")
    return QuestionExample(question_id, question, context, ())


def answer_questions(model_dir: Path, examples: list[QuestionExample], batch_size: int,
                     max_seq_length: int | None, precision: Precision,
                     onnx: bool = False) -> list[PredictedAnswer | None]:
    """The best answer to each question (None when no span of its context is allowed); with `onnx`, from the
    bert-export folder's graph in ONNX Runtime."""
    model, tokenizer = load_onnx_model(model_dir, outputs=("start_logits", "end_logits")) if onnx \
        else load_question_answerer(model_dir)
    family = fine_tuned_family(model_dir, max_seq_length)
    if family.windowing.max_seq_length > model.config.max_position_embeddings:
        raise InputError(f"--max-seq-length {family.windowing.max_seq_length} is longer than the model's "
                         f"{model.config.max_position_embeddings} positions")
    windows = family.encode(tokenizer, examples, labelled=False)
    answers = family.answer(model, windows, batch_size, tokenizer.pad_token_id, precision=precision)
    return [answers[example.id][0] if answers[example.id] else None for example in examples]


def format_answer(answer: PredictedAnswer | None) -> str:
    if answer is None:
        return "(no answer: the context has no span the model may choose)"
    return f"{answer.text}\n  span   characters {answer.start}-{answer.end} of the context\n  score  {answer.score:.4f}"


def answer_record(example: QuestionExample, answer: PredictedAnswer | None) -> dict:
    record = {"id": example.id, "question": example.question}
    if answer is None:
        return record | {"answer": "", "start": None, "end": None, "score": None}
    return record | {"answer": answer.text, "start": answer.start, "end": answer.end, "score": round(answer.score, 4)}


def run(args: argparse.Namespace, model_dir: Path, precision: Precision) -> None:
    """bert-predict's path for a QA model (finetune.predict dispatches here)."""
    if args.texts:
        raise InputError(f"{model_dir} answers questions: give --question and --context, or --input FILE "
                         "(JSON lines with question and context)")
    if args.input:
        examples = read_questions(args.input)
    else:
        examples = [checked_question("1", args.question, args.context, "--question/--context")]
    answers = answer_questions(model_dir, examples, args.batch_size, args.max_seq_length, precision, args.onnx)
    if not args.input:
        print(format_answer(answers[0]))
        return
    text = "".join(json.dumps(answer_record(e, a), ensure_ascii=False) + "\n"
                   for e, a in zip(examples, answers))
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(args.output, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
        print(f"{len(answers)} answers written to {args.output}", file=sys.stderr)
