"""Fine-tuning a token classifier with today's loop: one run per seed, the best epoch on dev F1, a summary.

The epochs run through finetune/train.py's `train_epoch` (length-grouped batches padded to their longest,
the same optimizer, schedule, precision and DDP handling as GLUE), with the batches built by
finetune/token_classification.py's `collate`; everything else a run does goes through that module's
interface, so the shared training engine can take this over by calling the same functions.

Output directory layout (rank 0 writes everything), as for GLUE:

    OUT/summary.json                  task, recipe, best-epoch dev metrics per seed and their median, test beside
    OUT/seed-N/metrics.jsonl          training loss every ~10% of an epoch, dev metrics every epoch
    OUT/seed-N/metrics.png            the same as curves (if matplotlib is installed)
    OUT/seed-N/model/                 the best epoch's model + vocabulary (HF layout, id2label in config.json)
    OUT/seed-N/dev_predictions.conll  the best epoch's dev predictions, `word gold predicted` (IOB2)
    OUT/seed-N/test_predictions.conll the same model on test (when there is a test split)
"""

from __future__ import annotations

import math
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from training import DistributedContext, MetricsLog, build_lr_schedule, build_optimizer, plot_metrics, set_seed
from finetune.checkpoint import ModelSource, save_classifier
from finetune.conll import Sentence, TokenTask, TokenTaskData, write_conll_predictions
from finetune.entities import entity_spans
from finetune.token_classification import EncodedSentences, build_model, collate, encode_sentences, evaluate
from finetune.train import Recipe, make_summary, recipe_precision, train_epoch, write_json


@dataclass
class EncodedTokenTask:
    """A token task's splits as word pieces (test is None without a test split)."""

    train: EncodedSentences
    dev: EncodedSentences
    test: EncodedSentences | None


@dataclass
class TokenSeedResult:
    seed: int
    best_epoch: int
    metrics: dict[str, float]  # dev metrics of the best epoch
    test_metrics: dict[str, float] | None  # the best epoch's model on test
    dev_tags: list[list[str]]  # the best epoch's predicted dev tags
    epoch_seconds: list[float]  # training time of each epoch (without evaluation)
    train_seconds: float  # wall time of the whole run: training, evaluation, saving


def encode_token_task(tokenizer, task: TokenTask, data: TokenTaskData, max_length: int,
                      label_all_tokens: bool) -> EncodedTokenTask:
    def encode(sentences):
        return encode_sentences(tokenizer, task.labels, sentences, max_length, label_all_tokens)

    return EncodedTokenTask(encode(data.train), encode(data.dev), encode(data.test) if data.test else None)


def finetune_token_task(task: TokenTask, source: ModelSource, tokenizer, data: EncodedTokenTask, recipe: Recipe,
                        seeds: list[int], output: Path, ctx: DistributedContext,
                        label_all_tokens: bool) -> tuple[dict, list[TokenSeedResult]]:
    """Fine-tune once per seed and write OUT/summary.json (GLUE's layout, plus test scores); returns the
    summary and the runs."""
    results = [train_seed(task, source, tokenizer, data, recipe, seed, output / f"seed-{seed}", ctx)
               for seed in seeds]
    summary = make_summary(task, source, recipe, results)
    summary["recipe"]["label_all_tokens"] = label_all_tokens
    if data.test is not None:
        for row, result in zip(summary["seeds"], results):
            row["test"] = result.test_metrics
        summary["test_median"] = {name: statistics.median(r.test_metrics[name] for r in results)
                                  for name in results[0].test_metrics}
    if ctx.is_main:
        write_json(output / "summary.json", summary)
    return summary, results


