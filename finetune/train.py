"""The fine-tuning loop: one run per seed, the best epoch kept, then a summary over seeds.

Output directory layout (rank 0 writes everything):

    OUT/summary.json                     task, recipe, best-epoch dev metrics per seed and their median
    OUT/seed-N/metrics.jsonl             training loss every ~10% of an epoch, dev metrics every epoch
    OUT/seed-N/metrics.png               the same as curves (if matplotlib is installed)
    OUT/seed-N/model/                    the best epoch's model + vocabulary (HF layout)
    OUT/seed-N/dev_predictions.tsv       the best epoch's dev predictions (MNLI: one file per dev split)
    OUT/seed-N/submission/CoLA.tsv       test predictions of the best epoch in GLUE's submission format
"""

from __future__ import annotations

import json
import math
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from bert.checkpoint import atomic_write
from training import (DistributedContext, MetricsLog, Precision, build_lr_schedule, build_optimizer, plot_metrics,
                      set_seed)
from finetune.checkpoint import ModelSource, build_classifier, save_classifier
from finetune.data import EncodedSplit, collate, length_grouped_batches
from finetune.evaluate import predict_logits, sample_table, score, write_dev_predictions, write_submission
from finetune.tasks import GlueTask, metric_key


@dataclass
class Recipe:
    """The fine-tuning hyper-parameters (BERT paper's recipe, HF run_glue's defaults otherwise)."""

    epochs: int = 3
    lr: float = 5e-5
    batch_size: int = 32  # examples per optimizer step, over all processes together
    max_seq_length: int = 128
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    eval_batch_size: int = 128
    precision: str = "fp32"  # the precision chosen for this machine (training/precision.py)


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


def finetune(task: GlueTask, source: ModelSource, tokenizer, data: EncodedTask, recipe: Recipe,
             seeds: list[int], output: Path, ctx: DistributedContext) -> tuple[dict, list[SeedResult]]:
    """Fine-tune once per seed and write OUT/summary.json; returns the summary and the runs."""
    results = [train_seed(task, source, tokenizer, data, recipe, seed, output / f"seed-{seed}", ctx)
               for seed in seeds]
    summary = make_summary(task, source, recipe, results)
    if ctx.is_main:
        write_json(output / "summary.json", summary)
    return summary, results


def train_seed(task: GlueTask, source: ModelSource, tokenizer, data: EncodedTask, recipe: Recipe, seed: int,
               out: Path, ctx: DistributedContext) -> SeedResult:
    """One full fine-tuning run; keeps the epoch with the best dev score (task.main_metric)."""
    started = time.perf_counter()
    set_seed(seed)  # before building the model: the classifier's fresh weights come from this seed
    model = build_classifier(source, task).to(ctx.device).train()
    trained = ctx.wrap(model)
    steps_per_epoch = math.ceil(len(data.train) / recipe.batch_size)
    total_steps = steps_per_epoch * recipe.epochs
    optimizer = build_optimizer(model, recipe.lr, recipe.weight_decay)
    scheduler = build_lr_schedule(optimizer, round(recipe.warmup_ratio * total_steps), total_steps)
    log = MetricsLog(out / "metrics.jsonl", enabled=ctx.is_main)
    batch_order = torch.Generator().manual_seed(seed)  # same on every process: all agree on the batches
    scaler = recipe_precision(recipe, ctx).grad_scaler()  # fp16 only

    epoch_seconds, best = [], None  # best: (epoch, metrics, dev logits, weights)
    for epoch in range(1, recipe.epochs + 1):
        epoch_start = time.perf_counter()
        mean_loss = train_epoch(trained, model, optimizer, scheduler, data.train, tokenizer.pad_token_id, recipe,
                                batch_order, ctx, log, seed, epoch, steps_per_epoch, scaler)
        epoch_seconds.append(time.perf_counter() - epoch_start)
        metrics, dev_logits = evaluate_dev(task, model, data.dev, tokenizer.pad_token_id, recipe, ctx)
        log.write({"seed": seed, "epoch": epoch, "step": epoch * steps_per_epoch, "train_loss": mean_loss,
                   "epoch_seconds": epoch_seconds[-1], **metrics})
        if ctx.is_main:
            shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
            tqdm.write(f"seed {seed} epoch {epoch}: train loss {mean_loss:.4f}, dev {shown} "
                       f"({epoch_seconds[-1]:.1f}s)")
        if best is None or metrics[task.main_metric] > best[1][task.main_metric]:
            best = (epoch, metrics, dev_logits, {k: v.detach().clone() for k, v in model.state_dict().items()})
            if ctx.is_main:
                save_best(task, model, tokenizer, data.dev, dev_logits, out)

    best_epoch, best_metrics, best_logits, best_weights = best
    model.load_state_dict(best_weights)
    write_test_predictions(task, model, data.test, tokenizer.pad_token_id, recipe, ctx, out)
    if ctx.is_main:
        dev_keys = [metric_key(task, split, m) for split in task.dev_splits for m in task.metrics]
        plot_metrics(out / "metrics.jsonl", out / "metrics.png", {"training loss": ["loss"], "dev": dev_keys})
    return SeedResult(seed, best_epoch, best_metrics, best_logits, epoch_seconds, time.perf_counter() - started)


