"""The pretraining run: vocabulary -> cached examples -> BertForPreTraining trained with MLM (+ NSP).

Reading order: `pretrain()` sets everything up and hands over to `Trainer.run()`, whose loop is
`train_step` (forward/backward over the micro-batches, then one optimizer step), `evaluate` on the
held-out slice every --eval-every steps, and a resumable checkpoint every --save-every steps.

The output directory, when the run ends:

    config.json, model.safetensors   BertForPreTraining in HF layout (MLM and NSP heads included)
    vocab.txt, tokenizer.json, tokenizer_config.json
    metrics.jsonl, loss.png          one JSON object per log line; the curves
    checkpoints/step-N/              resumable training state (the last --keep-checkpoints of them)
    checkpoints/config.json          the model config, so --resume rebuilds the same model
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.lr_scheduler import LambdaLR
from tqdm.auto import tqdm

from bert import BertConfig, BertForPreTraining
from bert.checkpoint import atomic_write, load_hf_state_dict, read_state_dict
from bert.model import SelfAttention
from training import (
    DistributedContext,
    MetricsLog,
    TrainingState,
    build_optimizer,
    choose_precision,
    device_name,
    latest_training_checkpoint,
    load_training_checkpoint,
    lr_multiplier,
    plot_metrics,
    save_training_checkpoint,
    set_seed,
)
from tokenizer import WordPieceTokenizer

from .batches import PretrainingBatches, SpecialIds
from .cache import TokenizedCorpus, default_cache_dir, load_or_build
from tokenizer.corpus import read_sentences, resolve_sources
from .examples import build_examples
from .masking import MaskingScheme

DEFAULT_WARMUP_FRACTION = 0.05  # warmup over the first 5% of the run unless --warmup-steps says otherwise


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
    batch_size: int = 32  # per process and micro-batch; global batch = batch_size x grad_accum x processes
    grad_accum: int = 1
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
    seed: int = 42
    cache_dir: Path | None = None
    num_workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    corpus_split: str = "train"  # the split of a dataset corpus (Hub name or saved folder)
    corpus_column: str = "text"  # its text column
    progress: bool = True

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


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the run stops without touching the last good checkpoint."""


# =========================================================================== setup


def pretrain(opts: PretrainOptions) -> int:
    """Run (or resume) pretraining; returns the process exit status (0, or 128 + signal when interrupted)."""
    ctx = DistributedContext.from_env(opts.device)
    try:
        opts.output.mkdir(parents=True, exist_ok=True)
        check_resume_intent(opts)
        tokenizer = prepare_tokenizer(opts, ctx)
        config = prepare_model_config(opts, tokenizer)
        batches = prepare_batches(opts, tokenizer, ctx, pad_to=opts.max_seq_length if opts.compile else None)
        trainer = Trainer(opts, ctx, config, batches)
        return trainer.run()
    finally:
        ctx.shutdown()


def check_resume_intent(opts: PretrainOptions) -> None:
    """Refuse to start over a run that has checkpoints unless --resume says to continue it."""
    if not opts.resume and latest_training_checkpoint(opts.output / "checkpoints") is not None:
        raise ValueError(f"{opts.output} already holds training checkpoints: pass --resume to continue that run, "
                         "or choose another --output")


@contextlib.contextmanager
def main_process_first(ctx: DistributedContext, local: bool = False):
    """Rank 0 (or each machine's local rank 0) runs the block first, e.g. to build a cache the others reuse."""
    first = (ctx.local_rank if local else ctx.rank) == 0
    if not first:
        ctx.barrier()
    yield
    if first:
        ctx.barrier()


