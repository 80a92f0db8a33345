"""The main job (`bert-main RECIPE`): the shipped recipes, the checks on a recipe before anything runs, and a toy
recipe end to end: vocabulary, two pretraining phases, fine-tuning, the table; a re-run reuses it all."""

import dataclasses
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from finetune import cli as finetune_cli
from main_job import cli, report, steps
from main_job.recipe import load_recipe
from pretrain import cli as pretrain_cli
from training import MetricsLog
from test_pretrain_run import metrics, write_story_corpus

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "recipes"
GLUE_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "glue"


def step_lines(out: str) -> list[tuple[str, str]]:
    """(title, command line) of each step a run or a dry run printed."""
    return re.findall(r"^=== (.*)\n\$ (.*)$", out, flags=re.MULTILINE)


# ------------------------------------------------------------------ the shipped recipes

@pytest.mark.parametrize("recipe, phases, fine_tunes", [
    ("default.toml", 2, 6), ("mlm-only-2h.toml", 1, 4), ("mlm-then-nsp-2h.toml", 2, 4),
    ("four-phase-3h50m.toml", 4, 4)])
def test_dry_run_of_each_shipped_recipe_prints_every_step(capsys, recipe, phases, fine_tunes):
    assert cli.main([str(RECIPES / recipe), "--dry-run"]) == 0
    printed = step_lines(capsys.readouterr().out)
    commands = [shlex.split(command)[1:3] for _, command in printed]
    assert commands.count(["-m", "tokenizer"]) == 1
    assert commands.count(["-m", "pretrain"]) == phases
    assert commands.count(["-m", "finetune"]) == fine_tunes
    assert all("--precision" not in command for _, command in printed)  # recipes carry no precision


def test_no_shipped_recipe_forces_a_precision():
    for recipe in RECIPES.glob("*.toml"):
        assert "precision" not in recipe.read_text() and "bf16" not in recipe.read_text(), recipe


def parsed_pretraining(argv: list[str]) -> dict:
    """bert-pretrain's options of a command line, without what says where the run reads and writes."""
    args = pretrain_cli.parse_args(argv)
    args.init_from = None  # a folder the job writes: not there yet
    options = dataclasses.asdict(pretrain_cli.options_from_args(args))
    return {k: v for k, v in options.items() if k not in ("corpus", "output", "vocab", "init_from", "resume")}


def parsed_fine_tuning(argv: list[str]) -> dict:
    options = dataclasses.asdict(finetune_cli.options_from_args(finetune_cli.parse_args(argv)))
    return {k: v for k, v in options.items() if k not in ("task", "model", "output", "data_dir", "vocab", "overwrite")}


# The commands docs/results.md gives for the four-phase run, phase by phase (the first two through the old
# pipeline: `--budget 2h --nsp-budget 40m`, the mini preset; the other two as bert-pretrain commands).
RESULTS_PHASES = {
    "mlm": ("--lr 1e-3 --batch-size 32 --max-seq-length 128 --no-nsp --dropout 0 --save-every 500 --no-progress",
            "--preset mini --time-budget 80m"),
    "nsp": ("--lr 5e-4 --batch-size 32 --max-seq-length 128 --dropout 0 --save-every 500 --no-progress",
            "--time-budget 40m"),
    "sop": ("--time-budget 90m --lr 5e-4 --batch-size 32 --max-seq-length 128 --dropout 0 --nsp-negatives both "
            "--save-every 500 --no-progress", ""),
    "task-text": ("--time-budget 1200s --lr 3e-4 --batch-size 32 --max-seq-length 128 --no-nsp --dropout 0.1 "
                  "--save-every 500 --no-progress", ""),
}
RESULTS_FINE_TUNING = "--seeds 1,2,3,4,5 --epochs 5 --lr 1e-4 --batch-size 32"


