"""GLUE's metrics, written out so each formula is visible.

Classification metrics take integer class ids; regression metrics take floats; multi-label metrics take one
0/1 row per example (a column per label).
All return plain Python floats. Degenerate inputs (a constant prediction, so a
zero denominator) score 0.0, as scikit-learn and GLUE's own scorer do, rather
than NaN.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from finetune.sentence.tasks import GlueTask


def accuracy(predictions: Sequence[int], labels: Sequence[int]) -> float:
    """Fraction of predictions equal to the label."""
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    return float((predictions == labels).mean())


def _binary_counts(predictions: Sequence[int], labels: Sequence[int]) -> tuple[int, int, int, int]:
    """(true positives, false positives, false negatives, true negatives); class 1 is positive."""
    p, y = np.asarray(predictions) == 1, np.asarray(labels) == 1
    return int((p & y).sum()), int((p & ~y).sum()), int((~p & y).sum()), int((~p & ~y).sum())


def f1(predictions: Sequence[int], labels: Sequence[int]) -> float:
    """F1 of the positive class (1): harmonic mean of precision and recall,
    written as 2 TP / (2 TP + FP + FN)."""
    tp, fp, fn, _ = _binary_counts(predictions, labels)
    denominator = 2 * tp + fp + fn
    return 2 * tp / denominator if denominator else 0.0


def macro_f1(predictions: Sequence[int], labels: Sequence[int]) -> float:
    """The mean over classes of each class's F1 (that class against all others), so a rare class counts as
    much as a common one. Classes in neither the labels nor the predictions are left out, as scikit-learn's
    f1_score(average="macro") leaves them out."""
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    scores = []
    for c in np.union1d(predictions, labels):
        predicted, true = predictions == c, labels == c
        tp, fp, fn = int((predicted & true).sum()), int((predicted & ~true).sum()), int((~predicted & true).sum())
        scores.append(2 * tp / (2 * tp + fp + fn))  # never 0 / 0: c is a label or a prediction somewhere
    return float(np.mean(scores)) if scores else 0.0


def matthews_corrcoef(predictions: Sequence[int], labels: Sequence[int]) -> float:
    """Matthews correlation coefficient (CoLA's metric) for binary labels:

        MCC = (TP*TN - FP*FN) / sqrt((TP+FP) (TP+FN) (TN+FP) (TN+FN))

    It is the Pearson correlation of two 0/1 vectors, so always predicting
    the majority class scores 0 however imbalanced the data.
    """
    tp, fp, fn, tn = _binary_counts(predictions, labels)
    denominator = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return (tp * tn - fp * fn) / denominator if denominator else 0.0


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson correlation: covariance over the product of standard deviations."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    dx, dy = x - x.mean(), y - y.mean()
    denominator = math.sqrt(float((dx * dx).sum() * (dy * dy).sum()))
    return float((dx * dy).sum()) / denominator if denominator else 0.0


def ranks(x: Sequence[float]) -> np.ndarray:
    """1-based ranks, with tied values sharing the mean of their ranks
    (ranks([10, 20, 20, 30]) == [1, 2.5, 2.5, 4])."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    result = np.empty(len(x), dtype=np.float64)
    start = 0
    while start < len(x):
        end = start
        while end + 1 < len(x) and sorted_x[end + 1] == sorted_x[start]:
            end += 1
        result[order[start:end + 1]] = (start + end) / 2 + 1  # mean of ranks start+1 .. end+1
        start = end + 1
    return result


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman correlation: the Pearson correlation of the ranks."""
    return pearson(ranks(x), ranks(y))


def multi_label_counts(predictions: Sequence[Sequence[int]], labels: Sequence[Sequence[int]]):
    """Per label (column): true positives, false positives, false negatives, as (labels,) arrays."""
    p, y = np.asarray(predictions, dtype=bool), np.asarray(labels, dtype=bool)
    return (p & y).sum(axis=0), (p & ~y).sum(axis=0), (~p & y).sum(axis=0)


def micro_f1(predictions: Sequence[Sequence[int]], labels: Sequence[Sequence[int]]) -> float:
    """F1 over every (example, label) decision pooled: 2 TP / (2 TP + FP + FN) summed over the labels, so a
    frequent label weighs more."""
    tp, fp, fn = (int(c.sum()) for c in multi_label_counts(predictions, labels))
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


def multi_label_macro_f1(predictions: Sequence[Sequence[int]], labels: Sequence[Sequence[int]]) -> float:
    """The mean of each label's F1. A label that is neither true nor predicted anywhere is left out, as
    macro_f1 leaves out such a class (and scikit-learn does for labels a MultiLabelBinarizer fitted on these
    rows has not seen)."""
    tp, fp, fn = multi_label_counts(predictions, labels)
    seen = tp + fp + fn > 0
    return float(np.mean(2 * tp[seen] / (2 * tp[seen] + fp[seen] + fn[seen]))) if seen.any() else 0.0


def exact_match(predictions: Sequence[Sequence[int]], labels: Sequence[Sequence[int]]) -> float:
    """Fraction of examples with every label right (scikit-learn's accuracy_score on multi-label rows)."""
    p, y = np.asarray(predictions, dtype=bool), np.asarray(labels, dtype=bool)
    return float((p == y).all(axis=1).mean())


METRICS = {
    "accuracy": accuracy,
    "f1": f1,
    "macro_f1": macro_f1,
    "mcc": matthews_corrcoef,
    "pearson": pearson,
    "spearman": spearman,
    "micro_f1": micro_f1,
    "multi_label_macro_f1": multi_label_macro_f1,
    "exact_match": exact_match,
}
MULTI_LABEL_METRICS = {"macro_f1": "multi_label_macro_f1"}  # a metric's name -> its multi-label formula


def compute_metrics(task: GlueTask, predictions: Sequence, labels: Sequence) -> dict[str, float]:
    """All of `task`'s metrics, e.g. {"f1": 0.88, "accuracy": 0.83} for MRPC."""
    formulas = MULTI_LABEL_METRICS if task.multi_label else {}
    return {name: METRICS[formulas.get(name, name)](predictions, labels) for name in task.metrics}