def prepare_tokenizer(opts: PretrainOptions, ctx: DistributedContext) -> WordPieceTokenizer:
    """The run's vocabulary, saved into the output directory: the one already there when resuming, the
    one given by --vocab, or one trained on the corpus."""
    saved = opts.output / "vocab.txt"
    given = opts.vocab or opts.init_from
    with main_process_first(ctx):
        if ctx.is_main and not (opts.resume and saved.exists()):
            if given is not None:
                tokenizer = WordPieceTokenizer.from_pretrained(given)
            else:
                print(f"training a {opts.vocab_size}-token WordPiece vocabulary on the corpus")
                sentences = read_sentences(resolve_sources(opts.corpus, opts.corpus_split, opts.corpus_column))
                tokenizer = WordPieceTokenizer.train(sentences, vocab_size=opts.vocab_size,
                                                     lowercase=opts.lowercase, show_progress=opts.progress)
            tokenizer.save(opts.output)
    return WordPieceTokenizer.from_pretrained(opts.output)


def prepare_model_config(opts: PretrainOptions, tokenizer: WordPieceTokenizer) -> BertConfig:
    """The preset, overridden by --config, sized to the vocabulary; a resumed run reuses its saved config."""
    saved = opts.output / "checkpoints" / "config.json"
    if opts.resume and saved.exists():
        config = BertConfig.from_json_file(saved)
    else:
        overrides = read_config_overrides(opts.config_file) if opts.config_file else {}
        if opts.init_from is not None:  # the model it starts from decides the shapes; --preset does not apply
            config = BertConfig.from_json_file(opts.init_from / "config.json").with_overrides(**overrides)
        else:
            overrides.setdefault("vocab_size", tokenizer.vocab_size)
            overrides.setdefault("pad_token_id", tokenizer.pad_token_id)
            config = BertConfig.from_preset(opts.preset, **overrides)
    if config.vocab_size < tokenizer.vocab_size:
        raise ValueError(f"the model config has vocab_size {config.vocab_size}, smaller than the vocabulary "
                         f"({tokenizer.vocab_size} tokens): raise vocab_size or use a smaller vocabulary")
    if opts.max_seq_length > config.max_position_embeddings:
        raise ValueError(f"--max-seq-length {opts.max_seq_length} exceeds the model's max_position_embeddings "
                         f"({config.max_position_embeddings})")
    return config


def read_config_overrides(path: Path) -> dict:
    """--config: a JSON object of BertConfig fields (a full HF config.json works too)."""
    try:
        overrides = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(overrides, dict):
        raise ValueError(f"{path}: expected a JSON object of BertConfig fields")
    known = {f.name for f in fields(BertConfig)}
    ignored = {"model_type", "position_embedding_type", "label2id", "transformers_version", "torch_dtype"}
    unknown = set(overrides) - known - ignored
    if unknown:
        raise ValueError(f"{path}: unknown BertConfig field(s): {', '.join(sorted(unknown))}")
    return {k: v for k, v in overrides.items() if k in known}


def prepare_batches(opts: PretrainOptions, tokenizer: WordPieceTokenizer, ctx: DistributedContext,
                    pad_to: int | None) -> PretrainingBatches:
    """Tokenise the corpus into the cache (or reuse it), cut it into examples, and set up masking."""
    sources = resolve_sources(opts.corpus, opts.corpus_split, opts.corpus_column)
    cache_dir = opts.cache_dir or default_cache_dir()
    with main_process_first(ctx, local=True):
        corpus = load_or_build(sources, opts.output, cache_dir, tokenizer.vocab_size, opts.num_workers,
                               show_progress=opts.progress and ctx.local_rank == 0)
        examples = corpus.cached_arrays("examples", opts.example_settings(),
                                        build=lambda: build_example_tables(corpus, opts))
    if ctx.is_main:
        print_corpus_summary(corpus.info, examples, corpus.directory)
    tokens = [tokenizer.id_to_token(i) for i in range(tokenizer.vocab_size)]
    scheme = MaskingScheme.for_vocabulary(tokens, sorted(tokenizer.special_ids), tokenizer.mask_token_id,
                                          mask_prob=opts.mask_prob, whole_word=opts.whole_word_mask)
    special = SpecialIds(cls=tokenizer.cls_token_id, sep=tokenizer.sep_token_id, pad=tokenizer.pad_token_id)
    return PretrainingBatches(corpus.tokens, examples["train"], examples["held_out"], scheme, special,
                              nsp=opts.nsp, seed=opts.seed, batch_size=opts.batch_size, grad_accum=opts.grad_accum,
                              world_size=ctx.world_size, eval_examples=opts.eval_examples, pad_to=pad_to)


