"""Fine-tuning: one run per seed on the training engine (training/engine.py), the best epoch kept, then a
summary over seeds.

What is fine-tuning's own (`FineTuningJob`): batches of similar length, in an order that is a function of
(seed, epoch), so a resumed run sees the same ones; the classifier's loss, averaged over examples; an
evaluation on dev at every epoch's end, the best epoch's model and predictions kept on disk; test predictions
from the best model at the end. The engine adds what pretraining has too: --grad-accum, SIGTERM / Ctrl-C
saving a checkpoint, --resume continuing bit-exactly (mid-epoch, seed loop and best epoch included), a stop
on a non-finite loss, the precision policy and DDP.

Output directory layout (rank 0 writes everything):

    OUT/summary.json                     task, recipe, best-epoch dev metrics per seed and their median
    OUT/run.json                         what the run is (task, model, recipe, seeds): --resume must match it
    OUT/seed-N/result.json               the seed's result, once it is finished (a resumed run skips the seed)
    OUT/seed-N/checkpoints/              resumable state at each epoch's end and every --save-every steps
    OUT/seed-N/metrics.jsonl             training loss every ~10% of an epoch, dev metrics every epoch
    OUT/seed-N/metrics.png               the same as curves (if matplotlib is installed)
    OUT/seed-N/model/                    the best epoch's model + vocabulary (HF layout)
    OUT/seed-N/dev_predictions.tsv       the best epoch's dev predictions (MNLI: one file per dev split)
    OUT/seed-N/submission/CoLA.tsv       test predictions of the best epoch in GLUE's submission format
    OUT/seed-N/test_predictions.tsv      ... or, for a test split without a submission format (the user's own
                                         test file), in the layout of the dev predictions; scored if labelled
"""

from __future__ import annotations

import json
import math
import shutil
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import torch
from torch import nn
from tqdm import tqdm

from bert.checkpoint import load_reports_silenced
from bert.files import atomic_write
from finetune.checkpoint import ModelSource, save_classifier
from finetune.data import epoch_batches
from training import (DistributedContext, MetricsLog, Precision, build_lr_schedule, build_optimizer, plot_metrics,
                      set_seed)
from training.engine import Engine


@dataclass
class Recipe:
    """The fine-tuning hyper-parameters (BERT paper's recipe, HF run_glue's defaults otherwise)."""

    epochs: int = 3
    lr: float = 5e-5
    batch_size: int = 32  # examples per optimizer step, over all processes and micro-batches together
    grad_accum: int = 1  # micro-batches per optimizer step: the same step in less memory
    max_seq_length: int = 128
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0  # the gradient is clipped to this norm before each step; 0: no clipping
    adam_epsilon: float = 1e-6
    adam_beta2: float = 0.999
    batching: str = "length-grouped"  # or "random" (finetune.data.BATCHINGS)
    eval_batch_size: int = 128
    precision: str = "fp32"  # the precision chosen for this machine (training/precision.py)
    save_every: int = 0  # a resumable checkpoint every this many steps, besides each epoch's end (0: only those)
    eval_every: int = 0  # a dev evaluation every this many steps, besides each epoch's end (0: only those)
    metric_for_best: str | None = None  # the dev metric that picks the best model (None: the task's main metric)
    early_stopping_patience: int = 0  # stop after this many evaluations without a better one (0: never)


@dataclass
class SeedResult:
    seed: int
    best_epoch: float  # the epoch of the best evaluation (a fraction for one inside an epoch: --eval-every)
    metrics: dict[str, float]  # dev metrics of the best evaluation
    epoch_seconds: list[float]  # training time of each epoch (without evaluation)
    train_seconds: float  # wall time of the whole run: training, evaluation, saving
    test_metrics: dict[str, float]  # the best model's scores on labelled test data ("test_f1"); often none
    best_step: int = 0  # the optimizer step of the best evaluation
    stopped_early_at: int | None = None  # the step early stopping ended the run at (None: it ran every epoch)
    predictions: object = None  # the best epoch's dev predictions (the family's kind); None when reused

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "predictions"}  # predictions are in files

    @classmethod
    def from_json(cls, record: dict) -> "SeedResult":
        return cls(**record)


