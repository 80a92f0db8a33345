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

import numpy as np
import torch
from tqdm import tqdm

from bert.checkpoint import atomic_write
from finetune.checkpoint import ModelSource, build_classifier, load_classifier, save_classifier
from finetune.data import EncodedSplit, collate, length_grouped_batches
from finetune.evaluate import predict_logits, sample_table, score, write_predictions, write_submission
from finetune.tasks import GlueTask, metric_key
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
    max_grad_norm: float = 1.0
    eval_batch_size: int = 128
    precision: str = "fp32"  # the precision chosen for this machine (training/precision.py)
    save_every: int = 0  # a resumable checkpoint every this many steps, besides each epoch's end (0: only those)


@dataclass
class EncodedTask:
    """A task's splits, tokenised (see finetune.data)."""

    train: EncodedSplit
    dev: dict[str, EncodedSplit]
    test: dict[str, EncodedSplit]


@dataclass
class SeedResult:
    seed: int
    best_epoch: int
    metrics: dict[str, float]  # dev metrics of the best epoch
    dev_logits: dict[str, torch.Tensor]  # the best epoch's dev logits, per dev split
    epoch_seconds: list[float]  # training time of each epoch (without evaluation)
    train_seconds: float  # wall time of the whole run: training, evaluation, saving
    test_metrics: dict[str, float]  # the best epoch's scores on labelled test splits ("test_accuracy"); often none

    def to_json(self) -> dict:
        return {**asdict(self), "dev_logits": {k: v.tolist() for k, v in self.dev_logits.items()}}

    @classmethod
    def from_json(cls, record: dict) -> "SeedResult":
        return cls(**{**record, "dev_logits": {k: torch.tensor(v) for k, v in record["dev_logits"].items()}})


def finetune(task: GlueTask, source: ModelSource, tokenizer, data: EncodedTask, recipe: Recipe,
             seeds: list[int], output: Path, ctx: DistributedContext) -> tuple[dict, list[SeedResult]] | int:
    """Fine-tune once per seed (a seed finished earlier is reused) and write OUT/summary.json; returns the
    summary and the runs, or the exit status (128 + signal) of a run a signal stopped."""
    results = []
    for seed in seeds:
        out = output / f"seed-{seed}"
        finished = out / "result.json"
        if finished.exists():
            results.append(SeedResult.from_json(json.loads(finished.read_text())))
            if ctx.is_main:
                print(f"seed {seed}: finished earlier, reusing {finished}")
            continue
        job = FineTuningJob(task, source, tokenizer, data, recipe, seed, out, ctx)
        status = job.run()
        if status != 0:
            return status
        results.append(job.result)
    summary = make_summary(task, source, recipe, results)
    if ctx.is_main:
        write_json(output / "summary.json", summary)
    return summary, results


