"""The steps of the main job, as a recipe describes them: each one a command of this project, run in its own
process and printed first, so that it can be re-run alone.

  1. bert-tokenizer train    a WordPiece vocabulary on the corpus
  2. bert-pretrain           each phase of the recipe, from the previous phase's model (the first from random
                             weights); a "task-text" phase first writes the tasks' training text
                             (python -m finetune.task_text) and pretrains on that
  3. bert-finetune           the last phase's model on each task and, as the baseline, the first phase's preset
                             from random weights, over the same seeds

Re-running reuses what is finished: a vocabulary that exists, a pretraining phase through --resume (an
interrupted one continues from its last checkpoint, a finished one only re-saves its model), a fine-tune
whose starting weights and command line (the machine's --precision aside) are those it ran with.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from finetune.registry import family_of_task

from .recipe import Phase, Recipe

FINETUNE_INPUTS = "main-job-inputs.json"  # beside a fine-tune's summary.json: what it started from


class StepFailed(Exception):
    """A step's command exited with an error (it has printed why)."""


@dataclass
class Step:
    """A command to run: `python ARGV MACHINE_FLAGS`. By default it always runs (pretraining resumes itself)."""

    title: str
    argv: list[str]
    output: Path
    machine_flags: list[str] = field(default_factory=list)  # --precision, when the user forced one

    def command_line(self) -> str:
        return shlex.join(["python", *self.argv, *self.machine_flags])

    def finished(self) -> bool:
        return False

    def begin(self) -> None:
        """Before the command runs."""

    def record(self) -> None:
        """Once the command has succeeded: note what `finished` will check on the next run."""


@dataclass
class VocabularyStep(Step):
    def finished(self) -> bool:
        return (self.output / "vocab.txt").exists()


@dataclass
class FineTuningStep(Step):
    """A fine-tune over the seeds, reused if it started from the same `weights` (the checkpoint's weights, or
    the vocabulary of a random start) with the same command line."""

    weights: Path = field(kw_only=True)

    def inputs(self) -> dict:
        return {"weights_sha256": hashlib.sha256(self.weights.read_bytes()).hexdigest(), "argv": self.argv}

    def finished(self) -> bool:
        inputs = self.output / FINETUNE_INPUTS
        return ((self.output / "summary.json").exists() and inputs.exists()
                and json.loads(inputs.read_text()) == self.inputs())

    def begin(self) -> None:  # an interrupted fine-tune must not look finished next time
        (self.output / FINETUNE_INPUTS).unlink(missing_ok=True)

    def record(self) -> None:
        (self.output / FINETUNE_INPUTS).write_text(json.dumps(self.inputs(), indent=2) + "\n")


@dataclass
class Job:
    """A recipe's steps in order, and where the report reads their results."""

    steps: list[Step]
    phases: dict[str, Path]  # phase name -> run directory, in order: the last is the model fine-tuned
    runs: list[tuple[str, Path | None, Path]]  # task, the baseline's output (None: no baseline), ours


def plan(recipe: Recipe, precision: list[str]) -> Job:
    """Every step of the recipe, with its command line; nothing runs yet."""
    work = recipe.work_dir
    vocab = work / "vocab"
    steps: list[Step] = [VocabularyStep(
        "1. WordPiece vocabulary",
        ["-m", "tokenizer", "train", *recipe.corpus_flags, "--vocab-size", str(recipe.vocab_size),
         "--output", str(vocab)], vocab)]
    phases: dict[str, Path] = {}
    for number, phase in enumerate(recipe.phases, start=1):
        previous = list(phases.items())[-1] if phases else None
        phases[phase.name] = work / f"pretrained-{phase.name}"
        steps += pretraining_steps(recipe, phase, f"2.{number}", vocab, previous, phases[phase.name], precision)
    model = list(phases.values())[-1]
    ours = {task: work / f"{task}-ours" for task in recipe.tasks}
    baseline = {task: work / f"{task}-no-pretraining" for task in recipe.tasks} if recipe.baseline else {}
    for task in recipe.tasks:
        steps.append(fine_tuning_step(recipe, task, str(model), model / "model.safetensors", ours[task], [],
                                      precision))
    for task in baseline:
        steps.append(fine_tuning_step(recipe, task, recipe.preset, vocab / "vocab.txt", baseline[task],
                                      ["--vocab", str(vocab)], precision))
    return Job(steps, phases, [(task, baseline.get(task), ours[task]) for task in recipe.tasks])


