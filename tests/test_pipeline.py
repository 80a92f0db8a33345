"""The main job end to end on toy data: vocabulary, pretraining, fine-tuning, the table; a re-run reuses it all."""

import json
from pathlib import Path

import pytest

from finetune import pipeline
from test_pretrain_run import write_story_corpus

GLUE_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "glue"


def test_pipeline_runs_and_resumes(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    corpus = write_story_corpus(tmp_path / "corpus.txt")
    argv = ["--corpus", str(corpus), "--glue-dir", str(GLUE_FIXTURES), "--work-dir", str(tmp_path / "work"),
            "--budget", "3s", "--preset", "tiny", "--vocab-size", "120", "--tasks", "cola,mrpc", "--seeds", "1,2",
            "--pretrain-args", f"--batch-size 8 --max-seq-length 32 --eval-every 0 --num-workers 1 --no-progress "
                               f"--cache-dir {tmp_path / 'cache'}",
            "--finetune-args", "--epochs 1 --batch-size 8 --no-bf16"]
    pipeline.main(argv)
    first = capfd.readouterr().out
    work = tmp_path / "work"
    assert (work / "vocab" / "vocab.txt").exists() and (work / "pretrained" / "model.safetensors").exists()
    for run in ("cola-ours", "cola-no-pretraining", "mrpc-ours", "mrpc-no-pretraining"):
        assert (work / run / "summary.json").exists(), run
    table = first[first.index("GLUE dev, median over seeds 1,2"):].splitlines()
    assert [line.split()[:2] for line in table[3:6]] == [["cola", "mcc"], ["mrpc", "f1"], ["mrpc", "accuracy"]]
    summary = json.loads((work / "mrpc-ours" / "summary.json").read_text())
    accuracies = sorted(row["accuracy"] for row in summary["seeds"])
    assert table[5].split()[-3:] == [f"{summary['median']['accuracy']:.4f}", f"[{accuracies[0]:.4f},",
                                     f"{accuracies[-1]:.4f}]"]

    pipeline.main(argv)
    second = capfd.readouterr().out
    assert "vocabulary: reusing" in second and second.count("reusing") == 5
    assert second[second.index("GLUE dev"):] == first[first.index("GLUE dev"):]

    # other fine-tuning options: the fine-tunes are stale and run again; vocabulary and pretraining are kept
    other_recipe = [*argv[:-1], "--epochs 1 --batch-size 4 --no-bf16"]
    pipeline.main(other_recipe)
    third = capfd.readouterr().out
    assert third.count("reusing") == 1 and third.count("=== 3. fine-tuning") == 4
    assert json.loads((work / "mrpc-ours" / "summary.json").read_text())["recipe"]["batch_size"] == 4


def test_pipeline_rejects_bad_finetune_args_before_pretraining(tmp_path, capsys):
    with pytest.raises(SystemExit):
        pipeline.main(["--corpus", "unused.txt", "--work-dir", str(tmp_path / "work"),
                       "--finetune-args", "--learning-rate 1e-4"])
    assert "unrecognized arguments: --learning-rate 1e-4" in capsys.readouterr().err
    assert not (tmp_path / "work").exists()
