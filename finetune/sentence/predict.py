"""Prediction with a sentence(-pair) classifier or regressor: `TextClassifier`, what load_predictor returns
for one (finetune/predictor.py), and bert-predict's input files and output formats for it.

    classifier = load_predictor("runs/mrpc")
    classifier("He left early.")                           -> Prediction(label, probabilities)
    classifier(("He left early.", "He did not stay long."))  a pair
    classifier(["one text", ("a", "pair")])                -> [Prediction, Prediction]

Texts are cut to the length the model was fine-tuned with (its run's summary.json), 128 without one.

bert-predict's --input: `.jsonl`, one object per line with "text" and optionally "pair"; anything else TSV,
one example per line, `text` or `text<TAB>pair`, no header. With --text-columns NAME[,NAME] the file is read
as bert-finetune reads your own files (CSV, TSV or JSON lines with a header; finetune/table_files.py).
Results are JSON lines (an --output ending in .jsonl) or TSV.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from finetune.data import EncodedSplit
from finetune.sentence.evaluate import predict_logits
from finetune.sentence.file_task import parse_text_columns
from finetune.run_summary import DEFAULT_THRESHOLD, fine_tuned_length, recorded_value
from finetune.table_files import read_table, read_utf8
from tokenizer.text_files import check_unicode
from training import DistributedContext, Precision
from bert.errors import InputError


@dataclass
class Prediction:
    text: str
    pair: str | None
    label: str | None  # the class name, or the score as text for a regression model; None for multi-label
    probabilities: dict[str, float] | None  # class name -> probability (6 decimals); None for regression
    labels: list[str] | None = None  # multi-label: every label over the threshold, most probable first


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


def is_multi_label(model) -> bool:
    return model.config.problem_type == "multi_label_classification"


def predict(model, tokenizer, examples: list[tuple[str, str | None]], batch_size: int,
            max_length: int, precision: Precision | None = None,
            ctx: DistributedContext | None = None, threshold: float = DEFAULT_THRESHOLD) -> list[Prediction]:
    """Classify (or score) every (text, pair) in batches of similar length. A multi-label model (config.json's
    problem_type multi_label_classification) gives each label a sigmoid probability, and predicts those over
    `threshold`."""
    encodings = [tokenizer.encode(text, pair, max_length=max_length) for text, pair in examples]
    split = EncodedSplit(examples=[], input_ids=[list(e.ids) for e in encodings],
                         token_type_ids=[list(e.token_type_ids) for e in encodings], labels=None)
    logits = predict_logits(model, split, batch_size, tokenizer.pad_token_id, ctx, precision)
    if model.config.num_labels == 1:
        return [Prediction(text, pair, f"{score:.4f}", None) for (text, pair), score in zip(examples, logits[:, 0].tolist())]
    names = [model.config.id2label[i] for i in range(model.config.num_labels)] if model.config.id2label \
        else [f"LABEL_{i}" for i in range(model.config.num_labels)]
    predictions = []
    if is_multi_label(model):
        for (text, pair), p in zip(examples, logits.sigmoid()):
            over = sorted((i for i in range(len(names)) if p[i] > threshold), key=lambda i: -float(p[i]))
            predictions.append(Prediction(text, pair, None, {name: round(float(v), 6) for name, v in zip(names, p)},
                                          [names[i] for i in over]))
        return predictions
    for (text, pair), p in zip(examples, logits.softmax(dim=-1)):
        predictions.append(Prediction(text, pair, names[int(p.argmax())],
                                      {name: round(float(v), 6) for name, v in zip(names, p)}))
    return predictions


def format_single(prediction: Prediction) -> str:
    """The label on the first line, then every class with its probability."""
    if prediction.probabilities is None:
        return f"score {prediction.label}"
    width = max(len(name) for name in prediction.probabilities)
    if prediction.labels is not None:  # multi-label: the labels over the threshold, then every label
        chosen = ", ".join(f"{name} ({prediction.probabilities[name]:.4f})" for name in prediction.labels)
        lines = [chosen or "no label over the threshold"]
    else:
        lines = [f"{prediction.label} ({prediction.probabilities[prediction.label]:.4f})"]
    lines += [f"  {name.ljust(width)}  {p:.4f}" for name, p in prediction.probabilities.items()]
    return "\n".join(lines)


def format_file(predictions: list[Prediction], as_jsonl: bool, label_separator: str = ",") -> str:
    """The predictions as JSON lines, or as TSV rows under a header; a multi-label cell joins its labels (and
    their probabilities) with `label_separator`, the run's, which no label holds."""
    if as_jsonl:
        return "".join(json.dumps({k: v for k, v in vars(p).items() if v is not None}) + "\n" for p in predictions)
    has_pair = any(p.pair is not None for p in predictions)
    is_regression = predictions[0].probabilities is None
    if predictions[0].labels is not None:  # multi-label: the labels over the threshold and their probabilities
        header = ["text"] + (["pair"] if has_pair else []) + ["labels", "probabilities"]
        rows = ["\t".join(header)]
        for p in predictions:
            row = [p.text] + ([p.pair or ""] if has_pair else []) + [
                label_separator.join(p.labels),
                label_separator.join(f"{p.probabilities[name]:.4f}" for name in p.labels)]
            rows.append("\t".join(" ".join(cell.split()) for cell in row))
        return "\n".join(rows) + "\n"
    header = ["text"] + (["pair"] if has_pair else []) + (["score"] if is_regression else ["label", "probability"])
    rows = ["\t".join(header)]
    for p in predictions:
        row = [p.text] + ([p.pair or ""] if has_pair else []) + [p.label]
        if not is_regression:
            row.append(f"{p.probabilities[p.label]:.4f}")
        rows.append("\t".join(" ".join(cell.split()) for cell in row))
    return "\n".join(rows) + "\n"