class TaskFamily(Protocol):
    """What a kind of task gives the fine-tuning job; see finetune/sentence/family.py for the
    contract (token_classification.py and qa/family.py implement it too)."""

    name: str
    main_metric: str
    metric_keys: list[str]
    train_lengths: list[int]

    def build_model(self, source: ModelSource) -> nn.Module: ...
    def train_batch(self, positions: list[int], pad_token_id: int, token_types: bool) -> dict: ...
    def item_counts(self, batch: dict) -> dict[str, float]: ...
    def train_items(self) -> dict[str, float]: ...  # loss terms weighed per item over the epoch: their items
    def evaluate(self, model: nn.Module, ctx: DistributedContext, precision: Precision) -> tuple[dict, object]: ...
    def save_best(self, model: nn.Module, tokenizer, predictions, out: Path) -> None: ...
    def write_predictions(self, predictions, out: Path) -> None: ...  # the dev prediction files alone
    def load_best(self, directory: Path) -> nn.Module: ...
    def write_test(self, model: nn.Module, ctx: DistributedContext, precision: Precision, out: Path) -> dict: ...
    def print_report(self, summary: dict, results: list, output: Path) -> None: ...


def run_seeds(family: TaskFamily, source: ModelSource, tokenizer, recipe: Recipe, seeds: list[int], output: Path,
              ctx: DistributedContext, report_to: str = "none",
              progress: bool = True) -> tuple[dict, list[SeedResult]] | int:
    """Fine-tune once per seed (a seed finished earlier is reused) and write OUT/summary.json; returns the
    summary and the runs, or the exit status (128 + signal) of a run a signal stopped. report_to: where each
    seed's metrics go besides its metrics.jsonl (training.REPORT_TO); progress: bars and a line per evaluation."""
    results = []
    for seed in seeds:
        out = output / f"seed-{seed}"
        finished = out / "result.json"
        if finished.exists():
            results.append(SeedResult.from_json(json.loads(finished.read_text())))
            if ctx.is_main and progress:
                print(f"seed {seed}: finished earlier, reusing {finished}")
            continue
        job = FineTuningJob(family, source, tokenizer, recipe, seed, out, ctx, report_to, progress)
        status = job.run()
        if status != 0:
            return status
        results.append(job.result)
    summary = make_summary(family, source, recipe, results)
    if ctx.is_main:
        write_json(output / "summary.json", summary)
    return summary, results