class FineTuningJob:
    """One seed's fine-tuning as a job of the training engine (see training.engine.TrainingJob)."""

    def __init__(self, task: GlueTask, source: ModelSource, tokenizer, data: EncodedTask, recipe: Recipe, seed: int,
                 out: Path, ctx: DistributedContext):
        self.task, self.tokenizer, self.data, self.recipe = task, tokenizer, data, recipe
        self.seed, self.out, self.ctx = seed, out, ctx
        self.grad_accum, self.max_grad_norm = recipe.grad_accum, recipe.max_grad_norm
        self.precision = Precision(recipe.precision, ctx.device.type, "chosen by bert-finetune")
        set_seed(seed)  # before building the model: the classifier's fresh weights come from this seed
        self.model = build_classifier(source, task).to(ctx.device).train()
        self.token_types = self.model.config.type_vocab_size > 0  # DistilBERT has no segment embeddings
        self.steps_per_epoch = math.ceil(len(data.train) / recipe.batch_size)
        self.total_steps = self.steps_per_epoch * recipe.epochs
        optimizer = build_optimizer(self.model, recipe.lr, recipe.weight_decay)
        scheduler = build_lr_schedule(optimizer, round(recipe.warmup_ratio * self.total_steps), self.total_steps)
        self.log = MetricsLog(out / "metrics.jsonl", enabled=ctx.is_main)
        self.engine = Engine(self, self.model, optimizer, scheduler, self.precision, ctx, out / "checkpoints", self.log,
                             keep_checkpoints=1)
        self.batches_of_epoch: tuple[int, list[list[int]]] | None = None  # (epoch, its batches), built once
        # resumable state: the best epoch so far (its model and predictions are on disk), timings, loss sums
        self.best: dict | None = None  # {"epoch", "metrics", "dev_logits"}
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
                             disable=not self.ctx.is_main, dynamic_ncols=True)
        self.clock = time.perf_counter()
        try:
            return self.engine.run()
        finally:
            self.progress.close()

    # ------------------------------------------------------------------ the steps

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """The batches of epoch `epoch` (0-based): length-grouped, in an order drawn from (seed, epoch) alone,
        the same on every process and in a resumed run."""
        if self.batches_of_epoch is None or self.batches_of_epoch[0] != epoch:
            order_seed = int(np.random.SeedSequence([self.seed, epoch]).generate_state(1)[0])
            generator = torch.Generator().manual_seed(order_seed)
            self.batches_of_epoch = (epoch, length_grouped_batches(self.data.train.lengths, self.recipe.batch_size,
                                                                   generator))
        return self.batches_of_epoch[1]

    def micro_batches(self, step: int) -> list[dict[str, torch.Tensor]]:
        """This process's share of step `step`'s batch (every world_size-th example), in --grad-accum parts."""
        positions = self.epoch_batches(step // self.steps_per_epoch)[step % self.steps_per_epoch]
        if len(positions) < self.ctx.world_size:  # too few examples to give every process one: no update
            return []
        mine = positions[self.ctx.rank::self.ctx.world_size]
        parts = [mine[i::self.grad_accum] for i in range(self.grad_accum)]
        return [collate(self.data.train, part, self.tokenizer.pad_token_id, self.token_types) for part in parts if part]

    def item_counts(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        return {"loss": float(len(batch["input_ids"]))}  # the loss is a mean over examples

    def loss_terms(self, output) -> dict[str, torch.Tensor]:
        return {"loss": output.loss}

    def finished(self, step: int, elapsed: float) -> bool:
        return step >= self.total_steps

    def checkpoint_due(self, step: int, last: bool) -> bool:
        save_every = self.recipe.save_every
        return step % self.steps_per_epoch == 0 or last or (save_every > 0 and step % save_every == 0)

    def after_step(self, step: int, stats: dict, elapsed: float) -> None:
        """Progress, a loss line every ~10% of an epoch, and at the epoch's end: dev evaluation, the best kept."""
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

    def tick(self) -> None:
        """Add the time since the last tick to this epoch's training time and the run's wall time."""
        now = time.perf_counter()
        self.seconds["epoch"] += now - self.clock
        self.seconds["run"] += now - self.clock
        self.clock = now

    def end_epoch(self, epoch: int, step: int) -> None:
        self.epoch_seconds.append(self.seconds["epoch"])
        mean_loss = self.loss_sum / max(self.loss_steps, 1)
        metrics, dev_logits = evaluate_dev(self.task, self.model, self.data.dev, self.tokenizer.pad_token_id,
                                           self.recipe, self.ctx)
        self.log.write({"seed": self.seed, "epoch": epoch, "step": step, "train_loss": mean_loss,
                        "epoch_seconds": self.epoch_seconds[-1], **metrics})
        if self.ctx.is_main:
            shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
            tqdm.write(f"seed {self.seed} epoch {epoch}: train loss {mean_loss:.4f}, dev {shown} "
                       f"({self.epoch_seconds[-1]:.1f}s)")
        main = self.task.main_metric
        if self.best is None or metrics[main] > self.best["metrics"][main]:
            self.best = {"epoch": epoch, "metrics": metrics, "dev_logits": dev_logits}
            if self.ctx.is_main:
                save_best(self.task, self.model, self.tokenizer, self.data.dev, dev_logits, self.out)
        self.seconds["epoch"], self.loss_sum, self.loss_steps = 0.0, 0.0, 0
        if epoch < self.recipe.epochs:
            self.progress.reset()
            self.progress.set_description(f"seed {self.seed} epoch {epoch + 1}")
        self.clock = time.perf_counter()  # evaluation is not training time

    # ------------------------------------------------------------------ state and results

    def state_dict(self) -> dict:
        self.tick()
        return {"best": self.best, "epoch_seconds": self.epoch_seconds, "seconds": dict(self.seconds),
                "loss_sum": self.loss_sum, "loss_steps": self.loss_steps}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.epoch_seconds = state["best"], list(state["epoch_seconds"])
        self.seconds, self.loss_sum, self.loss_steps = dict(state["seconds"]), state["loss_sum"], state["loss_steps"]

    def export(self, interrupted: bool) -> None:
        """At the end: test predictions of the best model, the curves, result.json, and the checkpoints go.
        Stopped by a signal before any epoch ended: the model as of now, so there is a usable one."""
        if interrupted:
            if self.ctx.is_main:
                if self.best is None:
                    save_classifier(self.model, self.tokenizer, self.out / "model")
                print(f"the best model so far is in {self.out / 'model'}")
            return
        self.tick()
        self.ctx.barrier()  # rank 0 has written the best model
        best_model, _ = load_classifier(self.out / "model")
        test_metrics = write_test_predictions(self.task, best_model.to(self.ctx.device), self.data.test,
                                              self.tokenizer.pad_token_id, self.recipe, self.ctx, self.out)
        dev_keys = [metric_key(self.task, split, m) for split in self.task.dev_splits for m in self.task.metrics]
        if self.ctx.is_main:
            plot_metrics(self.out / "metrics.jsonl", self.out / "metrics.png",
                         {"training loss": ["loss"], "dev": dev_keys})
        self.result = SeedResult(self.seed, self.best["epoch"], self.best["metrics"], self.best["dev_logits"],
                                 self.epoch_seconds, self.seconds["run"], test_metrics)
        if self.ctx.is_main:
            write_json(self.out / "result.json", self.result.to_json())
            shutil.rmtree(self.out / "checkpoints", ignore_errors=True)  # the seed is done: result.json says so


def recipe_precision(recipe: Recipe, ctx: DistributedContext) -> Precision:
    return Precision(recipe.precision, ctx.device.type, "chosen by bert-finetune")


def evaluate_dev(task: GlueTask, model, dev: dict[str, EncodedSplit], pad_token_id: int, recipe: Recipe,
                 ctx: DistributedContext) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """Metrics on every dev split (MNLI has two), named as in metric_key, and the logits."""
    metrics, logits = {}, {}
    for split in task.dev_splits:
        logits[split.name] = predict_logits(model, dev[split.name], recipe.eval_batch_size, pad_token_id, ctx,
                                            recipe_precision(recipe, ctx))
        for name, value in score(task, dev[split.name], logits[split.name]).items():
            metrics[metric_key(task, split, name)] = value
    return metrics, logits


def save_best(task: GlueTask, model, tokenizer, dev: dict[str, EncodedSplit], dev_logits: dict, out: Path) -> None:
    save_classifier(model, tokenizer, out / "model")
    for name, split in dev.items():
        write_predictions(out / f"{name}_predictions.tsv", task, split, dev_logits[name])


def write_test_predictions(task: GlueTask, model, test: dict[str, EncodedSplit], pad_token_id: int, recipe: Recipe,
                           ctx: DistributedContext, out: Path) -> dict[str, float]:
    """Predict every test split; returns the scores of the labelled ones, named "<split>_<metric>"."""
    metrics = {}
    for split in task.test_splits:
        if split.name not in test:
            continue
        logits = predict_logits(model, test[split.name], recipe.eval_batch_size, pad_token_id, ctx,
                                recipe_precision(recipe, ctx))
        if test[split.name].labels is not None:
            metrics |= {f"{split.name}_{name}": v for name, v in score(task, test[split.name], logits).items()}
        if ctx.is_main and split.submission is not None:
            (out / "submission").mkdir(parents=True, exist_ok=True)
            write_submission(out / "submission" / split.submission, task, test[split.name], logits)
        elif ctx.is_main:
            write_predictions(out / f"{split.name}_predictions.tsv", task, test[split.name], logits)
    return metrics


# ------------------------------------------------------------------ summary

def make_summary(task: GlueTask, source: ModelSource, recipe: Recipe, results: list[SeedResult]) -> dict:
    """Per-seed best-epoch metrics, their median (per metric), and timings."""
    metric_names = list(results[0].metrics)
    best = max(results, key=lambda r: r.metrics[task.main_metric])
    all_epochs = [s for r in results for s in r.epoch_seconds]
    summary = {
        "task": task.name,
        "model": source.name,
        "main_metric": task.main_metric,
        "median": {name: statistics.median(r.metrics[name] for r in results) for name in metric_names},
        "seeds": [{"seed": r.seed, "best_epoch": r.best_epoch, **r.metrics, **r.test_metrics,
                   "train_seconds": round(r.train_seconds, 2)} for r in results],
        "best_seed": best.seed,
        "best_model": f"seed-{best.seed}/model",
        "train_seconds": round(sum(r.train_seconds for r in results), 2),
        "epoch_seconds": round(statistics.mean(all_epochs), 2),
        "precision": recipe.precision,
        "recipe": asdict(recipe),
    }
    if results[0].test_metrics:  # a labelled test file: its scores too, never used to choose anything
        summary["test_median"] = {name: statistics.median(r.test_metrics[name] for r in results)
                                  for name in results[0].test_metrics}
    return summary


def print_report(task: GlueTask, summary: dict, results: list[SeedResult], data: EncodedTask,
                 output: Path) -> None:
    """Median scores, one line per seed, and a table of sample dev predictions of the best run."""
    several = len(results) > 1
    print(f"\n{task.name} dev{' (median of %d seeds)' % len(results) if several else ''}: "
          + ", ".join(f"{k} {v:.4f}" for k, v in summary["median"].items()))
    if "test_median" in summary:
        print("test (the best epoch on dev): " + ", ".join(f"{k} {v:.4f}" for k, v in summary["test_median"].items()))
    for row in summary["seeds"] if several else []:
        scores = ", ".join(f"{k} {row[k]:.4f}" for k in summary["median"])
        print(f"  seed {row['seed']}: {scores} (best epoch {row['best_epoch']}, {row['train_seconds']:.0f}s)")
    best = next(r for r in results if r.seed == summary["best_seed"])
    first_dev = task.dev_splits[0].name
    print(f"\nsample of dev predictions ({summary['best_model']}, epoch {best.best_epoch}):")
    print(sample_table(task, data.dev[first_dev], best.dev_logits[first_dev]))
    print(f"\nwritten to {output}/: summary.json, seed-*/ (model, predictions, metrics)")


def write_json(path: Path, record: dict) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(record, indent=2) + "\n"))
