"""`finetune(options)`: a fine-tuning run in-process, from checked options to the summary of its seeds.

    from finetune import finetune
    result = finetune(task="mrpc", model="runs/pretrain/final", output="runs/mrpc", seeds=[1, 2, 3])
    result.median["f1"], result.best_model

Everything the user can get wrong is checked before the output directory is touched (on every process of a
DDP run, so that they all fail alike): the options (finetune/options.py, the family's own checks), the
machine's precision, the model and vocabulary, the data, the output directory. Then finetune/train.py runs
the seeds and writes OUT/summary.json, whose fields the result carries.

With eval_only (bert-finetune --eval-only) nothing is trained: the model (a fine-tuned model folder, or a
run's folder for its best model) is scored on the validation data, and on labelled test data, and OUT gets
what a run's seed folder and summary get, the model aside: summary.json (its `median` the scores, its
`best_model` the model scored), metrics.jsonl (the evaluation's row) and the dev and test prediction files.
The model's folder is only read.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from finetune.checkpoint import ModelSource, find_checkpoint, head_of, resolve_model
from finetune.run_summary import resolve_model_dir
from finetune.options import FinetuneOptions
from finetune.registry import family_of_task
from finetune.train import TaskFamily, run_seeds
from tokenizer import WordPieceTokenizer
from training import DistributedContext, choose_precision
from training.engine import RunInterrupted
from bert.errors import InputError
from bert.files import atomic_write_text

RUN_FILE = "run.json"  # what the run in --output is, so --resume can check it is the same one


@dataclass
class FinetuneResult:
    """What a run wrote to summary.json, and where: `median`, `mean`, `std` (metric -> value over seeds),
    `seeds` (one record per seed), `best_model` (the folder of the best seed's model), `summary` (all of it)."""

    output: Path
    summary: dict
    family: TaskFamily = field(repr=False, default=None)
    results: list = field(repr=False, default_factory=list)

    @property
    def median(self) -> dict[str, float]:
        return self.summary["median"]

    @property
    def mean(self) -> dict[str, float]:
        return self.summary["mean"]

    @property
    def std(self) -> dict[str, float]:
        return self.summary["std"]

    @property
    def seeds(self) -> list[dict]:
        return self.summary["seeds"]

    @property
    def best_model(self) -> Path:
        return self.output / self.summary["best_model"]

    def print_report(self) -> None:
        """What bert-finetune prints at the end: the scores, one line per seed, a few dev predictions."""
        if self.summary.get("eval_only"):
            for split, scores in (("dev", self.summary["median"]), ("test", self.summary.get("test_median"))):
                if scores:
                    print(f"{self.summary['task']} {split}: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
            print(f"\nscored {self.summary['best_model']}; written to {self.output}/: summary.json, metrics.jsonl, "
                  "predictions")
            return
        self.family.print_report(self.summary, self.results, self.output)


def finetune(options: FinetuneOptions | None = None, /, **option_values) -> FinetuneResult:
    """Fine-tune as `options` say (or FinetuneOptions(**option_values); values given with options replace theirs).
    Raises InputError for bad input, TrainingDiverged when the loss stops being finite, RunInterrupted when
    a signal stopped the run (its checkpoint saved)."""
    if options is None:
        options = FinetuneOptions(**option_values)
    elif option_values:
        options = replace(options, **option_values)
    if options.device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda, but torch sees no CUDA GPU")
    with DistributedContext.from_env(options.device) as ctx:
        return evaluate_only(options, ctx) if options.eval_only else run(options, ctx)


def run(options: FinetuneOptions, ctx: DistributedContext) -> FinetuneResult:
    # 1. validate everything (every process, so they all fail alike), writing nothing
    family_entry, precision, recipe = family_and_recipe(options, ctx)
    if recipe.batch_size < ctx.world_size * recipe.grad_accum:
        raise InputError(f"--batch-size {recipe.batch_size} is smaller than --grad-accum {recipe.grad_accum} x "
                         f"{ctx.world_size} process(es)")
    run_record = options.run_record(precision.name)
    check_output_dir(options.output, options.overwrite, options.resume, run_record)
    source, tokenizer = check_model(options.model, options.vocab, recipe.max_seq_length)
    shows_progress = ctx.is_main and options.progress
    family, what = family_entry.build(options, recipe, source, tokenizer, shows_progress)
    if recipe.metric_for_best is not None and recipe.metric_for_best not in family.metric_keys:
        raise InputError(f"--metric-for-best {recipe.metric_for_best!r}: {family.name} reports "
                         f"{', '.join(family.metric_keys)}")
    ctx.barrier()  # every process has checked the output directory before rank 0 writes to it

    # 2. train
    if ctx.is_main:
        if options.overwrite:
            clear_previous_run(options.output, options.seeds)
        options.output.mkdir(parents=True, exist_ok=True)
        (options.output / RUN_FILE).write_text(json.dumps(run_record, indent=2) + "\n")
    if shows_progress:
        print(precision.describe(), file=sys.stderr)
        print(f"{what}; model {options.model}, {ctx.world_size} process(es) on {ctx.device}, precision "
              f"{precision.name}")
    finished = run_seeds(family, source, tokenizer, recipe, options.seeds, options.output, ctx, options.report_to,
                         options.progress)
    if isinstance(finished, int):  # a signal stopped it: the checkpoint is saved, resume continues
        raise RunInterrupted(finished)
    summary, results = finished
    return FinetuneResult(options.output, summary, family, results)


def family_and_recipe(options: FinetuneOptions, ctx: DistributedContext):
    """The task's family entry, the precision this machine runs (warned about once, by rank 0) and the recipe."""
    precision = choose_precision(options.precision, ctx.device, warn=None if ctx.is_main else (lambda message: None))
    return family_of_task(options.task), precision, options.recipe(precision.name)


def evaluate_only(options: FinetuneOptions, ctx: DistributedContext) -> FinetuneResult:
    """Score a fine-tuned model on the task's validation (and labelled test) data; see the module docstring."""
    family_entry, precision, recipe = family_and_recipe(options, ctx)
    model_dir = resolve_model_dir(find_checkpoint(options.model))
    if head_of(model_dir) != family_entry.head:
        raise InputError(f"--eval-only --model {options.model}: {model_dir} holds "
                         f"{'no fine-tuned head' if head_of(model_dir) is None else 'a ' + str(head_of(model_dir)) + ' model'}"
                         f"; {options.task or 'your files'} needs a {family_entry.head} model")
    output, scored = options.output.resolve(), model_dir.resolve()
    if output == scored or output in scored.parents or scored in output.parents:
        raise InputError(f"--output {options.output} and the model's folder {model_dir} overlap: --eval-only "
                         "writes elsewhere, leaving the model's folder as it is")
    check_output_dir(options.output, options.overwrite, False, {})
    source, tokenizer = check_model(str(model_dir), options.vocab, recipe.max_seq_length)
    shows_progress = ctx.is_main and options.progress
    family, what = family_entry.build(options, recipe, source, tokenizer, shows_progress)
    model = family.load_best(model_dir).to(ctx.device).eval()
    if shows_progress:
        print(precision.describe(), file=sys.stderr)
        print(f"{what}; scoring {model_dir} on {ctx.device}, precision {precision.name}")
    metrics, predictions = family.evaluate(model, ctx, precision)
    if ctx.is_main:
        if options.overwrite:
            for name in (EVAL_FILES + ("summary.json", "metrics.jsonl")):
                for path in options.output.glob(name):
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
        options.output.mkdir(parents=True, exist_ok=True)
        family.write_predictions(predictions, options.output)
    test_metrics = family.write_test(model, ctx, precision, options.output)
    summary = {
        "task": family.name, "model": str(model_dir), "eval_only": True,
        "main_metric": recipe.metric_for_best or family.main_metric,
        "median": metrics, "mean": metrics, "std": {name: 0.0 for name in metrics}, "seeds": [],
        "best_model": str(model_dir.resolve()), "precision": precision.name,
        "recipe": {"max_seq_length": recipe.max_seq_length, "eval_batch_size": recipe.eval_batch_size},
        **getattr(family, "summary_extras", {}),
        **({"test_median": test_metrics} if test_metrics else {}),
    }
    if ctx.is_main:
        atomic_write_text(options.output / "metrics.jsonl", json.dumps({"split": "dev", **metrics, **test_metrics}) + "\n")
        atomic_write_text(options.output / "summary.json", json.dumps(summary, indent=2) + "\n")
    return FinetuneResult(options.output, summary, family, [])


# what --eval-only writes besides summary.json and metrics.jsonl, removed first with --overwrite
EVAL_FILES = ("*_predictions.tsv", "*_predictions.conll", "predictions.json", "nbest_predictions.json", "submission")


def check_model(model: str, vocab: Path | None, max_seq_length: int) -> tuple[ModelSource, WordPieceTokenizer]:
    source, tokenizer = resolve_model(model, None if vocab is None else str(vocab))
    if max_seq_length > source.config.max_position_embeddings:
        raise InputError(f"--max-seq-length {max_seq_length} is longer than the model's "
                         f"{source.config.max_position_embeddings} positions")
    return source, tokenizer


def check_output_dir(output: Path, overwrite: bool, resume: bool, run: dict) -> None:
    """--resume continues the same run (run.json must match), --overwrite starts over, and a directory that
    holds files without either is an error."""
    if output.exists() and not output.is_dir():
        raise InputError(f"--output {output}: exists and is not a directory")
    if resume and (output / RUN_FILE).exists():
        before = json.loads((output / RUN_FILE).read_text())
        changed = [f"{key} was {before.get(key)!r}, now {value!r}" for key, value in run.items()
                   if before.get(key) != value]
        if changed:
            raise InputError(f"--resume in {output} with other arguments than its run: " + "; ".join(changed))
    elif output.is_dir() and any(output.iterdir()) and not overwrite:
        raise InputError(f"--output {output} already holds files: pass --resume to continue that run, --overwrite "
                         "to replace it, or choose another directory")


def clear_previous_run(output: Path, seeds: list[int]) -> None:
    """With --overwrite: remove only what this run will write (files of ours, never anything else)."""
    (output / "summary.json").unlink(missing_ok=True)
    (output / RUN_FILE).unlink(missing_ok=True)
    for seed in seeds:
        shutil.rmtree(output / f"seed-{seed}", ignore_errors=True)
