"""bert-pretrain --probe: a quick fine-tune of the current weights while pretraining, logged as probe_<metric>,
without changing the pretraining it watches; kept across --resume."""

import json
from pathlib import Path

import pytest
import torch

from pretrain.cli import main
from test_pretrain_run import TINY, cli_args, metrics, weights, write_story_corpus

GLUE_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "glue"
PROBE = ["--probe", "cola", "--probe-data", str(GLUE_FIXTURES), "--probe-every", "0.5s", "--probe-examples", "32"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same 30 steps without and with probes."""
    root = tmp_path_factory.mktemp("probe")
    config = root / "tiny.json"
    config.write_text(json.dumps(TINY))
    corpus = write_story_corpus(root / "stories.txt")

    def run(name: str, *extra: str) -> Path:
        output = root / name
        assert main(cli_args(corpus, output, root / "cache", config, "--max-steps", "30", "--eval-every", "0",
                             "--save-every", "30", *extra)) == 0
        return output

    plain = run("plain", "--vocab-size", "180")
    # the same vocabulary: training one twice need not give the same (ties between merges)
    return {"plain": plain, "probed": run("probed", "--vocab", str(plain), *PROBE),
            "seeded": run("seeded", "--vocab", str(plain), "--probe", "sst2", "--probe-data", str(GLUE_FIXTURES),
                          "--probe-every", "1h", "--probe-examples", "32", "--probe-seeds", "1,2,3",
                          "--probe-epochs", "2", "--probe-lr", "1e-3"),
            "run": lambda name, *extra: run(name, "--vocab", str(plain), *extra)}


def training_lines(output: Path) -> list[dict]:
    return [{k: v for k, v in line.items() if k not in ("tokens_per_s", "elapsed_s")}
            for line in metrics(output) if "mlm_loss" in line]


def test_probes_are_logged_and_change_nothing_in_the_pretraining(runs):
    probes = [line for line in metrics(runs["probed"]) if "probe_mcc" in line]
    assert probes[0]["step"] == 0 and probes[0]["elapsed_s"] == 0  # the weights before any step
    assert probes and probes[-1]["step"] == 30  # one at the end, besides those every 0.5 s
    assert all(-1 <= line["probe_mcc"] <= 1 and "elapsed_s" in line for line in probes)
    # the probe at step 0 is off the clock too: training time starts at 0 after it
    assert all(line["elapsed_s"] >= 0 for line in metrics(runs["probed"]) if "elapsed_s" in line)
    assert training_lines(runs["probed"]) == training_lines(runs["plain"])
    plain, probed = weights(runs["plain"]), weights(runs["probed"])
    for name in plain:
        assert torch.equal(plain[name], probed[name]), name
    assert not list(runs["probed"].glob("probe-*"))  # the probe's fine-tuned model is thrown away


def test_probes_are_kept_across_resume(runs):
    before = [line["step"] for line in metrics(runs["probed"]) if "probe_mcc" in line]
    runs["run"]("probed", *PROBE, "--resume", "--max-steps", "40")  # a later argument wins: 40 steps
    after = [line["step"] for line in metrics(runs["probed"]) if "probe_mcc" in line]
    assert after[:len(before)] == before and after[-1] == 40


def test_sst2_probes_with_several_seeds_log_the_median_and_the_range(runs):
    """The start and the end (a probe every hour never comes due in 30 steps), each the median of three
    fine-tunes with their lowest and highest beside it."""
    probes = [line for line in metrics(runs["seeded"]) if "probe_accuracy" in line]
    assert [line["step"] for line in probes] == [0, 30]
    for line in probes:
        assert line["probe_accuracy_min"] <= line["probe_accuracy"] <= line["probe_accuracy_max"]
        assert set(line) == {"step", "elapsed_s", "probe_accuracy", "probe_accuracy_min", "probe_accuracy_max"}


@pytest.mark.parametrize("flags, complaint", [
    (["--probe-data", "glue"], "--probe-data is the probe's data: name its task with --probe"),
    (["--probe-every", "soon"], "--probe-every: bad duration"),
    (["--probe", "sst2", "--probe-seeds", "1,1"], "--probe-seeds '1,1': give at least one seed, each once"),
    (["--probe", "sst2", "--probe-epochs", "0"], "--probe-epochs must be a positive integer, got 0"),
    (["--probe", "sst2", "--probe-max-grad-norm", "-1"], "--probe-max-grad-norm must be 0 (no clipping) or more"),
])
def test_bad_probe_flags_are_one_line_errors(tmp_path, capsys, flags, complaint):
    assert main(["--corpus", "c", "--output", str(tmp_path / "o"), "--max-steps", "1", *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {complaint}") and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("flags, clipping", [([], 1.0), (["--probe-max-grad-norm", "0"], 0.0)])
def test_the_probe_clips_as_the_task_family_does_unless_told(tmp_path, monkeypatch, flags, clipping):
    """The fine-tune each probe runs gets --probe-max-grad-norm; without it, sentence tasks' 1.0."""
    import pretrain.probe
    seen = []
    real_finetune = pretrain.probe.finetune
    monkeypatch.setattr(pretrain.probe, "finetune", lambda opts: seen.append(opts.max_grad_norm) or real_finetune(opts))
    corpus = write_story_corpus(tmp_path / "stories.txt")
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(TINY))
    assert main(cli_args(corpus, tmp_path / "o", tmp_path / "cache", config, "--max-steps", "2", "--eval-every", "0",
                         "--vocab-size", "180", "--probe", "sst2", "--probe-data", str(GLUE_FIXTURES),
                         "--probe-examples", "8", *flags)) == 0
    assert seen == [clipping, clipping]  # the start and the end
