"""The main job, end to end: a text corpus in, our own pretrained BERT, GLUE scores out.

    python -m finetune.pipeline --corpus ../shared/data/corpus --glue-dir ../shared/data/glue
    python -m finetune.pipeline --budget 2h --seeds 1,2,3,4,5          # the README experiment

Steps, each one a command of this project, printed before it runs so it can be re-run alone:
  1. bert-tokenizer train    a WordPiece vocabulary on the corpus
  2. bert-pretrain           the preset (mini) pretrained within the time budget, in one or two phases:
       a. masked LM only, no dropout: the recipe that leaves the unigram plateau on a CPU (README)
       b. optional (--nsp-budget, a part of --budget): from phase a's weights, masked LM + next-sentence
          prediction on sentence pairs. Phase a never shows the model two segments, so the segment-B
          embedding and the pooler stay random and [SEP] between sentences is new; pair tasks (MRPC)
          might need them. Off by default: on the README's 2-hour run it did not help MRPC and cost CoLA.
       c. optional (--task-text-budget, a part of --budget): from the last phase's weights, masked LM on the
          tasks' own training sentences, labels left out (task-adaptive pretraining; finetune/task_text.py)
     pretraining.png (and .metrics.jsonl): the phases' curves against minutes of pretraining
  3. bert-finetune           our checkpoint on each task, and the same preset from random weights (the
                             no-pretraining baseline), over the same seeds
  4. a table of the dev scores: median and range over the seeds

Re-running resumes: a finished vocabulary, pretraining run or fine-tune is reused, an interrupted
pretraining run continues from its last checkpoint. A fine-tune is reused only if it started from the same
weights with the same seeds, options and data (a longer --budget or other --finetune-args re-run it).
Without --corpus / --glue-dir the data come from the HF Hub (WikiText-103 and nyu-mll/glue). `--tasks` may
include conll2003 (named-entity recognition, from --ner-dir or eriktks/conll2003 on the Hub): an NER row.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import subprocess
import sys
from pathlib import Path

from tokenizer.cli import add_corpus_dataset_flags
from training import MetricsLog, add_precision_flag, parse_duration, plot_metrics
from finetune import cli as finetune_cli
from training.errors import InputError
from finetune.conll import TokenTask, get_token_task, is_token_task
from finetune.tasks import GlueTask, get_task
from pretrain import cli as pretrain_cli

HUB_CORPUS = "wikitext/wikitext-103-raw-v1"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m finetune.pipeline", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--corpus", nargs="+", default=[HUB_CORPUS], help="text files/folders, a folder written by "
                   f"datasets' save_to_disk, or a HF dataset name (default: {HUB_CORPUS})")
    add_corpus_dataset_flags(p)
    add_precision_flag(p)
    p.add_argument("--glue-dir", type=Path, help="GLUE in the TSV layout (default: nyu-mll/glue from the HF Hub)")
    p.add_argument("--ner-dir", type=Path, help="CoNLL-2003 files, for conll2003 in --tasks (e.g. ../shared/data/ner; "
                   "default: eriktks/conll2003 from the HF Hub)")
    p.add_argument("--work-dir", type=Path, default=Path("runs/main"), help="where every step writes (default: %(default)s)")
    p.add_argument("--budget", default="5m", help="pretraining time budget, both phases together, e.g. 5m, 2h "
                   "(default: %(default)s)")
    p.add_argument("--nsp-budget", default="0", help="the part of --budget spent on phase b, masked LM + "
                   "next-sentence prediction from phase a's weights, e.g. 40m (default: 0, masked LM only)")
    p.add_argument("--task-text-budget", default="0", help="the part of --budget spent on phase c, masked LM on "
                   "the --tasks' training sentences (no labels) from the last phase's weights, e.g. 20m (default: 0)")
    p.add_argument("--preset", default="mini", help="model size (default: %(default)s)")
    p.add_argument("--vocab-size", type=int, default=8192)
    p.add_argument("--tasks", default="cola,mrpc",
                   help="comma-separated GLUE tasks, and conll2003 for NER (default: %(default)s)")
    p.add_argument("--seeds", default="1", help="fine-tuning seeds; the median is reported (default: %(default)s)")
    p.add_argument("--pretrain-args",
                   default="--lr 1e-3 --batch-size 32 --max-seq-length 128 --no-nsp --dropout 0",
                   help="more bert-pretrain options of phase a, as one string (default: %(default)r)")
    p.add_argument("--nsp-args", default="--lr 5e-4 --batch-size 32 --max-seq-length 128 --dropout 0",
                   help="more bert-pretrain options of phase b (default: %(default)r)")
    p.add_argument("--task-text-args", default="--lr 3e-4 --batch-size 32 --max-seq-length 128 --no-nsp "
                   "--dropout 0.1", help="more bert-pretrain options of phase c (default: %(default)r)")
    p.add_argument("--finetune-args", default="--epochs 5 --lr 1e-4 --batch-size 32",
                   help="more bert-finetune options, as one string (default: %(default)r)")
    args = p.parse_args(argv)
    try:
        args.mlm_seconds, args.nsp_seconds, args.task_text_seconds = split_budget(
            args.budget, args.nsp_budget, args.task_text_budget)
    except ValueError as e:
        p.error(str(e))
    if args.task_text_seconds and not glue_tasks(args.tasks):
        p.error("--task-text-budget: phase c pretrains on the GLUE tasks' training text, and --tasks names none")
    # a typo in any step's options should fail now, not after hours of pretraining
    for options in (args.pretrain_args, args.nsp_args, args.task_text_args):
        pretrain_cli.parse_args(["--corpus", "unused", "--output", "unused", "--time-budget", "1s",
                                 *shlex.split(options)])
    finetune_cli.parse_args(["--task", "cola", "--model", args.preset, "--output", str(args.work_dir),
                             *shlex.split(args.finetune_args)])
    return args


def split_budget(budget: str, nsp_budget: str, task_text_budget: str) -> tuple[float, float, float]:
    """Seconds of phase a (masked LM only), b (masked LM + NSP) and c (masked LM on the tasks' text); they
    add up to the budget."""
    total = parse_duration(budget)
    nsp = parse_duration(nsp_budget, allow_zero=True)
    task_text = parse_duration(task_text_budget, allow_zero=True)
    if nsp + task_text >= total:
        raise ValueError(f"--nsp-budget {nsp_budget} and --task-text-budget {task_text_budget} leave nothing of "
                         f"--budget {budget} for phase a (masked LM only)")
    return total - nsp - task_text, nsp, task_text


def seconds(value: float) -> str:
    return f"{value:g}s"


def corpus_flags(args) -> list[str]:
    """--corpus and, when they differ from the defaults, the split and column of a dataset corpus."""
    flags = ["--corpus", *args.corpus]
    if args.corpus_split != "train":
        flags += ["--corpus-split", args.corpus_split]
    if args.corpus_column != "text":
        flags += ["--corpus-column", args.corpus_column]
    return flags


def precision_flag(args) -> list[str]:
    """--precision for the training steps when the user forced one; by default each step picks its own."""
    return ["--precision", args.precision] if args.precision != "auto" else []


def glue_dir_flag(args) -> list[str]:
    """--data-dir for the steps that read GLUE; none means the Hub."""
    return ["--data-dir", str(args.glue_dir)] if args.glue_dir else []


def data_dir_flag(args, task: str) -> list[str]:
    """--data-dir for fine-tuning `task`: the GLUE folder, or --ner-dir for conll2003; none means the Hub."""
    if is_token_task(task):
        return ["--data-dir", str(args.ner_dir)] if args.ner_dir else []
    return glue_dir_flag(args)


def glue_tasks(tasks: str) -> str:
    """The GLUE tasks of a --tasks list (phase c reads their text; conll2003's is not read there)."""
    return ",".join(name for name in tasks.split(",") if not is_token_task(name.strip()))


def lookup_task(name: str) -> GlueTask | TokenTask:
    return get_token_task(name) if is_token_task(name) else get_task(name)


def run_step(title: str, argv: list[str]) -> None:
    """Run one project command in its own process, showing it first; stop the pipeline if it fails."""
    print(f"\n=== {title}\n$ {shlex.join(argv)}", flush=True)
    result = subprocess.run([sys.executable, *argv])
    if result.returncode != 0:
        sys.exit(f"error: step '{title}' failed (exit {result.returncode}); fix it and re-run: finished steps are reused")


def train_vocabulary(args, vocab_dir: Path) -> None:
    if (vocab_dir / "vocab.txt").exists():
        print(f"\n=== vocabulary: reusing {vocab_dir}")
        return
    run_step("1. WordPiece vocabulary", ["-m", "tokenizer", "train", *corpus_flags(args),
                                         "--vocab-size", str(args.vocab_size), "--output", str(vocab_dir)])


def pretrain(args, vocab_dir: Path, work: Path) -> dict[str, Path]:
    """Phase a, then b and c if they have a budget; returns {phase letter: directory} in the order they ran,
    the final model's last. --resume continues an interrupted phase; a finished one just re-saves its model."""
    common = ["-m", "pretrain", "--vocab", str(vocab_dir), "--resume", *precision_flag(args)]
    phases = {"a": work / "pretrained-mlm"}
    run_step(f"2a. pretraining, masked LM only ({args.preset}, {seconds(args.mlm_seconds)})",
             [*common, *corpus_flags(args), "--output", str(phases["a"]), "--preset", args.preset,
              "--time-budget", seconds(args.mlm_seconds), *shlex.split(args.pretrain_args)])
    if args.nsp_seconds:
        phases["b"] = work / "pretrained-nsp"
        run_step(f"2b. pretraining, masked LM + next-sentence prediction ({seconds(args.nsp_seconds)})",
                 [*common, *corpus_flags(args), "--output", str(phases["b"]), "--init-from", str(phases["a"]),
                  "--time-budget", seconds(args.nsp_seconds), *shlex.split(args.nsp_args)])
    if args.task_text_seconds:
        text, start = work / "task-text", list(phases.values())[-1]
        phases["c"] = work / "pretrained-task-text"
        run_step("2c. the tasks' training sentences, without labels, as a corpus",
                 ["-m", "finetune.task_text", "--tasks", glue_tasks(args.tasks), *glue_dir_flag(args),
                  "--output", str(text)])
        run_step(f"2c. pretraining, masked LM on the tasks' text ({seconds(args.task_text_seconds)})",
                 [*common, "--corpus", str(text), "--output", str(phases["c"]), "--init-from", str(start),
                  "--time-budget", seconds(args.task_text_seconds), *shlex.split(args.task_text_args)])
    return phases


def plot_pretraining(phases: dict[str, Path], work: Path) -> None:
    """The phases' metrics ({letter: run directory}, in order) on one clock, minutes since pretraining began:
    pretraining.metrics.jsonl and pretraining.png in the work directory."""
    records, offset = [], 0.0
    for phase, directory in phases.items():
        lines = MetricsLog(directory / "metrics.jsonl").read()
        records += [{**line, "phase": phase, "minutes": round((offset + line["elapsed_s"]) / 60, 3)} for line in lines]
        offset += lines[-1]["elapsed_s"] if lines else 0.0
    combined = work / "pretraining.metrics.jsonl"
    combined.write_text("".join(json.dumps(record) + "\n" for record in records))
    plot_metrics(combined, work / "pretraining.png", x_key="minutes",
                 series={"training loss": ["mlm_loss", "nsp_loss"], "held-out MLM loss": ["eval_mlm_loss"],
                         "held-out accuracy": ["eval_mlm_acc", "eval_nsp_acc"]})


def finetune(args, task: str, model: str, weights: Path, output: Path, extra: list[str]) -> dict:
    """Fine-tune `model` on `task` over the seeds, or reuse an earlier run that started from the same
    `weights` file (checkpoint, or vocabulary of a random init) with the same seeds, options and data."""
    summary, inputs_file = output / "summary.json", output / "pipeline-inputs.json"
    inputs = {"model": model, "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
              "seeds": args.seeds, "finetune_args": shlex.split(args.finetune_args),
              "glue_dir": str(args.glue_dir) if args.glue_dir else "nyu-mll/glue"}
    if is_token_task(task):
        inputs["ner_dir"] = str(args.ner_dir) if args.ner_dir else get_token_task(task).hub_dataset
    if summary.exists() and inputs_file.exists() and json.loads(inputs_file.read_text()) == inputs:
        print(f"\n=== {task} from {model}: reusing {summary}")
    else:
        inputs_file.unlink(missing_ok=True)
        run_step(f"3. fine-tuning {task} from {model}",
                 ["-m", "finetune", "--task", task, "--model", model, "--output", str(output), "--seeds", args.seeds,
                  "--overwrite", *data_dir_flag(args, task), *precision_flag(args), *extra,
                  *shlex.split(args.finetune_args)])
        inputs_file.write_text(json.dumps(inputs, indent=2) + "\n")
    return json.loads(summary.read_text())


def print_table(rows: list[tuple[str, dict, dict]], budget: str, seeds: str) -> None:
    """Each task's dev metrics: the median over seeds and, in brackets, the lowest and highest seed, so
    a difference can be read against the spread between seeds."""
    benchmarks = "GLUE" + (" and CoNLL-2003" if any(is_token_task(task) for task, _, _ in rows) else "")
    print(f"\n{benchmarks} dev, median over seeds {seeds} [min, max]:")
    header = f"{'task':<9} {'metric':<9} {'no pretraining':>24} {'ours, ' + budget + ' pretraining':>26}"
    print(header + "\n" + "-" * len(header))
    for task, baseline, ours in rows:
        for metric in baseline["median"]:
            print(f"{task:<9} {metric:<9} {spread(baseline, metric):>24} {spread(ours, metric):>26}")


def print_pretraining_summary(phases: dict[str, Path]) -> None:
    """What the pretraining budget bought on this machine, phase by phase: steps, tokens, speed, precision, and
    the held-out masked-LM figures at the start and the end, so a 5-minute demo is told from a trained model."""
    print("\npretraining on this machine:")
    for phase, directory in phases.items():
        summary_file = directory / "summary.json"
        if not summary_file.exists():
            print(f"  phase {phase}: no summary.json in {directory}")
            continue
        s = json.loads(summary_file.read_text())
        print(f"  phase {phase} ({directory}): {s['steps']:,} steps, {s['tokens']:,} tokens in {s['elapsed_s'] / 60:.1f} "
              f"min = {s['tokens_per_s']:,.0f} tokens/s, precision {s['precision']} on {s['device']}")
        for when, key in (("start", "eval_first"), ("end", "eval_last")):
            if s.get(key):
                e = s[key]
                print(f"    held-out masked LM at step {e['step']:,} ({when}): loss {e['eval_mlm_loss']:.3f}, "
                      f"accuracy {e['eval_mlm_acc']:.3f}")


def spread(summary: dict, metric: str) -> str:
    values = [row[metric] for row in summary["seeds"]]
    return f"{summary['median'][metric]:.4f} [{min(values):.4f}, {max(values):.4f}]"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    work = args.work_dir
    vocab_dir = work / "vocab"
    try:
        tasks = [lookup_task(name.strip()) for name in args.tasks.split(",")]
    except InputError as e:
        sys.exit(f"error: {e}")
    train_vocabulary(args, vocab_dir)
    phases = pretrain(args, vocab_dir, work)
    plot_pretraining(phases, work)
    model_dir = list(phases.values())[-1]
    ours = {task.name: finetune(args, task.name, str(model_dir), model_dir / "model.safetensors",
                                work / f"{task.name}-ours", []) for task in tasks}
    rows = []
    for task in tasks:
        baseline = finetune(args, task.name, args.preset, vocab_dir / "vocab.txt", work / f"{task.name}-no-pretraining",
                            ["--vocab", str(vocab_dir)])
        rows.append((task.name, baseline, ours[task.name]))
    print_table(rows, args.budget, args.seeds)
    print_pretraining_summary(phases)


if __name__ == "__main__":
    main()
