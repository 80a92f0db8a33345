"""`torchrun -m finetune` with two CPU processes (gloo): metrics cover the whole dev set."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

from finetune.checkpoint import load_head_model
from finetune.data import encode_split
from finetune.sentence.evaluate import predict_logits, score
from finetune.sentence.tasks import get_task, load_task_data
from training import Precision
from test_finetune_cli import FIXTURES, write_vocab


def test_two_processes_score_the_whole_dev_set(tmp_path):
    # 35 dev rows split into 9 batches of 4: the two processes get unequal shares (5 and 4 batches)
    cola = tmp_path / "glue" / "CoLA"
    cola.mkdir(parents=True)
    shutil.copy(FIXTURES / "CoLA" / "train.tsv", cola / "train.tsv")
    dev_rows = (FIXTURES / "CoLA" / "train.tsv").read_text().splitlines()[:31]
    dev_rows += (FIXTURES / "CoLA" / "dev.tsv").read_text().splitlines()
    (cola / "dev.tsv").write_text("\n".join(dev_rows) + "\n")
    vocab = write_vocab(tmp_path / "vocab.txt")
    output = tmp_path / "out"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "finetune", "--task", "cola", "--model", "tiny", "--vocab", str(vocab), "--output", str(output),
               "--data-dir", str(tmp_path / "glue"), "--epochs", "3", "--lr", "2e-3", "--batch-size", "8",
               "--eval-batch-size", "4", "--seeds", "1"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 process(es)" in result.stdout

    summary = json.loads((output / "summary.json").read_text())
    dev_predictions = (output / "seed-1" / "dev_predictions.tsv").read_text().splitlines()
    assert len(dev_predictions) == 1 + 35
    # one process, the saved best model, the same batches: the same score as the two processes reported
    model, tokenizer = load_head_model(output / "seed-1" / "model", "SequenceClassification")
    task = get_task("cola")
    dev = encode_split(tokenizer, task, load_task_data(task, tmp_path / "glue").dev["dev"], 128)
    logits = predict_logits(model, dev, 4, tokenizer.pad_token_id, precision=Precision(summary["recipe"]["precision"], "cpu", "as trained"))
    assert score(task, dev, logits)["mcc"] == summary["seeds"][0]["mcc"]
    # and every row's probability came through the gather, not just rank 0's share
    written = [float(row.split("\t")[-1]) for row in dev_predictions[1:]]
    expected = logits.softmax(-1).max(-1).values.tolist()
    assert max(abs(a - b) for a, b in zip(written, expected)) < 1e-4