def test_the_headline_recipe_runs_the_commands_of_the_results_page():
    text = (REPO / "docs" / "results.md").read_text()
    results_page = " ".join(text.replace("\\\n", " ").split())  # one line, one space
    assert "--budget 2h --nsp-budget 40m" in results_page
    recipe = load_recipe(RECIPES / "four-phase-3h50m.toml", cli.local_data_settings(Path("../shared/data")))
    job = steps.plan(recipe, precision=[])
    pretraining = [step for step in job.steps if step.argv[:2] == ["-m", "pretrain"]]
    assert [step.output.name for step in pretraining] == [f"pretrained-{name}" for name in RESULTS_PHASES]
    for step, (options, pipeline_options) in zip(pretraining, RESULTS_PHASES.values()):
        assert options in results_page
        assert parsed_pretraining(step.argv[2:]) == parsed_pretraining(
            ["--corpus", "c", "--output", "o", *shlex.split(options), *shlex.split(pipeline_options)])
    starts = [step.argv[step.argv.index("--init-from") + 1] for step in pretraining[1:]]
    assert starts == [str(step.output) for step in pretraining[:-1]]  # each phase from the one before
    assert pretraining[-1].argv[pretraining[-1].argv.index("--corpus") + 1] == str(recipe.work_dir / "task-text")
    task_text = next(step for step in job.steps if step.argv[:2] == ["-m", "finetune.task_text"])
    assert " ".join(task_text.argv[2:6]) == "--tasks cola,mrpc --data-dir ../shared/data/glue"
    assert f"python -m finetune.task_text {' '.join(task_text.argv[2:6])}" in results_page
    fine_tunes = [step for step in job.steps if step.argv[:2] == ["-m", "finetune"]]
    assert RESULTS_FINE_TUNING in results_page and len(fine_tunes) == 4
    for step in fine_tunes:
        assert parsed_fine_tuning(step.argv[2:]) == parsed_fine_tuning(
            ["--task", "cola", "--model", "m", "--output", "o", *shlex.split(RESULTS_FINE_TUNING)])
        assert step.argv[step.argv.index("--data-dir") + 1] == "../shared/data/glue"


def test_local_data_and_set_change_the_recipe(capsys):
    assert cli.main([str(RECIPES / "default.toml"), "--local-data", "data", "--set", "finetune.seeds=[1, 2]",
                     "--set", "pretrain.phases.mlm.time-budget=20m", "--set", "work-dir=elsewhere",
                     "--precision", "fp32", "--dry-run"]) == 0
    printed = dict(step_lines(capsys.readouterr().out))
    vocabulary = printed["1. WordPiece vocabulary"]
    assert "--corpus data/corpus " in vocabulary and "--output elsewhere/vocab" in vocabulary
    pretraining = next(command for title, command in printed.items() if "pretraining, phase mlm (20m" in title)
    assert "--time-budget 20m" in pretraining and pretraining.endswith("--precision fp32")
    cola = printed["3. fine-tuning cola from elsewhere/pretrained-task-text"]
    assert "--seeds 1,2 " in cola and "--data-dir data/glue" in cola


# ------------------------------------------------------------------ a recipe is checked before anything runs

SST2_TABLE = ("[finetune.sst2]  # 10,000 of SST-2's 67,349 training sentences: the same for both columns\n"
              "max-train-examples = 10000\n")


def write_recipe(path: Path, **replacements: str) -> Path:
    """The default recipe with some of its lines replaced (old line -> new line)."""
    text = (RECIPES / "default.toml").read_text()
    for old, new in replacements.items():
        assert old in text
        text = text.replace(old, new)
    path.write_text(text)
    return path


