"""bert-pretrain end to end on a tiny model and a small synthetic corpus: learning, the HF-layout output,
exact resumption after SIGKILL, SIGTERM, NaN and bad-config handling, and 2-process DDP."""

import copy
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from pretrain.cli import main

REPO = Path(__file__).resolve().parents[1]
TINY = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 128,
        "max_position_embeddings": 64}
STEPS, EVERY = 160, 40


def write_story_corpus(path: Path, n_docs: int = 60, seed: int = 0) -> Path:
    """Documents of template sentences: learnable structure, about 50 kB."""
    rng = random.Random(seed)
    subjects = "the cat|a dog|my friend|the old man|a young girl|the teacher|our neighbour|the king".split("|")
    verbs = "saw|liked|found|painted|carried|visited|helped|followed|called|watched".split("|")
    objects = "the river|a small house|the red car|an apple|the garden|a long letter|the mountain".split("|")
    endings = "yesterday|in the morning|after dinner|at night|last week|with great care|for hours".split("|")

    def sentence():
        return f"{rng.choice(subjects).capitalize()} {rng.choice(verbs)} {rng.choice(objects)} {rng.choice(endings)}."

    docs = ["\n".join(" ".join(sentence() for _ in range(rng.randint(1, 3))) for _ in range(rng.randint(5, 15)))
            for _ in range(n_docs)]
    path.write_text("\n\n".join(docs) + "\n")
    return path


def cli_args(corpus, output, cache, config, *extra):
    return ["--corpus", str(corpus), "--output", str(output), "--cache-dir", str(cache), "--preset", "tiny",
            "--config", str(config), "--max-seq-length", "64", "--batch-size", "16", "--lr", "3e-3",
            "--warmup-steps", "10", "--eval-fraction", "0.1", "--eval-examples", "64", "--num-workers", "1",
            "--log-every", "10", "--no-progress", "--seed", "0", "--no-bf16", *extra]


def subprocess_env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def metrics(output: Path) -> list[dict]:
    return [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines()]


def weights(output: Path) -> dict[str, torch.Tensor]:
    return load_file(output / "model.safetensors")



@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrain")
    config = root / "tiny.json"
    config.write_text(json.dumps(TINY))
    return {"root": root, "corpus": write_story_corpus(root / "stories.txt"), "cache": root / "cache",
            "config": config}


@pytest.fixture(scope="module")
def reference_run(setup):
    """An uninterrupted run that also trains its own vocabulary."""
    output = setup["root"] / "reference"
    args = cli_args(setup["corpus"], output, setup["cache"], setup["config"], "--vocab-size", "180",
                    "--max-steps", str(STEPS), "--eval-every", str(EVERY), "--save-every", str(EVERY))
    assert main(args) == 0
    return output


def test_tiny_model_learns(reference_run):
    records = metrics(reference_run)
    evals = [r for r in records if "eval_mlm_loss" in r]
    assert [r["step"] for r in evals] == [0, 40, 80, 120, 160]  # step 0: the untrained model, the start to beat
    training = [r for r in records if "mlm_loss" in r]
    assert training[0]["mlm_loss"] > 4.7  # about ln(180): knows nothing yet
    assert evals[0]["eval_mlm_loss"] > 4.7
    assert evals[-1]["eval_mlm_loss"] < training[0]["mlm_loss"] - 1.0
    assert evals[-1]["eval_mlm_loss"] < evals[1]["eval_mlm_loss"] < evals[0]["eval_mlm_loss"]
    assert evals[-1]["eval_mlm_acc"] > evals[0]["eval_mlm_acc"]
    assert {r["precision"] for r in records} == {"fp32"}  # --no-bf16
    for key in ("step", "loss", "mlm_loss", "nsp_loss", "lr", "tokens_per_s", "eval_mlm_acc", "eval_nsp_acc"):
        assert key in evals[-1]
    assert records[-1]["lr"] == pytest.approx(3e-3 / (STEPS - 10))  # linear decay: one step from 0 at the end


def test_summary_says_what_the_run_bought(reference_run):
    summary = json.loads((reference_run / "summary.json").read_text())
    records = metrics(reference_run)
    assert summary["steps"] == STEPS and summary["precision"] == "fp32" and summary["device"].startswith("CPU (")
    assert summary["skipped_steps"] == 0  # only fp16's loss scaler skips steps
    assert STEPS * 16 * 10 < summary["tokens"] <= STEPS * 16 * 64  # 16 examples a step, 10-64 tokens each
    assert summary["tokens_per_s"] == pytest.approx(summary["tokens"] / summary["elapsed_s"], rel=0.05)  # elapsed_s is rounded
    first, last = summary["eval_first"], summary["eval_last"]
    assert first["step"] == 0 and last["step"] == STEPS
    assert first["eval_mlm_loss"] == records[0]["eval_mlm_loss"] and last["eval_mlm_acc"] == records[-1]["eval_mlm_acc"]


