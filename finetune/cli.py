"""`bert-finetune`: fine-tune a BERT checkpoint (or a randomly initialised preset) on a GLUE task or SQuAD.

    bert-finetune --task cola --model runs/pretrain/final --output runs/cola --data-dir ../shared/data/glue
    bert-finetune --task squad --model DIR --output runs/squad --train-file train.json --validation-file dev.json
    torchrun --nproc-per-node 4 -m finetune --task mrpc --model DIR --output runs/mrpc --seeds 1,2,3

Everything the user can get wrong is checked before the output directory is touched.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
from pathlib import Path

import torch

from training import DistributedContext, Precision, PrecisionError, add_precision_flag, choose_precision
from finetune.checkpoint import build_classifier, resolve_model
from finetune.data import encode_split
from finetune.errors import InputError
from finetune.qa import run as squad
from finetune.tasks import TASKS, TaskData, get_task, load_task_data
from finetune.train import EncodedTask, Recipe, finetune, print_report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = Recipe()
    p = argparse.ArgumentParser(prog="bert-finetune", description=__doc__.split("\n")[0])
    p.add_argument("--task", required=True, help=f"GLUE task ({', '.join(TASKS)}) or squad (finetune.qa)")
    p.add_argument("--model", required=True,
                   help="checkpoint directory in HF layout (ours, or any HF BERT or DistilBERT), or a preset name "
                        "(tiny, mini, small, medium, base, large) for random weights")
    p.add_argument("--output", required=True, type=Path, help="directory for the model, predictions and metrics")
    p.add_argument("--data-dir", type=Path,
                   help="folder in the GLUE TSV layout (CoLA/train.tsv, ...); default: nyu-mll/glue from the HF Hub")
    p.add_argument("--vocab", help="vocab.txt (or a directory holding one) instead of the checkpoint's own; "
                                   "required with a preset")
    p.add_argument("--epochs", type=int, default=defaults.epochs, help="default: %(default)s")
    p.add_argument("--lr", type=float, default=defaults.lr, help="peak learning rate (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=defaults.batch_size,
                   help="examples per optimizer step, over all processes together (default: %(default)s)")
    p.add_argument("--eval-batch-size", type=int, default=defaults.eval_batch_size, help="default: %(default)s")
    p.add_argument("--max-seq-length", type=int,
                   help="tokens per example after truncation, [CLS] and [SEP] included (default: "
                        f"{defaults.max_seq_length}; squad: {squad.Windowing.max_seq_length}, per window)")
    p.add_argument("--warmup-ratio", type=float, default=defaults.warmup_ratio,
                   help="fraction of the steps spent warming the learning rate up from 0 (default: %(default)s)")
    p.add_argument("--weight-decay", type=float, default=defaults.weight_decay, help="default: %(default)s")
    p.add_argument("--seeds", default="42", help="comma-separated seeds, one run each; the median is reported (default: %(default)s)")
    add_precision_flag(p)
    p.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda if available")
    p.add_argument("--max-train-examples", type=int,
                   help="train on a random subset of this size (quick experiments and smoke tests; squad: questions)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace summary.json and the seed-N folders of an earlier run in --output")
    squad.add_squad_flags(p)
    args = p.parse_args(argv)
    if args.max_seq_length is None:
        args.max_seq_length = squad.Windowing.max_seq_length if squad.is_squad(args.task) else defaults.max_seq_length
    return args


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise InputError(f"--seeds {text!r}: expected comma-separated integers, e.g. 1,2,3") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise InputError(f"--seeds {text!r}: give at least one seed, each once")
    return seeds


def make_recipe(args: argparse.Namespace, ctx: DistributedContext, precision: str) -> Recipe:
    recipe = Recipe(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, max_seq_length=args.max_seq_length,
                    warmup_ratio=args.warmup_ratio, weight_decay=args.weight_decay,
                    eval_batch_size=args.eval_batch_size,
                    precision=precision)
    for name in ("epochs", "batch_size", "eval_batch_size", "max_seq_length"):
        if getattr(recipe, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(recipe, name)}")
    if recipe.batch_size < ctx.world_size:
        raise InputError(f"--batch-size {recipe.batch_size} is smaller than the {ctx.world_size} processes")
    if not recipe.lr > 0 or not 0 <= recipe.warmup_ratio <= 1 or recipe.weight_decay < 0:
        raise InputError("--lr must be positive, --warmup-ratio in [0, 1] and --weight-decay not negative")
    return recipe


def choose_machine_precision(requested: str, ctx: DistributedContext) -> Precision:
    """--precision resolved for this device (a forced bf16 where it is emulated warns, on the main process)."""
    quiet = None if ctx.is_main else (lambda message: None)
    try:
        precision = choose_precision(requested, ctx.device, warn=quiet)
    except PrecisionError as e:
        raise InputError(str(e)) from None
    return precision


def check_output_dir(output: Path, overwrite: bool) -> None:
    if output.exists() and not output.is_dir():
        raise InputError(f"--output {output}: exists and is not a directory")
    if output.is_dir() and any(output.iterdir()) and not overwrite:
        raise InputError(f"--output {output} already holds files: pass --overwrite to replace an earlier run, "
                         "or choose another directory")


def clear_previous_run(output: Path, seeds: list[int]) -> None:
    """With --overwrite: remove only what this run will write (files of ours, never anything else)."""
    (output / "summary.json").unlink(missing_ok=True)
    for seed in seeds:
        shutil.rmtree(output / f"seed-{seed}", ignore_errors=True)


def subsample(data: TaskData, n: int | None) -> None:
    """Keep a random n training examples (same subset every time), in their original order."""
    if n is not None and n < len(data.train):
        keep = sorted(random.Random(0).sample(range(len(data.train)), n))
        data.train = [data.train[i] for i in keep]


def encode_task(tokenizer, task, data: TaskData, max_length: int, show_progress: bool) -> EncodedTask:
    def encode(examples, name):
        return encode_split(tokenizer, task, examples, max_length, desc=f"tokenising {name}",
                            show_progress=show_progress)

    return EncodedTask(
        train=encode(data.train, "train"),
        dev={name: encode(examples, name) for name, examples in data.dev.items()},
        test={name: encode(examples, name) for name, examples in data.test.items()},
    )


def run(args: argparse.Namespace, ctx: DistributedContext) -> None:
    if squad.is_squad(args.task):
        return squad.run(args, ctx)
    # 1. validate everything (every process, so they all fail alike), writing nothing
    squad.reject_squad_flags(args)
    task = get_task(args.task)
    seeds = parse_seeds(args.seeds)
    precision = choose_machine_precision(args.precision, ctx)
    recipe = make_recipe(args, ctx, precision.name)
    check_output_dir(args.output, args.overwrite)
    source, tokenizer = resolve_model(args.model, args.vocab)
    if recipe.max_seq_length > source.config.max_position_embeddings:
        raise InputError(f"--max-seq-length {recipe.max_seq_length} is longer than the model's "
                         f"{source.config.max_position_embeddings} positions")
    data = load_task_data(task, args.data_dir)
    subsample(data, args.max_train_examples)
    if not data.train:
        raise InputError(f"{task.name}: the training split is empty")
    build_classifier(source, task)  # loads the weights once, so a broken checkpoint fails here
    encoded = encode_task(tokenizer, task, data, recipe.max_seq_length, show_progress=ctx.is_main)
    ctx.barrier()  # every process has checked the output directory before rank 0 writes to it

    # 2. train
    if ctx.is_main:
        print(precision.describe(), file=sys.stderr)
        if args.overwrite:
            clear_previous_run(args.output, seeds)
        args.output.mkdir(parents=True, exist_ok=True)
        print(f"{task.name}: {len(data.train)} training examples, "
              + ", ".join(f"{len(split)} {name}" for name, split in data.dev.items())
              + f"; model {args.model}, {ctx.world_size} process(es) on {ctx.device}, "
              + f"precision {recipe.precision}")
    summary, results = finetune(task, source, tokenizer, encoded, recipe, seeds, args.output, ctx)
    if ctx.is_main:
        print_report(task, summary, results, encoded, args.output)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda, but torch sees no CUDA GPU", file=sys.stderr)
        return 2
    ctx = DistributedContext.from_env(args.device)
    try:
        run(args, ctx)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        ctx.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
