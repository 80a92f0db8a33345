"""`bert-predict`: run a fine-tuned classifier on your own sentences.

    bert-predict --model runs/cola "The book was written by John."
    bert-predict --model runs/mrpc/seed-1/model "He left early." "He did not stay long."
    bert-predict --model runs/mrpc --input pairs.tsv --output predictions.tsv
    bert-predict --model runs/ner "Angela Merkel visited Paris on Tuesday."
    bert-predict --model runs/squad --question "Who wrote it?" --context "It was written by Pina Bausch."

A token classifier (config.json's architecture, e.g. BertForTokenClassification from `bert-finetune --task
conll2003`) prints the text's entities instead: character offsets, type, score and the entity's text, one
per line (finetune/predict_entities.py); with --input, TSV rows `index start end type score entity`, or one
JSON object per text.

--model is a model directory (config.json, model.safetensors, vocab.txt; BERT or DistilBERT), a
`bert-finetune` output directory, whose best model (summary.json's best_model) is used, or a Hugging Face Hub
id of a fine-tuned classifier (fetched into the HF cache; read from there offline). Texts are cut to the
length the model was fine-tuned with, as recorded in that summary.json (128 where no summary is found;
--max-seq-length).

--input formats: `.jsonl` — one object per line with "text" and optionally "pair";
anything else — TSV, one example per line, `text` or `text<TAB>pair`, no header.
With --text-columns NAME[,NAME], --input is read as bert-finetune reads your own files (CSV, TSV or JSON lines
with a header; finetune/table_files.py) and the text (and pair) come from those columns.
Results go to --output (JSON lines if it ends in .jsonl, TSV otherwise) or to stdout as TSV.

A question-answering model (config.json's architectures: *ForQuestionAnswering, from `bert-finetune --task
squad`) takes --question and --context, or --input with JSON lines of "question" and "context": see
finetune.qa.predict.

--onnx: --model is a folder written by bert-export, run in ONNX Runtime (fp32) instead of PyTorch.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from bert.files import atomic_write
from finetune.checkpoint import CLASSIFIERS, find_checkpoint, load_classifier
from finetune.data import EncodedSplit
from finetune.export.onnx_runner import load_onnx_model
from bert.errors import InputError
from finetune.evaluate import predict_logits
from finetune.file_task import parse_text_columns
from finetune.table_files import read_table, read_utf8
from finetune.predict_entities import find_entities, format_entities, format_entity_file, is_token_classifier, single_texts
from finetune.token_classification import TOKEN_CLASSIFIERS
from finetune.qa import predict as qa_predict
from finetune.run_summary import resolve_model_dir, run_summary_file
from finetune.train import Recipe
from tokenizer.text_files import check_text_arguments, check_unicode
from training import Precision, add_precision_flag, choose_precision

DEFAULT_MAX_LENGTH = Recipe.max_seq_length  # bert-finetune's default --max-seq-length


@dataclass
class Prediction:
    text: str
    pair: str | None
    label: str  # the class name, or the score as text for a regression model
    probabilities: dict[str, float] | None  # class name -> probability; None for regression


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bert-predict", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.split("\n")[2:]))
    p.add_argument("--model", required=True,
                   help="model directory, bert-finetune output directory, or Hugging Face Hub model id")
    p.add_argument("texts", nargs="*", metavar="TEXT", help='a sentence, or a sentence pair: "first" "second"')
    p.add_argument("--question", help="a question about --context (question-answering models)")
    p.add_argument("--context", help="the text that holds --question's answer")
    p.add_argument("--input", type=Path, help="predict every line of a .tsv or .jsonl file")
    p.add_argument("--text-columns", metavar="NAME[,NAME]",
                   help="read --input as a table with a header (CSV, TSV or JSON lines) and take the text, or a "
                        "pair, from these columns")
    p.add_argument("--output", type=Path, help="where --input's predictions go (default: stdout)")
    p.add_argument("--batch-size", type=int, default=64, help="default: %(default)s")
    p.add_argument("--max-seq-length", type=int,
                   help="truncate to this many tokens (default: the length the model was fine-tuned with, from "
                        f"bert-finetune's summary.json; {DEFAULT_MAX_LENGTH} without one)")
    p.add_argument("--onnx", action="store_true",
                   help="--model is a bert-export folder: run its model.onnx in ONNX Runtime")
    add_precision_flag(p)
    args = p.parse_args(argv)
    if (args.question is None) != (args.context is None):
        p.error("--question and --context go together")
    if args.question is not None and (args.texts or args.input):
        p.error("give --question and --context, or TEXT, or --input FILE: one of them")
    if args.question is None and bool(args.texts) == bool(args.input):
        p.error("give either one sentence (or two, for a pair) or --input FILE")
    if args.text_columns is not None and args.input is None:
        p.error("--text-columns names columns of --input's file")
    if len(args.texts) > 2:
        p.error(f"expected a sentence or a sentence pair, got {len(args.texts)} texts (quote each sentence)")
    if args.batch_size < 1:
        p.error(f"--batch-size must be at least 1, got {args.batch_size}")
    return args


def fine_tuned_length(model_dir: Path) -> int | None:
    """The --max-seq-length of the bert-finetune run that wrote `model_dir` (OUT/seed-N/model), if known."""
    summary = run_summary_file(model_dir)
    if not summary.is_file():
        return None
    try:
        return int(json.loads(summary.read_text())["recipe"]["max_seq_length"])
    except (ValueError, KeyError, TypeError):
        return None


def read_inputs(path: Path) -> list[tuple[str, str | None]]:
    """(text, pair or None) per example of a .jsonl or .tsv file; bad lines name file and line."""
    examples = []
    # Lines end at "\n" only: JSON strings may hold U+2028 and other breaks that splitlines() would cut at.
    for line_no, line in enumerate(read_utf8(path).split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        where = f"{path}:{line_no}"
        examples.append(_jsonl_example(line, where) if path.suffix == ".jsonl" else _tsv_example(line, where))
    if not examples:
        raise InputError(f"{path}: no examples in the file")
    return examples


def read_table_inputs(path: Path, text_columns: str) -> list[tuple[str, str | None]]:
    """(text, pair or None) per row of a CSV, TSV or JSON-lines table, from the columns --text-columns names."""
    names = parse_text_columns(text_columns)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    table = read_table(path)
    for name in names:
        table.require_column(name, "--text-columns")
    return [(table.cell(row, names[0]), table.cell(row, names[1]) if len(names) == 2 else None)
            for row in table.rows]


def _jsonl_example(line: str, where: str) -> tuple[str, str | None]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        raise InputError(f"{where}: not valid JSON ({e.msg})") from None
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        raise InputError(f'{where}: expected an object with a "text" string (and optionally "pair")')
    pair = record.get("pair")
    if pair is not None and not isinstance(pair, str):
        raise InputError(f'{where}: "pair" must be a string')
    check_unicode(record["text"], f'{where}: "text"')  # JSON can spell a lone surrogate ("\\ud800")
    if pair is not None:
        check_unicode(pair, f'{where}: "pair"')
    return record["text"], pair


def _tsv_example(line: str, where: str) -> tuple[str, str | None]:
    fields = line.split("\t")
    if len(fields) > 2:
        raise InputError(f"{where}: expected `text` or `text<TAB>pair`, found {len(fields)} tab-separated fields")
    return fields[0], fields[1] if len(fields) == 2 else None


def predict(model, tokenizer, examples: list[tuple[str, str | None]], batch_size: int,
            max_length: int, precision: Precision | None = None) -> list[Prediction]:
    """Classify (or score) every (text, pair) in batches of similar length."""
    encodings = [tokenizer.encode(text, pair, max_length=max_length) for text, pair in examples]
    split = EncodedSplit(examples=[], input_ids=[list(e.ids) for e in encodings],
                         token_type_ids=[list(e.token_type_ids) for e in encodings], labels=None)
    logits = predict_logits(model, split, batch_size, tokenizer.pad_token_id, precision=precision)
    if model.config.num_labels == 1:
        return [Prediction(text, pair, f"{score:.4f}", None) for (text, pair), score in zip(examples, logits[:, 0].tolist())]
    names = [model.config.id2label[i] for i in range(model.config.num_labels)] if model.config.id2label \
        else [f"LABEL_{i}" for i in range(model.config.num_labels)]
    predictions = []
    for (text, pair), p in zip(examples, logits.softmax(dim=-1)):
        predictions.append(Prediction(text, pair, names[int(p.argmax())],
                                      {name: round(float(v), 4) for name, v in zip(names, p)}))
    return predictions


def format_single(prediction: Prediction) -> str:
    """The label on the first line, then every class with its probability."""
    if prediction.probabilities is None:
        return f"score {prediction.label}"
    width = max(len(name) for name in prediction.probabilities)
    lines = [f"{prediction.label} ({prediction.probabilities[prediction.label]:.4f})"]
    lines += [f"  {name.ljust(width)}  {p:.4f}" for name, p in prediction.probabilities.items()]
    return "\n".join(lines)


def format_file(predictions: list[Prediction], as_jsonl: bool) -> str:
    if as_jsonl:
        return "".join(json.dumps({k: v for k, v in vars(p).items() if v is not None}) + "\n" for p in predictions)
    has_pair = any(p.pair is not None for p in predictions)
    is_regression = predictions[0].probabilities is None
    header = ["text"] + (["pair"] if has_pair else []) + (["score"] if is_regression else ["label", "probability"])
    rows = ["\t".join(header)]
    for p in predictions:
        row = [p.text] + ([p.pair or ""] if has_pair else []) + [p.label]
        if not is_regression:
            row.append(f"{p.probabilities[p.label]:.4f}")
        rows.append("\t".join(" ".join(cell.split()) for cell in row))
    return "\n".join(rows) + "\n"


def onnx_precision(requested: str) -> Precision:
    """An exported graph runs as it was exported, in fp32."""
    if requested not in ("auto", "fp32"):
        raise InputError(f"--onnx runs the exported fp32 graph: --precision {requested} does not apply to it")
    return Precision("fp32", "cpu", "the exported ONNX graph, in ONNX Runtime")


def run(args: argparse.Namespace) -> None:
    check_text_arguments(*args.texts, args.question, args.context)
    model_dir = resolve_model_dir(find_checkpoint(args.model))
    precision = onnx_precision(args.precision) if args.onnx else choose_precision(args.precision, torch.device("cpu"))
    if qa_predict.is_question_answerer(model_dir):
        if args.text_columns is not None:
            raise InputError(f"{model_dir} answers questions: its --input is JSON lines of \"question\" and "
                             "\"context\", without --text-columns")
        print(precision.describe(), file=sys.stderr)
        return qa_predict.run(args, model_dir, precision)
    if args.question is not None:
        raise InputError(f"{model_dir} is a classifier, not a question-answering model: give TEXT (or a pair)")
    if args.input is None:
        examples = [(args.texts[0], args.texts[1] if len(args.texts) > 1 else None)]
    elif args.text_columns is not None:
        examples = read_table_inputs(args.input, args.text_columns)
    else:
        examples = read_inputs(args.input)
    tags_tokens = is_token_classifier(model_dir)  # a NER model: entity spans (finetune/predict_entities.py)
    texts = single_texts(examples) if tags_tokens else None
    model, tokenizer = load_onnx_model(model_dir, outputs=("logits",)) if args.onnx else \
        load_classifier(model_dir, TOKEN_CLASSIFIERS if tags_tokens else CLASSIFIERS)
    print(precision.describe(), file=sys.stderr)
    max_length = args.max_seq_length or fine_tuned_length(model_dir) or DEFAULT_MAX_LENGTH
    as_jsonl = args.output is not None and args.output.suffix == ".jsonl"
    if tags_tokens:
        found = find_entities(model, tokenizer, texts, args.batch_size, max_length, precision)
        text = format_entity_file(texts, found, as_jsonl) if args.input else format_entities(found[0])
    else:
        predictions = predict(model, tokenizer, examples, args.batch_size, max_length, precision)
        text = format_file(predictions, as_jsonl) if args.input else format_single(predictions[0]) + "\n"
    if args.output is None or not args.input:  # one text's answer is always printed
        sys.stdout.write(text)
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(args.output, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
        print(f"{len(examples)} predictions written to {args.output}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with torch.no_grad():
            run(args)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
