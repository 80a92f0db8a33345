"""The optimizer and batching options of bert-finetune (--max-grad-norm, --adam-epsilon, --adam-beta2,
--batching): what each does to a run, their checks, their per-family defaults, and the mean/std over seeds in
summary.json."""

import json
import statistics

import pytest
import torch
from safetensors.torch import load_file

from finetune import cli
from finetune.data import epoch_batches
from finetune.options import FAMILY_DEFAULTED, FinetuneOptions
from finetune.registry import family_of_task
from finetune.train import Recipe
from test_finetune_resume import args, workspace  # noqa: F401  (the tiny no-dropout checkpoint and CoLA data)


def one_step(workspace, name: str, *extra: str) -> dict[str, torch.Tensor]:
    """The weights after one optimizer step on all 32 sentences from the no-dropout checkpoint."""
    output = workspace / name
    assert cli.main(["--task", "cola", "--model", str(workspace / "no-dropout"), "--output", str(output),
                     "--data-dir", str(workspace / "data"), "--seeds", "1", "--epochs", "1", "--batch-size", "32",
                     "--lr", "1e-3", "--warmup-ratio", "0", "--precision", "fp32", *extra]) == 0
    return load_file(output / "seed-1" / "model" / "model.safetensors")


def max_diff(a: dict, b: dict) -> float:
    return max((a[k] - b[k]).abs().max().item() for k in a)


def test_max_grad_norm_zero_turns_clipping_off(workspace):
    unclipped = one_step(workspace, "clip-0", "--max-grad-norm", "0")
    huge = one_step(workspace, "clip-huge", "--max-grad-norm", "1e9")  # never reached: no clipping either
    start = load_file(workspace / "no-dropout" / "model.safetensors")
    assert max((unclipped[f"bert.{k}"] - start[k]).abs().max().item() for k in start) > 1e-4  # it stepped
    assert max_diff(unclipped, huge) == 0.0


def test_adam_epsilon_and_beta2_reach_the_optimizer(workspace):
    default = one_step(workspace, "adam-default")
    # one step of Adam moves a weight by lr * g / (|g| + eps): an eps far above |g| shrinks every move
    big_eps = one_step(workspace, "adam-eps", "--adam-epsilon", "1.0")
    start = load_file(workspace / "no-dropout" / "model.safetensors")
    moved = {name: max((w[f"bert.{k}"] - start[k]).abs().max().item() for k in start)
             for name, w in (("default", default), ("big eps", big_eps))}
    assert moved["big eps"] < moved["default"] / 10
    # beta2 scales the bias-corrected second moment only from the second step on; its value is in run.json
    one_step(workspace, "adam-beta2", "--adam-beta2", "0.98")
    run = json.loads((workspace / "adam-beta2" / "run.json").read_text())
    assert run["adam_beta2"] == 0.98 and run["adam_epsilon"] == 1e-6 and run["batching"] == "length-grouped"


def test_random_batching_is_a_plain_shuffle_drawn_from_seed_and_epoch():
    lengths = [1 + (i * 37) % 50 for i in range(103)]
    batches = epoch_batches(lengths, 10, seed=3, epoch=0, batching="random")
    assert [len(b) for b in batches] == [10] * 10 + [3]
    assert sorted(i for b in batches for i in b) == list(range(103))  # every example once
    assert batches == epoch_batches(lengths, 10, seed=3, epoch=0, batching="random")  # the same on resume
    assert batches != epoch_batches(lengths, 10, seed=3, epoch=1, batching="random")
    assert batches != epoch_batches(lengths, 10, seed=3, epoch=0)  # not the length-grouped default
    grouped = epoch_batches(lengths, 10, seed=3, epoch=0)
    spread = {name: statistics.mean(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in bs)
              for name, bs in (("random", batches), ("grouped", grouped))}
    assert spread["grouped"] < spread["random"] / 3  # grouping is what saves the padding


