"""`datasets` is needed only to load from the Hugging Face Hub: with it unimportable (the GPU machine of
bench/gpu_check.sh has none), every module of the packages imports, and pretraining and fine-tuning on local
files run."""

import json
import subprocess
import sys

from test_finetune_cli import FIXTURES, write_vocab
from test_pretrain_run import REPO, TINY, cli_args, subprocess_env, write_story_corpus

DRIVER = """
import importlib, json, pkgutil, sys
sys.modules["datasets"] = None  # `import datasets` raises ImportError from here on
for name in ("bert", "tokenizer", "pretrain", "finetune", "training", "main_job"):
    package = importlib.import_module(name)
    for module in pkgutil.walk_packages(package.__path__, f"{name}."):
        if not module.name.endswith("__main__"):  # that one would run the command
            importlib.import_module(module.name)
from pretrain.cli import main as pretrain
from finetune.cli import main as finetune
sys.exit(pretrain(json.loads(sys.argv[1])) or finetune(json.loads(sys.argv[2])))
"""


def test_packages_import_and_train_without_datasets(tmp_path):
    (tmp_path / "tiny.json").write_text(json.dumps(TINY))
    pretraining = cli_args(write_story_corpus(tmp_path / "stories.txt"), tmp_path / "pretrained", tmp_path / "cache",
                           tmp_path / "tiny.json", "--vocab-size", "180", "--max-steps", "3", "--eval-every", "3")
    fine_tuning = ["--task", "cola", "--model", "tiny", "--vocab", str(write_vocab(tmp_path / "vocab.txt")),
                   "--output", str(tmp_path / "cola"), "--data-dir", str(FIXTURES), "--seeds", "1", "--epochs", "1",
                   "--batch-size", "8", "--precision", "fp32"]
    result = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(pretraining), json.dumps(fine_tuning)],
                            env=subprocess_env(), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "pretrained" / "model.safetensors").exists()
    assert json.loads((tmp_path / "cola" / "summary.json").read_text())["seeds"][0]["best_epoch"] == 1
