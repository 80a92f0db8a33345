"""The main job end to end on toy data: vocabulary, two pretraining phases, fine-tuning, the table; a re-run
reuses it all."""

import json
from pathlib import Path

import pytest

from training import MetricsLog
from finetune import pipeline
from test_pretrain_run import metrics, write_story_corpus

GLUE_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "glue"


def small_pretraining(tmp_path: Path) -> str:
    """bert-pretrain options of a toy run (either phase)."""
    return f"--batch-size 8 --max-seq-length 32 --eval-every 1000 --eval-examples 64 --num-workers 1 --no-progress --cache-dir {tmp_path / 'c'}"


def test_pipeline_runs_and_resumes(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    corpus = write_story_corpus(tmp_path / "corpus.txt")
    small = small_pretraining(tmp_path)
    argv = ["--corpus", str(corpus), "--glue-dir", str(GLUE_FIXTURES), "--work-dir", str(tmp_path / "work"),
            "--budget", "6s", "--nsp-budget", "2s", "--preset", "tiny", "--vocab-size", "120",
            "--tasks", "cola,mrpc", "--seeds", "1,2",
            "--pretrain-args", f"--no-nsp {small}", "--nsp-args", small,
            "--finetune-args", "--epochs 1 --batch-size 8 --no-bf16"]
    pipeline.main(argv)
    captured = capfd.readouterr()
    first = captured.out
    assert "note:" not in captured.out + captured.err  # a fresh start says nothing about --resume
    work = tmp_path / "work"
    assert (work / "vocab" / "vocab.txt").exists() and (work / "pretrained-nsp" / "model.safetensors").exists()
    # phase a: masked LM only, 4 of the 6 seconds; phase b: from phase a's weights, with NSP, the other 2
    assert "--time-budget 4s" in first and "--time-budget 2s" in first
    phase_a, phase_b = metrics(work / "pretrained-mlm"), metrics(work / "pretrained-nsp")
    trained_a, trained_b = ([line for line in phase if "nsp_loss" in line] for phase in (phase_a, phase_b))
    assert trained_a and all(line["nsp_loss"] == 0 for line in trained_a)
    assert trained_b and all(line["nsp_loss"] > 0 for line in trained_b)
    assert f"--init-from {work / 'pretrained-mlm'}" in first
    curves = MetricsLog(work / "pretraining.metrics.jsonl").read()  # both phases on one clock
    assert [line["phase"] for line in curves] == ["a"] * len(phase_a) + ["b"] * len(phase_b)
    minutes = [line["minutes"] for line in curves]
    assert minutes == sorted(minutes) and minutes[len(phase_a)] * 60 >= phase_a[-1]["elapsed_s"]
    assert (work / "pretraining.png").stat().st_size > 0
    assert json.loads((work / "cola-ours" / "pipeline-inputs.json").read_text())["model"] == str(work / "pretrained-nsp")
    for run in ("cola-ours", "cola-no-pretraining", "mrpc-ours", "mrpc-no-pretraining"):
        assert (work / run / "summary.json").exists(), run
    table = first[first.index("GLUE dev, median over seeds 1,2"):].splitlines()
    assert [line.split()[:2] for line in table[3:6]] == [["cola", "mcc"], ["mrpc", "f1"], ["mrpc", "accuracy"]]
    summary = json.loads((work / "mrpc-ours" / "summary.json").read_text())
    accuracies = sorted(row["accuracy"] for row in summary["seeds"])
    assert table[5].split()[-3:] == [f"{summary['median']['accuracy']:.4f}", f"[{accuracies[0]:.4f},",
                                     f"{accuracies[-1]:.4f}]"]
    report = first[first.index("pretraining on this machine:"):]  # after the table: what the budget bought
    for phase, directory in (("a", work / "pretrained-mlm"), ("b", work / "pretrained-nsp")):
        bought = json.loads((directory / "summary.json").read_text())
        assert f"phase {phase} ({directory}): {bought['steps']:,} steps, {bought['tokens']:,} tokens" in report
        assert f"precision {bought['precision']}" in report and bought["steps"] > 0
    start = json.loads((work / "pretrained-mlm" / "summary.json").read_text())["eval_first"]
    assert f"held-out masked LM at step 0 (start): loss {start['eval_mlm_loss']:.3f}" in report

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


@pytest.mark.parametrize("option", ["--finetune-args", "--nsp-args", "--pretrain-args", "--task-text-args"])
def test_pipeline_rejects_bad_step_options_before_pretraining(tmp_path, capsys, option):
    with pytest.raises(SystemExit):
        pipeline.main(["--corpus", "unused.txt", "--work-dir", str(tmp_path / "work"), option, "--learning-rate 1e-4"])
    assert "unrecognized arguments: --learning-rate 1e-4" in capsys.readouterr().err
    assert not (tmp_path / "work").exists()


def test_pipeline_rejects_nsp_negatives_in_the_masked_lm_only_phase(tmp_path, capsys):
    with pytest.raises(SystemExit):  # phase a's default options have --no-nsp
        pipeline.main(["--corpus", "unused.txt", "--work-dir", str(tmp_path / "work"),
                       "--pretrain-args", "--no-nsp --nsp-negatives swapped"])
    assert "--nsp-negatives" in capsys.readouterr().err and not (tmp_path / "work").exists()


@pytest.mark.parametrize("budget, nsp_budget, task_text_budget, phases", [
    ("2h", "40m", "0", (4800, 2400, 0)), ("2h", "30m", "0", (5400, 1800, 0)), ("5m", "0", "0", (300, 0, 0)),
    ("90s", "0s", "0s", (90, 0, 0)), ("2h", "30m", "20m", (4200, 1800, 1200)), ("2h", "0", "20m", (6000, 0, 1200))])
def test_budget_is_split_between_the_phases(budget, nsp_budget, task_text_budget, phases):
    assert pipeline.split_budget(budget, nsp_budget, task_text_budget) == phases


@pytest.mark.parametrize("later_phases", [("--nsp-budget", "2h"), ("--nsp-budget", "3h"), ("--nsp-budget", "-5m"),
                                          ("--nsp-budget", "soon"), ("--task-text-budget", "2h"),
                                          ("--task-text-budget", "1h", "--nsp-budget", "1h")])
def test_later_phases_must_leave_time_for_masked_lm_alone(tmp_path, capsys, later_phases):
    with pytest.raises(SystemExit):
        pipeline.main(["--corpus", "unused.txt", "--work-dir", str(tmp_path / "work"), "--budget", "2h", *later_phases])
    assert "error:" in capsys.readouterr().err and not (tmp_path / "work").exists()


def test_masked_lm_only_fine_tunes_phase_a(tmp_path, monkeypatch, capfd):
    """--nsp-budget 0 (the default): one phase, and its model is the one fine-tuned."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    corpus = write_story_corpus(tmp_path / "corpus.txt", n_docs=20)
    work = tmp_path / "work"
    pipeline.main(["--corpus", str(corpus), "--glue-dir", str(GLUE_FIXTURES), "--work-dir", str(work),
                   "--budget", "2s", "--preset", "tiny", "--vocab-size", "120", "--tasks", "cola",
                   "--pretrain-args", f"--no-nsp {small_pretraining(tmp_path)}",
                   "--finetune-args", "--epochs 1 --batch-size 8 --no-bf16"])
    out = capfd.readouterr().out
    assert "2b. pretraining" not in out and not (work / "pretrained-nsp").exists()
    assert json.loads((work / "cola-ours" / "pipeline-inputs.json").read_text())["model"] == str(work / "pretrained-mlm")


def test_task_text_phase_pretrains_on_the_tasks_training_sentences(tmp_path, monkeypatch, capfd):
    """--task-text-budget: phase c writes the tasks' training text and continues from the last phase on it;
    its model is the one fine-tuned."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    corpus = write_story_corpus(tmp_path / "corpus.txt", n_docs=20)
    work = tmp_path / "work"
    small = small_pretraining(tmp_path)
    pipeline.main(["--corpus", str(corpus), "--glue-dir", str(GLUE_FIXTURES), "--work-dir", str(work),
                   "--budget", "3s", "--task-text-budget", "1s", "--preset", "tiny", "--vocab-size", "120",
                   "--tasks", "cola,mrpc", "--pretrain-args", f"--no-nsp {small}",
                   "--task-text-args", f"--no-nsp {small}", "--finetune-args", "--epochs 1 --batch-size 8 --no-bf16"])
    out = capfd.readouterr().out
    assert "2b. pretraining" not in out and "--time-budget 2s" in out and "--time-budget 1s" in out
    assert sorted(p.name for p in (work / "task-text").iterdir()) == ["cola-train.txt", "mrpc-train.txt"]
    phase_c = out[out.index("=== 2c. pretraining"):out.index("=== 3.")]
    assert f"--corpus {work / 'task-text'}" in phase_c and f"--init-from {work / 'pretrained-mlm'}" in phase_c
    assert (work / "pretrained-task-text" / "model.safetensors").exists()
    curves = MetricsLog(work / "pretraining.metrics.jsonl").read()
    assert {line["phase"] for line in curves} == {"a", "c"}
    for task in ("cola", "mrpc"):
        inputs = json.loads((work / f"{task}-ours" / "pipeline-inputs.json").read_text())
        assert inputs["model"] == str(work / "pretrained-task-text")