def test_random_batching_trains_and_resume_refuses_a_changed_batching(workspace, capsys):
    output = workspace / "random-batches"
    assert cli.main(args(workspace, output, "--batching", "random", "--epochs", "1")) == 0
    assert json.loads((output / "summary.json").read_text())["recipe"]["batching"] == "random"
    assert cli.main(args(workspace, output, "--epochs", "1", "--resume")) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("error: --resume in ")
    assert "batching was 'random', now 'length-grouped'" in err


@pytest.mark.parametrize("flags, message", [
    (["--max-grad-norm", "-1"], "error: --max-grad-norm must be 0 (no clipping) or more, got -1.0"),
    (["--adam-epsilon", "0"], "error: --adam-epsilon must be positive and --adam-beta2 in [0, 1), got 0.0 and 0.999"),
    (["--adam-beta2", "1"], "error: --adam-epsilon must be positive and --adam-beta2 in [0, 1), got 1e-06 and 1.0"),
])
def test_bad_optimizer_options_are_one_line(workspace, tmp_path, capsys, flags, message):
    assert cli.main(args(workspace, tmp_path / "run", *flags)) == 2
    assert capsys.readouterr().err == message + "\n"
    assert not (tmp_path / "run").exists()


def test_flags_left_out_take_the_family_defaults():
    own_files = ["--train-file", "t.csv", "--validation-file", "d.csv"]
    for task, recipe in (("cola", {}), ("conll2003", {}), ("squad", {"max_seq_length": 384, "max_grad_norm": 0.0,
                                                                    "batching": "random"}), (None, {})):
        options = cli.options_from_args(cli.parse_args(["--model", "m", "--output", "o"]
                                                       + (["--task", task] if task else own_files)))
        assert family_of_task(task).recipe == recipe
        for name in FAMILY_DEFAULTED:
            assert getattr(options, name) == recipe.get(name, getattr(Recipe, name)), (task, name)
    assert (Recipe.max_seq_length, Recipe.max_grad_norm, Recipe.batching) == (128, 1.0, "length-grouped")
    given = cli.options_from_args(cli.parse_args(["--task", "squad", "--model", "m", "--output", "o",
                                                  "--max-grad-norm", "0.5"]))
    assert given.max_grad_norm == 0.5
    assert FinetuneOptions(model="m", output="o", task="squad", max_grad_norm=0.5).max_grad_norm == 0.5


def test_summary_has_mean_and_std_over_seeds(workspace):
    output = workspace / "three-seeds"
    assert cli.main(args(workspace, output, "--seeds", "1,2,3", "--epochs", "8", "--lr", "2e-3")) == 0
    summary = json.loads((output / "summary.json").read_text())
    per_seed = [s["mcc"] for s in summary["seeds"]]
    assert len(set(per_seed)) > 1  # the seeds differ, so mean and std say something
    assert summary["median"]["mcc"] == statistics.median(per_seed)
    assert summary["mean"]["mcc"] == pytest.approx(statistics.mean(per_seed), abs=1e-12)
    assert summary["std"]["mcc"] == pytest.approx(statistics.stdev(per_seed), abs=1e-12)



def test_pretraining_max_grad_norm_zero_turns_clipping_off(tmp_path):
    from pretrain.cli import main as pretrain_main
    from test_pretrain_run import TINY, cli_args, weights, write_story_corpus

    corpus, config = write_story_corpus(tmp_path / "stories.txt"), tmp_path / "tiny.json"
    config.write_text(json.dumps(TINY))

    def run(name: str, *extra: str) -> dict:
        output = tmp_path / name
        assert pretrain_main(cli_args(corpus, output, tmp_path / "cache", config, "--max-steps", "1",
                                      "--eval-every", "0", "--dropout", "0", *extra)) == 0
        return weights(output)

    run("vocabulary", "--vocab-size", "180")  # trained once: both runs below start from the same vocabulary
    vocab = ["--vocab", str(tmp_path / "vocabulary")]
    off, huge = run("off", *vocab, "--max-grad-norm", "0"), run("huge", *vocab, "--max-grad-norm", "1e9")
    assert max_diff(off, huge) == 0.0
    clipped = run("clipped", *vocab, "--max-grad-norm", "1e-4")  # a norm far below the gradient's: a smaller step
    assert max_diff(off, clipped) > 1e-4
