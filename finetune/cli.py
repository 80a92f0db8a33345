"""`bert-finetune`: fine-tune a BERT checkpoint (or a random preset) on a GLUE task, CoNLL-2003 NER, SQuAD or
your own files.

    bert-finetune --task cola --model runs/pretrain/final --output runs/cola --data-dir ../shared/data/glue
    bert-finetune --task conll2003 --model DIR --output runs/ner --data-dir ../shared/data/ner --epochs 2
    bert-finetune --task squad --model DIR --output runs/squad --train-file train.json --validation-file dev.json
    torchrun --nproc-per-node 4 -m finetune --task mrpc --model DIR --output runs/mrpc --seeds 1,2,3
    bert-finetune --train-file train.csv --validation-file dev.csv --text-columns review --label-column stars \
                  --model bert-base-uncased --output runs/reviews

Everything the user can get wrong is checked before the output directory is touched.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from pathlib import Path

import torch

from bert import PRESETS
from finetune.checkpoint import ModelSource, build_classifier, resolve_model
from finetune.conll import TOKEN_TASKS, get_token_task, is_token_task, load_token_task_data
from finetune.data import BATCHINGS, encode_split
from finetune.file_task import add_file_task_flags, load_file_task, reject_own_file_flags
from finetune.qa import run as squad
from finetune.sentence_classification import EncodedTask, SentenceClassification
from finetune.tasks import TASKS, GlueTask, TaskData, get_task, load_task_data
from finetune.token_classification import TokenClassification, encode_token_task
from training import REPORT_TO, DistributedContext, Precision, add_precision_flag, check_report_to, choose_precision
from training.engine import TrainingDiverged
from bert.errors import InputError
from finetune.train import FAMILY_RECIPES, Recipe, TaskFamily, family_recipe, finetune
from tokenizer import WordPieceTokenizer


RUN_FILE = "run.json"  # what the run in --output is, so --resume can check it is the same one


def build_parser() -> argparse.ArgumentParser:
    defaults = Recipe()
    p = argparse.ArgumentParser(prog="bert-finetune", description=__doc__.split("\n")[0])
    p.add_argument("--task", help=f"GLUE task ({', '.join(TASKS)}), named-entity recognition "
                   f"({', '.join(TOKEN_TASKS)}) or squad (question answering); leave it out to fine-tune on your "
                   "own --train-file")
    p.add_argument("--model", required=True,
                   help="checkpoint directory in HF layout (ours, or any HF BERT or DistilBERT); else a preset name "
                        f"for random weights ({', '.join(PRESETS)}); else a Hugging Face Hub model id "
                        "(bert-base-uncased), downloaded once to the HF cache and read from there offline")
    p.add_argument("--output", required=True, type=Path, help="directory for the model, predictions and metrics")
    p.add_argument("--data-dir", type=Path,
                   help="folder in the GLUE TSV layout (CoLA/train.tsv, ...); default: nyu-mll/glue from the HF Hub. "
                        "conll2003: a folder with train.txt, dev.txt, test.txt (or with conll2003/ holding them); "
                        "default: eriktks/conll2003 from the HF Hub")
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
    p.add_argument("--weight-decay", type=float, default=defaults.weight_decay,
                   help="AdamW's weight decay, on every weight but biases and LayerNorm (default: %(default)s)")
    p.add_argument("--max-grad-norm", type=float,
                   help="clip the gradient to this norm before each step; 0 turns clipping off (default: "
                        f"{defaults.max_grad_norm}; {family_defaults_text('max_grad_norm')})")
    p.add_argument("--adam-epsilon", type=float,
                   help=f"AdamW's epsilon (default: {defaults.adam_epsilon}; {family_defaults_text('adam_epsilon')})")
    p.add_argument("--adam-beta2", type=float,
                   help=f"AdamW's second-moment decay (default: {defaults.adam_beta2}; "
                        f"{family_defaults_text('adam_beta2')})")
    p.add_argument("--batching", choices=list(BATCHINGS),
                   help="how training batches are drawn each epoch: length-grouped (examples of similar length "
                        "together, least padding) or random (a plain shuffle, each batch padded to its longest) "
                        f"(default: {defaults.batching}; {family_defaults_text('batching')})")
    p.add_argument("--seeds", default="42", help="comma-separated seeds, one run each; the median is reported (default: %(default)s)")
    add_file_task_flags(add_data_file_flags(p))
    p.add_argument("--label-all-tokens", action="store_true",
                   help="conll2003: train every piece of a word on its label (later pieces of a B- word on I-), "
                        "not only the first")
    add_precision_flag(p)
    p.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda if available")
    p.add_argument("--max-train-examples", type=int,
                   help="train on a random subset of this size (quick experiments and smoke tests; squad: questions)")
    run_dir = p.add_mutually_exclusive_group()
    run_dir.add_argument("--resume", action="store_true",
                         help="continue the run in --output where it stopped (same arguments): finished seeds are "
                              "reused, an interrupted one continues from its last checkpoint")
    run_dir.add_argument("--overwrite", action="store_true",
                         help="replace summary.json and the seed-N folders of an earlier run in --output")
    p.add_argument("--grad-accum", type=int, default=defaults.grad_accum,
                   help="micro-batches per optimizer step: --batch-size examples in less memory (default: %(default)s)")
    p.add_argument("--save-every", type=int, default=defaults.save_every,
                   help="a resumable checkpoint every N optimizer steps, besides each epoch's end (default: only "
                        "those)")
    p.add_argument("--eval-every", type=int, default=defaults.eval_every, metavar="STEPS",
                   help="a dev evaluation every this many optimizer steps, besides each epoch's end (default: only "
                        "those)")
    p.add_argument("--metric-for-best", metavar="NAME",
                   help="the dev metric that picks the best model and the best seed, any the task reports, higher "
                        "is better (default: the task's main metric: mcc for CoLA, f1 for MRPC, NER and SQuAD, ...)")
    p.add_argument("--early-stopping-patience", type=int, default=defaults.early_stopping_patience, metavar="N",
                   help="stop a seed's run after N evaluations in a row without a better --metric-for-best (a tie "
                        "is no improvement); the best model is kept (default: 0, never stop early)")
    p.add_argument("--report-to", choices=REPORT_TO, default="none",
                   help="also write every metrics.jsonl field as a TensorBoard scalar, in OUTPUT/seed-N/tensorboard "
                        "(needs the tensorboard package) (default: none)")
    squad.add_squad_flags(p)
    return p


FAMILY_FLAGS = ("max_seq_length", "max_grad_norm", "adam_epsilon", "adam_beta2", "batching")  # defaults per family


def family_defaults_text(field: str) -> str:
    """Which families default `field` otherwise, for --help ("squad: 384"), or that none does."""
    others = [f"{family}: {values[field]}" for family, values in FAMILY_RECIPES.items() if field in values]
    return ", ".join(others) if others else "every task"


def family_of(task: str | None) -> str:
    """The task family a --task names (none: the user's own files, a sentence task)."""
    if squad.is_squad(task):
        return "squad"
    return "token" if task is not None and is_token_task(task) else "sentence"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    defaults = family_recipe(family_of(args.task))
    for name in FAMILY_FLAGS:  # a flag left out takes its family's default
        if getattr(args, name) is None:
            setattr(args, name, getattr(defaults, name))
    return args


def add_data_file_flags(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """--train-file, --validation-file, --test-file: every task read from the user's own files takes these
    three. Returns their group, for the flags of one kind of task (which columns, which labels)."""
    files = parser.add_argument_group(
        "your own data files", "instead of --task: a sentence or sentence-pair task from CSV (RFC 4180), TSV or "
        "JSON lines (.jsonl/.json, one object per line) files with a header of column names")
    files.add_argument("--train-file", type=Path, metavar="FILE", help="the training examples")
    files.add_argument("--validation-file", type=Path, metavar="FILE",
                       help="the dev examples: scored every epoch, the best epoch is kept")
    files.add_argument("--test-file", type=Path, metavar="FILE",
                       help="predicted by the best model (test_predictions.tsv); scored too if it has labels")
    return files


def load_data(args: argparse.Namespace) -> tuple[GlueTask, TaskData]:
    """The task and its examples: GLUE's (--task, from --data-dir or the Hub), or the user's own files."""
    given_files = [f"--{name.replace('_', '-')}" for name in ("train_file", "validation_file", "test_file")
                   if getattr(args, name) is not None]
    if args.task is None and args.train_file is None:
        raise InputError("give --task (a GLUE task) or --train-file and --validation-file (your own data)")
    if args.task is not None and given_files:
        raise InputError(f"--task {args.task} reads GLUE's files; leave --task out to fine-tune on {given_files[0]}")
    if args.task is None and args.data_dir is not None:
        raise InputError("--data-dir is GLUE's folder, for --task; --train-file needs no --data-dir")
    if args.task is None:
        return load_file_task(args)
    task = get_task(args.task)
    return task, load_task_data(task, args.data_dir)


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise InputError(f"--seeds {text!r}: expected comma-separated integers, e.g. 1,2,3") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise InputError(f"--seeds {text!r}: give at least one seed, each once")
    return seeds


def make_recipe(args: argparse.Namespace, world_size: int, precision: str) -> Recipe:
    """The hyper-parameters of the command line, checked (also by bert-main, on a recipe's options)."""
    recipe = Recipe(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, grad_accum=args.grad_accum,
                    save_every=args.save_every, max_seq_length=args.max_seq_length,
                    warmup_ratio=args.warmup_ratio, weight_decay=args.weight_decay,
                    max_grad_norm=args.max_grad_norm, adam_epsilon=args.adam_epsilon, adam_beta2=args.adam_beta2,
                    batching=args.batching, eval_batch_size=args.eval_batch_size, eval_every=args.eval_every,
                    metric_for_best=args.metric_for_best, early_stopping_patience=args.early_stopping_patience,
                    precision=precision)
    for name in ("epochs", "batch_size", "grad_accum", "eval_batch_size", "max_seq_length"):
        if getattr(recipe, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(recipe, name)}")
    if recipe.batch_size < world_size * recipe.grad_accum:
        raise InputError(f"--batch-size {recipe.batch_size} is smaller than --grad-accum {recipe.grad_accum} x "
                         f"{world_size} process(es)")
    for name in ("save_every", "eval_every", "early_stopping_patience"):
        if getattr(recipe, name) < 0:
            raise InputError(f"--{name.replace('_', '-')} must be 0 or more, got {getattr(recipe, name)}")
    if not recipe.lr > 0 or not 0 <= recipe.warmup_ratio <= 1 or recipe.weight_decay < 0:
        raise InputError("--lr must be positive, --warmup-ratio in [0, 1] and --weight-decay not negative")
    if not recipe.max_grad_norm >= 0:
        raise InputError(f"--max-grad-norm must be 0 (no clipping) or more, got {recipe.max_grad_norm}")
    if not recipe.adam_epsilon > 0 or not 0 <= recipe.adam_beta2 < 1:
        raise InputError(f"--adam-epsilon must be positive and --adam-beta2 in [0, 1), got {recipe.adam_epsilon} "
                         f"and {recipe.adam_beta2}")
    return recipe


def choose_machine_precision(requested: str, ctx: DistributedContext) -> Precision:
    """--precision resolved for this device (a forced bf16 where it is emulated warns, on the main process)."""
    return choose_precision(requested, ctx.device, warn=None if ctx.is_main else (lambda message: None))


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


def check_common(args: argparse.Namespace, ctx: DistributedContext) -> tuple[list[int], Precision, Recipe, dict]:
    """The checks every task family shares (seeds, precision, recipe, output directory), run on every process
    so that they all fail alike, writing nothing; returns them and the run's record (run.json)."""
    reject_own_file_flags(args)
    if args.max_train_examples is not None and args.max_train_examples < 1:
        raise InputError(f"--max-train-examples must be at least 1, got {args.max_train_examples}")
    seeds = parse_seeds(args.seeds)
    check_report_to(args.report_to)
    precision = choose_machine_precision(args.precision, ctx)
    recipe = make_recipe(args, ctx.world_size, precision.name)
    run_record = {**{k: v if isinstance(v, (int, float, str, type(None))) else str(v)
                     for k, v in vars(args).items()
                     if k not in ("resume", "overwrite", "precision", "output", "report_to")},
                  "precision": recipe.precision}  # everything the run depends on, the precision as chosen
    check_output_dir(args.output, args.overwrite, args.resume, run_record)
    return seeds, precision, recipe, run_record


def check_metric_for_best(recipe: Recipe, family: TaskFamily) -> None:
    if recipe.metric_for_best is not None and recipe.metric_for_best not in family.metric_keys:
        raise InputError(f"--metric-for-best {recipe.metric_for_best!r}: {family.name} reports "
                         f"{', '.join(family.metric_keys)}")


def check_model(args: argparse.Namespace, recipe: Recipe) -> tuple[ModelSource, WordPieceTokenizer]:
    source, tokenizer = resolve_model(args.model, args.vocab)
    if recipe.max_seq_length > source.config.max_position_embeddings:
        raise InputError(f"--max-seq-length {recipe.max_seq_length} is longer than the model's "
                         f"{source.config.max_position_embeddings} positions")
    return source, tokenizer


def sentence_family(args: argparse.Namespace, recipe: Recipe, source: ModelSource, tokenizer,
                    show_progress: bool) -> tuple[TaskFamily, str]:
    """A GLUE task or the user's files: the family and a line saying what it holds."""
    if args.label_all_tokens:
        raise InputError(f"--label-all-tokens is for token tasks ({', '.join(TOKEN_TASKS)}), not "
                         f"{args.task or 'sentence classification'}")
    task, data = load_data(args)
    subsample(data, args.max_train_examples)
    if not data.train:
        raise InputError(f"{task.name}: the training split is empty")
    build_classifier(source, task)  # loads the weights once, so a broken checkpoint fails here
    encoded = encode_task(tokenizer, task, data, recipe.max_seq_length, show_progress)
    what = f"{task.name}: {len(data.train)} training examples, " + ", ".join(
        f"{len(split)} {name}" for name, split in data.dev.items())
    return SentenceClassification(task, encoded, recipe.eval_batch_size, tokenizer.pad_token_id), what


def token_family(args: argparse.Namespace, recipe: Recipe, source: ModelSource, tokenizer) -> tuple[TaskFamily, str]:
    """--task conll2003: named-entity recognition (finetune/conll.py, finetune/token_classification.py)."""
    task = get_token_task(args.task)
    data = load_token_task_data(task, args.data_dir)
    subsample(data, args.max_train_examples)
    if not data.train:
        raise InputError(f"{task.name}: the training split is empty")
    family = TokenClassification(task, encode_token_task(tokenizer, task, data, recipe.max_seq_length,
                                                         args.label_all_tokens),
                                 recipe.eval_batch_size, tokenizer.pad_token_id)
    family.build_model(source)  # loads the weights once, so a broken checkpoint fails here
    what = (f"{task.name}: {len(data.train)} training sentences, {len(data.dev)} dev"
            + (f", {len(data.test)} test" if data.test else ""))
    return family, what


def run(args: argparse.Namespace, ctx: DistributedContext) -> int:
    # 1. validate everything (every process, so they all fail alike), writing nothing
    seeds, precision, recipe, run_record = check_common(args, ctx)
    source, tokenizer = check_model(args, recipe)
    if squad.is_squad(args.task):
        family, what = squad.squad_family(args, recipe, source, tokenizer, show_progress=ctx.is_main)
    elif args.task is not None and is_token_task(args.task):
        squad.reject_squad_flags(args)
        family, what = token_family(args, recipe, source, tokenizer)
    else:
        squad.reject_squad_flags(args)
        family, what = sentence_family(args, recipe, source, tokenizer, show_progress=ctx.is_main)
    check_metric_for_best(recipe, family)
    ctx.barrier()  # every process has checked the output directory before rank 0 writes to it

    # 2. train
    if ctx.is_main:
        print(precision.describe(), file=sys.stderr)
        if args.overwrite:
            clear_previous_run(args.output, seeds)
        args.output.mkdir(parents=True, exist_ok=True)
        (args.output / RUN_FILE).write_text(json.dumps(run_record, indent=2) + "\n")
        print(f"{what}; model {args.model}, {ctx.world_size} process(es) on {ctx.device}, precision {precision.name}")
    finished = finetune(family, source, tokenizer, recipe, seeds, args.output, ctx, args.report_to)
    if isinstance(finished, int):  # a signal stopped it: the checkpoint is saved, --resume continues
        return finished
    if ctx.is_main:
        family.print_report(*finished, args.output)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda, but torch sees no CUDA GPU", file=sys.stderr)
        return 2
    try:
        with DistributedContext.from_env(args.device) as ctx:
            return run(args, ctx)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except TrainingDiverged as e:  # the run stopped itself; its last good checkpoint is kept
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
