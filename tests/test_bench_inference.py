"""bench/bench_inference.py end to end on a tiny classifier and four sentences: one row per runner."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bert import BertConfig, BertForSequenceClassification
from test_finetune_cli import write_vocab
from tokenizer import WordPieceTokenizer

pytest.importorskip("transformers")
pytest.importorskip("onnxruntime", reason="pip install '.[onnx]' (in the dev extra)")

REPO = Path(__file__).resolve().parents[1]
ROW = re.compile(r"^(ours, PyTorch|ours, ONNX Runtime|transformers, PyTorch)\s+[\d,]+ \([\d,]+-[\d,]+\)\s+[\d.]+x$")


def test_bench_inference_prints_one_row_per_runner(tmp_path):
    tokenizer = WordPieceTokenizer.from_pretrained(write_vocab(tmp_path / "vocab.txt"))
    torch.manual_seed(0)
    BertForSequenceClassification(BertConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size)).save_pretrained(
        tmp_path / "model")
    tokenizer.save(tmp_path / "model")
    (tmp_path / "texts.txt").write_text("A short one.\nThe ferry leaves every morning at seven.\nWhy?\nHe left.\n")
    result = subprocess.run([sys.executable, str(REPO / "bench" / "bench_inference.py"), "--model", str(tmp_path / "model"),
                             "--texts", str(tmp_path / "texts.txt"), "--batch-size", "2", "--repeats", "2",
                             "--threads", "1"], capture_output=True, text=True, timeout=300, cwd=REPO,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert "fp32, 4 sentences" in lines[0] and "labels agree on all 4" in lines[0]
    assert [ROW.match(line).group(1) for line in lines[2:]] == ["ours, PyTorch", "ours, ONNX Runtime",
                                                                  "transformers, PyTorch"]
    assert lines[2].endswith(" 1.00x")
