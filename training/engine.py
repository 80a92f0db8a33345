"""The training loop, one for pretraining and fine-tuning: what differs between them is a `TrainingJob`.

    engine = Engine(job, model, optimizer, scheduler, precision, ctx, run_dir)
    exit_status = engine.run(resume=True)

Every optimizer step is the same here:
  1. the job hands over this process's micro-batches of the step (`--grad-accum` of them, each a dict of
     tensors) and how many items each one's loss terms average over (`item_counts`: masked tokens for MLM,
     examples for NSP or a sentence classifier, labelled tokens for a tagger);
  2. forward + backward per micro-batch, each loss term weighted by its share of the items of the whole step
     over all processes, so the gradient is exactly the full batch's whatever the split into micro-batches
     and processes (DDP averages over processes, hence the extra factor of world_size). A job may instead fix
     a term's items per step (`step_items`: the mean over an epoch), so that every item weighs the same in
     every step, a step with few items counting less than one with many;
  3. a non-finite loss stops the run before the update (`TrainingDiverged`), leaving the last good checkpoint;
     fp16's loss scaler may skip a step whose gradients overflowed, which is normal and not a divergence (the
     step's statistics say `skipped`, and pretraining counts them);
  4. clipping, the optimizer and the LR schedule step; the job logs, evaluates and decides when to stop;
  5. a resumable checkpoint when the job says one is due.

SIGINT / SIGTERM: the step in flight finishes, a checkpoint is written, the job exports a usable model (HF
layout), and the run returns 128 + the signal number. A second Ctrl-C aborts at once.

Exact resumption: the data of step s is a function of (seed, s) (the job's business); dropout masks are drawn
from a generator seeded with (seed, s, rank); the checkpoint holds model, optimizer, schedule, loss scaler,
the job's own state (data position, best epoch, time spent) and every RNG state. The metrics log is cut
back to the checkpoint's step. So a run killed and resumed equals one never interrupted, bit for bit on CPU.
"""

from __future__ import annotations

import contextlib
import signal
import time
from typing import Protocol

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from .checkpointing import (TrainingState, latest_training_checkpoint, load_training_checkpoint,
                            save_training_checkpoint)
