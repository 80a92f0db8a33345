"""GLUE metrics against values worked out by hand."""

import math

import pytest

from finetune.sentence.metrics import accuracy, compute_metrics, f1, matthews_corrcoef, pearson, ranks, spearman
from finetune.sentence.tasks import get_task

# 8 predictions: TP = 3 (positions 0, 4, 6), FP = 2 (1, 7), FN = 1 (3), TN = 2 (2, 5)
PREDICTIONS = [1, 1, 0, 0, 1, 0, 1, 1]
LABELS = [1, 0, 0, 1, 1, 0, 1, 0]


def test_accuracy_counts_matches():
    assert accuracy(PREDICTIONS, LABELS) == 5 / 8


def test_f1_by_hand():
    # precision 3/5, recall 3/4 -> 2 * 0.6 * 0.75 / 1.35 = 2/3
    assert f1(PREDICTIONS, LABELS) == pytest.approx(2 / 3, abs=1e-12)


def test_mcc_by_hand():
    # (3*2 - 2*1) / sqrt(5 * 4 * 4 * 3) = 4 / sqrt(240)
    assert matthews_corrcoef(PREDICTIONS, LABELS) == pytest.approx(4 / math.sqrt(240), abs=1e-12)


def test_mcc_extremes():
    assert matthews_corrcoef(LABELS, LABELS) == 1.0
    assert matthews_corrcoef([1 - y for y in LABELS], LABELS) == -1.0
    # a constant prediction carries no information: 0, not NaN (zero denominator)
    assert matthews_corrcoef([1] * 8, LABELS) == 0.0


def test_f1_without_positives_is_zero():
    assert f1([0, 0, 0], [0, 0, 0]) == 0.0


def test_pearson_by_hand():
    # dx = [-1.5, -.5, .5, 1.5], dy = [-1.75, .25, 1.25, .25]: 3.5 / sqrt(5 * 4.75)
    assert pearson([1, 2, 3, 4], [2, 4, 5, 4]) == pytest.approx(3.5 / math.sqrt(23.75), abs=1e-12)


def test_ranks_share_ties():
    assert ranks([10, 20, 20, 30]).tolist() == [1, 2.5, 2.5, 4]
    assert ranks([3.0, 1.0, 2.0, 1.0, 1.0]).tolist() == [5, 2, 4, 2, 2]


def test_spearman_by_hand():
    # ranks of y = [1, 2.5, 4, 2.5]: 3 / sqrt(5 * 4.5)
    assert spearman([1, 2, 3, 4], [2, 4, 5, 4]) == pytest.approx(3 / math.sqrt(22.5), abs=1e-12)
    # any monotone transform keeps Spearman at 1, not Pearson
    x = [0.5, 1.0, 2.0, 4.0, 8.0]
    assert spearman(x, [v ** 3 for v in x]) == pytest.approx(1.0)
    assert pearson(x, [v ** 3 for v in x]) < 0.99


def test_compute_metrics_uses_each_tasks_official_metrics():
    assert set(compute_metrics(get_task("mrpc"), PREDICTIONS, LABELS)) == {"f1", "accuracy"}
    assert compute_metrics(get_task("cola"), PREDICTIONS, LABELS) == {"mcc": pytest.approx(4 / math.sqrt(240))}
    assert set(compute_metrics(get_task("stsb"), [1.0, 2.0, 3.5], [1.5, 2.0, 3.0])) == {"pearson", "spearman"}