def train_epoch(trained, model, optimizer, scheduler, train: EncodedSplit, pad_token_id: int, recipe: Recipe,
                batch_order: torch.Generator, ctx: DistributedContext, log: MetricsLog, seed: int, epoch: int,
                steps_per_epoch: int, scaler: torch.amp.GradScaler | None, collate=collate) -> float:
    """One pass over the training set in length-grouped batches; returns the mean loss (all processes).

    `trained` is what runs forward/backward (the DDP wrapper under torchrun); `model` is the bare model.
    Each process takes every world_size-th example of each batch, so the examples per optimizer step
    stay `recipe.batch_size` whatever the number of processes. `collate(train, positions, pad_token_id,
    token_types)` makes a batch with its labels (another task family passes its own: finetune.qa).
    """
    batches = length_grouped_batches(train.lengths, recipe.batch_size, batch_order)
    precision = recipe_precision(recipe, ctx)
    log_every = max(1, steps_per_epoch // 10)
    loss_sum = torch.zeros(2, device=ctx.device)  # (sum of losses, number of steps)
    bar = tqdm(batches, desc=f"seed {seed} epoch {epoch}", disable=not ctx.is_main, leave=False,
               dynamic_ncols=True)
    for step, positions in enumerate(bar, start=1):
        if len(positions) < ctx.world_size:  # too few examples to give every process one
            continue
        batch = collate(train, positions[ctx.rank::ctx.world_size], pad_token_id, model.config.type_vocab_size > 0)
        with precision.autocast():
            loss = trained(**{k: v.to(ctx.device) for k, v in batch.items()}).loss
        (scaler.scale(loss) if scaler else loss).backward()
        if scaler:  # fp16: unscale before clipping; a step whose gradients overflowed is skipped
            scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.max_grad_norm)
        if scaler:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        loss_sum += torch.stack([loss.detach().float(), torch.ones((), device=ctx.device)])
        bar.set_postfix(loss=f"{loss_sum[0].item() / loss_sum[1].item():.4f}")
        if step % log_every == 0:
            log.write({"seed": seed, "epoch": epoch - 1 + step / len(batches),
                       "step": (epoch - 1) * steps_per_epoch + step,
                       "loss": loss.item(), "lr": scheduler.get_last_lr()[0]})
    ctx.all_reduce_sum(loss_sum)
    return (loss_sum[0] / loss_sum[1].clamp(min=1)).item()


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
        write_dev_predictions(out / f"{name}_predictions.tsv", task, split, dev_logits[name])


def write_test_predictions(task: GlueTask, model, test: dict[str, EncodedSplit], pad_token_id: int, recipe: Recipe,
                           ctx: DistributedContext, out: Path) -> None:
    for split in task.test_splits:
        if split.name not in test:
            continue
        logits = predict_logits(model, test[split.name], recipe.eval_batch_size, pad_token_id, ctx,
                                recipe_precision(recipe, ctx))
        if ctx.is_main:
            (out / "submission").mkdir(parents=True, exist_ok=True)
            write_submission(out / "submission" / split.submission, task, test[split.name], logits)


# ------------------------------------------------------------------ summary

def make_summary(task: GlueTask, source: ModelSource, recipe: Recipe, results: list[SeedResult]) -> dict:
    """Per-seed best-epoch metrics, their median (per metric), and timings."""
    metric_names = list(results[0].metrics)
    best = max(results, key=lambda r: r.metrics[task.main_metric])
    all_epochs = [s for r in results for s in r.epoch_seconds]
    return {
        "task": task.name,
        "model": source.name,
        "main_metric": task.main_metric,
        "median": {name: statistics.median(r.metrics[name] for r in results) for name in metric_names},
        "seeds": [{"seed": r.seed, "best_epoch": r.best_epoch, **r.metrics,
                   "train_seconds": round(r.train_seconds, 2)} for r in results],
        "best_seed": best.seed,
        "best_model": f"seed-{best.seed}/model",
        "train_seconds": round(sum(r.train_seconds for r in results), 2),
        "epoch_seconds": round(statistics.mean(all_epochs), 2),
        "precision": recipe.precision,
        "recipe": asdict(recipe),
    }


def print_report(task: GlueTask, summary: dict, results: list[SeedResult], data: EncodedTask,
                 output: Path) -> None:
    """Median scores, one line per seed, and a table of sample dev predictions of the best run."""
    several = len(results) > 1
    print(f"\n{task.name} dev{' (median of %d seeds)' % len(results) if several else ''}: "
          + ", ".join(f"{k} {v:.4f}" for k, v in summary["median"].items()))
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
