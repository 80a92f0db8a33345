"""What a pretraining run is configured by: `PretrainOptions`, whose fields the bert-pretrain flags map onto
(named as the flags with underscores; --no-nsp is nsp=False, --cased lowercase=False, --config config_file,
--no-progress progress=False), validated here in one place."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from bert.config import PRESETS
from training import check_report_to, parse_duration
from bert.errors import InputError
from training.option_checks import check_field_types, checked_seeds, flag
from training.precision import CHOICES as PRECISIONS

from .examples import NSP_NEGATIVES


@dataclass
class PretrainOptions:
    """Everything a run is configured by; the CLI flags map one-to-one onto these fields."""

    corpus: list[str]
    output: Path
    preset: str = "mini"
    config_file: Path | None = None  # JSON with BertConfig fields, applied over the preset
    position_init: str = "sinusoidal"  # or "normal" (BERT's N(0, 0.02)); see Embeddings.init_positions_sinusoidal
    init_from: Path | None = None  # a pretrained model dir (HF layout): its config, vocabulary and weights start the run
    dropout: float | None = None  # dropout while pretraining; None: the config's. config.json keeps the config's
    vocab: Path | None = None  # vocab.txt / tokenizer dir; None: train one on the corpus
    vocab_size: int = 30522
    lowercase: bool = True
    max_seq_length: int = 128
    short_seq_prob: float = 0.1
    batch_size: int = 32  # examples per optimizer step, over all processes and micro-batches together
    grad_accum: int = 1  # micro-batches per optimizer step (each process runs batch_size / (grad_accum x processes))
    lr: float = 1e-4
    weight_decay: float = 0.01
    warmup_steps: int | None = None
    lr_decay: str = "linear"
    max_grad_norm: float = 1.0
    max_steps: int | None = None
    time_budget: float | None = None  # seconds
    mask_prob: float = 0.15
    whole_word_mask: bool = False
    nsp: bool = True
    nsp_negatives: str = "other-document"  # or "swapped" (ALBERT's sentence order) or "both"; see examples.py
    pack_documents: bool = False  # without NSP, a segment may run on into the next document (examples.py)
    precision: str = "auto"  # auto, fp32, bf16 or fp16: see training/precision.py
    compile: bool = False
    device: str | None = None  # None: CUDA if available
    eval_every: int = 500
    eval_examples: int = 1024
    eval_fraction: float = 0.01
    save_every: int = 1000
    keep_checkpoints: int = 2
    log_every: int = 10
    resume: bool = False
    overwrite: bool = False
    seed: int = 42
    cache_dir: Path | None = None
    num_workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    corpus_split: str = "train"  # the split of a dataset corpus (Hub name or saved folder)
    corpus_column: str = "text"  # its text column
    progress: bool = True
    report_to: str = "none"  # or "tensorboard": metrics.jsonl's fields as TensorBoard scalars too
    probe: str | None = None  # a GLUE task fine-tuned from the current weights every probe_every seconds
    probe_data: Path | None = None  # its data in the GLUE TSV layout; None: the Hub
    probe_every: float = 600.0  # seconds of training between probes
    probe_examples: int = 2000  # training examples of each probe
    probe_seeds: list[int] = field(default_factory=lambda: [1])  # one fine-tune each; the median is logged
    probe_epochs: int = 1  # epochs of each probe's fine-tune
    probe_lr: float = 1e-4  # its peak learning rate
    probe_max_grad_norm: float | None = None  # its gradient clipping (0: none); None: the task family's

    def __post_init__(self) -> None:
        self.corpus = [self.corpus] if isinstance(self.corpus, (str, Path)) else list(self.corpus)
        self.corpus = [str(source) for source in self.corpus]
        self.output = Path(self.output)
        for name in ("config_file", "init_from", "vocab", "cache_dir", "probe_data"):
            if getattr(self, name) is not None:
                setattr(self, name, Path(getattr(self, name)))
        self.time_budget = duration_seconds(self.time_budget, "time-budget")
        self.probe_every = duration_seconds(self.probe_every, "probe-every")
        self.probe_seeds = checked_seeds(self.probe_seeds, "--probe-seeds")
        check_field_types(self)
        self.check()

    def check(self) -> None:
        """Every value in range and the options that exclude or need each other, with the flags' names."""
        if not self.corpus:
            raise InputError("--corpus: give at least one file, folder or dataset name")
        for name in ("vocab_size", "max_seq_length", "batch_size", "grad_accum", "eval_examples", "num_workers",
                     "keep_checkpoints", "log_every", "probe_examples", "probe_epochs"):
            at_least(self, name, 1)
        for name in ("eval_every", "save_every", "max_grad_norm"):
            at_least(self, name, 0)
        for name in ("max_steps",):
            if getattr(self, name) is not None:
                at_least(self, name, 1)
        if self.warmup_steps is not None:
            at_least(self, "warmup_steps", 0)
        for name in ("mask_prob", "eval_fraction"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise InputError(f"--{flag(name)} must be between 0 and 1, got {getattr(self, name)}")
        if self.dropout is not None and not 0.0 <= self.dropout < 1.0:
            raise InputError(f"--dropout must be at least 0 and below 1, got {self.dropout}")
        if not 0.0 <= self.short_seq_prob <= 1.0:
            raise InputError(f"--short-seq-prob must be in [0, 1], got {self.short_seq_prob}")
        if not self.lr > 0 or self.weight_decay < 0:
            raise InputError(f"--lr must be positive and --weight-decay not negative, got {self.lr} and "
                             f"{self.weight_decay}")
        choices = {"preset": tuple(PRESETS), "position_init": ("sinusoidal", "normal"),
                   "lr_decay": ("linear", "cosine"), "nsp_negatives": NSP_NEGATIVES, "precision": PRECISIONS,
                   "device": (None, "cpu", "cuda")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise InputError(f"--{flag(name)} {getattr(self, name)!r}: choose from "
                                 f"{', '.join(str(a) for a in allowed if a is not None)}")
        if (self.max_steps is None) == (self.time_budget is None):
            raise InputError("give one of --max-steps and --time-budget: how long the run trains")
        if self.resume and self.overwrite:
            raise InputError("--resume continues the run in --output and --overwrite replaces it: give one")
        if not self.nsp and self.nsp_negatives != "other-document":
            raise InputError("--nsp-negatives chooses the negative sentence pairs of NSP; it has no effect with "
                             "--no-nsp")
        if self.nsp and self.pack_documents:
            raise InputError("--pack-documents packs single segments across documents, which needs --no-nsp (a "
                             "sentence pair across two documents would be labelled 'next')")
        if not self.probe_lr > 0:
            raise InputError(f"--probe-lr must be positive, got {self.probe_lr}")
        if self.probe_max_grad_norm is not None and not self.probe_max_grad_norm >= 0:
            raise InputError(f"--probe-max-grad-norm must be 0 (no clipping) or more, got {self.probe_max_grad_norm}")
        if self.probe is None and self.probe_data is not None:
            raise InputError("--probe-data is the probe's data: name its task with --probe")
        check_report_to(self.report_to)

    def example_settings(self) -> dict:
        """The settings the example tables are built from (and cached under)."""
        settings = {"seed": self.seed, "max_seq_length": self.max_seq_length, "short_seq_prob": self.short_seq_prob,
                    "nsp": self.nsp, "eval_fraction": self.eval_fraction}
        if self.nsp_negatives != "other-document":  # only when set: caches and runs made before it stay valid
            settings["nsp_negatives"] = self.nsp_negatives
        if self.pack_documents:
            settings["pack_documents"] = True
        return settings

    def data_settings(self) -> dict:
        """The settings that decide which example and mask each step sees: a resumed run must match them."""
        return {**self.example_settings(), "mask_prob": self.mask_prob, "whole_word_mask": self.whole_word_mask}


def at_least(options: PretrainOptions, name: str, low: int) -> None:
    value = getattr(options, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= low:
        raise InputError(f"--{flag(name)} must be {'a positive integer' if low == 1 else '0 or more'}, got {value!r}")


def duration_seconds(value: float | str | None, name: str) -> float | None:
    """A duration as seconds: a number, or text such as "30m", "2h" (what the flag takes)."""
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as e:
        raise InputError(f"--{name}: {e}") from None
