"""What a pretraining run is configured by: `PretrainOptions`, whose fields the bert-pretrain flags map onto."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


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

    def example_settings(self) -> dict:
        """The settings the example tables are built from (and cached under)."""
        settings = {"seed": self.seed, "max_seq_length": self.max_seq_length, "short_seq_prob": self.short_seq_prob,
                    "nsp": self.nsp, "eval_fraction": self.eval_fraction}
        if self.nsp_negatives != "other-document":  # only when set: caches and runs made before it stay valid
            settings["nsp_negatives"] = self.nsp_negatives
        return settings

    def data_settings(self) -> dict:
        """The settings that decide which example and mask each step sees: a resumed run must match them."""
        return {**self.example_settings(), "mask_prob": self.mask_prob, "whole_word_mask": self.whole_word_mask}
