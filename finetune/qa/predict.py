"""Prediction with a question-answering model: `QuestionAnswerer`, what load_predictor returns for one
(finetune/predictor.py): answers taken from the context, with their character span and score.

    answerer = load_predictor("runs/squad")
    answerer("Who wrote it?", "It was written by Pina Bausch.")   -> PredictedAnswer(text, start, end, score)
    answerer([("Who wrote it?", "It was written by ..."), ...])  -> a list (None: no span allowed)

    bert-predict --model runs/squad --question "Who wrote it?" --context "It was written by Pina Bausch."
    bert-predict --model runs/squad --input questions.jsonl --output answers.jsonl

--input: JSON lines, each an object with "question" and "context" strings (and optionally "id"). Each
answer is written as a JSON line: id (the input's, or its line number), question, answer, start, end
(characters [start, end) of the context) and score (start logit + end logit), to --output or stdout.
Windows and decoding follow the `bert-finetune` run that wrote the model (its summary.json), so a
long context is read the way the model was trained to read it; defaults otherwise.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

from bert.errors import InputError
from finetune.qa.decoding import Decoding, PredictedAnswer
from finetune.qa.family import QuestionAnswering
from finetune.qa.squad import QuestionExample
from finetune.qa.windows import Windowing
from finetune.run_summary import run_summary_file
from finetune.table_files import read_utf8
from tokenizer.text_files import check_unicode
from training import DistributedContext, Precision


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


def format_answer(answer: PredictedAnswer | None) -> str:
    if answer is None:
        return "(no answer: the context has no span the model may choose)"
    return f"{answer.text}\n  span   characters {answer.start}-{answer.end} of the context\n  score  {answer.score:.4f}"


def answer_record(example: QuestionExample, answer: PredictedAnswer | None) -> dict:
    record = {"id": example.id, "question": example.question}
    if answer is None:
        return record | {"answer": "", "start": None, "end": None, "score": None}
    return record | {"answer": answer.text, "start": answer.start, "end": answer.end, "score": round(answer.score, 4)}


class QuestionAnswerer:
    """A fine-tuned question-answering model as a callable; see the module docstring."""

    def __init__(self, model, tokenizer, family: QuestionAnswering, batch_size: int = 64,
                 precision: Precision | None = None, ctx: DistributedContext | None = None):
        if family.windowing.max_seq_length > model.config.max_position_embeddings:
            raise InputError(f"--max-seq-length {family.windowing.max_seq_length} is longer than the model's "
                             f"{model.config.max_position_embeddings} positions")
        self.model, self.tokenizer, self.family = model, tokenizer, family
        self.batch_size, self.precision, self.ctx = batch_size, precision, ctx

    @classmethod
    def for_model(cls, model_dir: Path, model, tokenizer, max_seq_length: int | None, batch_size: int,
                  precision: Precision, ctx: DistributedContext) -> "QuestionAnswerer":
        return cls(model, tokenizer, fine_tuned_family(model_dir, max_seq_length), batch_size, precision, ctx)

    def __call__(self, question: str | list, context: str | None = None):
        """(question, context) -> its answer; a list of (question, context) pairs -> a list of answers."""
        if isinstance(question, str):
            if not isinstance(context, str):
                raise InputError("give a question and its context, both strings")
            return self.predict([checked_question("1", question, context, "the question")])[0]
        if context is not None or not all(isinstance(pair, (tuple, list)) and len(pair) == 2 for pair in question):
            raise InputError("give a question and its context, or a list of (question, context) pairs")
        return self.predict([checked_question(str(i), q, c, f"pair {i}")
                             for i, (q, c) in enumerate(question, start=1)])

    def predict(self, examples: list[QuestionExample]) -> list[PredictedAnswer | None]:
        """The best answer to each question (None when no span of its context is allowed)."""
        windows = self.family.encode(self.tokenizer, examples, labelled=False)
        answers = self.family.answer(self.model, windows, self.batch_size, self.tokenizer.pad_token_id, self.ctx,
                                     self.precision)
        return [answers[example.id][0] if answers[example.id] else None for example in examples]

    # bert-predict's side: where questions come from and how answers are written
    def read_examples(self, options) -> list[QuestionExample]:
        if options.texts:
            raise InputError("this model answers questions: give --question and --context, or --input FILE "
                             "(JSON lines with question and context)")
        if options.text_columns is not None:
            raise InputError("this model answers questions: its --input is JSON lines of \"question\" and "
                             "\"context\", without --text-columns")
        if options.input is not None:
            return read_questions(options.input)
        return [checked_question("1", options.question, options.context, "--question/--context")]

    def format(self, examples: list[QuestionExample], answers: list[PredictedAnswer | None], from_file: bool,
               as_jsonl: bool) -> str:
        if not from_file:
            return format_answer(answers[0]) + "\n"
        return "".join(json.dumps(answer_record(e, a), ensure_ascii=False) + "\n" for e, a in zip(examples, answers))
