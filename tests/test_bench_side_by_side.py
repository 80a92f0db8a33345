"""bench_finetune.py and bench_ner.py run ours and `transformers` side by side on the fixtures, with the
optimizer and batching flags of issue 33 reaching both sides and recorded per seed in bench.json."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("transformers")

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
RECIPE = ["--max-grad-norm", "0", "--adam-epsilon", "1e-8", "--adam-beta2", "0.98", "--batching", "random"]


def run_bench(script: str, output: Path, *args: str) -> dict:
    result = subprocess.run([sys.executable, str(REPO / "bench" / script), "--output", str(output), "--epochs", "1",
                             "--precision", "fp32", *RECIPE, *args],
                            capture_output=True, text=True, timeout=600, cwd=REPO,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads((output / "bench.json").read_text())


def assert_recipe_reached_ours(record: dict, run_json: Path) -> None:
    assert {k: record["recipe"][k] for k in ("max_grad_norm", "adam_epsilon", "adam_beta2", "batching")} == \
        {"max_grad_norm": 0.0, "adam_epsilon": 1e-8, "adam_beta2": 0.98, "batching": "random"}
    ours = json.loads(run_json.read_text())
    assert (ours["max_grad_norm"], ours["adam_epsilon"], ours["adam_beta2"], ours["batching"]) == (0.0, 1e-8, 0.98,
                                                                                                  "random")


def test_bench_finetune_records_each_seed_of_both_sides(minilm_path, tmp_path):
    record = run_bench("bench_finetune.py", tmp_path, "--model", str(minilm_path), "--data-dir",
                       str(FIXTURES / "glue"), "--tasks", "cola,stsb", "--seeds", "1,2", "--runs", "ours,hf-dynamic")
    for task, metric in [("cola", "mcc"), ("stsb", "pearson")]:
        runs = record["results"][task]
        assert list(runs) == ["ours", "hf-dynamic"]
        for run in runs.values():
            assert [s["seed"] for s in run["seeds"]] == [1, 2]
            assert sorted(s[metric] for s in run["seeds"])[0] <= run["metrics"][metric] <= \
                sorted(s[metric] for s in run["seeds"])[1]
        assert_recipe_reached_ours(record, tmp_path / task / "ours" / "run.json")


def test_bench_ner_records_each_seed_of_both_sides(minilm_path, tmp_path):
    record = run_bench("bench_ner.py", tmp_path, "--model", str(minilm_path), "--data-dir",
                       str(FIXTURES / "ner" / "conll2003"), "--seeds", "3")
    for run in record["results"].values():
        assert [s["seed"] for s in run["seeds"]] == [3]
        assert run["seeds"][0]["f1"] == run["metrics"]["f1"]
    assert_recipe_reached_ours(record, tmp_path / "ours" / "run.json")


def test_arms_table_gives_a_row_per_run_with_its_seeds(minilm_path, tmp_path):
    record = run_bench("bench_ner.py", tmp_path, "--model", str(minilm_path), "--data-dir",
                       str(FIXTURES / "ner" / "conll2003"), "--seeds", "1,2", "--runs", "ours")
    table = subprocess.run([sys.executable, str(REPO / "bench" / "arms_table.py"), str(tmp_path / "bench.json"),
                            "--metric", "f1"], capture_output=True, text=True, check=True).stdout.splitlines()
    seeds = record["results"]["ours"]["seeds"]
    assert table[2] == (f"| ours | no clip, eps 1e-08, beta2 0.98, random | 1: {seeds[0]['f1']:.4f}, 2: {seeds[1]['f1']:.4f} "
                        f"| {record['results']['ours']['metrics']['f1']:.4f} [{min(s['f1'] for s in seeds):.4f}, "
                        f"{max(s['f1'] for s in seeds):.4f}] | {record['results']['ours']['epoch_seconds']:.1f} |")
    assert len(table) == 3