from .distributed import DistributedContext
from .metrics_log import MetricsLog
from .precision import Precision


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the run stops without touching the last good checkpoint."""


class RunInterrupted(Exception):
    """A signal (SIGTERM, Ctrl-C) stopped the run after it saved a checkpoint: --resume (resume=True)
    continues it. `exit_status` is what a command line exits with, 128 + the signal number."""

    def __init__(self, exit_status: int):
        super().__init__(f"stopped by signal {exit_status - 128}; the checkpoint is saved: resume to continue")
        self.exit_status = exit_status


class TrainingJob(Protocol):
    """What a kind of training supplies to the engine (pretrain/train.py and finetune/train.py have one each)."""

    seed: int
    grad_accum: int
    max_grad_norm: float

    def micro_batches(self, step: int) -> list[dict[str, torch.Tensor]]:
        """This process's micro-batches of optimizer step `step` (0-based), on the CPU."""

    def item_counts(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """For each loss term, how many items (tokens, examples) its mean in this micro-batch is taken over."""

    def step_items(self) -> dict[str, float]:
        """Loss terms whose step mean is taken over this fixed number of items (all processes together) instead
        of the step's own count; the others are not named."""

    def loss_terms(self, output) -> dict[str, torch.Tensor]:
        """The model output's loss terms (scalar means), by the names item_counts uses."""

    def finished(self, step: int, elapsed: float) -> bool:
        """Whether the run ends after `step` optimizer steps and `elapsed` seconds of training."""

    def after_step(self, step: int, stats: dict, elapsed: float) -> None:
        """Log, evaluate, keep the best: whatever the job does once step `step` (1-based count) is done."""

    def checkpoint_due(self, step: int, last: bool) -> bool:
        """Whether to write a resumable checkpoint after `step` steps."""

    def export(self, interrupted: bool) -> None:
        """Write the usable result (HF layout): at the end, or when a signal stopped the run. Called on every
        process (the job may need them all, e.g. to predict); rank 0 writes the files."""

    def state_dict(self) -> dict:
        """The job's own resumable state: numbers, strings, lists and dicts of them, tensors."""

    def load_state_dict(self, state: dict) -> None: ...


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


def dropout_seed(seed: int, step: int, rank: int) -> int:
    """Seed for the dropout masks of one step on one process: a function of (seed, step, rank) only, so a
    resumed run draws the same masks as an uninterrupted one, whatever happened before."""
    return int(np.random.SeedSequence([seed, step, rank]).generate_state(1)[0])


class Engine:
    """Runs a TrainingJob: the loop, checkpoints, resumption, signals and divergence."""

    def __init__(self, job: TrainingJob, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler,
                 precision: Precision, ctx: DistributedContext, checkpoint_dir, metrics: MetricsLog,
                 keep_checkpoints: int = 2, compile_model: bool = False):
        self.job, self.model, self.optimizer, self.scheduler = job, model, optimizer, scheduler
        self.precision, self.ctx, self.metrics = precision, ctx, metrics
        self.checkpoint_dir, self.keep_checkpoints = checkpoint_dir, keep_checkpoints
        self.scaler = precision.grad_scaler()  # fp16 only: dynamic loss scaling
        self.state = TrainingState(step=0, extra={})
        self.elapsed_before = 0.0  # seconds trained before this process started (resume)
        self.elapsed = 0.0  # seconds trained so far, agreed by all processes at the last step
        self.paused = 0.0  # seconds of this process spent off the clock (see off_the_clock)
        self.ddp = ctx.wrap(model)
        self.forward = torch.compile(self.ddp) if compile_model else self.ddp

    # ------------------------------------------------------------------ resume

    def restore(self) -> bool:
        """Load the latest checkpoint if there is one; returns whether there was."""
        latest = latest_training_checkpoint(self.checkpoint_dir)
        if latest is None:
            return False
        self.state = load_training_checkpoint(latest, self.model, self.optimizer, self.scheduler)
        if self.scaler is not None and "grad_scaler" in self.state.extra:
            self.scaler.load_state_dict(self.state.extra["grad_scaler"])
        self.job.load_state_dict(self.state.extra.get("job", {}))
        self.elapsed_before = self.elapsed = self.state.extra.get("elapsed_s", 0.0)
        if self.ctx.is_main:
            self.metrics.keep_up_to(self.state.step)
            print(f"resumed from {latest} (step {self.state.step})")
        return True

    def save_checkpoint(self):
        if not self.ctx.is_main:
            return None
        self.state.extra = {"elapsed_s": self.elapsed, "job": self.job.state_dict()}
        if self.scaler is not None:
            self.state.extra["grad_scaler"] = self.scaler.state_dict()
        return save_training_checkpoint(self.checkpoint_dir, self.model, self.optimizer, self.scheduler, self.state,
                                        keep_last=self.keep_checkpoints)

    # ------------------------------------------------------------------ the loop

    def run(self) -> int:
        """Train until the job says it is finished; returns 0, or 128 + signal when stopped by one."""
        # time off the clock before the loop (a probe of the weights before any step) is not paused training
        started, paused_before = time.perf_counter(), self.paused
        clock = lambda: (self.elapsed_before + time.perf_counter() - started  # noqa: E731
                         - (self.paused - paused_before))
        done = self.job.finished(self.state.step, self.elapsed)
        with StopSignal() as stop:
            while not done:
                stats = self.train_step(stop, clock)
                if stats["nonfinite"]:
                    raise TrainingDiverged(self.divergence_message(stats))
                self.state.step += 1
                done = self.job.finished(self.state.step, self.elapsed)
                self.job.after_step(self.state.step, stats, self.elapsed)
                done = self.job.finished(self.state.step, self.elapsed)  # after_step may end it (early stopping)
                if self.job.checkpoint_due(self.state.step, last=done) or (stats["stop"] and not done):
                    self.save_checkpoint()
                if stats["stop"] and not done:
                    return self.stop_early(stop.received or signal.SIGTERM)
        self.job.export(interrupted=False)
        return 0

    @contextlib.contextmanager
    def off_the_clock(self):
        """Time spent inside (a probe while pretraining) is not training time: a time budget and the LR
        schedule over it do not count it."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.paused += time.perf_counter() - start

    def train_step(self, stop: StopSignal, clock) -> dict:
        """One optimizer step over the job's micro-batches; returns its statistics, agreed by all processes
        (so every process takes the same decision on NaN, stop and time)."""
        job, ctx = self.job, self.ctx
        torch.manual_seed(dropout_seed(job.seed, self.state.step, ctx.rank))
        self.model.train()
        batches = job.micro_batches(self.state.step)
        counts = [job.item_counts(batch) for batch in batches]
        names = sorted(counts[0]) if counts else []
        totals = torch.tensor([sum(c[name] for c in counts) for name in names], dtype=torch.float64)
        totals = ctx.all_reduce_sum(totals.to(ctx.device)).cpu()  # items of the whole step, all processes
        fixed = job.step_items()
        divisors = [fixed.get(name, max(totals[j].item(), 1.0)) for j, name in enumerate(names)]
        # per term: the weighted mean (summed over processes below), then nonfinite, stop, clock
        sums = torch.zeros(len(names) + 3, dtype=torch.float64)
        loss_names = set()  # the counts that weight a loss term (the others, e.g. tokens, are only reported)
        for i, (batch, count) in enumerate(zip(batches, counts)):
            batch = {k: v.to(ctx.device, non_blocking=True) for k, v in batch.items()}
            with self.gradient_sync(last_micro_batch=i == len(batches) - 1):
                with self.precision.autocast():
                    terms = job.loss_terms(self.forward(**batch))
                # each term's share of the step's mean: its mean here x its items here / the step's items
                shares = {name: terms[name] * (count[name] / divisors[j]) for j, name in enumerate(names) if name in terms}
                loss = torch.stack(list(shares.values())).sum() * ctx.world_size  # DDP divides by world_size
                (self.scaler.scale(loss) if self.scaler is not None else loss).backward()
            loss_names.update(shares)
            for j, name in enumerate(names):
                if name in shares:
                    sums[j] += shares[name].detach().double().cpu()
            sums[len(names)] += float(not all(torch.isfinite(share).item() for share in shares.values()))
        sums[-2] = float(stop.received is not None)
        sums[-1] = clock()
        sums = ctx.all_reduce_sum(sums.to(ctx.device)).cpu()
        self.elapsed = sums[-1].item() / ctx.world_size
        lr = self.optimizer.param_groups[0]["lr"]  # the LR of this step (scheduler.step() moves to the next)
        nonfinite = bool(sums[len(names)].item())
        skipped = False if nonfinite else self.update()
        self.optimizer.zero_grad(set_to_none=True)
        stats = {name: sums[j].item() for j, name in enumerate(names) if name in loss_names}
        stats["loss"] = sum(stats.values())
        return {**stats, "nonfinite": nonfinite, "skipped": skipped, "stop": bool(sums[-2].item()), "lr": lr,
                "items": {name: totals[j].item() for j, name in enumerate(names)}}

    def update(self) -> bool:
        """Clip, step the optimizer (through the loss scaler in fp16) and the LR schedule. Returns whether the
        loss scaler skipped the optimizer step because the gradients overflowed (fp16 only)."""
        if self.scaler is not None:  # gradients back to their true size; a step with inf/NaN in them is skipped
            self.scaler.unscale_(self.optimizer)
        if self.job.max_grad_norm > 0:  # 0 turns clipping off
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.job.max_grad_norm)
        skipped = False
        if self.scaler is not None:
            scale = self.scaler.get_scale()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            skipped = self.scaler.get_scale() < scale  # the scaler lowers its scale exactly when it skips
        else:
            self.optimizer.step()
        self.scheduler.step()
        return skipped

    def gradient_sync(self, last_micro_batch: bool):
        """DDP averages gradients across processes in every backward(); with gradient accumulation only
        the last micro-batch's backward needs to (the gradients of the others just add up locally)."""
        if last_micro_batch or not isinstance(self.ddp, DistributedDataParallel):
            return contextlib.nullcontext()
        return self.ddp.no_sync()

    # ------------------------------------------------------------------ endings

    def stop_early(self, signum: int) -> int:
        self.job.export(interrupted=True)
        if self.ctx.is_main:
            latest = latest_training_checkpoint(self.checkpoint_dir)
            print(f"stopped at step {self.state.step} by {signal.Signals(signum).name}; checkpoint saved to "
                  f"{latest}. Run the same command with --resume to continue.")
        return 128 + signum

    def divergence_message(self, stats: dict) -> str:
        latest = latest_training_checkpoint(self.checkpoint_dir)
        kept = f"the last good checkpoint is {latest}" if latest else "no checkpoint had been saved yet"
        return (f"the loss became {stats['loss']} at step {self.state.step + 1} (NaN or infinite); stopped "
                f"without an update. {kept}. Try a lower --lr, a longer warmup or --max-grad-norm.")
