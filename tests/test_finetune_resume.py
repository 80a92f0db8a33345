"""bert-finetune on the training engine: SIGKILL mid-epoch then --resume equals an uninterrupted run, SIGTERM
leaves a usable model, a NaN stops with the last good checkpoint, gradient accumulation changes nothing, and
the run folder rules (--resume / --overwrite / neither)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from bert import BertConfig, BertModel
from finetune import cli
from test_finetune_cli import FIXTURES, write_vocab

REPO = Path(__file__).resolve().parents[1]
# Runs `python -m finetune` with a signal sent to itself once optimizer step DIE_AT is done (after its
# after_step, before the engine's checkpoint of that step): a kill at a known point of a real run.
DRIVER = textwrap.dedent("""
    import os, signal, sys
    from finetune import cli
    from finetune.train import FineTuningJob

    after_step = FineTuningJob.after_step
    def after_step_then_signal(self, step, stats, elapsed):
        after_step(self, step, stats, elapsed)
        if step == int(os.environ["DIE_AT"]):
            os.kill(os.getpid(), getattr(signal, os.environ["SIGNAL"]))
    FineTuningJob.after_step = after_step_then_signal
    sys.exit(cli.main(sys.argv[1:]))
""")



@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A vocabulary, CoLA's 32 fixture sentences as train and dev, and a tiny checkpoint without dropout."""
    root = tmp_path_factory.mktemp("resume")
    write_vocab(root / "vocab.txt")
    cola = root / "data" / "CoLA"
    cola.mkdir(parents=True)
    for name in ("train.tsv", "test.tsv"):
        shutil.copy(FIXTURES / "CoLA" / name, cola / name)
    shutil.copy(FIXTURES / "CoLA" / "train.tsv", cola / "dev.tsv")
    vocab_size = len((root / "vocab.txt").read_text().splitlines())
    torch.manual_seed(0)
    config = BertConfig.from_preset("tiny", vocab_size=vocab_size, hidden_dropout_prob=0.0,
                                    attention_probs_dropout_prob=0.0)
    BertModel(config).save_pretrained(root / "no-dropout")
    shutil.copy(root / "vocab.txt", root / "no-dropout" / "vocab.txt")
    return root


def args(workspace: Path, output: Path, *extra: str) -> list[str]:
    return ["--task", "cola", "--model", "tiny", "--vocab", str(workspace / "vocab.txt"), "--output", str(output),
            "--data-dir", str(workspace / "data"), "--seeds", "1", "--epochs", "3", "--batch-size", "4",
            "--lr", "1e-3", *extra]


def run_with_signal(workspace: Path, argv: list[str], die_at: int, signal_name: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "DIE_AT": str(die_at),
           "SIGNAL": signal_name}
    return subprocess.run([sys.executable, "-c", DRIVER, *argv], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=300)