def model_at_start(setup, monkeypatch, name: str, *flags: str):
    """Run one step with `flags`; return the model as the job built it (before any update) and the output."""
    from pretrain.job import PretrainingJob

    output = setup["root"] / name
    args = cli_args(setup["corpus"], output, setup["cache"], setup["config"], "--vocab-size", "180",
                    "--max-steps", "1", "--eval-every", "0", "--save-every", "0", *flags)
    built = {}
    original_init = PretrainingJob.__init__

    def spy(self, *a, **k):
        original_init(self, *a, **k)
        built["model"] = copy.deepcopy(self.model)

    monkeypatch.setattr(PretrainingJob, "__init__", spy)
    assert main(args) == 0
    return built["model"], output


def test_fresh_run_starts_positions_from_sinusoids_and_normal_keeps_berts_start(setup, monkeypatch):
    seen = {}
    for position_init in ("sinusoidal", "normal"):
        model, _ = model_at_start(setup, monkeypatch, f"positions-{position_init}", "--position-init", position_init)
        seen[position_init] = model.bert.embeddings.position_embeddings.weight.detach()
    assert torch.allclose(seen["sinusoidal"][0, 1::2], torch.full((32,), 0.02 * 2 ** 0.5))  # cos(0), scaled
    assert not torch.allclose(seen["normal"][0, 1::2], torch.full((32,), 0.02 * 2 ** 0.5))