def build_example_tables(corpus: TokenizedCorpus, opts: PretrainOptions) -> dict[str, np.ndarray]:
    train, held_out = build_examples(corpus.sentence_starts, corpus.document_starts,
                                     max_seq_length=opts.max_seq_length, short_seq_prob=opts.short_seq_prob,
                                     nsp=opts.nsp, held_out_fraction=opts.eval_fraction, seed=opts.seed,
                                     nsp_negatives=opts.nsp_negatives)
    return {"train": train, "held_out": held_out}


def print_corpus_summary(info: dict, examples: dict, cache_directory: Path) -> None:
    print(f"corpus: {info['documents']:,} documents, {info['sentences']:,} sentences, {info['tokens']:,} tokens "
          f"(cache {cache_directory})")
    if info["invalid_utf8_lines"]:
        print(f"note: skipped {info['invalid_utf8_lines']:,} line(s) that are not valid UTF-8 "
              f"(first: {info['first_invalid_line']})")
    print(f"examples: {len(examples['train']):,} for training, {len(examples['held_out']):,} held out")


# =========================================================================== run length and LR


class RunLength:
    """When the run ends: after --max-steps, or once --time-budget seconds of training have passed.

    With a time budget the number of steps is not known in advance, so (as in Geiping & Goldstein 2022,
    "Cramming") it is re-estimated from the speed so far, and the LR schedule decays to zero exactly when
    the budget runs out. Time spent before an interruption counts (it is saved in the checkpoint).

    Every decision uses `elapsed`, the time all processes agreed on at the last step (the mean of their
    clocks): with per-process clocks, processes could take different LRs, or stop at different steps.
    """

    def __init__(self, max_steps: int | None, time_budget: float | None, warmup_steps: int | None):
        self.max_steps, self.time_budget, self.warmup = max_steps, time_budget, warmup_steps
        self.elapsed_before = 0.0  # seconds trained before this process started (resume)
        self.started = time.perf_counter()
        self.elapsed = 0.0  # agreed seconds of training so far, updated once per step

    def clock(self) -> float:
        """This process's own count of seconds trained."""
        return self.elapsed_before + time.perf_counter() - self.started

    def start(self, elapsed_before: float = 0.0) -> None:
        self.elapsed_before = self.elapsed = elapsed_before
        self.started = time.perf_counter()

    def finished(self, step: int) -> bool:
        if self.max_steps is not None:
            return step >= self.max_steps
        return self.elapsed >= self.time_budget

    def total_steps(self, step: int) -> int:
        if self.max_steps is not None:
            return self.max_steps
        elapsed = self.elapsed
        if step == 0 or elapsed <= 0:
            return 1_000_000  # no speed measured yet; warmup (a fraction of this) keeps the first LR tiny
        return max(step + 1, round(step * self.time_budget / elapsed))

    def lr_factor(self, step: int, decay: str) -> float:
        total = self.total_steps(step)
        warmup = self.warmup if self.warmup is not None else round(DEFAULT_WARMUP_FRACTION * total)
        return lr_multiplier(step, warmup, total, decay)


def set_dropout(model: nn.Module, p: float) -> None:
    """Every dropout of the model (hidden and attention) at probability p, for this run only.

    Short pretraining runs learn faster without dropout (Cramming: there is too little training to overfit),
    but fine-tuning wants BERT's 0.1: the config, and so the saved config.json, keeps its own values.
    """
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = p
        elif isinstance(module, SelfAttention):
            module.dropout_prob = p


def dropout_seed(seed: int, step: int, rank: int) -> int:
    """Seed for the dropout masks of one step on one process: a function of (seed, step, rank) only, so a
    resumed run draws the same masks as an uninterrupted one, whatever happened before."""
    return int(np.random.SeedSequence([seed, step, rank]).generate_state(1)[0])


# =========================================================================== signals