def train_seed(task: TokenTask, source: ModelSource, tokenizer, data: EncodedTokenTask, recipe: Recipe, seed: int,
               out: Path, ctx: DistributedContext) -> TokenSeedResult:
    """One full fine-tuning run; keeps the epoch with the best dev F1, then scores it on test."""
    started = time.perf_counter()
    set_seed(seed)  # before building the model: the classifier's fresh weights come from this seed
    model = build_model(source, task).to(ctx.device).train()
    trained = ctx.wrap(model)
    steps_per_epoch = math.ceil(len(data.train) / recipe.batch_size)
    total_steps = steps_per_epoch * recipe.epochs
    optimizer = build_optimizer(model, recipe.lr, recipe.weight_decay)
    scheduler = build_lr_schedule(optimizer, round(recipe.warmup_ratio * total_steps), total_steps)
    log = MetricsLog(out / "metrics.jsonl", enabled=ctx.is_main)
    batch_order = torch.Generator().manual_seed(seed)  # same on every process: all agree on the batches
    precision = recipe_precision(recipe, ctx)
    pad_token_id = tokenizer.pad_token_id

    epoch_seconds, best = [], None  # best: (epoch, metrics, dev tags, weights)
    for epoch in range(1, recipe.epochs + 1):
        epoch_start = time.perf_counter()
        mean_loss = train_epoch(trained, model, optimizer, scheduler, data.train, pad_token_id, recipe, batch_order,
                                ctx, log, seed, epoch, steps_per_epoch, precision.grad_scaler(), collate)
        epoch_seconds.append(time.perf_counter() - epoch_start)
        metrics, dev_tags = evaluate(model, data.dev, task, recipe.eval_batch_size, pad_token_id, ctx, precision)
        log.write({"seed": seed, "epoch": epoch, "step": epoch * steps_per_epoch, "train_loss": mean_loss,
                   "epoch_seconds": epoch_seconds[-1], **metrics})
        if ctx.is_main:
            tqdm.write(f"seed {seed} epoch {epoch}: train loss {mean_loss:.4f}, dev f1 {metrics['f1']:.4f} "
                       f"(precision {metrics['precision']:.4f}, recall {metrics['recall']:.4f}) "
                       f"({epoch_seconds[-1]:.1f}s)")
        if best is None or metrics[task.main_metric] > best[1][task.main_metric]:
            best = (epoch, metrics, dev_tags, {k: v.detach().clone() for k, v in model.state_dict().items()})
            if ctx.is_main:
                save_classifier(model, tokenizer, out / "model")
                write_conll_predictions(out / "dev_predictions.conll", data.dev.sentences, dev_tags)

    best_epoch, best_metrics, best_tags, best_weights = best
    model.load_state_dict(best_weights)
    test_metrics = None
    if data.test is not None:
        test_metrics, test_tags = evaluate(model, data.test, task, recipe.eval_batch_size, pad_token_id, ctx, precision)
        if ctx.is_main:
            write_conll_predictions(out / "test_predictions.conll", data.test.sentences, test_tags)
    if ctx.is_main:
        plot_metrics(out / "metrics.jsonl", out / "metrics.png",
                     {"training loss": ["loss"], "dev": ["f1", "precision", "recall"]})
    return TokenSeedResult(seed, best_epoch, best_metrics, test_metrics, best_tags, epoch_seconds,
                           time.perf_counter() - started)


# ------------------------------------------------------------------ report

def print_token_report(task: TokenTask, summary: dict, results: list[TokenSeedResult], data: EncodedTokenTask,
                       output: Path) -> None:
    """Median scores (dev, then test), one line per seed, and a few dev sentences of the best run with the
    gold and the predicted entities."""
    several = len(results) > 1
    median = " (median of %d seeds)" % len(results) if several else ""
    for split, scores in (("dev", summary["median"]), ("test", summary.get("test_median"))):
        if scores:
            print(f"\n{task.name} {split}{median}: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
    for row in summary["seeds"] if several else []:
        print(f"  seed {row['seed']}: dev f1 {row['f1']:.4f} (best epoch {row['best_epoch']}, "
              f"{row['train_seconds']:.0f}s)")
    best = next(r for r in results if r.seed == summary["best_seed"])
    print(f"\nsample of dev predictions ({summary['best_model']}, epoch {best.best_epoch}):")
    chosen = sorted(random.Random(0).sample(range(len(data.dev)), min(5, len(data.dev))))
    for i in chosen:
        sentence = data.dev.sentences[i]
        print(f"  {' '.join(sentence.words)}\n    gold:      {entity_list(sentence, sentence.tags)}\n"
              f"    predicted: {entity_list(sentence, best.dev_tags[i])}")
    print(f"\nwritten to {output}/: summary.json, seed-*/ (model, dev and test predictions, metrics)")


def entity_list(sentence: Sentence, tags: list[str]) -> str:
    """"[ORG EU] [MISC German] [MISC British]", or "-" when there is none."""
    entities = [f"[{kind} {' '.join(sentence.words[start:end])}]" for kind, start, end in entity_spans(tags)]
    return " ".join(entities) or "-"
