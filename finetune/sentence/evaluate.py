"""Running a classifier over a split (finetune/inference.py), scoring it, and writing what it predicted."""

from __future__ import annotations

import random
from pathlib import Path

import torch
from torch import nn

from bert.files import atomic_write
from training import DistributedContext, Precision
from finetune.data import EncodedSplit, collate
from finetune.inference import predict_rows
from finetune.sentence.metrics import compute_metrics
from finetune.sentence.tasks import GlueTask


def predict_logits(model: nn.Module, split: EncodedSplit, batch_size: int, pad_token_id: int,
                   ctx: DistributedContext | None = None, precision: Precision | None = None) -> torch.Tensor:
    """(n, num_labels) float32 logits for every example of `split`, in the split's order (fp32 unless
    `precision` says otherwise)."""
    def make_batch(positions):
        batch = collate(split, positions, pad_token_id, token_types=model.config.type_vocab_size > 0)
        batch.pop("labels", None)
        return batch

    return predict_rows(model, split.lengths, batch_size, make_batch, lambda out: out.logits,
                        (model.config.num_labels,), ctx, precision)


def decide(task: GlueTask, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Logits -> (predictions, probabilities).

    Classification: predicted class ids (n,) and softmax probabilities (n, num_labels).
    Multi-label: (n, num_labels) 0/1, a 1 where a label's sigmoid probability (the other tensor) is over the
    task's threshold: each label is its own yes/no question.
    Regression: the predicted scores (n,) and None.
    """
    if task.is_regression:
        return logits[:, 0], None
    if task.multi_label:
        probabilities = logits.sigmoid()
        return (probabilities > task.threshold).long(), probabilities
    probabilities = logits.softmax(dim=-1)
    return probabilities.argmax(dim=-1), probabilities


def score(task: GlueTask, split: EncodedSplit, logits: torch.Tensor) -> dict[str, float]:
    predictions, _ = decide(task, logits)
    return compute_metrics(task, predictions.tolist(), split.labels.tolist())


# ------------------------------------------------------------------ files

def _label_text(task: GlueTask, value) -> str:
    """A class id as the task writes it ("1", "entailment"), a score with 3 decimals, or a multi-label
    example's labels (its class ids, or a 0/1 row) joined by the task's separator."""
    if task.multi_label:
        return task.label_separator.join(task.labels[i] for i in label_ids(value))
    return f"{float(value):.3f}" if task.is_regression else task.labels[int(value)]


def label_ids(value) -> list[int]:
    """A multi-label example's class ids, from its label (a tuple of ids) or a predicted 0/1 row."""
    if isinstance(value, torch.Tensor):
        return value.nonzero().flatten().tolist()
    return list(value)


def _probability_text(task: GlueTask, probabilities: torch.Tensor, prediction) -> str:
    """The predicted class's probability; for multi-label, each predicted label's, joined as the labels are."""
    if task.multi_label:
        return task.label_separator.join(f"{probabilities[i].item():.4f}" for i in label_ids(prediction))
    return f"{probabilities[prediction].item():.4f}"


def _clean(text: str) -> str:
    """One TSV field: tabs and newlines inside a sentence would break the row."""
    return " ".join(text.split())


def _write_tsv(path: Path, rows: list[list[str]]) -> None:
    text = "".join("\t".join(row) + "\n" for row in rows)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_predictions(path: Path, task: GlueTask, split: EncodedSplit, logits: torch.Tensor) -> None:
    """TSV: index, sentence(s), true label (if the split has labels), predicted label, probability of the
    predicted label (multi-label: the labels joined by the task's separator, and their probabilities)."""
    predictions, probabilities = decide(task, logits)
    labelled = split.labels is not None
    header = ["index", *task.hub_text_columns] + (["label"] if labelled else []) + ["prediction"]
    rows = [header + ([] if task.is_regression else ["probability"])]
    for i, example in enumerate(split.examples):
        texts = [_clean(example.text_a)] + ([_clean(example.text_b)] if task.is_pair else [])
        truth = [_label_text(task, example.label)] if labelled else []
        row = [example.index, *texts, *truth, _label_text(task, predictions[i])]
        if probabilities is not None:
            row.append(_probability_text(task, probabilities[i], predictions[i]))
        rows.append(row)
    _write_tsv(path, rows)


def write_submission(path: Path, task: GlueTask, split: EncodedSplit, logits: torch.Tensor) -> None:
    """GLUE leaderboard format: header `index<TAB>prediction`, one row per test example. STS-B scores
    are clipped to the 0..5 range of the gold scores."""
    predictions, _ = decide(task, logits)
    if task.is_regression:
        predictions = predictions.clamp(0.0, 5.0)
    rows = [["index", "prediction"]]
    rows += [[example.index, _label_text(task, p)] for example, p in zip(split.examples, predictions)]
    _write_tsv(path, rows)


def sample_table(task: GlueTask, split: EncodedSplit, logits: torch.Tensor, n: int = 8, seed: int = 0,
                 width: int = 72) -> str:
    """A readable table of `n` random dev examples: text, true label, prediction, probability."""
    predictions, probabilities = decide(task, logits)
    chosen = sorted(random.Random(seed).sample(range(len(split)), min(n, len(split))))
    rows = [("text", "label", "predicted", "p" if probabilities is not None else "")]
    for i in chosen:
        example = split.examples[i]
        text = _clean(example.text_a) + (f" || {_clean(example.text_b)}" if task.is_pair else "")
        text = text if len(text) <= width else text[:width - 3] + "..."
        truth, guess = _readable_label(task, example.label), _readable_label(task, predictions[i])
        p = _probability_text(task, probabilities[i], predictions[i]) if probabilities is not None else ""
        mark = "" if task.is_regression else ("  " if truth == guess else " x")
        rows.append((text, truth, guess + mark, p))
    widths = [max(len(row[c]) for row in rows) for c in range(4)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def _readable_label(task: GlueTask, value) -> str:
    if task.multi_label:
        return task.label_separator.join(task.label_names[i] for i in label_ids(value)) or "-"
    return f"{float(value):.2f}" if task.is_regression else task.label_names[int(value)]