def pretraining_steps(recipe: Recipe, phase: Phase, number: str, vocab: Path, previous: tuple[str, Path] | None,
                      output: Path, precision: list[str]) -> list[Step]:
    """One phase: bert-pretrain on the corpus, or on the tasks' text after writing it; from the previous
    phase's (name, directory), or the first from random weights."""
    steps, corpus = [], recipe.corpus_flags
    if phase.text == "task-text":
        text = recipe.work_dir / "task-text"
        glue_dir = ["--data-dir", str(recipe.glue_dir)] if recipe.glue_dir else []
        steps.append(Step(f"{number}. the tasks' training sentences, without labels, as a corpus",
                          ["-m", "finetune.task_text", "--tasks", ",".join(recipe.glue_tasks()), *glue_dir,
                           "--output", str(text)], text))
        corpus = ["--corpus", str(text)]
    start = ["--init-from", str(previous[1])] if previous else []
    probe_data = ["--probe-data", str(recipe.glue_dir)] if recipe.probe_flags and recipe.glue_dir else []
    reads = "the tasks' text" if phase.text == "task-text" else "the corpus"
    start_words = f"phase {previous[0]}" if previous else "random weights"
    what = f"{budget_words(phase)} on {reads}, from {start_words}"
    steps.append(Step(f"{number}. pretraining, phase {phase.name} ({what})",
                      ["-m", "pretrain", *corpus, "--vocab", str(vocab), "--output", str(output), *start,
                       "--resume", *phase.flags, *recipe.probe_flags, *probe_data], output, precision))
    return steps


def fine_tuning_step(recipe: Recipe, task: str, model: str, weights: Path, output: Path, extra: list[str],
                     precision: list[str]) -> FineTuningStep:
    data_dir = {"sentence": recipe.glue_dir, "token": recipe.ner_dir}[family_of_task(task).name]
    return FineTuningStep(
        f"3. fine-tuning {task} from {model}",
        ["-m", "finetune", "--task", task, "--model", model, "--output", str(output),
         "--seeds", ",".join(map(str, recipe.seeds)), "--overwrite",
         *(["--data-dir", str(data_dir)] if data_dir else []), *extra, *recipe.finetune_flags,
         *recipe.task_flags.get(task, [])],  # a task's own flags come last: argparse keeps the last
        output, precision, weights=weights)


def budget_words(phase: Phase) -> str:
    return format_duration(phase.time_budget) if phase.time_budget else f"{phase.max_steps:,} steps"


def format_duration(seconds: float) -> str:
    """4800 -> '1h20m', 300 -> '5m', 6 -> '6s': the units a --time-budget is written in."""
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n) or "0s"


def print_plan(job: Job) -> None:
    for step in job.steps:
        print(f"\n=== {step.title}\n$ {step.command_line()}")


def run(job: Job) -> None:
    """Each step in order, a finished one reused; raises StepFailed at the first that fails."""
    for step in job.steps:
        if step.finished():
            print(f"\n=== {step.title}: reusing {step.output}", flush=True)
            continue
        print(f"\n=== {step.title}\n$ {step.command_line()}", flush=True)
        step.begin()
        result = subprocess.run([sys.executable, *step.argv, *step.machine_flags])
        if result.returncode != 0:
            raise StepFailed(f"step '{step.title}' failed (exit {result.returncode}); fix it and re-run: finished "
                             "steps are reused")
        step.record()


def total_budget_words(phases: list[Phase]) -> str:
    """All phases' budgets together, for the table's header: '3h50m', or '1h + 2,000 steps'."""
    seconds = sum(phase.time_budget or 0 for phase in phases)
    steps = sum(phase.max_steps or 0 for phase in phases)
    return " + ".join(words for words in (format_duration(seconds) if seconds else "",
                                           f"{steps:,} steps" if steps else "") if words)
