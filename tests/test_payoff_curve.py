"""bench/payoff_curve.py: a probed pretraining run's metrics.jsonl as a plot and a table of the probe's median
and range after t minutes, against the probe at the start."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")
REPO = Path(__file__).resolve().parents[1]


def test_the_table_has_a_row_per_probe_and_marks_a_clear_gain(tmp_path):
    rows = [
        {"step": 0, "epoch": 0.0, "elapsed_s": 0.0, "eval_mlm_loss": 9.0, "eval_mlm_acc": 0.0},
        {"step": 0, "elapsed_s": 0.0, "probe_accuracy": 0.78, "probe_accuracy_min": 0.77, "probe_accuracy_max": 0.79},
        {"step": 50, "epoch": 0.1, "elapsed_s": 300.0, "mlm_loss": 6.0},
        {"step": 100, "epoch": 0.2, "elapsed_s": 600.0, "eval_mlm_loss": 5.0, "eval_mlm_acc": 0.2},
        {"step": 100, "elapsed_s": 600.0, "probe_accuracy": 0.785, "probe_accuracy_min": 0.775, "probe_accuracy_max": 0.8},
        {"step": 200, "elapsed_s": 1200.0, "probe_accuracy": 0.81, "probe_accuracy_min": 0.80, "probe_accuracy_max": 0.82},
    ]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = subprocess.run([sys.executable, str(REPO / "bench" / "payoff_curve.py"), str(tmp_path), "--output",
                             str(tmp_path / "curve.png")], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[2:] == [
        "| 0.0 | 0 | 0.000 | 0.7800 [0.7700, 0.7900] | +0.0000 |",
        "| 10.0 | 100 | 0.200 | 0.7850 [0.7750, 0.8000] | +0.0050 |",
        "| 20.0 | 200 | 0.200 | 0.8100 [0.8000, 0.8200] | +0.0300 * |",  # every seed above the start's best
    ]
    assert (tmp_path / "curve.png").stat().st_size > 0