@pytest.mark.parametrize("old, new, complaint", [
    ("lr = 2e-3", "lerning_rate = 2e-3", r"\[pretrain.phases.mlm\] unknown key 'lerning_rate'"),
    ("lr = 2e-3", "lr = \"fast\"", r"\[pretrain.phases.mlm\] --lr should be a number, not 'fast'"),
    ("no-nsp = true", "no-nsp = 1", r"\[pretrain.phases.mlm\] 'no-nsp' is a switch: true or false, not 1"),
    ("no-nsp = true", "nsp-negatives = \"swapped\"\nno-nsp = true", r"\[pretrain.phases.mlm\] --nsp-negatives"),
    ("time-budget = \"4m\"", "time-budget = \"soon\"", r"\[pretrain.phases.mlm\] --time-budget: bad duration"),
    ("time-budget = \"4m\"", "precision = \"bf16\"", r"\[pretrain.phases.mlm\] 'precision' is set by the job: "
                                                     r"precision is the machine's"),
    ("epochs = 3", "epochs = 0", r"\[finetune\] --epochs must be at least 1, got 0"),
    ("epochs = 3", "epoch = 3", r"\[finetune\] unknown key 'epoch' \(did you mean 'epochs'\?\)"),
    ("epochs = 3", "data-dir = \"glue\"", r"\[finetune\] 'data-dir' is set by the job"),
    ("seeds = [1, 2, 3]", "seeds = \"1,2\"", r"\[finetune\] 'seeds' should be a list, not '1,2'"),
    ("tasks = [\"sst2\", \"cola\", \"mrpc\"]", "tasks = [\"sst2\", \"cola\", \"mrcp\"]", r"\[finetune\] tasks: .*mrcp"),
    ("size = 8192", "size = \"big\"", r"\[vocabulary\] 'size' should be an integer, not 'big'"),
    ("[baseline]", "[baseline]\nrandom = true", r"\[baseline\] unknown key 'random'"),
    ("work-dir = \"runs/main\"", "workdir = \"runs/main\"", r"unknown key 'workdir' \(did you mean 'work-dir'\?\)"),
    ("[pretrain.phases.mlm]  # masked LM on the corpus, no dropout", "[pretrain.phases.mlm]\ntext = \"books\"",
     r"\[pretrain.phases.mlm\] 'text' should be one of corpus, task-text, not 'books'"),
])
def test_a_bad_recipe_is_one_line_naming_the_file_and_the_key(tmp_path, capsys, old, new, complaint):
    recipe = write_recipe(tmp_path / "bad.toml", **{old: new})
    assert cli.main([str(recipe), "--set", f"work-dir={tmp_path / 'work'}"]) == 2
    captured = capsys.readouterr()
    assert re.fullmatch(f"error: {re.escape(str(recipe))}: {complaint}.*\n", captured.err)
    assert captured.out == "" and not (tmp_path / "work").exists()


def test_a_later_phase_cannot_choose_the_preset(tmp_path, capsys):
    recipe = write_recipe(tmp_path / "x.toml", **{"[finetune]": "[pretrain.phases.more]\ntime-budget = \"1m\"\n"
                                                                "preset = \"small\"\n\n[finetune]"})
    assert cli.main([str(recipe), "--dry-run"]) == 2
    assert "[pretrain.phases.more] 'preset' is the first phase's" in capsys.readouterr().err


def test_a_bad_setting_or_file_is_one_line(tmp_path, capsys):
    assert cli.main([str(RECIPES / "default.toml"), "--set", "finetune.lr", "--dry-run"]) == 2
    assert capsys.readouterr().err.startswith(f"error: {RECIPES / 'default.toml'}: --set 'finetune.lr': expected")
    assert cli.main([str(RECIPES / "default.toml"), "--set", "finetune.lr=fast", "--dry-run"]) == 2
    assert "[finetune] --lr should be a number, not 'fast'" in capsys.readouterr().err
    (tmp_path / "broken.toml").write_text("[data\n")
    assert cli.main([str(tmp_path / "broken.toml")]) == 2
    assert re.fullmatch(r"error: .*broken.toml: not valid TOML \(.*\)\n", capsys.readouterr().err)
    assert cli.main([str(tmp_path / "absent.toml")]) == 2
    assert "absent.toml: cannot read it" in capsys.readouterr().err


def test_each_task_fine_tunes_on_its_own_data_and_task_text_reads_only_glue(tmp_path, capsys):
    """tasks cola and conll2003: each gets its own --data-dir; the task-text phase writes only cola's text."""
    recipe = write_recipe(tmp_path / "ner.toml", **{
        "tasks = [\"sst2\", \"cola\", \"mrpc\"]": "tasks = [\"cola\", \"conll2003\"]", SST2_TABLE: "",
        "[finetune]": "[pretrain.phases.tapt]\ntext = \"task-text\"\ntime-budget = \"1s\"\nno-nsp = true\n\n[finetune]"})
    assert cli.main([str(recipe), "--set", "data.glue-dir=glue", "--set", "data.ner-dir=ner", "--dry-run"]) == 0
    printed = dict(step_lines(capsys.readouterr().out))
    assert "--tasks cola --data-dir glue" in next(c for t, c in printed.items() if "tasks' training sentences" in t)
    assert "--data-dir ner" in printed["3. fine-tuning conll2003 from runs/main/pretrained-tapt"]
    assert "--data-dir glue" in printed["3. fine-tuning cola from runs/main/pretrained-tapt"]

    only_ner = write_recipe(tmp_path / "only-ner.toml", **{
        "tasks = [\"sst2\", \"cola\", \"mrpc\"]": "tasks = [\"conll2003\"]", SST2_TABLE: "",
        "[finetune]": "[pretrain.phases.tapt]\ntext = \"task-text\"\ntime-budget = \"1s\"\n\n[finetune]"})
    assert cli.main([str(only_ner), "--dry-run"]) == 2
    assert "text = \"task-text\" reads the GLUE tasks' training text" in capsys.readouterr().err


