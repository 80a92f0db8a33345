"""What a fine-tuning run is configured by: `FinetuneOptions`, whose fields the bert-finetune flags map onto
(named as the flags, with underscores), validated here in one place.

A field left at None where its comment says "family" takes the default of the task's family
(finetune.train.Recipe, then the family's own `recipe`: SQuAD's 384-token windows and no clipping).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from finetune.data import BATCHINGS
from finetune.registry import family_of_task
from finetune.run_summary import recorded_value
from finetune.train import Recipe
from training import check_report_to
from bert.errors import InputError
from training.option_checks import check_field_types, checked_seeds, flag
from training.precision import CHOICES as PRECISIONS

FAMILY_DEFAULTED = ("max_seq_length", "max_grad_norm", "adam_epsilon", "adam_beta2", "batching")
TASK_TYPES = ("auto", "classification", "regression")
# what a run's record (run.json) leaves out: how it is run, not what it computes
NOT_RECORDED = ("resume", "overwrite", "precision", "output", "report_to", "progress")


@dataclass
class FinetuneOptions:
    """Everything a fine-tuning run is configured by (see `bert-finetune --help` for each field's flag)."""

    model: str  # a checkpoint folder (ours, any HF BERT or DistilBERT), a preset name, or a Hub id
    output: Path  # where the run writes its models, predictions and summary.json
    task: str | None = None  # a GLUE task, conll2003 or squad; None: the user's own --train-file
    data_dir: Path | None = None  # GLUE's or CoNLL-2003's folder (None: the HF Hub)
    vocab: Path | None = None  # a vocabulary instead of the checkpoint's own (needed with a preset)
    epochs: int = Recipe.epochs
    lr: float = Recipe.lr
    batch_size: int = Recipe.batch_size
    eval_batch_size: int = Recipe.eval_batch_size
    max_seq_length: int | None = None  # family
    warmup_ratio: float = Recipe.warmup_ratio
    weight_decay: float = Recipe.weight_decay
    max_grad_norm: float | None = None  # family; 0: no clipping
    adam_epsilon: float | None = None  # family
    adam_beta2: float | None = None  # family
    batching: str | None = None  # family: "length-grouped" or "random"
    seeds: list[int] = field(default_factory=lambda: [42])  # one run each; the median is reported
    train_file: Path | None = None  # the user's own files (CSV, TSV, JSON lines; SQuAD JSON for squad)
    validation_file: Path | None = None
    test_file: Path | None = None
    text_columns: str | list[str] | None = None  # a column name, or two for sentence pairs
    label_column: str | None = None
    task_type: str = "auto"  # or "classification", "regression"
    positive_label: str | None = None
    multi_label: bool = False  # your own files: any number of labels per example
    label_separator: str | None = None  # multi-label: between a cell's labels in CSV / TSV (None: ",")
    threshold: float | None = None  # multi-label: a label is predicted above this probability (None: 0.5)
    label_all_tokens: bool = False  # token tasks: every piece of a word trained on its label
    tag_scheme: str = "auto"  # --task ner: "iob1", "iob2", "bioes", or read off the training file
    precision: str = "auto"
    device: str | None = None  # "cpu" or "cuda"; None: cuda if available
    max_train_examples: int | None = None  # a random subset of the training examples (squad: questions)
    resume: bool = False
    overwrite: bool = False
    eval_only: bool = False  # score `model` (fine-tuned) on the validation and test data; train nothing
    grad_accum: int = Recipe.grad_accum
    save_every: int = Recipe.save_every
    eval_every: int = Recipe.eval_every
    metric_for_best: str | None = None  # None: the task's main metric
    early_stopping_patience: int = Recipe.early_stopping_patience
    report_to: str = "none"  # or "tensorboard"
    doc_stride: int = 128  # squad's windows and decoding (finetune.qa.windows.Windowing, qa.decoding.Decoding)
    max_query_length: int = 64
    max_answer_length: int = 30
    n_best: int = 20
    max_eval_examples: int | None = None  # squad: the first N validation questions only
    progress: bool = True  # progress bars and per-evaluation lines; False: silent

    def __post_init__(self) -> None:
        self.model = str(self.model)
        self.output = Path(self.output)
        for name in ("data_dir", "vocab", "train_file", "validation_file", "test_file"):
            if getattr(self, name) is not None:
                setattr(self, name, Path(getattr(self, name)))
        if isinstance(self.text_columns, (list, tuple)):
            self.text_columns = ",".join(self.text_columns)
        self.seeds = checked_seeds(self.seeds)
        check_field_types(self)
        if self.eval_only:  # texts cut, and labels decided, as the model's fine-tuning did
            if self.max_seq_length is None:
                self.max_seq_length = recorded_value(self.model, "recipe", "max_seq_length")
            for name in ("threshold", "label_separator"):
                if self.multi_label and getattr(self, name) is None:
                    setattr(self, name, recorded_value(self.model, "multi_label", name))
        self.check_multi_label()
        family = family_of_task(self.task)
        defaults = Recipe(**family.recipe)
        for name in FAMILY_DEFAULTED:  # a field left out takes its family's default
            if getattr(self, name) is None:
                setattr(self, name, getattr(defaults, name))
        self.check()
        family.check_options(self)

    def check_multi_label(self) -> None:
        """--label-separator and --threshold go with --multi-label, which takes their defaults."""
        if not self.multi_label:
            given = [f"--{flag(name)}" for name in ("label_separator", "threshold") if getattr(self, name) is not None]
            if given:
                raise InputError(f"{given[0]} is for --multi-label (several labels per example)")
            return
        self.label_separator = "," if self.label_separator is None else self.label_separator
        self.threshold = 0.5 if self.threshold is None else self.threshold
        if not self.label_separator or self.label_separator.strip() != self.label_separator:
            raise InputError(f"--label-separator {self.label_separator!r}: give a character that is not blank, "
                             "e.g. , or | or ;")
        if not 0 < self.threshold < 1:
            raise InputError(f"--threshold must be between 0 and 1, got {self.threshold}")
        if self.task_type == "regression" or self.positive_label is not None:
            raise InputError(f"--multi-label is classification, with no positive class: leave out "
                             f"{'--task-type regression' if self.task_type == 'regression' else '--positive-label'}")

    def check(self) -> None:
        """The checks every family shares, with the flags' names in the messages."""
        for name in ("epochs", "batch_size", "grad_accum", "eval_batch_size", "max_seq_length"):
            if getattr(self, name) < 1:
                raise InputError(f"--{flag(name)} must be at least 1, got {getattr(self, name)}")
        for name in ("save_every", "eval_every", "early_stopping_patience"):
            if getattr(self, name) < 0:
                raise InputError(f"--{flag(name)} must be 0 or more, got {getattr(self, name)}")
        if not self.lr > 0 or not 0 <= self.warmup_ratio <= 1 or self.weight_decay < 0:
            raise InputError("--lr must be positive, --warmup-ratio in [0, 1] and --weight-decay not negative")
        if not self.max_grad_norm >= 0:
            raise InputError(f"--max-grad-norm must be 0 (no clipping) or more, got {self.max_grad_norm}")
        if not self.adam_epsilon > 0 or not 0 <= self.adam_beta2 < 1:
            raise InputError(f"--adam-epsilon must be positive and --adam-beta2 in [0, 1), got {self.adam_epsilon} "
                             f"and {self.adam_beta2}")
        choices = {"batching": BATCHINGS, "task_type": TASK_TYPES, "precision": PRECISIONS,
                   "device": (None, "cpu", "cuda")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise InputError(f"--{flag(name)} {getattr(self, name)!r}: choose from "
                                 f"{', '.join(str(a) for a in allowed if a is not None)}")
        if self.max_train_examples is not None and self.max_train_examples < 1:
            raise InputError(f"--max-train-examples must be at least 1, got {self.max_train_examples}")
        if self.resume and self.overwrite:
            raise InputError("--resume continues the run in --output and --overwrite replaces it: give one")
        if self.eval_only and self.resume:
            raise InputError("--eval-only trains nothing, so there is no run to --resume")
        check_report_to(self.report_to)
        if self.task is not None:
            own_files = [f"--{flag(name)}" for name in ("text_columns", "label_column", "positive_label")
                         if getattr(self, name) is not None] + (["--task-type"] if self.task_type != "auto" else []) \
                + (["--multi-label"] if self.multi_label else [])
            if own_files:
                raise InputError(f"{own_files[0]} describes your own files; --task {self.task} has columns of its "
                                 "own (leave --task out to fine-tune on your files)")

    def recipe(self, precision: str) -> Recipe:
        """The hyper-parameters of the run, with the precision chosen for this machine."""
        names = {f.name for f in fields(Recipe)} - {"precision"}
        return Recipe(**{name: getattr(self, name) for name in names}, precision=precision)

    def run_record(self, precision: str) -> dict:
        """What the run is (run.json): every option it depends on, the precision as chosen; --resume must match."""
        record = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items() if k not in NOT_RECORDED}
        return {**record, "precision": precision}
