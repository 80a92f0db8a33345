"""Sentence and sentence-pair classification (and regression) as a task family of the fine-tuning engine:
the GLUE tasks and the user's own CSV / TSV / JSON-lines files.

The interface every family gives finetune/train.py's `FineTuningJob` (token classification and question
answering have the same one):

    family.name, family.main_metric, family.metric_keys     the task, what picks the best epoch, what to plot
    family.train_lengths                                    training examples' lengths (length-grouped batches)
    family.build_model(source)                              the checkpoint's encoder with a fresh head
    family.train_batch(positions, pad_token_id, token_types) a padded training batch, labels included
    family.item_counts(batch)                               what the batch's loss is a mean over
    family.evaluate(model, ctx, precision)                  -> (dev metrics, dev predictions)
    family.save_best(model, tokenizer, predictions, out)    the best epoch's model and dev prediction files
    family.write_predictions(predictions, out)              the dev prediction files alone (--eval-only)
    family.load_best(directory)                             that model again, to predict test with
    family.write_test(model, ctx, precision, out)           test predictions; the scores of labelled test data
    family.print_report(summary, results, output)           what bert-finetune prints at the end
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from finetune.checkpoint import ModelSource, build_classifier, load_head_model, save_classifier
from finetune.data import EncodedSplit, collate
from finetune.sentence.evaluate import predict_logits, sample_table, score, write_predictions, write_submission
from finetune.sentence.tasks import GlueTask, metric_key
from training import DistributedContext, Precision


@dataclass
class EncodedTask:
    """A task's splits, tokenised (see finetune.data)."""

    train: EncodedSplit
    dev: dict[str, EncodedSplit]
    test: dict[str, EncodedSplit]


class SentenceClassification:
    """A GlueTask row (a GLUE task or the user's files) and its tokenised data."""

    def __init__(self, task: GlueTask, data: EncodedTask, eval_batch_size: int, pad_token_id: int):
        self.task, self.data = task, data
        self.eval_batch_size, self.pad_token_id = eval_batch_size, pad_token_id
        self.name, self.main_metric = task.name, task.main_metric
        self.metric_keys = [metric_key(task, split, m) for split in task.dev_splits for m in task.metrics]
        self.train_lengths = data.train.lengths
        if task.multi_label:  # in summary.json, for bert-predict: which labels it predicts
            self.summary_extras = {"multi_label": {"threshold": task.threshold, "label_separator": task.label_separator}}

    def build_model(self, source: ModelSource) -> nn.Module:
        return build_classifier(source, self.task)

    def train_batch(self, positions: list[int], pad_token_id: int, token_types: bool) -> dict[str, torch.Tensor]:
        return collate(self.data.train, positions, pad_token_id, token_types)

    def item_counts(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        return {"loss": float(len(batch["input_ids"]))}  # the loss is a mean over examples

    def train_items(self) -> dict[str, float]:
        return {}  # a step's mean over its own examples: every batch but the last has batch-size of them

    def evaluate(self, model: nn.Module, ctx: DistributedContext,
                 precision: Precision) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
        """Metrics on every dev split (MNLI has two), named as in metric_key, and the logits."""
        metrics, logits = {}, {}
        for split in self.task.dev_splits:
            logits[split.name] = predict_logits(model, self.data.dev[split.name], self.eval_batch_size,
                                                self.pad_token_id, ctx, precision)
            for name, value in score(self.task, self.data.dev[split.name], logits[split.name]).items():
                metrics[metric_key(self.task, split, name)] = value
        return metrics, logits

    def save_best(self, model: nn.Module, tokenizer, dev_logits: dict[str, torch.Tensor], out: Path) -> None:
        save_classifier(model, tokenizer, out / "model")
        self.write_predictions(dev_logits, out)

    def write_predictions(self, dev_logits: dict[str, torch.Tensor], out: Path) -> None:
        for name, split in self.data.dev.items():
            write_predictions(out / f"{name}_predictions.tsv", self.task, split, dev_logits[name])

    def load_best(self, directory: Path) -> nn.Module:
        return load_head_model(directory, "SequenceClassification")[0]

    def write_test(self, model: nn.Module, ctx: DistributedContext, precision: Precision,
                   out: Path) -> dict[str, float]:
        """Predict every test split: GLUE's submission format where it has one, else the dev predictions'
        layout; returns the scores of the labelled ones, named "<split>_<metric>"."""
        metrics = {}
        for split in self.task.test_splits:
            if split.name not in self.data.test:
                continue
            test = self.data.test[split.name]
            logits = predict_logits(model, test, self.eval_batch_size, self.pad_token_id, ctx, precision)
            if test.labels is not None:
                metrics |= {f"{split.name}_{name}": v for name, v in score(self.task, test, logits).items()}
            if ctx.is_main and split.submission is not None:
                (out / "submission").mkdir(parents=True, exist_ok=True)
                write_submission(out / "submission" / split.submission, self.task, test, logits)
            elif ctx.is_main:
                write_predictions(out / f"{split.name}_predictions.tsv", self.task, test, logits)
        return metrics

    def print_report(self, summary: dict, results: list, output: Path) -> None:
        """Median scores, one line per seed, and a table of sample dev predictions of the best run."""
        several = len(results) > 1
        print(f"\n{self.name} dev{' (median of %d seeds)' % len(results) if several else ''}: "
              + ", ".join(f"{k} {v:.4f}" for k, v in summary["median"].items()))
        if "test_median" in summary:
            print("test (the best epoch on dev): "
                  + ", ".join(f"{k} {v:.4f}" for k, v in summary["test_median"].items()))
        for row in summary["seeds"] if several else []:
            scores = ", ".join(f"{k} {row[k]:.4f}" for k in summary["median"])
            print(f"  seed {row['seed']}: {scores} (best epoch {row['best_epoch']}, {row['train_seconds']:.0f}s)")
        best = next(r for r in results if r.seed == summary["best_seed"])
        if best.predictions is not None:  # None for a seed finished by an earlier run (its files are on disk)
            first_dev = self.task.dev_splits[0].name
            print(f"\nsample of dev predictions ({summary['best_model']}, epoch {best.best_epoch}):")
            print(sample_table(self.task, self.data.dev[first_dev], best.predictions[first_dev]))
        print(f"\nwritten to {output}/: summary.json, seed-*/ (model, predictions, metrics)")

