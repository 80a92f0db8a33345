"""Hugging Face Hub model ids in every command (bert-finetune --model, bert-predict --model, bert-pretrain
--init-from), read from a local HF cache laid out as huggingface_hub writes one, with the network off."""

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from huggingface_hub import constants
from safetensors.torch import load_file

from bert import BertConfig, BertForPreTraining, BertForSequenceClassification
from finetune import cli, predict_cli
from finetune.checkpoint import resolve_model
from pretrain import PretrainOptions, cli as pretrain_cli
from pretrain.train import with_init_from_resolved

REPO = Path(__file__).resolve().parents[1]
COMMIT = "0123456789abcdef0123456789abcdef01234567"
WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "great", "film", "dull", "plot", "fine", "bad", "good"]
ABSENT = (r"testorg/absent: no such local directory; as a Hugging Face Hub model id it is not in the cache "
          r"\(.*hf-cache\), and HF_HUB_OFFLINE is set: download it once with the network on")



def put_in_hub_cache(cache: Path, model_id: str, folder: Path) -> Path:
    """Lay `folder`'s files out as a download of `model_id`: blobs named by their hash, a snapshot of
    symlinks to them under the commit, and refs/main naming that commit. Returns the snapshot folder."""
    repo = cache / f"models--{model_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir()
    for file in folder.iterdir():
        blob = repo / "blobs" / hashlib.sha256(file.read_bytes()).hexdigest()
        blob.write_bytes(file.read_bytes())
        (snapshot / file.name).symlink_to(os.path.relpath(blob, snapshot))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return snapshot


@pytest.fixture
def hub_cache(tmp_path, monkeypatch) -> Path:
    """An empty HF cache, offline: set in the environment (for subprocesses) and in huggingface_hub's
    constants, which it read from the environment when it was imported."""
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


def tiny_config(**overrides) -> BertConfig:
    return BertConfig.from_preset("tiny", vocab_size=len(WORDS), max_position_embeddings=64, **overrides)


def save_with_vocab(model, folder: Path) -> Path:
    model.save_pretrained(folder)
    (folder / "vocab.txt").write_text("\n".join(WORDS) + "\n")
    return folder


@pytest.fixture
def pretrained(hub_cache, tmp_path) -> Path:
    """A tiny pretrained BERT in the cache as testorg/tiny-bert; returns its snapshot folder."""
    torch.manual_seed(0)
    folder = save_with_vocab(BertForPreTraining(tiny_config()), tmp_path / "tiny-bert")
    return put_in_hub_cache(hub_cache, "testorg/tiny-bert", folder)


@pytest.fixture
def classifier(hub_cache, tmp_path) -> Path:
    """A tiny review classifier (labels bad, good) in the cache as testorg/tiny-reviews."""
    torch.manual_seed(0)
    model = BertForSequenceClassification(tiny_config(id2label={0: "bad", 1: "good"}))
    return put_in_hub_cache(hub_cache, "testorg/tiny-reviews", save_with_vocab(model, tmp_path / "tiny-reviews"))


def review_files(folder: Path) -> list[str]:
    folder.mkdir()
    (folder / "train.csv").write_text("text,label\na great film,good\na dull plot,bad\nfine film,good\nbad plot,bad\n")
    return ["--train-file", str(folder / "train.csv"), "--validation-file", str(folder / "train.csv"),
            "--text-columns", "text", "--label-column", "label"]


def test_finetune_starts_from_a_cached_hub_model(pretrained, tmp_path):
    output = tmp_path / "run"
    args = [*review_files(tmp_path / "data"), "--model", "testorg/tiny-bert", "--output", str(output),
            "--epochs", "1", "--lr", "1e-12", "--seeds", "1", "--max-seq-length", "64"]  # lr: the weights stay
    assert cli.main(args) == 0
    assert json.loads((output / "summary.json").read_text())["model"] == "testorg/tiny-bert"
    start, tuned = load_file(pretrained / "model.safetensors"), load_file(output / "seed-1/model/model.safetensors")
    key = "bert.encoder.layer.1.intermediate.dense.weight"
    assert (start[key] - tuned[key]).abs().max().item() < 1e-6
    assert (output / "seed-1/model/vocab.txt").read_text() == (pretrained / "vocab.txt").read_text()


def test_predict_with_a_cached_hub_classifier(classifier, capsys):
    assert predict_cli.main(["--model", "testorg/tiny-reviews", "a great film"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[0] in ("bad", "good")
    assert [line.split()[0] for line in lines[1:]] == ["bad", "good"]


def test_pretrain_init_from_a_cached_hub_model(pretrained, tmp_path):
    """The command line and pretrain() alike: the run resolves the id (options keep it as given)."""
    args = pretrain_cli.parse_args(["--corpus", str(tmp_path), "--output", str(tmp_path / "out"), "--max-steps", "1",
                                    "--init-from", "testorg/tiny-bert"])
    options = pretrain_cli.options_from_args(args)
    assert str(options.init_from) == "testorg/tiny-bert"
    assert with_init_from_resolved(options).init_from == pretrained
    api = PretrainOptions(corpus=tmp_path, output=tmp_path / "out", init_from="testorg/tiny-bert", max_steps=1)
    assert with_init_from_resolved(api).init_from == pretrained


def test_a_local_folder_wins_then_a_preset_then_the_hub(pretrained, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "vocab.txt").write_text("\n".join(WORDS) + "\n")
    source, _ = resolve_model("tiny", "vocab.txt")
    assert source.checkpoint is None and source.config.hidden_size == 128  # the preset
    source, _ = resolve_model("testorg/tiny-bert", None)
    assert source.checkpoint == pretrained  # the cache
    torch.manual_seed(1)
    for name in ("tiny", "testorg/tiny-bert"):  # local folders of the same names
        save_with_vocab(BertForPreTraining(tiny_config(num_hidden_layers=1)), tmp_path / name)
        source, _ = resolve_model(name, None)
        assert source.checkpoint == Path(name) and source.config.num_hidden_layers == 1


def test_an_uncached_hub_id_offline_is_one_line(hub_cache, tmp_path, capsys):
    output = tmp_path / "out"
    output.mkdir()
    (output / "summary.json").write_text("{}\n")
    args = [*review_files(tmp_path / "data"), "--model", "testorg/absent", "--output", str(output), "--overwrite"]
    assert cli.main(args) == 2
    assert re.fullmatch(f"error: --model {ABSENT}\n", capsys.readouterr().err)
    assert [p.name for p in output.iterdir()] == ["summary.json"]
    assert predict_cli.main(["--model", "testorg/absent", "a film"]) == 2
    assert re.fullmatch(f"error: --model {ABSENT}\n", capsys.readouterr().err)
    assert pretrain_cli.main(["--corpus", str(tmp_path), "--output", str(tmp_path / "pre"), "--max-steps", "1",
                              "--init-from", "testorg/absent"]) == 2
    assert re.fullmatch(f"error: --init-from {ABSENT}\n", capsys.readouterr().err)
    assert not (tmp_path / "pre").exists()


def test_a_preset_is_no_model_to_predict_with(capsys):
    assert predict_cli.main(["--model", "tiny", "a film"]) == 2
    assert capsys.readouterr().err == "error: --model tiny: a preset name (random weights of that size), not a checkpoint\n"


def test_the_cache_and_offline_mode_come_from_the_environment(classifier, hub_cache):
    """What a user does: HF_HUB_CACHE and HF_HUB_OFFLINE=1 in the environment, nothing else."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "finetune.predict_cli", "--model", "testorg/tiny-reviews", "a dull plot"],
                            env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] in ("bad", "good")
