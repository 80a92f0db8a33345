"""A sentence or sentence-pair task from the user's own files: `bert-finetune` without `--task`.

    bert-finetune --train-file train.csv --validation-file dev.csv [--test-file test.csv] \\
                  --text-columns review[,second] --label-column stars --model DIR --output runs/reviews

Files: CSV, TSV or JSON lines (finetune/table_files.py). One text column makes a sentence task, two a
sentence-pair task ([CLS] a [SEP] b [SEP], as MRPC).

Labels, decided from the training file alone:
- every label is a whole number ("2", "07", "2.0"): the classes are those integers in numeric order ("2" before
  "10"), named as integers ("2.0" is class "2");
- else, with `--task-type regression` or any label that is a number with a fractional part ("2.5"):
  regression on the labels as numbers, scored by Pearson (picks the best epoch) and Spearman;
- else the classes are the label strings in sorted order ("1", "2", "good": three string classes).
`--task-type classification` keeps fractional labels as class names. With `--multi-label` a cell holds any
number of labels (none too), separated by `--label-separator` (default ",") in CSV and TSV, or as a JSON list
in JSON lines; the classes are every label of the training file, ordered as above, and each is a yes/no
decision (sigmoid outputs, binary cross-entropy; a label is predicted where its probability is over
`--threshold`), scored by micro F1 (picks the best epoch), macro F1 and exact match. The classes keep the user's names
(config.json's id2label), so bert-predict answers with them. With two classes the positive one (F1's, MCC's
sign) is the second in that order unless `--positive-label` names the other; it is then put second, so
the positive class is always class 1. Classification is scored by accuracy (picks the best epoch) and
macro F1, and with two classes also by the positive class's F1 and MCC.

The interface to the training loop. The files become the same two things `--task cola` gives:

    load_file_task(options) -> tuple[GlueTask, TaskData]   every check done, nothing written
                                                          (options: finetune.options.FinetuneOptions)

The `GlueTask` row (tasks.py) holds the columns, the class names (labels, label_names), the metrics (the
first picks the best epoch), a dev split and a test split without a submission format. From there on
everything is the GLUE code, unchanged: finetune.data.encode_split / collate, checkpoint.build_classifier
(id2label from label_names), evaluate.score, evaluate.write_predictions (dev_predictions.tsv and
test_predictions.tsv with the user's texts and label names), and train.write_test_predictions scores a
test file that has the label column ("test_accuracy", ... in summary.json).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from bert.errors import InputError
from finetune.table_files import Row, Table, read_table
from finetune.sentence.tasks import Example, GlueTask, Split, TaskData

BINARY_METRICS = ("accuracy", "macro_f1", "f1", "mcc")
MULTI_LABEL_METRICS = ("micro_f1", "macro_f1", "exact_match")
MULTICLASS_METRICS = ("accuracy", "macro_f1")
REGRESSION_METRICS = ("pearson", "spearman")

INTEGER = re.compile(r"[+-]?\d+")


# ------------------------------------------------------------------ labels

@dataclass(frozen=True)
class LabelSpace:
    """What a label cell means: the position of its class in `names`, or a score when `names` is empty."""

    names: tuple[str, ...]  # class names in class-id order; () for regression
    integer_names: bool  # the names are integers, so "07" and "7.0" are class "7"
    regression_reason: str = ""  # why this is a regression task, for the error on a label that is no number
    multi_label: bool = False  # a cell holds any number of labels: its target is their class ids, sorted

    @property
    def is_regression(self) -> bool:
        return not self.names

    def target(self, text: str | list[str], where: str) -> int | float | tuple[int, ...]:
        """A label cell -> class id or score (multi-label: the cell's labels, a list -> their class ids);
        InputError for an empty, unknown or non-numeric label."""
        if self.multi_label:
            return tuple(sorted({self.class_id(name, where) for name in text}))
        text = text.strip()
        if not text:
            raise InputError(f"{where}: the label is empty")
        if self.is_regression:
            return as_score(text, where, self.regression_reason)
        return self.class_id(text, where)

    def class_id(self, text: str, where: str) -> int:
        name = canonical_name(text, self.integer_names)
        if name not in self.names:
            shown = ", ".join(self.names[:10]) + (", ..." if len(self.names) > 10 else "")
            raise InputError(f"{where}: label {text!r} never appears in the training file (its labels: {shown})")
        return self.names.index(name)


def whole_number(text: str) -> int | None:
    """"7", "07", "+7", "7.0", "7e0" -> 7; anything else -> None."""
    if INTEGER.fullmatch(text):
        return int(text)  # exact, however many digits
    value = number(text)
    return int(value) if value is not None and value.is_integer() else None


def canonical_name(text: str, integer_names: bool) -> str:
    whole = whole_number(text) if integer_names else None
    return text if whole is None else str(whole)


def number(text: str) -> float | None:
    """The label as a finite number, or None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def has_fraction(text: str) -> bool:
    value = number(text)
    return value is not None and not value.is_integer()


def as_score(text: str, where: str, reason: str) -> float:
    value = number(text)
    if value is None:
        raise InputError(f"{where}: label {text!r} is not a number ({reason})")
    return value


def label_names(table: Table, row: Row, column: str, separator: str) -> list[str]:
    """A multi-label cell's labels: a JSON list's items, or the text split at `separator`, blanks dropped."""
    value = row.values.get(column)
    if isinstance(value, list):
        if not all(isinstance(item, (str, int, float)) and not isinstance(item, bool) for item in value):
            raise InputError(f"{table.path}:{row.line}: {column!r} must be a list of label names")
        names = [item if isinstance(item, str) else json.dumps(item) for item in value]
    else:
        names = table.cell(row, column).split(separator)
    return [name.strip() for name in names if name.strip()]


def choose_label_space(train: Table, column: str, task_type: str, positive_label: str | None,
                       multi_label: bool = False, separator: str = ",") -> LabelSpace:
    """The label space of the training file's labels; see the module docstring."""
    if multi_label:
        return multi_label_space(train, column, separator)
    labels = [(train.cell(row, column).strip(), f"{train.path}:{row.line}") for row in train.rows]
    fractional = next(((text, where) for text, where in labels if has_fraction(text)), None)
    if task_type == "regression" or (task_type == "auto" and fractional is not None):
        if positive_label is not None:
            raise InputError("--positive-label is for classification; this is a regression task")
        reason = ("--task-type regression" if task_type == "regression" else
                  f"labels with a fractional part, such as {fractional[0]!r} at {fractional[1]}, make this a "
                  "regression task; --task-type classification makes them class names")
        return LabelSpace((), False, reason)
    names, integer_names = class_names({text for text, _ in labels if text})
    if len(names) < 2:
        raise InputError(f"{train.path}: the training labels have only one class "
                         f"({', '.join(names) or 'none'}); classification needs at least two")
    return LabelSpace(put_positive_last(names, positive_label, integer_names), integer_names)


def class_names(found: set[str]) -> tuple[tuple[str, ...], bool]:
    """The classes of the labels found, in class-id order, and whether they are integers: whole numbers in
    numeric order ("2" before "10", "2.0" is "2"), else the strings sorted."""
    integer_names = all(whole_number(text) is not None for text in found)
    if integer_names:
        return tuple(str(n) for n in sorted({whole_number(text) for text in found})), True
    return tuple(sorted(found)), False


def multi_label_space(train: Table, column: str, separator: str) -> LabelSpace:
    """Every label of the training file's cells, ordered as a single-label task orders its classes."""
    names, integer_names = class_names({name for row in train.rows for name in label_names(train, row, column,
                                                                                          separator)})
    if len(names) < 2:
        raise InputError(f"{train.path}: the training labels name {len(names)} label"
                         f"{'' if len(names) == 1 else 's'} ({', '.join(names) or 'none'}); --multi-label needs "
                         f"at least two (is --label-separator {separator!r} the one the file uses?)")
    return LabelSpace(names, integer_names, multi_label=True)


def put_positive_last(names: tuple[str, ...], positive_label: str | None, integer_names: bool) -> tuple[str, ...]:
    """Two classes with --positive-label: that one becomes class 1, the class F1 and MCC count as positive."""
    if positive_label is None:
        return names
    positive = canonical_name(positive_label.strip(), integer_names)
    if len(names) != 2:
        raise InputError(f"--positive-label is for two classes; the training labels have {len(names)}")
    if positive not in names:
        raise InputError(f"--positive-label {positive_label!r} is not a training label ({', '.join(names)})")
    return tuple(name for name in names if name != positive) + (positive,)


# ------------------------------------------------------------------ the task

@dataclass(frozen=True)
class Columns:
    text: tuple[str, ...]  # one column, or two for sentence pairs
    label: str


def parse_text_columns(text_columns: str) -> tuple[str, ...]:
    """--text-columns "a" or "a,b" -> the column names; InputError for none or more than two."""
    names = tuple(name.strip() for name in text_columns.split(","))
    if len(names) > 2 or not all(names):
        raise InputError(f"--text-columns {text_columns!r}: give one column, or two for sentence pairs")
    return names


def choose_columns(options, train: Table) -> Columns:
    """--text-columns and --label-column, checked against the training file."""
    has = ", ".join(repr(c) for c in train.columns)
    if not options.text_columns or not options.label_column:
        missing = "--text-columns" if not options.text_columns else "--label-column"
        raise InputError(f"{missing} is needed with --train-file; {train.path} has: {has}")
    text = parse_text_columns(options.text_columns)
    label = options.label_column.strip()
    if label in text:
        raise InputError(f"--label-column {label!r} is also a text column")
    return Columns(text, label)


def read_examples(table: Table, columns: Columns, labels: LabelSpace | None, separator: str = ",") -> list[Example]:
    """One Example per row; labels None: an unlabelled test file."""
    examples = []
    for i, row in enumerate(table.rows):
        texts = [table.cell(row, name) for name in columns.text]
        if labels is None:
            label = None
        else:
            cell = label_names(table, row, columns.label, separator) if labels.multi_label \
                else table.cell(row, columns.label)
            label = labels.target(cell, f"{table.path}:{row.line}")
        examples.append(Example(texts[0], texts[1] if len(texts) == 2 else None, label, str(i)))
    return examples


def check_columns(table: Table, columns: Columns, need_label: bool) -> None:
    for name in columns.text:
        table.require_column(name, "--text-columns")
    if need_label:
        table.require_column(columns.label, "--label-column")


def model_label_space(config, multi_label: bool) -> LabelSpace:
    """--eval-only without --train-file: the classes of the fine-tuned model (config.json's id2label)."""
    if config.problem_type == "regression" or config.num_labels == 1:
        return LabelSpace((), False, "the model is a regressor (num_labels 1)")
    names = tuple(config.id2label[i] for i in range(config.num_labels))
    model_multi_label = config.problem_type == "multi_label_classification"
    if model_multi_label != multi_label:
        raise InputError(f"the model is a {'multi' if model_multi_label else 'single'}-label classifier: "
                         f"{'add' if model_multi_label else 'leave out'} --multi-label")
    return LabelSpace(names, all(whole_number(name) is not None for name in names), multi_label=multi_label)


def load_file_task(options, model_config=None) -> tuple[GlueTask, TaskData]:
    """The task and the examples of --train-file, --validation-file and --test-file (see module docstring).
    With --eval-only and no --train-file, the classes are `model_config`'s (the fine-tuned model's)."""
    if options.validation_file is None:
        raise InputError("--train-file needs --validation-file: the dev set that picks the best epoch")
    train = read_table(options.train_file) if options.train_file is not None else None
    dev = read_table(options.validation_file)
    columns = choose_columns(options, train or dev)
    test = read_table(options.test_file) if options.test_file is not None else None
    for table in (train, dev):
        if table is not None:
            check_columns(table, columns, need_label=True)
    if test is not None:
        check_columns(test, columns, need_label=False)

    if train is None:
        labels = model_label_space(model_config, options.multi_label)
    else:
        labels = choose_label_space(train, columns.label, options.task_type, options.positive_label,
                                    options.multi_label, options.label_separator)
    test_labelled = test is not None and test.has_column(columns.label)
    separator = options.label_separator
    data = TaskData(
        train=read_examples(train, columns, labels, separator) if train is not None else [],
        dev={"dev": read_examples(dev, columns, labels, separator)},
        test={} if test is None else {"test": read_examples(test, columns, labels if test_labelled else None,
                                                            separator)},
    )
    return describe_task(options, columns, labels), data


def describe_task(options, columns: Columns, labels: LabelSpace) -> GlueTask:
    """The task as a GlueTask row, so that the GLUE training loop runs it unchanged. It has no GLUE folder
    or Hub copy; its splits name the user's files, and its test split has no leaderboard format."""
    if labels.is_regression:
        metrics = REGRESSION_METRICS
    elif labels.multi_label:
        metrics = MULTI_LABEL_METRICS
    else:
        metrics = BINARY_METRICS if len(labels.names) == 2 else MULTICLASS_METRICS
    return GlueTask(
        name=Path(options.train_file or options.validation_file).name, folder="", hub_config="",
        text_columns=columns.text, hub_text_columns=columns.text, label_column=columns.label,
        labels=labels.names, label_names=labels.names, metrics=metrics,
        train_split=Split("train", str(options.train_file or ""), hub=""),
        dev_splits=(Split("dev", str(options.validation_file), hub=""),),
        test_splits=(Split("test", str(options.test_file), hub=""),) if options.test_file is not None else (),
        multi_label=labels.multi_label, label_separator=options.label_separator, threshold=options.threshold,
    )