class TextPredictor:
    """What the predictors of raw text share (TextClassifier here, the token family's EntityTagger): the model,
    its tokenizer and how texts are cut and batched, and where bert-predict's texts come from."""

    def __init__(self, model, tokenizer, max_length: int, batch_size: int = 64, precision: Precision | None = None,
                 ctx: DistributedContext | None = None):
        self.model, self.tokenizer, self.max_length = model, tokenizer, max_length
        self.batch_size, self.precision, self.ctx = batch_size, precision, ctx

    @classmethod
    def for_model(cls, model_dir: Path, model, tokenizer, max_seq_length: int | None, batch_size: int,
                  precision: Precision, ctx: DistributedContext):
        """load_predictor's way in: texts cut where the model's fine-tuning cut them unless max_seq_length says."""
        return cls(model, tokenizer, max_seq_length or fine_tuned_length(model_dir), batch_size, precision, ctx)

    def text_examples(self, options) -> list[tuple[str, str | None]]:
        """bert-predict's (text, pair or None) examples: its TEXT arguments, or its --input file."""
        if options.input is None:
            return [(options.texts[0], options.texts[1] if len(options.texts) > 1 else None)]
        if options.text_columns is not None:
            return read_table_inputs(options.input, options.text_columns)
        return read_inputs(options.input)


class TextClassifier(TextPredictor):
    """A fine-tuned sentence(-pair) classifier (or regressor) as a callable; see the module docstring. A
    multi-label classifier predicts the labels over `threshold`: its run's (summary.json), 0.5 without one;
    bert-predict's TSV joins them with the run's --label-separator ("," without one)."""

    threshold = DEFAULT_THRESHOLD
    label_separator = ","

    @classmethod
    def for_model(cls, model_dir: Path, model, tokenizer, max_seq_length: int | None, batch_size: int,
                  precision: Precision, ctx: DistributedContext):
        predictor = super().for_model(model_dir, model, tokenizer, max_seq_length, batch_size, precision, ctx)
        recorded = recorded_value(model_dir, "multi_label") or {}  # the multi-label run's --threshold, --label-separator
        predictor.threshold = float(recorded.get("threshold", DEFAULT_THRESHOLD))
        predictor.label_separator = recorded.get("label_separator", ",")
        return predictor

    def __call__(self, inputs: str | tuple[str, str] | list) -> Prediction | list[Prediction]:
        single = isinstance(inputs, (str, tuple))
        examples = [text_example(item) for item in ([inputs] if single else inputs)]
        predictions = self.predict(examples)
        return predictions[0] if single else predictions

    def predict(self, examples: list[tuple[str, str | None]]) -> list[Prediction]:
        return predict(self.model, self.tokenizer, examples, self.batch_size, self.max_length, self.precision,
                       self.ctx, self.threshold)

    # bert-predict's side: where examples come from and how answers are written
    def read_examples(self, options) -> list[tuple[str, str | None]]:
        if options.question is not None:
            raise InputError("this model is a classifier, not a question-answering model: give TEXT (or a pair)")
        return self.text_examples(options)

    def format(self, examples: list, predictions: list[Prediction], from_file: bool, as_jsonl: bool) -> str:
        if from_file:
            return format_file(predictions, as_jsonl, self.label_separator)
        return format_single(predictions[0]) + "\n"


def text_example(item) -> tuple[str, str | None]:
    """A text, or a (text, pair) tuple, checked: what the tokenizer can take."""
    text, pair = (item, None) if isinstance(item, str) else tuple(item) if len(item) == 2 else (None, None)
    if not isinstance(text, str) or not isinstance(pair, (str, type(None))):
        raise InputError(f"expected a text or a (text, pair) tuple of strings, got {item!r}")
    check_unicode(text, "the text")
    if pair is not None:
        check_unicode(pair, "the pair")
    return text, pair
