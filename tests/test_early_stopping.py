"""--eval-every, --metric-for-best and --early-stopping-patience: one metrics.jsonl row per evaluation, the run
stops where dev stopped improving (a tie is no improvement), the best model kept is the best by the chosen
metric, and a run killed and resumed equals the uninterrupted one."""

import json
import shutil
import signal

import pytest

from finetune import cli
from finetune.checkpoint import load_head_model
from finetune.data import encode_split
from finetune.sentence.evaluate import predict_logits
from finetune.sentence.metrics import matthews_corrcoef
from finetune.sentence.tasks import get_task, load_task_data
from training import Precision
from test_finetune_cli import FIXTURES
from test_finetune_resume import args, run_with_signal, weights, workspace  # noqa: F401

STOPPING = ["--epochs", "30", "--batch-size", "8", "--lr", "5e-3", "--eval-every", "2",
            "--early-stopping-patience", "6", "--precision", "fp32"]


def evaluations(output, metric: str) -> list[dict]:
    rows = [json.loads(line) for line in (output / "seed-1" / "metrics.jsonl").read_text().splitlines()]
    return [row for row in rows if metric in row]


def replay(rows: list[dict], metric: str, patience: int) -> tuple[dict, dict | None]:
    """The best row (the first of the highest) and the row where patience ran out, from the logged values."""
    best, since = None, 0
    for row in rows:
        if best is None or row[metric] > best[metric]:
            best, since = row, 0
        else:
            since += 1
        if since >= patience:
            return best, row
    return best, None


@pytest.fixture(scope="module")
def stopped_run(workspace):
    output = workspace / "early-stopping"
    assert cli.main(args(workspace, output, *STOPPING)) == 0
    return output


def test_stops_where_dev_stopped_improving(stopped_run):
    rows = evaluations(stopped_run, "mcc")
    best, stop = replay(rows, "mcc", patience=6)
    assert stop is not None and stop is rows[-1]  # nothing was evaluated after patience ran out
    assert stop["step"] < 30 * 4  # well before the last of 30 epochs of 4 steps
    assert rows[0]["step"] < best["step"] < stop["step"] and best["mcc"] > rows[0]["mcc"]  # dev rose, then not
    assert [row["step"] for row in rows] == list(range(2, stop["step"] + 1, 2))  # every 2 steps, epoch ends too
    seed = json.loads((stopped_run / "summary.json").read_text())["seeds"][0]
    assert seed["stopped_early_at"] == stop["step"] and seed["best_step"] == best["step"]
    assert seed["mcc"] == best["mcc"] and seed["best_epoch"] == best["epoch"]


def test_the_model_kept_is_the_best_evaluation(stopped_run, workspace):
    summary = json.loads((stopped_run / "summary.json").read_text())
    model, tokenizer = load_head_model(stopped_run / summary["best_model"], "SequenceClassification")
    task = get_task("cola")
    dev = encode_split(tokenizer, task, load_task_data(task, workspace / "data").dev["dev"], 128)
    logits = predict_logits(model, dev, 16, tokenizer.pad_token_id, precision=Precision("fp32", "cpu", "as trained"))
    assert matthews_corrcoef(logits.argmax(-1).tolist(), dev.labels.tolist()) == summary["seeds"][0]["mcc"]


def test_killed_and_resumed_equals_the_uninterrupted_run(stopped_run, workspace):
    output = workspace / "early-stopping-killed"
    argv = args(workspace, output, *STOPPING)
    assert run_with_signal(workspace, argv, die_at=27, signal_name="SIGKILL").returncode == -signal.SIGKILL
    resumed = run_with_signal(workspace, [*argv, "--resume"], die_at=-1, signal_name="SIGKILL")
    assert resumed.returncode == 0, resumed.stderr
    assert "(step 26)" in resumed.stdout  # from the checkpoint of the evaluation at step 26, after the best
    expected, got = weights(stopped_run / "seed-1" / "model"), weights(output / "seed-1" / "model")
    assert max((expected[k] - got[k]).abs().max().item() for k in expected) == 0.0
    drop_time = lambda r: {k: v for k, v in r.items() if k != "epoch_seconds"}  # noqa: E731
    logs = [[drop_time(json.loads(line)) for line in (run / "seed-1" / "metrics.jsonl").read_text().splitlines()]
            for run in (output, stopped_run)]
    assert logs[0] == logs[1]
    seeds = [json.loads((run / "summary.json").read_text())["seeds"][0] for run in (output, stopped_run)]
    assert [{k: v for k, v in seed.items() if k != "train_seconds"} for seed in seeds][0] == \
        {k: v for k, v in seeds[1].items() if k != "train_seconds"}


def test_metric_for_best_picks_the_model_and_the_summary(workspace, tmp_path):
    data = tmp_path / "data" / "MRPC"
    data.mkdir(parents=True)
    shutil.copy(FIXTURES / "MRPC" / "train.tsv", data / "train.tsv")
    shutil.copy(FIXTURES / "MRPC" / "train.tsv", data / "dev.tsv")
    output = tmp_path / "mrpc"
    argv = args(workspace, output, "--epochs", "6", "--eval-every", "3", "--metric-for-best", "accuracy",
                "--precision", "fp32")
    argv[argv.index("--task") + 1], argv[argv.index("--data-dir") + 1] = "mrpc", str(tmp_path / "data")
    assert cli.main(argv) == 0
    best, _ = replay(evaluations(output, "accuracy"), "accuracy", patience=10 ** 9)
    summary = json.loads((output / "summary.json").read_text())
    assert summary["main_metric"] == "accuracy" and summary["recipe"]["metric_for_best"] == "accuracy"
    assert summary["seeds"][0]["best_step"] == best["step"] and summary["seeds"][0]["accuracy"] == best["accuracy"]


def test_unknown_metric_and_negative_values_are_one_line(workspace, tmp_path, capsys):
    assert cli.main(args(workspace, tmp_path / "a", "--metric-for-best", "bleu")) == 2
    assert capsys.readouterr().err == "error: --metric-for-best 'bleu': cola reports mcc\n"
    assert cli.main(args(workspace, tmp_path / "b", "--early-stopping-patience", "-1")) == 2
    assert capsys.readouterr().err == "error: --early-stopping-patience must be 0 or more, got -1\n"
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