def weights(model_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(model_dir / "model.safetensors")


@pytest.fixture(scope="module")
def uninterrupted(workspace) -> Path:
    output = workspace / "uninterrupted"
    assert cli.main(args(workspace, output, "--save-every", "3")) == 0
    return output


def test_sigkill_mid_epoch_then_resume_equals_an_uninterrupted_run(workspace, uninterrupted):
    output = workspace / "killed"
    argv = args(workspace, output, "--save-every", "3")
    killed = run_with_signal(workspace, argv, die_at=5, signal_name="SIGKILL")  # epoch 1 has 8 steps
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert [p.name for p in (output / "seed-1" / "checkpoints").glob("step-*")] == ["step-00000003"]
    assert not (output / "summary.json").exists()

    resumed = run_with_signal(workspace, [*argv, "--resume"], die_at=-1, signal_name="SIGKILL")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stdout and "(step 3)" in resumed.stdout
    expected, got = weights(uninterrupted / "seed-1" / "model"), weights(output / "seed-1" / "model")
    assert expected.keys() == got.keys()
    assert max((expected[k] - got[k]).abs().max().item() for k in expected) == 0.0
    summary, reference = (json.loads((run / "summary.json").read_text()) for run in (output, uninterrupted))
    assert summary["median"] == reference["median"] and summary["seeds"][0]["best_epoch"] == \
        reference["seeds"][0]["best_epoch"]
    drop_time = lambda r: {k: v for k, v in r.items() if k != "epoch_seconds"}  # noqa: E731
    logs = [[drop_time(json.loads(line)) for line in (run / "seed-1" / "metrics.jsonl").read_text().splitlines()]
            for run in (output, uninterrupted)]
    assert logs[0] == logs[1]
    assert not (output / "seed-1" / "checkpoints").exists()  # a finished seed keeps its result, not its state


def test_resume_reuses_finished_seeds_and_refuses_other_arguments(workspace, uninterrupted, capsys):
    output = workspace / "reused"
    shutil.copytree(uninterrupted, output)
    assert cli.main(args(workspace, output, "--save-every", "3", "--resume")) == 0
    assert "seed 1: finished earlier" in capsys.readouterr().out
    assert cli.main(args(workspace, output, "--save-every", "3", "--resume", "--lr", "2e-3")) == 2
    assert capsys.readouterr().err.endswith("with other arguments than its run: lr was 0.001, now 0.002\n")


def test_sigterm_saves_a_checkpoint_and_a_model_transformers_loads(workspace):
    transformers = pytest.importorskip("transformers")
    output = workspace / "terminated"
    stopped = run_with_signal(workspace, args(workspace, output), die_at=2, signal_name="SIGTERM")
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr
    assert "Traceback" not in stopped.stderr and "stopped at step 3 by SIGTERM" in stopped.stdout
    assert [p.name for p in (output / "seed-1" / "checkpoints").glob("step-*")] == ["step-00000003"]
    model = transformers.BertForSequenceClassification.from_pretrained(output / "seed-1" / "model")
    assert model.config.num_labels == 2
    resumed = run_with_signal(workspace, [*args(workspace, output), "--resume"], die_at=-1, signal_name="SIGTERM")
    assert resumed.returncode == 0 and (output / "summary.json").exists(), resumed.stderr


def test_nan_stops_with_a_clear_line_and_the_last_good_checkpoint(workspace, capsys):
    output = workspace / "diverged"
    assert cli.main(args(workspace, output, "--lr", "1e30", "--warmup-ratio", "0", "--save-every", "1")) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: the loss became") and "NaN or infinite" in error
    [checkpoint] = (output / "seed-1" / "checkpoints").glob("step-*")
    step = int(checkpoint.name.split("-")[1])
    assert f"at step {step + 1} " in error and str(checkpoint) in error
    state = torch.load(checkpoint / "state.pt", weights_only=True)
    assert all(torch.isfinite(t).all() for t in state["model"].values())


def test_gradient_accumulation_takes_the_same_first_step(workspace):
    # fp32 on every CPU: in bf16 (auto on AVX-512 + AMX) one batch of 32 and four of 8 round differently
    model = str(workspace / "no-dropout")
    runs = {}
    for accum in ("1", "4"):
        output = workspace / f"accum-{accum}"
        assert cli.main(["--task", "cola", "--model", model, "--output", str(output), "--data-dir",
                         str(workspace / "data"), "--seeds", "1", "--epochs", "1", "--batch-size", "32",
                         "--grad-accum", accum, "--lr", "1e-3", "--warmup-ratio", "0", "--precision", "fp32"]) == 0
        runs[accum] = weights(output / "seed-1" / "model")
    start = load_file(workspace / "no-dropout" / "model.safetensors")
    moved = max((runs["1"][f"bert.{k}"] - start[k]).abs().max().item() for k in start if f"bert.{k}" in runs["1"])
    assert moved > 1e-4  # the step did something
    assert max((runs["1"][k] - runs["4"][k]).abs().max().item() for k in runs["1"]) < 1e-5  # of an lr-sized step


def test_run_folder_rules(workspace, uninterrupted, capsys):
    assert cli.main(args(workspace, uninterrupted)) == 2
    assert "pass --resume to continue that run, --overwrite to replace it" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.parse_args(args(workspace, uninterrupted, "--resume", "--overwrite"))


def test_a_state_file_of_the_old_pickled_format_is_refused(workspace, capsys):
    import numpy as np

    output = workspace / "old-format"
    assert run_with_signal(workspace, args(workspace, output, "--save-every", "3"), die_at=4,
                           signal_name="SIGKILL").returncode == -signal.SIGKILL
    [checkpoint] = (output / "seed-1" / "checkpoints").glob("step-*")
    state = torch.load(checkpoint / "state.pt", weights_only=True)
    state.pop("format")
    state["rng"] = {"numpy": np.random.get_state()}  # what the old format held: arrays that need pickle
    torch.save(state, checkpoint / "state.pt")
    assert cli.main(args(workspace, output, "--save-every", "3", "--resume")) == 2
    err = capsys.readouterr().err
    error = err.strip().splitlines()[-1]
    assert "Traceback" not in err and error.startswith("error: ") and error.endswith("start the run over (--overwrite)")
    assert "older format" in error
