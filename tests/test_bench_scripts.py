"""The step benchmarks run end to end on a tiny model and print one row per measurement with its spread."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("transformers")

REPO = Path(__file__).resolve().parents[1]
SPEEDS = r"[\d,]+ \([\d,]+-[\d,]+\)\s+[\d,]+ \([\d,]+-[\d,]+\)\s+[\d.]+x"  # ours and HF: median (slowest-fastest)
PRETRAIN_ROW = re.compile(r"^tiny\s+fp32\s+" + SPEEDS + r"\s+[\d,]+\s+[\d,]+\s+[\d.]+x$")  # then peak MB of both
MODEL_ROW = re.compile(r"^tiny\s+fp32\s+(forward|fwd\+bwd)\s+" + SPEEDS + "$")


def run_bench(script: str, *args: str) -> list[str]:
    result = subprocess.run([sys.executable, str(REPO / "bench" / script), "--presets", "tiny", "--precisions", "fp32",
                             "--batch-size", "2", "--seq", "16", "--repeats", "2", *args],
                            capture_output=True, text=True, timeout=300, cwd=REPO,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.splitlines()


def test_bench_pretrain_prints_medians_spreads_and_memory():
    rows = [line for line in run_bench("bench_pretrain.py", "--vocab-size", "300") if PRETRAIN_ROW.match(line)]
    assert len(rows) == 1


def test_bench_model_prints_forward_and_backward_rows():
    rows = [line for line in run_bench("bench_model.py") if MODEL_ROW.match(line)]
    assert [row.split()[2] for row in rows] == ["forward", "fwd+bwd"]