def test_without_a_baseline_only_ours_is_fine_tuned(capsys):
    assert cli.main([str(RECIPES / "default.toml"), "--set", "baseline.no-pretraining=false", "--dry-run"]) == 0
    titles = [title for title, _ in step_lines(capsys.readouterr().out)]
    assert [title for title in titles if title.startswith("3.")] == [
        f"3. fine-tuning {task} from runs/main/pretrained-task-text" for task in ("sst2", "cola", "mrpc")]


def test_a_tasks_own_table_sets_its_flags_alone(capsys):
    """[finetune.sst2] in the default: SST-2's fine-tunes (both columns) take its flags after the shared ones."""
    assert cli.main([str(RECIPES / "default.toml"), "--set", "finetune.cola.epochs=7", "--dry-run"]) == 0
    fine_tunes = {title: shlex.split(command) for title, command in step_lines(capsys.readouterr().out)
                  if title.startswith("3.")}
    assert len(fine_tunes) == 6
    for title, argv in fine_tunes.items():
        task = argv[argv.index("--task") + 1]
        assert ("--max-train-examples" in argv) == (task == "sst2"), title
        if task == "sst2":
            assert argv[-2:] == ["--max-train-examples", "10000"]
        epochs = [argv[i + 1] for i, word in enumerate(argv) if word == "--epochs"]
        assert epochs[-1] == ("7" if task == "cola" else "3"), title  # the last --epochs is the one argparse keeps
    for setting, complaint in [
        ("finetune.qnli.epochs=2", "default.toml: [finetune.qnli] names no task of [finetune] tasks (sst2, cola, "
                                   "mrpc): a table there holds one task's own flags"),
        ("finetune.sst2.epoch=2", "default.toml: [finetune.sst2] unknown key 'epoch'"),
        ("finetune.sst2.lr=-1", "default.toml: [finetune.sst2] --lr must be positive"),
    ]:
        assert cli.main([str(RECIPES / "default.toml"), "--set", setting, "--dry-run"]) == 2
        assert complaint in capsys.readouterr().err, setting


def test_the_table_marks_a_row_where_every_pretrained_seed_wins(tmp_path, capsys):
    def run(name: str, accuracies: list[float]) -> Path:
        (tmp_path / name).mkdir()
        summary = {"median": {"accuracy": sorted(accuracies)[1]},
                   "seeds": [{"seed": i, "accuracy": a} for i, a in enumerate(accuracies, start=1)]}
        (tmp_path / name / "summary.json").write_text(json.dumps(summary))
        return tmp_path / name

    runs = [("sst2", run("a", [0.70, 0.72, 0.71]), run("b", [0.73, 0.75, 0.74])),
            ("cola", run("c", [0.10, 0.20, 0.15]), run("d", [0.19, 0.30, 0.25]))]
    report.print_table(runs, "10m", [1, 2, 3], {"sst2": ["--max-train-examples", "10000"]})
    lines = capsys.readouterr().out.splitlines()
    sst2, cola = (next(line for line in lines if line.startswith(task)) for task in ("sst2 ", "cola "))
    assert sst2.endswith("0.7400 [0.7300, 0.7500] *") and cola.endswith("0.2500 [0.1900, 0.3000]")
    assert "*: every seed with pretraining above every seed without it" in lines
    assert "sst2: fine-tuned with --max-train-examples 10000 (its own flags, over the others)" in lines