def test_dropout_flag_changes_the_run_but_not_the_saved_config(setup, monkeypatch):
    from bert.model import SelfAttention

    model, output = model_at_start(setup, monkeypatch, "no-dropout", "--dropout", "0")
    rates = [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    attention = [m.attention_dropout.p for m in model.modules() if isinstance(m, SelfAttention)]
    assert len(rates) == 2 * 2 + 1 and set(rates) == {0.0}  # 2 layers x (hidden, attention) + embeddings
    assert attention == [0.0, 0.0]
    saved = json.loads((output / "config.json").read_text())
    assert saved["hidden_dropout_prob"] == 0.1 and saved["attention_probs_dropout_prob"] == 0.1


def test_output_is_a_hf_checkpoint(reference_run):
    transformers = pytest.importorskip("transformers")
    for name in ("config.json", "model.safetensors", "vocab.txt", "tokenizer.json", "loss.png"):
        assert (reference_run / name).exists(), name
    assert sorted(p.name for p in (reference_run / "checkpoints").glob("step-*")) == ["step-00000120", "step-00000160"]
    hf, info = transformers.BertForPreTraining.from_pretrained(reference_run, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    from bert import BertForPreTraining

    ours = BertForPreTraining.from_pretrained(reference_run)
    hf_tokenizer = transformers.BertTokenizerFast.from_pretrained(reference_run)
    batch = hf_tokenizer(["The cat saw the river.", "A dog [MASK] an apple at night."], return_tensors="pt",
                         padding=True)
    with torch.no_grad():
        expected = ours(**batch).prediction_logits
        got = hf.eval()(**batch).prediction_logits
    assert (expected - got).abs().max() < 1e-4


def test_sigkill_then_resume_equals_an_uninterrupted_run(setup, reference_run):
    output = setup["root"] / "killed"
    args = cli_args(setup["corpus"], output, setup["cache"], setup["config"], "--vocab", str(reference_run),
                    "--max-steps", str(STEPS), "--eval-every", str(EVERY), "--save-every", str(EVERY))
    command = [sys.executable, "-m", "pretrain", *args]
    with open(setup["root"] / "killed.log", "w") as log:
        process = subprocess.Popen(command, env=subprocess_env(), cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while time.time() < deadline and process.poll() is None:
            lines = (output / "metrics.jsonl").read_text().splitlines() if (output / "metrics.jsonl").exists() else []
            if lines and json.loads(lines[-1])["step"] > EVERY:  # past the first checkpoint
                break
            time.sleep(0.01)
        assert process.poll() is None, (setup["root"] / "killed.log").read_text()
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert not (output / "model.safetensors").exists()
    assert (output / "checkpoints" / f"step-{EVERY:08d}").exists()

    resumed = subprocess.run([*command, "--resume"], env=subprocess_env(), cwd=REPO, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stdout

    expected, got = weights(reference_run), weights(output)
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.equal(expected[name], got[name]), name
    drop_timing = lambda r: {k: v for k, v in r.items() if k not in ("tokens_per_s", "elapsed_s")}  # noqa: E731
    assert [drop_timing(r) for r in metrics(output)] == [drop_timing(r) for r in metrics(reference_run)]


def test_sigterm_saves_a_checkpoint_and_exits_cleanly(setup, reference_run):
    output = setup["root"] / "terminated"
    args = cli_args(setup["corpus"], output, setup["cache"], setup["config"], "--vocab", str(reference_run),
                    "--max-steps", "100000", "--save-every", "0", "--eval-every", "0")
    process = subprocess.Popen([sys.executable, "-m", "pretrain", *args], env=subprocess_env(), cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (output / "metrics.jsonl").exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "stopped at step" in stdout and "Traceback" not in stderr
    checkpoints = list((output / "checkpoints").glob("step-*"))
    assert len(checkpoints) == 1 and int(checkpoints[0].name.split("-")[1]) >= 10
    from bert import BertForPreTraining

    interrupted = BertForPreTraining.from_pretrained(output).state_dict()  # the model as of that step, HF layout
    saved = torch.load(checkpoints[0] / "state.pt", weights_only=True)["model"]
    assert all(torch.equal(interrupted[k], saved[k]) for k in saved)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(setup, reference_run, capsys):
    output = setup["root"] / "diverged"
    args = cli_args(setup["corpus"], output, setup["cache"], setup["config"], "--vocab", str(reference_run),
                    "--max-steps", "50", "--save-every", "1", "--keep-checkpoints", "1", "--eval-every", "0")
    args[args.index("--lr") + 1] = "1e30"
    args[args.index("--warmup-steps") + 1] = "0"
    assert main(args) == 1
    error = capsys.readouterr().err
    assert "NaN or infinite" in error and "last good checkpoint" in error
    checkpoints = list((output / "checkpoints").glob("step-*"))
    assert len(checkpoints) == 1 and not (output / "model.safetensors").exists()
    step = int(checkpoints[0].name.split("-")[1])
    assert f"at step {step + 1}" in error
    state = torch.load(checkpoints[0] / "state.pt", weights_only=True)
    assert all(torch.isfinite(t).all() for t in state["model"].values())


def test_config_smaller_than_vocabulary_is_an_error_before_training(setup, reference_run, capsys):
    config = setup["root"] / "small_vocab.json"
    config.write_text(json.dumps({**TINY, "vocab_size": 100}))
    output = setup["root"] / "small_vocab"
    args = cli_args(setup["corpus"], output, setup["cache"], config, "--vocab", str(reference_run), "--max-steps", "5")
    assert main(args) == 2
    assert "vocab_size 100, smaller than the vocabulary (180 tokens)" in capsys.readouterr().err
    assert not (output / "checkpoints").exists()


def test_single_document_corpus_needs_no_nsp(setup, reference_run, capsys):
    corpus = setup["root"] / "one_doc.txt"
    corpus.write_text(setup["corpus"].read_text().replace("\n\n", "\n"))
    args = cli_args(corpus, setup["root"] / "one_doc", setup["cache"], setup["config"], "--vocab", str(reference_run),
                    "--max-steps", "3", "--eval-every", "3")
    assert main(args) == 2
    assert "single document" in capsys.readouterr().err

    output = setup["root"] / "no_nsp"
    assert main(cli_args(corpus, output, setup["cache"], setup["config"], "--vocab", str(reference_run),
                         "--max-steps", "3", "--eval-every", "3", "--no-nsp")) == 0
    last = metrics(output)[-1]
    assert "eval_mlm_loss" in last and "eval_nsp_acc" not in last
    assert (output / "model.safetensors").exists()


def test_time_budget_bounds_the_run_and_the_schedule_spans_it(setup, reference_run):
    output = setup["root"] / "budget"
    args = cli_args(setup["corpus"], output, setup["cache"], setup["config"], "--vocab", str(reference_run),
                    "--time-budget", "3s", "--log-every", "1", "--eval-every", "0", "--warmup-steps", "0")
    started = time.perf_counter()
    assert main(args) == 0
    records = metrics(output)
    assert 3.0 <= records[-1]["elapsed_s"] < 3.0 + (time.perf_counter() - started) and len(records) > 10
    assert records[-1]["lr"] < 0.25 * records[0]["lr"]  # decayed towards 0 as the budget ran out


def test_two_processes_equal_one_with_the_same_global_batch(setup, reference_run):
    config = setup["root"] / "no_dropout.json"
    config.write_text(json.dumps({**TINY, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}))
    common = ["--vocab", str(reference_run), "--max-steps", "6", "--eval-every", "6", "--warmup-steps", "2"]
    single, double = setup["root"] / "single", setup["root"] / "double"
    # a batch of 8 in micro-batches of 2: 4 accumulated in one process, or 2 in each of two processes
    single_args = cli_args(setup["corpus"], single, setup["cache"], config, *common, "--grad-accum", "4")
    double_args = cli_args(setup["corpus"], double, setup["cache"], config, *common, "--grad-accum", "2")
    for args in (single_args, double_args):
        args[args.index("--batch-size") + 1] = "8"
    assert main(single_args) == 0
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]  # = torchrun
    for attempt in range(2):
        result = subprocess.run([*torchrun, "-m", "pretrain", *double_args], env=subprocess_env(), cwd=REPO,
                                capture_output=True, text=True, timeout=300)
        # A worker aborted (SIGABRT, "terminate called without an active exception") in one CI run of many
        # and never here; one more try tells such a rare crash apart from a run that fails every time.
        if result.returncode == 0 or "SIGABRT" not in result.stderr:
            break
        shutil.rmtree(double, ignore_errors=True)
    assert result.returncode == 0, result.stderr[-3000:]
    one, two = weights(single), weights(double)
    assert max((one[k] - two[k]).abs().max().item() for k in one) < 1e-5
    last_one, last_two = metrics(single)[-1], metrics(double)[-1]
    for key in ("loss", "mlm_loss", "eval_mlm_loss", "eval_mlm_acc", "eval_nsp_acc"):
        assert last_one[key] == pytest.approx(last_two[key], abs=1e-5), key


def test_init_from_starts_a_new_run_from_a_pretrained_model(setup, reference_run):
    """--init-from: the model's config (not --preset), vocabulary and weights start a new run."""
    dropout_only = setup["root"] / "dropout_only.json"
    dropout_only.write_text(json.dumps({"hidden_dropout_prob": 0.0}))
    output = setup["root"] / "second-phase"
    args = cli_args(setup["corpus"], output, setup["cache"], dropout_only, "--init-from", str(reference_run),
                    "--max-steps", "1", "--eval-every", "0")
    args[args.index("--preset") + 1] = "mini"
    args[args.index("--lr") + 1] = "1e-12"  # one step that cannot move the weights measurably
    assert main(args) == 0
    assert (output / "vocab.txt").read_text() == (reference_run / "vocab.txt").read_text()
    config = json.loads((output / "config.json").read_text())
    assert config["hidden_size"] == TINY["hidden_size"] and config["hidden_dropout_prob"] == 0.0
    start, after = weights(reference_run), weights(output)
    assert start.keys() == after.keys()
    assert max((start[k] - after[k]).abs().max().item() for k in start) < 1e-6


def test_gradient_accumulation_takes_the_same_first_step(setup, reference_run):
    """--batch-size is examples per optimizer step: 32 in one micro-batch or in 4 of 8, the same update
    (each loss term weighted by its share of the step's masked tokens / examples)."""
    runs = {}
    for accum in ("1", "4"):
        output = setup["root"] / f"accum-{accum}"
        args = cli_args(setup["corpus"], output, setup["cache"], setup["config"], "--vocab", str(reference_run),
                        "--max-steps", "1", "--eval-every", "0", "--grad-accum", accum, "--dropout", "0",
                        "--warmup-steps", "0")
        args[args.index("--batch-size") + 1] = "32"
        assert main(args) == 0
        runs[accum] = weights(output)
    start = weights(reference_run)
    assert max((runs["1"][k] - start[k]).abs().max().item() for k in start) > 1e-3  # a real step from another start
    assert max((runs["1"][k] - runs["4"][k]).abs().max().item() for k in runs["1"]) < 1e-5  # of an lr-sized step


def test_a_run_folder_needs_resume_or_overwrite(setup, reference_run, capsys):
    output = setup["root"] / "overwritten"
    args = cli_args(setup["corpus"], output, setup["cache"], setup["config"], "--vocab", str(reference_run),
                    "--max-steps", "2", "--eval-every", "0")
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 2
    assert capsys.readouterr().err.endswith("already holds a pretraining run: pass --resume to continue it, "
                                            "--overwrite to start over, or choose another --output\n")
    assert main([*args, "--overwrite"]) == 0
    assert [r["step"] for r in metrics(output)] == [1, 2] or metrics(output)[-1]["step"] == 2
    assert main([*args, "--resume"]) == 0  # finished: resuming changes nothing
    assert "resumed from" in capsys.readouterr().out


def test_batch_that_does_not_split_is_one_line(setup, reference_run, capsys):
    args = cli_args(setup["corpus"], setup["root"] / "uneven", setup["cache"], setup["config"], "--vocab",
                    str(reference_run), "--max-steps", "1", "--grad-accum", "3")
    assert main(args) == 2
    assert capsys.readouterr().err == "error: --batch-size 16 does not split evenly into --grad-accum 3 x 1 process(es)\n"
