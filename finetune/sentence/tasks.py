"""The GLUE tasks: one table that describes all of them, and the readers.

Every task is a `GlueTask` row: where its files are, which columns hold the
sentence(s) and the label, which labels exist, and which metrics GLUE scores it
with. The two readers turn either the standard GLUE TSV files (`--data-dir`) or
the Hugging Face Hub copy (`nyu-mll/glue`, through `datasets`) into the same
list of `Example`s, so nothing after this module knows where the data came from.

Label order: a classification label is stored as its position in
`task.labels`. That order is the Hub's `ClassLabel` order, so a Hub label id
and a TSV label string give the same number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bert.errors import InputError

HUB_DATASET = "nyu-mll/glue"


@dataclass(frozen=True)
class Example:
    """One sentence (or sentence pair) with its label.

    label: class index into `task.labels`, a float score for regression
    (STS-B), the sorted class indices of a multi-label example, or None for
    unlabelled test data.
    index: the row's id (GLUE submissions are keyed by it).
    """

    text_a: str
    text_b: str | None
    label: int | float | tuple[int, ...] | None
    index: str


@dataclass(frozen=True)
class Split:
    """One evaluation or test file of a task.

    name: used for output files and, when it is not the task's first dev
    split, as a metric suffix (MNLI's `accuracy_mismatched`).
    tsv: file name inside the task's GLUE folder.
    hub: the split's name in `nyu-mll/glue`.
    submission: for test splits, the file name GLUE's leaderboard expects.
    """

    name: str
    tsv: str
    hub: str
    submission: str | None = None


@dataclass(frozen=True)
class GlueTask:
    """Everything task-specific, so the training code has no `if task == ...`.

    text_columns: TSV header names of the sentence column(s); the same names
    are used in train, dev and test files.
    labels: label values as written in the TSV files and in GLUE submissions,
    in the Hub's order; empty for regression.
    label_names: readable names for the same labels (the model's id2label).
    metrics: metric names; the first one picks the best epoch.
    headerless_columns: column names for train/dev files that have no header
    line (only CoLA's); their test file does have one.
    """

    name: str
    folder: str
    hub_config: str
    text_columns: tuple[str, ...]
    hub_text_columns: tuple[str, ...]
    label_column: str
    labels: tuple[str, ...]
    label_names: tuple[str, ...]
    metrics: tuple[str, ...]
    dev_splits: tuple[Split, ...]
    test_splits: tuple[Split, ...]
    index_column: str = "index"
    headerless_columns: tuple[str, ...] | None = None
    train_split: Split = field(default=Split("train", "train.tsv", "train"))
    multi_label: bool = False  # any number of labels per example (the user's files with --multi-label)
    label_separator: str = ","  # multi-label: between the labels of a cell, in files read and written
    threshold: float = 0.5  # multi-label: a label is predicted where its probability is above this

    @property
    def is_regression(self) -> bool:
        return not self.labels

    @property
    def num_labels(self) -> int:
        """Size of the classifier's output: 1 for regression."""
        return len(self.labels) or 1

    @property
    def is_pair(self) -> bool:
        return len(self.text_columns) == 2

    @property
    def main_metric(self) -> str:
        return self.metrics[0]


def _dev(hub: str = "validation") -> tuple[Split, ...]:
    return (Split("dev", "dev.tsv", hub),)


def _test(submission: str) -> tuple[Split, ...]:
    return (Split("test", "test.tsv", "test", submission),)


_BINARY = ("0", "1")
_ENTAILMENT = ("entailment", "not_entailment")

TASKS: dict[str, GlueTask] = {t.name: t for t in [
    GlueTask(
        name="cola", folder="CoLA", hub_config="cola",
        text_columns=("sentence",), hub_text_columns=("sentence",),
        label_column="label", labels=_BINARY, label_names=("unacceptable", "acceptable"),
        metrics=("mcc",), dev_splits=_dev(), test_splits=_test("CoLA.tsv"),
        headerless_columns=("source", "label", "original_label", "sentence"),
    ),
    GlueTask(
        name="sst2", folder="SST-2", hub_config="sst2",
        text_columns=("sentence",), hub_text_columns=("sentence",),
        label_column="label", labels=_BINARY, label_names=("negative", "positive"),
        metrics=("accuracy",), dev_splits=_dev(), test_splits=_test("SST-2.tsv"),
    ),
    GlueTask(
        name="mrpc", folder="MRPC", hub_config="mrpc",
        text_columns=("#1 String", "#2 String"), hub_text_columns=("sentence1", "sentence2"),
        label_column="Quality", labels=_BINARY, label_names=("not_equivalent", "equivalent"),
        metrics=("f1", "accuracy"), dev_splits=_dev(), test_splits=_test("MRPC.tsv"),
    ),
    GlueTask(
        name="qqp", folder="QQP", hub_config="qqp",
        text_columns=("question1", "question2"), hub_text_columns=("question1", "question2"),
        label_column="is_duplicate", labels=_BINARY, label_names=("not_duplicate", "duplicate"),
        metrics=("f1", "accuracy"), dev_splits=_dev(), test_splits=_test("QQP.tsv"),
        index_column="id",
    ),
    GlueTask(
        name="stsb", folder="STS-B", hub_config="stsb",
        text_columns=("sentence1", "sentence2"), hub_text_columns=("sentence1", "sentence2"),
        label_column="score", labels=(), label_names=(),
        metrics=("pearson", "spearman"), dev_splits=_dev(), test_splits=_test("STS-B.tsv"),
    ),
    GlueTask(
        name="mnli", folder="MNLI", hub_config="mnli",
        text_columns=("sentence1", "sentence2"), hub_text_columns=("premise", "hypothesis"),
        label_column="gold_label", labels=("entailment", "neutral", "contradiction"),
        label_names=("entailment", "neutral", "contradiction"), metrics=("accuracy",),
        dev_splits=(Split("dev_matched", "dev_matched.tsv", "validation_matched"),
                    Split("dev_mismatched", "dev_mismatched.tsv", "validation_mismatched")),
        test_splits=(Split("test_matched", "test_matched.tsv", "test_matched", "MNLI-m.tsv"),
                     Split("test_mismatched", "test_mismatched.tsv", "test_mismatched", "MNLI-mm.tsv")),
    ),
    GlueTask(
        name="qnli", folder="QNLI", hub_config="qnli",
        text_columns=("question", "sentence"), hub_text_columns=("question", "sentence"),
        label_column="label", labels=_ENTAILMENT, label_names=_ENTAILMENT,
        metrics=("accuracy",), dev_splits=_dev(), test_splits=_test("QNLI.tsv"),
    ),
    GlueTask(
        name="rte", folder="RTE", hub_config="rte",
        text_columns=("sentence1", "sentence2"), hub_text_columns=("sentence1", "sentence2"),
        label_column="label", labels=_ENTAILMENT, label_names=_ENTAILMENT,
        metrics=("accuracy",), dev_splits=_dev(), test_splits=_test("RTE.tsv"),
    ),
    GlueTask(
        name="wnli", folder="WNLI", hub_config="wnli",
        text_columns=("sentence1", "sentence2"), hub_text_columns=("sentence1", "sentence2"),
        label_column="label", labels=_BINARY, label_names=("not_entailment", "entailment"),
        metrics=("accuracy",), dev_splits=_dev(), test_splits=_test("WNLI.tsv"),
    ),
]}

# Spellings people use for the same task ("SST-2", "sts-b", "MNLI").
_ALIASES = {"sst-2": "sst2", "sts-b": "stsb"}


def get_task(name: str) -> GlueTask:
    """Look a task up by name, case-insensitively; InputError names the known ones."""
    key = name.lower()
    key = _ALIASES.get(key, key)
    if key not in TASKS:
        raise InputError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}")
    return TASKS[key]


def metric_key(task: GlueTask, split: Split, metric: str) -> str:
    """Name of a dev metric in logs and summaries: plain for the first dev split
    (`accuracy`), suffixed for the others (`accuracy_mismatched` for MNLI)."""
    if split == task.dev_splits[0]:
        return metric
    return f"{metric}_{split.name.removeprefix('dev_')}"


# ---------------------------------------------------------------- TSV files

def read_tsv_split(task: GlueTask, data_dir: Path, split: Split, labelled: bool) -> list[Example]:
    """Read one GLUE TSV file of `task` from `data_dir/<folder>/<split.tsv>`.

    Fields are split on tabs only: GLUE text contains quote characters that
    are part of the sentence, not CSV quoting. A leading UTF-8 byte-order
    mark (MRPC) is dropped. A row with the wrong number of fields, or a label
    the task does not have, is an InputError naming the file and line.
    """
    path = Path(data_dir) / task.folder / split.tsv
    if not path.is_file():
        raise InputError(f"{path}: no such file (expected the GLUE layout <data-dir>/{task.folder}/{split.tsv})")
    with open(path, encoding="utf-8-sig", newline="") as f:
        lines = f.read().split("\n")
    if labelled and task.headerless_columns is not None:
        header, first_row_line = list(task.headerless_columns), 1
    else:
        header, first_row_line = lines[0].rstrip("\r").split("\t"), 2
        lines = lines[1:]
    columns = _column_positions(path, header, task, labelled)
    examples = []
    for line_no, line in enumerate(lines, start=first_row_line):
        line = line.rstrip("\r")
        if not line:  # the newline after the last row, or stray blank lines
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            raise InputError(f"{path}:{line_no}: expected {len(header)} tab-separated fields, found {len(fields)}")
        examples.append(_tsv_example(task, fields, columns, labelled, len(examples), f"{path}:{line_no}"))
    return examples


def _column_positions(path: Path, header: list[str], task: GlueTask, labelled: bool) -> dict[str, int]:
    """Map the columns we need to their positions in `header`."""
    wanted = list(task.text_columns) + [task.label_column if labelled else task.index_column]
    missing = [name for name in wanted if name not in header]
    if missing:
        raise InputError(f"{path}:1: header has no column {missing[0]!r} (found: {', '.join(header)})")
    return {name: header.index(name) for name in wanted}


def _tsv_example(task: GlueTask, fields: list[str], columns: dict[str, int],
                 labelled: bool, row: int, where: str) -> Example:
    texts = [fields[columns[name]] for name in task.text_columns]
    if labelled:  # train/dev rows have no id column: number them 0, 1, ... like the Hub's idx
        label, index = parse_label(task, fields[columns[task.label_column]], where), str(row)
    else:
        label, index = None, fields[columns[task.index_column]]
    return Example(texts[0], texts[1] if task.is_pair else None, label, index)


def parse_label(task: GlueTask, value: str, where: str) -> int | float:
    """A label string from a file -> class index (or float score for regression)."""
    if task.is_regression:
        try:
            return float(value)
        except ValueError:
            raise InputError(f"{where}: label {value!r} is not a number ({task.name} is a regression task)") from None
    if value not in task.labels:
        raise InputError(f"{where}: label {value!r} is not one of {task.name}'s labels ({', '.join(task.labels)})")
    return task.labels.index(value)


# ---------------------------------------------------------------- Hugging Face Hub

def read_hub_split(task: GlueTask, split: Split, labelled: bool) -> list[Example]:
    """Read one split of `nyu-mll/glue` through `datasets` (downloads on first use).

    Hub labels are already class ids in our order (-1 marks unlabelled test rows).
    """
    rows = _load_hub_rows(task, split)
    examples = []
    for row in rows:
        texts = [row[name] for name in task.hub_text_columns]
        label = row["label"]
        if not labelled or label == -1:
            label = None
        elif task.is_regression:
            label = float(label)
        elif not 0 <= label < task.num_labels:
            raise InputError(f"{HUB_DATASET}/{task.hub_config} {split.hub} row {row['idx']}: "
                             f"label id {label} is outside 0..{task.num_labels - 1}")
        examples.append(Example(texts[0], texts[1] if task.is_pair else None, label, str(row["idx"])))
    return examples


def _load_hub_rows(task: GlueTask, split: Split):
    import datasets  # imported here: TSV-only users never pay for it

    try:
        return datasets.load_dataset(HUB_DATASET, task.hub_config, split=split.hub)
    except Exception as e:  # network, cache or Hub errors all mean the same to the user
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(f"could not load {HUB_DATASET}/{task.hub_config} split {split.hub!r} from the "
                         f"Hugging Face Hub ({reason}); pass --data-dir with the GLUE TSV files instead") from None


# ---------------------------------------------------------------- both

@dataclass
class TaskData:
    """All the examples of one task: train, each dev split and each test split."""

    train: list[Example]
    dev: dict[str, list[Example]]
    test: dict[str, list[Example]]


def read_split(task: GlueTask, data_dir: Path | None, split: Split, labelled: bool) -> list[Example]:
    """One split of `task` from `data_dir` (GLUE TSVs) or, if None, the Hub."""
    if data_dir is None:
        return read_hub_split(task, split, labelled)
    return read_tsv_split(task, data_dir, split, labelled)


def load_task_data(task: GlueTask, data_dir: Path | None) -> TaskData:
    """Read every split of `task` from `data_dir` (GLUE TSVs) or, if None, the Hub.

    A missing test file is not an error (many GLUE copies ship without them):
    that split is simply left out and no submission file is written for it.
    """
    def has_test(split: Split) -> bool:
        return data_dir is None or (Path(data_dir) / task.folder / split.tsv).is_file()

    if data_dir is not None and not (Path(data_dir) / task.folder).is_dir():
        raise InputError(f"{Path(data_dir) / task.folder}: no such directory (--data-dir must hold the GLUE "
                         f"task folders, e.g. {task.folder}/train.tsv)")
    return TaskData(
        train=read_split(task, data_dir, task.train_split, labelled=True),
        dev={split.name: read_split(task, data_dir, split, labelled=True) for split in task.dev_splits},
        test={split.name: read_split(task, data_dir, split, labelled=False)
              for split in task.test_splits if has_test(split)},
    )