def test_a_probe_section_probes_in_every_phase(capsys):
    assert cli.main([str(RECIPES / "four-phase-3h50m.toml"), "--local-data", "data", "--set", "probe.task=cola",
                     "--set", "probe.every=10m", "--set", "probe.max-grad-norm=0", "--dry-run"]) == 0
    pretraining = [command for title, command in step_lines(capsys.readouterr().out) if "pretraining, phase" in title]
    assert len(pretraining) == 4
    assert all(command.endswith("--probe cola --probe-every 10m --probe-max-grad-norm 0 --probe-data data/glue")
               for command in pretraining)
    assert cli.main([str(RECIPES / "default.toml"), "--set", "probe.task=colla", "--dry-run"]) == 2
    assert "default.toml: [probe] task: unknown task 'colla'" in capsys.readouterr().err
    assert cli.main([str(RECIPES / "default.toml"), "--set", "pretrain.phases.mlm.probe=cola", "--dry-run"]) == 2
    assert "[pretrain.phases.mlm] 'probe' is set by the job: set it in [probe] as task" in capsys.readouterr().err


@pytest.mark.parametrize("seconds, words", [(300, "5m"), (4800, "1h20m"), (13800, "3h50m"), (6, "6s"), (3601, "1h1s")])
def test_durations_are_written_as_budgets_are(seconds, words):
    assert steps.format_duration(seconds) == words


# ------------------------------------------------------------------ toy runs, end to end

TOY_PRETRAINING = """
batch-size = 8
max-seq-length = 32
eval-every = 1000
eval-examples = 64
num-workers = 1
no-progress = true
cache-dir = "{cache}"
"""


def toy_recipe(tmp_path: Path, phases: str, tasks: str = '["cola", "mrpc"]', seeds: str = "[1, 2]") -> Path:
    """A recipe of the tiny preset on a story corpus and the GLUE fixtures; `phases` in the TOML of
    [pretrain.phases.*] tables, where {small} stands for the toy pretraining flags."""
    corpus = write_story_corpus(tmp_path / "corpus.txt")
    small = TOY_PRETRAINING.format(cache=tmp_path / "cache")
    path = tmp_path / "toy.toml"
    path.write_text(f"""
work-dir = "{tmp_path / 'work'}"

[data]
corpus = "{corpus}"
glue-dir = "{GLUE_FIXTURES}"

[vocabulary]
size = 120

{phases.format(small=small)}

[finetune]
tasks = {tasks}
seeds = {seeds}
epochs = 1
batch-size = 8
""")
    return path


TWO_PHASES = """
[pretrain.phases.mlm]
time-budget = "4s"
preset = "tiny"
no-nsp = true
{small}

[pretrain.phases.nsp]
time-budget = "2s"
{small}
"""


