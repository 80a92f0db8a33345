"""--report-to tensorboard: every numeric field of every metrics.jsonl row is a TensorBoard scalar of the same
name at the same step, read back with TensorBoard's own EventAccumulator; a killed and resumed run shows each
step once; without the flag no TensorBoard folder is written."""

import json
import signal
from pathlib import Path

import pytest

from finetune import cli
from pretrain.cli import main as pretrain_main
from test_finetune_resume import args, run_with_signal, workspace  # noqa: F401  (tiny model, CoLA fixtures)
from test_pretrain_run import TINY, cli_args, write_story_corpus

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator",
                                        reason="the tensorboard package is not installed")


def scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar TensorBoard finds under `folder`: tag -> [(step, value)] in step order."""
    reader = event_accumulator.EventAccumulator(str(folder), size_guidance={event_accumulator.SCALARS: 0})
    reader.Reload()
    return {tag: sorted((e.step, e.value) for e in reader.Scalars(tag)) for tag in reader.Tags()["scalars"]}


def jsonl_scalars(path: Path) -> dict[str, list[tuple[int, float]]]:
    """What TensorBoard should hold for a metrics.jsonl: each numeric field but the step, at its row's step."""
    found: dict[str, list] = {}
    for row in map(json.loads, path.read_text().splitlines()):
        for name, value in row.items():
            if name != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                found.setdefault(name, []).append((row.get("step", 0), float(value)))
    return {name: sorted(points) for name, points in found.items()}


def assert_same(tensorboard: dict, expected: dict) -> None:
    assert tensorboard.keys() == expected.keys()
    for tag, points in expected.items():
        assert [step for step, _ in tensorboard[tag]] == [step for step, _ in points], tag
        assert [value for _, value in tensorboard[tag]] == pytest.approx([v for _, v in points], rel=1e-6), tag


def test_pretraining_scalars_equal_metrics_jsonl(tmp_path):
    corpus, config = write_story_corpus(tmp_path / "stories.txt"), tmp_path / "tiny.json"
    config.write_text(json.dumps(TINY))
    output = tmp_path / "run"
    assert pretrain_main(cli_args(corpus, output, tmp_path / "cache", config, "--vocab-size", "180", "--max-steps",
                                  "30", "--eval-every", "10", "--report-to", "tensorboard")) == 0
    expected = jsonl_scalars(output / "metrics.jsonl")
    assert {"loss", "mlm_loss", "lr", "eval_mlm_loss", "eval_mlm_acc"} <= expected.keys()
    assert_same(scalars(output / "tensorboard"), expected)


def test_fine_tuning_scalars_survive_a_kill_and_resume(workspace, tmp_path):
    output = tmp_path / "killed"
    argv = args(workspace, output, "--save-every", "3", "--report-to", "tensorboard")
    assert run_with_signal(workspace, argv, die_at=5, signal_name="SIGKILL").returncode == -signal.SIGKILL
    before = scalars(output / "seed-1" / "tensorboard")
    assert max(step for points in before.values() for step, _ in points) >= 4  # steps past the checkpoint (3)
    assert cli.main(argv + ["--resume"]) == 0
    expected = jsonl_scalars(output / "seed-1" / "metrics.jsonl")
    assert {"loss", "lr", "mcc", "train_loss"} <= expected.keys()
    assert_same(scalars(output / "seed-1" / "tensorboard"), expected)  # the redone steps once each


def test_without_the_flag_there_is_no_tensorboard_folder(workspace, tmp_path):
    output = tmp_path / "plain"
    assert cli.main(args(workspace, output, "--epochs", "1")) == 0
    assert (output / "seed-1" / "metrics.jsonl").exists() and not (output / "seed-1" / "tensorboard").exists()


def test_missing_tensorboard_package_is_one_line(workspace, tmp_path, monkeypatch, capsys):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else find_spec(name, *a))
    assert cli.main(args(workspace, tmp_path / "run", "--report-to", "tensorboard")) == 2
    assert capsys.readouterr().err == ("error: --report-to tensorboard needs the tensorboard package: "
                                       "pip install 'bert-from-scratch[tensorboard]'\n")
    assert not (tmp_path / "run").exists()