class FineTuningJob:
    """One seed's fine-tuning as a job of the training engine (see training.engine.TrainingJob)."""

    def __init__(self, family: TaskFamily, source: ModelSource, tokenizer, recipe: Recipe, seed: int, out: Path,
                 ctx: DistributedContext, report_to: str = "none", progress: bool = True):
        self.family, self.tokenizer, self.recipe = family, tokenizer, recipe
        self.shows_progress = ctx.is_main and progress
        self.seed, self.out, self.ctx = seed, out, ctx
        self.grad_accum, self.max_grad_norm = recipe.grad_accum, recipe.max_grad_norm
        self.precision = Precision(recipe.precision, ctx.device.type, "chosen by bert-finetune")
        set_seed(seed)  # before building the model: the classifier's fresh weights come from this seed
        with load_reports_silenced():  # the up-front load check reported what the checkpoint lacks, once
            self.model = family.build_model(source).to(ctx.device).train()
        self.token_types = self.model.config.type_vocab_size > 0  # DistilBERT has no segment embeddings
        self.steps_per_epoch = math.ceil(len(family.train_lengths) / recipe.batch_size)
        self.total_steps = self.steps_per_epoch * recipe.epochs
        optimizer = build_optimizer(self.model, recipe.lr, recipe.weight_decay, betas=(0.9, recipe.adam_beta2),
                                    eps=recipe.adam_epsilon)
        scheduler = build_lr_schedule(optimizer, round(recipe.warmup_ratio * self.total_steps), self.total_steps)
        self.log = MetricsLog(out / "metrics.jsonl", enabled=ctx.is_main, report_to=report_to)
        self.engine = Engine(self, self.model, optimizer, scheduler, self.precision, ctx, out / "checkpoints", self.log,
                             keep_checkpoints=1)
        self.batches_of_epoch: tuple[int, list[list[int]]] | None = None  # (epoch, its batches), built once
        self.metric_for_best = recipe.metric_for_best or family.main_metric
        # resumable state: the best evaluation so far (its model and predictions are on disk), evaluations since
        # it, the step early stopping ended the run at, timings, loss sums
        self.best: dict | None = None  # {"epoch", "step", "metrics", "predictions"}
        self.evaluations_since_best = 0
        self.stopped_early_at: int | None = None
        self.epoch_seconds: list[float] = []
        self.seconds = {"epoch": 0.0, "run": 0.0}  # training time of the current epoch, wall time of the run
        self.loss_sum, self.loss_steps = 0.0, 0  # this epoch's
        self.clock = time.perf_counter()
        self.result: SeedResult | None = None
        self.progress = None

    def run(self) -> int:
        self.engine.restore()
        step = self.engine.state.step
        self.progress = tqdm(total=self.steps_per_epoch, initial=step % self.steps_per_epoch, leave=False,
                             desc=f"seed {self.seed} epoch {step // self.steps_per_epoch + 1}",
                             disable=not self.shows_progress, dynamic_ncols=True)
        self.clock = time.perf_counter()
        try:
            return self.engine.run()
        finally:
            self.progress.close()

    # ------------------------------------------------------------------ the steps

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """The batches of epoch `epoch` (0-based), drawn once per epoch (finetune.data.epoch_batches)."""
        if self.batches_of_epoch is None or self.batches_of_epoch[0] != epoch:
            self.batches_of_epoch = (epoch, epoch_batches(self.family.train_lengths, self.recipe.batch_size,
                                                          self.seed, epoch, self.recipe.batching))
        return self.batches_of_epoch[1]

    def micro_batches(self, step: int) -> list[dict[str, torch.Tensor]]:
        """This process's share of step `step`'s batch (every world_size-th example), in --grad-accum parts."""
        positions = self.epoch_batches(step // self.steps_per_epoch)[step % self.steps_per_epoch]
        if len(positions) < self.ctx.world_size:  # too few examples to give every process one: no update
            return []
        mine = positions[self.ctx.rank::self.ctx.world_size]
        parts = [mine[i::self.grad_accum] for i in range(self.grad_accum)]
        pad = self.tokenizer.pad_token_id
        return [self.family.train_batch(part, pad, self.token_types) for part in parts if part]

    def item_counts(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        return self.family.item_counts(batch)

    def step_items(self) -> dict[str, float]:
        """A term the family weighs per item over the epoch is divided by its mean items per step."""
        return {name: items / self.steps_per_epoch for name, items in self.family.train_items().items()}

    def loss_terms(self, output) -> dict[str, torch.Tensor]:
        return {"loss": output.loss}

    def finished(self, step: int, elapsed: float) -> bool:
        return step >= self.total_steps or self.stopped_early_at is not None

    def checkpoint_due(self, step: int, last: bool) -> bool:
        save_every, eval_every = self.recipe.save_every, self.recipe.eval_every
        return (step % self.steps_per_epoch == 0 or last or (save_every > 0 and step % save_every == 0)
                or (eval_every > 0 and step % eval_every == 0))  # an evaluation's best-so-far is state too

    def after_step(self, step: int, stats: dict, elapsed: float) -> None:
        """Progress, a loss line every ~10% of an epoch, a dev evaluation every --eval-every steps and at the
        epoch's end (the best kept, early stopping decided)."""
        self.tick()
        epoch, in_epoch = (step - 1) // self.steps_per_epoch + 1, (step - 1) % self.steps_per_epoch + 1
        if "loss" in stats:
            self.loss_sum, self.loss_steps = self.loss_sum + stats["loss"], self.loss_steps + 1
        self.progress.update(1)
        self.progress.set_postfix(loss=f"{self.loss_sum / max(self.loss_steps, 1):.4f}")
        if in_epoch % max(1, self.steps_per_epoch // 10) == 0 and "loss" in stats:
            self.log.write({"seed": self.seed, "epoch": epoch - 1 + in_epoch / self.steps_per_epoch, "step": step,
                            "loss": stats["loss"], "lr": stats["lr"]})
        if in_epoch == self.steps_per_epoch:
            self.end_epoch(epoch, step)
        elif self.recipe.eval_every > 0 and step % self.recipe.eval_every == 0:
            self.evaluate(round(epoch - 1 + in_epoch / self.steps_per_epoch, 4), step, {})
            self.clock = time.perf_counter()  # evaluation is not training time

    def tick(self) -> None:
        """Add the time since the last tick to this epoch's training time and the run's wall time."""
        now = time.perf_counter()
        self.seconds["epoch"] += now - self.clock
        self.seconds["run"] += now - self.clock
        self.clock = now

    def end_epoch(self, epoch: int, step: int) -> None:
        self.epoch_seconds.append(self.seconds["epoch"])
        mean_loss = self.loss_sum / max(self.loss_steps, 1)
        self.evaluate(epoch, step, {"train_loss": mean_loss, "epoch_seconds": self.epoch_seconds[-1]})
        self.seconds["epoch"], self.loss_sum, self.loss_steps = 0.0, 0.0, 0
        if epoch < self.recipe.epochs:
            self.progress.reset()
            self.progress.set_description(f"seed {self.seed} epoch {epoch + 1}")
        self.clock = time.perf_counter()  # evaluation is not training time

    def evaluate(self, epoch: float, step: int, extra: dict) -> None:
        """Score dev, log it (one metrics.jsonl row per evaluation), keep the model if it is the best by
        --metric-for-best (a tie is no improvement), and stop after --early-stopping-patience evaluations
        without one."""
        metrics, predictions = self.family.evaluate(self.model, self.ctx, self.precision)
        self.log.write({"seed": self.seed, "epoch": epoch, "step": step, **extra, **metrics})
        if self.shows_progress:
            shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
            loss = f"train loss {extra['train_loss']:.4f}, " if "train_loss" in extra else ""
            seconds = f" ({extra['epoch_seconds']:.1f}s)" if "epoch_seconds" in extra else ""
            tqdm.write(f"seed {self.seed} epoch {epoch} (step {step}): {loss}dev {shown}{seconds}")
        key = self.metric_for_best
        if self.best is None or metrics[key] > self.best["metrics"][key]:
            self.best = {"epoch": epoch, "step": step, "metrics": metrics, "predictions": predictions}
            self.evaluations_since_best = 0
            if self.ctx.is_main:
                self.family.save_best(self.model, self.tokenizer, predictions, self.out)
        else:
            self.evaluations_since_best += 1
        patience = self.recipe.early_stopping_patience
        if patience > 0 and self.evaluations_since_best >= patience and step < self.total_steps:
            self.stopped_early_at = step
            if self.shows_progress:
                tqdm.write(f"seed {self.seed}: early stopping at step {step}, {patience} evaluation(s) without a "
                           f"better {key} than {self.best['metrics'][key]:.4f} (step {self.best['step']})")

    # ------------------------------------------------------------------ state and results

    def state_dict(self) -> dict:
        self.tick()
        return {"best": self.best, "epoch_seconds": self.epoch_seconds, "seconds": dict(self.seconds),
                "loss_sum": self.loss_sum, "loss_steps": self.loss_steps,
                "evaluations_since_best": self.evaluations_since_best, "stopped_early_at": self.stopped_early_at}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.epoch_seconds = state["best"], list(state["epoch_seconds"])
        self.seconds, self.loss_sum, self.loss_steps = dict(state["seconds"]), state["loss_sum"], state["loss_steps"]
        self.evaluations_since_best, self.stopped_early_at = state["evaluations_since_best"], state["stopped_early_at"]

    def export(self, interrupted: bool) -> None:
        """At the end: test predictions of the best model, the curves, result.json, and the checkpoints go.
        Stopped by a signal before any epoch ended: the model as of now, so there is a usable one."""
        if interrupted:
            if self.ctx.is_main:
                if self.best is None:
                    save_classifier(self.model, self.tokenizer, self.out / "model")
                tqdm.write(f"the best model so far is in {self.out / 'model'}")
            return
        self.tick()
        self.ctx.barrier()  # rank 0 has written the best model
        best_model = self.family.load_best(self.out / "model").to(self.ctx.device)
        test_metrics = self.family.write_test(best_model, self.ctx, self.precision, self.out)
        if self.ctx.is_main:
            plot_metrics(self.out / "metrics.jsonl", self.out / "metrics.png",
                         {"training loss": ["loss"], "dev": self.family.metric_keys})
        self.result = SeedResult(self.seed, self.best["epoch"], self.best["metrics"], self.epoch_seconds,
                                 self.seconds["run"], test_metrics, self.best["step"], self.stopped_early_at,
                                 self.best["predictions"])
        if self.ctx.is_main:
            write_json(self.out / "result.json", self.result.to_json())
            shutil.rmtree(self.out / "checkpoints", ignore_errors=True)  # the seed is done: result.json says so


# ------------------------------------------------------------------ summary

def make_summary(family: TaskFamily, source: ModelSource, recipe: Recipe, results: list[SeedResult]) -> dict:
    """Per-seed best-epoch metrics, their median (per metric), and timings."""
    metric_names = list(results[0].metrics)
    main_metric = recipe.metric_for_best or family.main_metric
    best = max(results, key=lambda r: r.metrics[main_metric])
    all_epochs = [s for r in results for s in r.epoch_seconds]
    summary = {
        "task": family.name,
        "model": source.name,
        "main_metric": main_metric,
        "median": {name: statistics.median(r.metrics[name] for r in results) for name in metric_names},
        "mean": {name: statistics.mean(r.metrics[name] for r in results) for name in metric_names},
        "std": {name: seed_std([r.metrics[name] for r in results]) for name in metric_names},
        "seeds": [{"seed": r.seed, "best_epoch": r.best_epoch, "best_step": r.best_step,
                   **({"stopped_early_at": r.stopped_early_at} if r.stopped_early_at is not None else {}),
                   **r.metrics, **r.test_metrics,
                   "train_seconds": round(r.train_seconds, 2)} for r in results],
        "best_seed": best.seed,
        "best_model": f"seed-{best.seed}/model",
        "train_seconds": round(sum(r.train_seconds for r in results), 2),
        "epoch_seconds": round(statistics.mean(all_epochs), 2),
        "precision": recipe.precision,
        "recipe": asdict(recipe),
        **getattr(family, "summary_extras", {}),  # what else the family's runs are described by (SQuAD's windows)
    }
    if results[0].test_metrics:  # a labelled test file: its scores too, never used to choose anything
        summary["test_median"] = {name: statistics.median(r.test_metrics[name] for r in results)
                                  for name in results[0].test_metrics}
    return summary


def seed_std(values: list[float]) -> float:
    """The sample standard deviation over seeds (n - 1 in the denominator); 0 for a single seed."""
    return statistics.stdev(values) if len(values) > 1 else 0.0


def write_json(path: Path, record: dict) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(record, indent=2) + "\n"))