def test_a_toy_recipe_runs_and_resumes(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    recipe = toy_recipe(tmp_path, TWO_PHASES)
    argv = [str(recipe), "--precision", "fp32"]
    assert cli.main(argv) == 0
    captured = capfd.readouterr()
    first = captured.out
    assert "note:" not in captured.out + captured.err  # a fresh start says nothing about --resume
    # the checkpoint's fresh classifier is reported once per fine-tune (cola, mrpc), not once per seed as well
    assert captured.err.count("newly initialised") == 2
    work = tmp_path / "work"
    assert (work / "vocab" / "vocab.txt").exists() and (work / "pretrained-nsp" / "model.safetensors").exists()
    assert "--time-budget 4s" in first and "--time-budget 2s" in first
    phase_a, phase_b = metrics(work / "pretrained-mlm"), metrics(work / "pretrained-nsp")
    trained_a, trained_b = ([line for line in phase if "nsp_loss" in line] for phase in (phase_a, phase_b))
    assert trained_a and all(line["nsp_loss"] == 0 for line in trained_a)  # no-nsp in the first phase only
    assert trained_b and all(line["nsp_loss"] > 0 for line in trained_b)
    assert f"--init-from {work / 'pretrained-mlm'}" in first
    curves = MetricsLog(work / "pretraining.metrics.jsonl").read()  # both phases on one clock
    assert [line["phase"] for line in curves] == ["mlm"] * len(phase_a) + ["nsp"] * len(phase_b)
    minutes = [line["minutes"] for line in curves]
    assert minutes == sorted(minutes) and minutes[len(phase_a)] >= round(phase_a[-1]["elapsed_s"] / 60, 3)
    assert (work / "pretraining.png").stat().st_size > 0
    inputs = json.loads((work / "cola-ours" / steps.FINETUNE_INPUTS).read_text())
    assert inputs["argv"][inputs["argv"].index("--model") + 1] == str(work / "pretrained-nsp")
    for run in ("cola-ours", "cola-no-pretraining", "mrpc-ours", "mrpc-no-pretraining"):
        assert (work / run / "summary.json").exists(), run
    table = first[first.index("GLUE dev, median over seeds 1,2"):].splitlines()
    assert "ours, 6s pretraining" in table[1]
    assert [line.split()[:2] for line in table[3:6]] == [["cola", "mcc"], ["mrpc", "f1"], ["mrpc", "accuracy"]]
    summary = json.loads((work / "mrpc-ours" / "summary.json").read_text())
    accuracies = sorted(row["accuracy"] for row in summary["seeds"])
    assert table[5].removesuffix(" *").split()[-3:] == [f"{summary['median']['accuracy']:.4f}", f"[{accuracies[0]:.4f},",
                                     f"{accuracies[-1]:.4f}]"]
    report = first[first.index("pretraining on this machine:"):]  # after the table: what the budget bought
    for phase in ("mlm", "nsp"):
        directory = work / f"pretrained-{phase}"
        bought = json.loads((directory / "summary.json").read_text())
        assert f"phase {phase} ({directory}): {bought['steps']:,} steps, {bought['tokens']:,} tokens" in report
        assert f"precision {bought['precision']}" in report and bought["steps"] > 0
    start = json.loads((work / "pretrained-mlm" / "summary.json").read_text())["eval_first"]
    assert f"held-out masked LM at step 0 (start): loss {start['eval_mlm_loss']:.3f}" in report

    assert cli.main(argv) == 0
    second = capfd.readouterr().out
    assert "1. WordPiece vocabulary: reusing" in second and second.count("reusing") == 5
    assert second[second.index("GLUE dev"):] == first[first.index("GLUE dev"):]

    # other fine-tuning options: the fine-tunes are stale and run again; vocabulary and pretraining are kept
    assert cli.main([*argv, "--set", "finetune.batch-size=4"]) == 0
    third = capfd.readouterr().out
    assert third.count("reusing") == 1 and third.count("=== 3. fine-tuning") == 4
    assert json.loads((work / "mrpc-ours" / "summary.json").read_text())["recipe"]["batch_size"] == 4


def test_a_task_text_phase_pretrains_on_the_tasks_training_sentences(tmp_path, monkeypatch, capfd):
    """A "task-text" phase writes the tasks' training text and continues the previous phase on it; its model
    is the one fine-tuned."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    recipe = toy_recipe(tmp_path, """
[pretrain.phases.mlm]
time-budget = "2s"
preset = "tiny"
no-nsp = true
{small}

[pretrain.phases.task-text]
text = "task-text"
time-budget = "1s"
no-nsp = true
{small}
""", seeds="[1]")
    assert cli.main([str(recipe), "--precision", "fp32", "--set", "baseline.no-pretraining=false"]) == 0
    out = capfd.readouterr().out
    work = tmp_path / "work"
    assert sorted(p.name for p in (work / "task-text").iterdir()) == ["cola-train.txt", "mrpc-train.txt"]
    phase = out[out.index("pretraining, phase task-text"):out.index("=== 3.")]
    assert f"--corpus {work / 'task-text'}" in phase and f"--init-from {work / 'pretrained-mlm'}" in phase
    assert {line["phase"] for line in MetricsLog(work / "pretraining.metrics.jsonl").read()} == {"mlm", "task-text"}
    for task in ("cola", "mrpc"):
        argv = json.loads((work / f"{task}-ours" / steps.FINETUNE_INPUTS).read_text())["argv"]
        assert argv[argv.index("--model") + 1] == str(work / "pretrained-task-text")
    assert not (work / "cola-no-pretraining").exists() and "no pretraining" not in out


def test_fine_tuning_does_not_import_pretraining():
    """The main job uses both; fine-tuning stands on its own."""
    code = ("import sys, finetune.cli, finetune.sentence.predict, finetune.task_text; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pretrain'))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert result.stdout.strip() == "[]"