class StopSignal:
    """SIGINT / SIGTERM ask the run to stop after the current step (checkpoint saved); a second SIGINT
    aborts at once."""

    def __init__(self):
        self.received: int | None = None
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum, frame):
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = signum
        tqdm.write(f"{signal.Signals(signum).name} received: stopping after this step and saving a checkpoint "
                   "(press Ctrl-C again to abort without saving)")


# =========================================================================== the training loop


class Trainer:
    """Owns the model, optimizer, schedule and data of one run, and runs its loop."""

    def __init__(self, opts: PretrainOptions, ctx: DistributedContext, config: BertConfig,
                 batches: PretrainingBatches):
        self.opts, self.ctx, self.config, self.batches = opts, ctx, config, batches
        self.checkpoint_dir = opts.output / "checkpoints"
        self.precision = choose_precision(opts.precision, ctx.device,
                                          warn=None if ctx.is_main else (lambda message: None))
        if ctx.is_main:
            print(self.precision.describe(), file=sys.stderr)
        self.scaler = self.precision.grad_scaler()  # fp16 only: dynamic loss scaling
        set_seed(opts.seed)  # the same initial weights on every process
        self.model = BertForPreTraining(config)
        if opts.init_from is not None:  # e.g. a second phase with NSP after an MLM-only run
            load_hf_state_dict(self.model, read_state_dict(opts.init_from), source=str(opts.init_from))
        elif opts.position_init == "sinusoidal":  # a resumed run overwrites it with its checkpoint
            self.model.bert.embeddings.init_positions_sinusoidal(config.initializer_range)
        if opts.dropout is not None:
            set_dropout(self.model, opts.dropout)
        self.model.to(ctx.device)
        if not opts.nsp:  # without NSP the pooler and NSP head get no gradient; DDP needs them frozen
            for module in (self.model.bert.pooler, self.model.nsp_head):
                module.requires_grad_(False)
        self.optimizer = build_optimizer(self.model, opts.lr, opts.weight_decay)
        self.length = RunLength(opts.max_steps, opts.time_budget, opts.warmup_steps)
        self.scheduler = LambdaLR(self.optimizer, lambda step: self.length.lr_factor(step, opts.lr_decay))
        self.state = TrainingState(step=0, extra={"tokens_seen": 0})
        self.metrics = MetricsLog(opts.output / "metrics.jsonl", enabled=ctx.is_main)

    # ------------------------------------------------------------------ resume

    def restore_or_start(self) -> None:
        latest = latest_training_checkpoint(self.checkpoint_dir) if self.opts.resume else None
        if latest is None:  # a fresh start (--resume on an empty run directory starts one too)
            if self.ctx.is_main:
                self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
                self.config.to_json_file(self.checkpoint_dir / "config.json")
                self.metrics.path.unlink(missing_ok=True)
            return
        self.state = load_training_checkpoint(latest, self.model, self.optimizer, self.scheduler)
        self.check_same_data(self.state.extra)
        if self.scaler and "grad_scaler" in self.state.extra:
            self.scaler.load_state_dict(self.state.extra["grad_scaler"])
        if self.ctx.is_main:
            keep_metrics_up_to(self.metrics, self.state.step)
            print(f"resumed from {latest} (step {self.state.step})")

    def check_same_data(self, extra: dict) -> None:
        """A resumed run must see the data the interrupted one would have: same settings, same global batch."""
        now = {**self.opts.data_settings(), "global_batch_size": self.batches.global_batch_size}
        then = {**extra.get("data_settings", {}), "global_batch_size": extra.get("global_batch_size")}
        changed = [f"{k} was {then.get(k)!r}, now {v!r}" for k, v in now.items() if then.get(k) != v]
        if changed:
            raise ValueError("--resume with different data settings than the checkpoint: " + "; ".join(changed))

    def save_checkpoint(self) -> Path | None:
        if not self.ctx.is_main:
            return None
        self.state.extra = {"elapsed_s": self.length.elapsed, "data_settings": self.opts.data_settings(),
                            "global_batch_size": self.batches.global_batch_size,
                            "samples_seen": self.state.step * self.batches.global_batch_size,
                            "tokens_seen": self.state.extra.get("tokens_seen", 0)}
        if self.scaler:
            self.state.extra["grad_scaler"] = self.scaler.state_dict()
        return save_training_checkpoint(self.checkpoint_dir, self.model, self.optimizer, self.scheduler, self.state,
                                        keep_last=self.opts.keep_checkpoints)

    # ------------------------------------------------------------------ the loop

    def run(self) -> int:
        self.restore_or_start()
        self.length.start(elapsed_before=self.state.extra.get("elapsed_s", 0.0))
        ddp = self.ctx.wrap(self.model)
        forward = torch.compile(ddp) if self.opts.compile else ddp
        progress = self.progress_bar()
        window = LogWindow()
        done = self.length.finished(self.state.step)
        if self.state.step == 0 and self.opts.eval_every > 0:
            self.evaluate_untrained()
        with StopSignal() as stop:
            while not done:
                stats = self.train_step(forward, ddp, stop)
                if stats["nonfinite"]:
                    raise TrainingDiverged(self.divergence_message(stats))
                self.state.step += 1
                self.state.extra["tokens_seen"] = self.state.extra.get("tokens_seen", 0) + stats["tokens"]
                done = self.length.finished(self.state.step)
                window.add(stats)
                self.after_step(window, progress, last=done)
                if stats["stop"]:
                    return self.stop_early(stop.received or signal.SIGTERM, progress)
        progress.close()
        self.finish()
        return 0

    def train_step(self, forward, ddp, stop: StopSignal) -> dict:
        """One optimizer step over grad_accum micro-batches; returns the step's statistics, summed over
        processes (so every process takes the same decision on NaN or stop)."""
        opts, step = self.opts, self.state.step
        torch.manual_seed(dropout_seed(opts.seed, step, self.ctx.rank))
        self.model.train()
        # loss, mlm_loss, nsp_loss, tokens, nonfinite, stop requested, clock: summed over processes below
        totals = torch.zeros(7, dtype=torch.float64)
        for micro in range(opts.grad_accum):
            batch = self.batches.train_batch(step, micro, self.ctx.rank)
            totals[3] += batch["attention_mask"].sum()
            batch = {k: v.to(self.ctx.device, non_blocking=True) for k, v in batch.items()}
            with self.gradient_sync(ddp, last_micro_batch=micro == opts.grad_accum - 1):
                with self.precision.autocast():
                    out = forward(**batch)
                loss = out.loss / opts.grad_accum
                (self.scaler.scale(loss) if self.scaler else loss).backward()
            losses = torch.stack([out.loss.detach(), out.mlm_loss.detach(),
                                  out.nsp_loss.detach() if out.nsp_loss is not None else out.loss.new_zeros(())])
            totals[:3] += losses.double().cpu() / opts.grad_accum
            totals[4] += float(not torch.isfinite(losses).all())
        totals[5] = float(stop.received is not None)
        totals[6] = self.length.clock()
        totals = self.ctx.all_reduce_sum(totals.to(self.ctx.device)).cpu()
        self.length.elapsed = totals[6].item() / self.ctx.world_size
        lr = self.optimizer.param_groups[0]["lr"]  # the LR of this step (scheduler.step() moves to the next)
        if totals[4] == 0:
            if self.scaler:  # fp16: gradients back to their true size; a step with inf/NaN in them is skipped
                self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), opts.max_grad_norm)
            if self.scaler:
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                self.optimizer.step()
            self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        world = self.ctx.world_size
        return {"loss": totals[0].item() / world, "mlm_loss": totals[1].item() / world,
                "nsp_loss": totals[2].item() / world, "tokens": int(totals[3].item()),
                "nonfinite": bool(totals[4].item()), "stop": bool(totals[5].item()),
                "lr": lr}

    @staticmethod
    def gradient_sync(ddp, last_micro_batch: bool):
        """DDP averages gradients across processes in every backward(); with gradient accumulation only
        the last micro-batch's backward needs to (the gradients of the others just add up locally)."""
        if last_micro_batch or not isinstance(ddp, DistributedDataParallel):
            return contextlib.nullcontext()
        return ddp.no_sync()

    def after_step(self, window: "LogWindow", progress, last: bool) -> None:
        """Progress bar, metrics line (with evaluation when due) and checkpoint after a step."""
        opts, step = self.opts, self.state.step
        progress.update(1 if opts.max_steps is not None else round(self.length.elapsed) - progress.n)
        progress.set_postfix(step=step, loss=f"{window.last['loss']:.3f}", lr=f"{window.last['lr']:.2e}",
                             tok_s=f"{window.tokens_per_s():,.0f}", refresh=False)
        evaluate_now = opts.eval_every > 0 and (step % opts.eval_every == 0 or last)
        if step % opts.log_every == 0 or evaluate_now or last:
            record = {"step": step, "epoch": round(self.batches.epoch_of(step), 4), **window.summary(),
                      "elapsed_s": round(self.length.elapsed, 2), "precision": self.precision.name}
            if evaluate_now:
                record.update(self.evaluate())
                tqdm.write(f"step {step}: eval MLM loss {record['eval_mlm_loss']:.4f}, "
                           f"MLM accuracy {record['eval_mlm_acc']:.4f}"
                           + (f", NSP accuracy {record['eval_nsp_acc']:.4f}" if opts.nsp else ""))
            self.metrics.write(record)
            window.reset()
        if opts.save_every > 0 and step % opts.save_every == 0:
            self.save_checkpoint()

    def evaluate_untrained(self) -> None:
        """Held-out MLM loss and accuracy before the first step: the start the run's figures compare with."""
        record = {"step": 0, "epoch": 0.0, "elapsed_s": 0.0, "precision": self.precision.name, **self.evaluate()}
        self.metrics.write(record)

    @torch.no_grad()
    def evaluate(self) -> dict:
        """MLM loss and accuracy (over masked tokens) and NSP accuracy on the held-out sample, over all
        processes; each evaluates its own share."""
        self.model.eval()
        sums = torch.zeros(5, dtype=torch.float64, device=self.ctx.device)  # mlm loss x n, correct, n, nsp ok, n
        for batch in self.batches.held_out_batches(self.ctx.rank, self.ctx.world_size, self.opts.batch_size):
            batch = {k: v.to(self.ctx.device) for k, v in batch.items()}
            with self.precision.autocast():
                out = self.model(**batch)
            targets = batch["labels"][batch["labels"] != -100]  # the order of out.prediction_logits' rows
            sums[0] += out.mlm_loss.double() * len(targets)
            sums[1] += (out.prediction_logits.argmax(-1) == targets).sum()
            sums[2] += len(targets)
            if self.opts.nsp:
                sums[3] += (out.seq_relationship_logits.argmax(-1) == batch["next_sentence_label"]).sum()
                sums[4] += batch["next_sentence_label"].numel()
        sums = self.ctx.all_reduce_sum(sums).cpu()
        self.model.train()
        result = {"eval_mlm_loss": (sums[0] / sums[2].clamp(min=1)).item(),
                  "eval_mlm_acc": (sums[1] / sums[2].clamp(min=1)).item()}
        if self.opts.nsp:
            result["eval_nsp_acc"] = (sums[3] / sums[4].clamp(min=1)).item()
        return result

    # ------------------------------------------------------------------ endings

    def finish(self) -> None:
        """Final checkpoint, the model in HF layout beside the tokenizer, and the loss plot."""
        if self.opts.save_every <= 0 or self.state.step % self.opts.save_every != 0:
            self.save_checkpoint()
        if self.ctx.is_main:
            self.model.save_pretrained(self.opts.output)
            self.write_summary()
            panels = {"loss": ["loss", "mlm_loss", "eval_mlm_loss"]}
            if self.opts.eval_every > 0:
                panels["held-out accuracy"] = ["eval_mlm_acc", "eval_nsp_acc"] if self.opts.nsp else ["eval_mlm_acc"]
            plot_metrics(self.metrics.path, self.opts.output / "loss.png", panels)
            print(f"done: {self.state.step} steps in {self.length.elapsed:.0f}s; model, vocabulary and metrics "
                  f"saved to {self.opts.output}")

    def write_summary(self) -> None:
        """OUT/summary.json: what the run's budget bought on this machine (steps, tokens, speed, precision)
        and the held-out figures at its first and last evaluation."""
        evaluations = [r for r in self.metrics.read() if "eval_mlm_loss" in r]
        eval_keys = ("step", "eval_mlm_loss", "eval_mlm_acc", "eval_nsp_acc")
        pick = lambda record: {k: record[k] for k in eval_keys if k in record}  # noqa: E731
        tokens, elapsed = self.state.extra.get("tokens_seen", 0), self.length.elapsed
        summary = {"steps": self.state.step, "tokens": tokens, "elapsed_s": round(elapsed, 2),
                   "tokens_per_s": round(tokens / max(elapsed, 1e-9), 1), "precision": self.precision.name,
                   "precision_reason": self.precision.reason, "device": device_name(self.ctx.device),
                   "global_batch_size": self.batches.global_batch_size,
                   "eval_first": pick(evaluations[0]) if evaluations else None,
                   "eval_last": pick(evaluations[-1]) if evaluations else None}
        atomic_write(self.opts.output / "summary.json",
                     lambda tmp: Path(tmp).write_text(json.dumps(summary, indent=2) + "\n"))

    def stop_early(self, signum: int, progress) -> int:
        progress.close()
        path = self.save_checkpoint()
        if self.ctx.is_main:
            self.model.save_pretrained(self.opts.output)  # usable now (fine-tune it, fill a [MASK]); --resume goes on
            self.write_summary()
            print(f"stopped at step {self.state.step} by {signal.Signals(signum).name}; checkpoint saved to {path} "
                  f"and the model as of this step to {self.opts.output}. Run the same command with --resume to "
                  "continue.")
        return 128 + signum

    def divergence_message(self, stats: dict) -> str:
        latest = latest_training_checkpoint(self.checkpoint_dir)
        kept = f"the last good checkpoint is {latest}" if latest else "no checkpoint had been saved yet"
        return (f"the loss became {stats['loss']} at step {self.state.step + 1} (NaN or infinite); stopped "
                f"without an update. {kept}. Try a lower --lr, a longer --warmup-steps or --max-grad-norm.")

    def progress_bar(self):
        disable = not (self.opts.progress and self.ctx.is_main)
        if self.opts.max_steps is not None:
            return tqdm(total=self.opts.max_steps, initial=self.state.step, desc="pretraining", disable=disable)
        return tqdm(total=round(self.opts.time_budget), initial=round(self.length.elapsed), unit="s",
                    desc="pretraining", disable=disable)


class LogWindow:
    """Averages of the step statistics since the last log line, and the throughput over that time."""

    def __init__(self):
        self.reset()
        self.last: dict = {}

    def reset(self) -> None:
        self.steps, self.sums, self.tokens, self.started = 0, {}, 0, time.perf_counter()

    def add(self, stats: dict) -> None:
        self.steps += 1
        self.tokens += stats["tokens"]
        for key in ("loss", "mlm_loss", "nsp_loss"):
            self.sums[key] = self.sums.get(key, 0.0) + stats[key]
        self.last = stats

    def tokens_per_s(self) -> float:
        return self.tokens / max(time.perf_counter() - self.started, 1e-9)

    def summary(self) -> dict:
        means = {key: total / self.steps for key, total in self.sums.items()}
        return {**means, "lr": self.last["lr"], "tokens_per_s": round(self.tokens_per_s(), 1)}


def keep_metrics_up_to(metrics: MetricsLog, step: int) -> None:
    """On resume, drop the log lines written after the checkpoint: those steps are about to be redone."""
    records = [r for r in metrics.read() if r.get("step", 0) <= step]
    tmp = metrics.path.with_name(f".{metrics.path.name}.tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
    os.replace(tmp, metrics.path)

