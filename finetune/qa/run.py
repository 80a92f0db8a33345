"""`bert-finetune --task squad`: fine-tune a checkpoint for extractive QA on SQuAD v1.1.

    bert-finetune --task squad --model CHECKPOINT --output runs/squad \\
        --train-file ../shared/data/qa/squad-v1.1/train-v1.1-first-articles.json \\
        --validation-file ../shared/data/qa/squad-v1.1/dev-v1.1.json --max-eval-examples 1000 \\
        --epochs 2 --lr 3e-5 --batch-size 12

Output directory (rank 0 writes everything):

    OUT/summary.json                    exact_match and f1 of each seed's best epoch and their median (GLUE's
                                        layout), eval_questions, windows, recipe (windowing and decoding too)
    OUT/seed-N/model/                   the best epoch's model (transformers.BertForQuestionAnswering loads it)
    OUT/seed-N/predictions.json         {question id: answer text}, the official format
    OUT/seed-N/nbest_predictions.json   {question id: [{text, start, end, score, probability}, ...]}
    OUT/seed-N/metrics.jsonl            training loss every ~10% of an epoch, EM/F1 every epoch (+ metrics.png)

Everything is validated before OUT is touched, as for GLUE (finetune.cli).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm import tqdm

from finetune.checkpoint import ModelSource, resolve_model
from finetune.errors import InputError
from finetune.qa.decoding import Decoding
from finetune.qa.family import QuestionAnswering
from finetune.qa.squad import QuestionExample, load_squad
from finetune.qa.windows import Windowing, Windows
from finetune.train import Recipe, SeedResult, make_summary, recipe_precision, train_epoch, write_json
from training import DistributedContext, MetricsLog, build_lr_schedule, build_optimizer, plot_metrics, set_seed

TASK_NAME = "squad"
QA_FLAGS = ("train_file", "validation_file", "max_eval_examples")  # meaningless for a GLUE task


def is_squad(task: str) -> bool:
    return task.lower() == TASK_NAME


def add_squad_flags(parser: argparse.ArgumentParser) -> None:
    windowing, decoding = Windowing(), Decoding()
    group = parser.add_argument_group("SQuAD (--task squad)")
    group.add_argument("--train-file", type=Path,
                       help="SQuAD v1.1 JSON training file (default, with --validation-file left out too: "
                            "rajpurkar/squad from the HF Hub)")
    group.add_argument("--validation-file", type=Path, help="SQuAD v1.1 JSON file to evaluate on (dev-v1.1.json)")
    group.add_argument("--doc-stride", type=int, default=windowing.doc_stride,
                       help="context tokens a window shares with the one before (default: %(default)s)")
    group.add_argument("--max-query-length", type=int, default=windowing.max_query_length,
                       help="questions are cut to this many tokens (default: %(default)s)")
    group.add_argument("--max-answer-length", type=int, default=decoding.max_answer_length,
                       help="longest answer, in tokens (default: %(default)s)")
    group.add_argument("--n-best", type=int, default=decoding.n_best,
                       help="answers kept per question in nbest_predictions.json (default: %(default)s)")
    group.add_argument("--max-eval-examples", type=int,
                       help="evaluate on the first N questions of the validation file only")


def reject_squad_flags(args: argparse.Namespace) -> None:
    """A GLUE run given SQuAD's data flags: say so rather than silently ignore them."""
    given = [name for name in QA_FLAGS if getattr(args, name) is not None]
    if given:
        raise InputError(f"--{given[0].replace('_', '-')} is for --task squad; GLUE tasks read --data-dir")


def settings(args: argparse.Namespace) -> tuple[Windowing, Decoding]:
    windowing = Windowing(args.max_seq_length, args.doc_stride, args.max_query_length)
    decoding = Decoding(args.n_best, args.max_answer_length)
    windowing.check()
    for name in ("n_best", "max_answer_length", "max_eval_examples"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if args.data_dir is not None:
        raise InputError("--data-dir is for GLUE tasks; --task squad reads --train-file and --validation-file")
    return windowing, decoding


def choose_questions(train: list[QuestionExample], dev: list[QuestionExample], max_train: int | None,
                     max_eval: int | None) -> tuple[list[QuestionExample], list[QuestionExample]]:
    """A random subset of training questions (the same every time, in file order) and the first dev ones."""
    if max_train is not None and max_train < len(train):
        train = [train[i] for i in sorted(random.Random(0).sample(range(len(train)), max_train))]
    return train, dev[:max_eval] if max_eval is not None else dev


def run(args: argparse.Namespace, ctx: DistributedContext) -> None:
    # Imported here: finetune.cli imports this module for its flags.
    from finetune.cli import check_output_dir, choose_machine_precision, clear_previous_run, make_recipe, parse_seeds

    # 1. validate everything (every process, so they all fail alike), writing nothing
    seeds = parse_seeds(args.seeds)
    precision = choose_machine_precision(args.precision, ctx)
    recipe = make_recipe(args, ctx, precision.name)
    windowing, decoding = settings(args)
    check_output_dir(args.output, args.overwrite)
    source, tokenizer = resolve_model(args.model, args.vocab)
    if recipe.max_seq_length > source.config.max_position_embeddings:
        raise InputError(f"--max-seq-length {recipe.max_seq_length} is longer than the model's "
                         f"{source.config.max_position_embeddings} positions")
    train, dev = load_squad(args.train_file, args.validation_file)
    train, dev = choose_questions(train, dev, args.max_train_examples, args.max_eval_examples)
    family = QuestionAnswering(windowing, decoding)
    family.build_model(source)  # loads the weights once, so a broken checkpoint fails here
    train_windows = family.encode(tokenizer, train, labelled=True, show_progress=ctx.is_main)
    dev_windows = family.encode(tokenizer, dev, labelled=False, show_progress=ctx.is_main)
    ctx.barrier()  # every process has checked the output directory before rank 0 writes to it

    # 2. train
    if ctx.is_main:
        print(precision.describe(), file=sys.stderr)
        if args.overwrite:
            clear_previous_run(args.output, seeds)
        args.output.mkdir(parents=True, exist_ok=True)
        print(f"squad: {len(train)} training questions ({len(train_windows)} windows), {len(dev)} dev questions "
              f"({len(dev_windows)} windows); model {args.model}, {ctx.world_size} process(es) on {ctx.device}, "
              f"precision {recipe.precision}")
    results = [train_seed(family, source, tokenizer, train_windows, dev_windows, recipe, seed,
                          args.output / f"seed-{seed}", ctx) for seed in seeds]
    summary = make_summary(family, source, recipe, results)
    summary["recipe"].update(asdict(windowing), **asdict(decoding))
    summary.update(eval_questions=len(dev), train_questions=len(train), train_windows=len(train_windows))
    if ctx.is_main:
        write_json(args.output / "summary.json", summary)
        print_report(summary, dev, args.output)


def train_seed(family: QuestionAnswering, source: ModelSource, tokenizer, train: Windows, dev: Windows,
               recipe: Recipe, seed: int, out: Path, ctx: DistributedContext) -> SeedResult:
    """One fine-tuning run; the epoch with the best dev F1 is kept (model and prediction files)."""
    started = time.perf_counter()
    set_seed(seed)  # before building the model: the QA layer's fresh weights come from this seed
    model = family.build_model(source).to(ctx.device).train()
    trained = ctx.wrap(model)
    steps_per_epoch = math.ceil(len(train) / recipe.batch_size)
    total_steps = steps_per_epoch * recipe.epochs
    optimizer = build_optimizer(model, recipe.lr, recipe.weight_decay)
    scheduler = build_lr_schedule(optimizer, round(recipe.warmup_ratio * total_steps), total_steps)
    log = MetricsLog(out / "metrics.jsonl", enabled=ctx.is_main)
    batch_order = torch.Generator().manual_seed(seed)  # same on every process: all agree on the batches
    precision = recipe_precision(recipe, ctx)
    scaler = precision.grad_scaler()  # fp16 only

    epoch_seconds, best = [], None  # best: (epoch, metrics)
    for epoch in range(1, recipe.epochs + 1):
        epoch_start = time.perf_counter()
        mean_loss = train_epoch(trained, model, optimizer, scheduler, train, tokenizer.pad_token_id, recipe,
                                batch_order, ctx, log, seed, epoch, steps_per_epoch, scaler,
                                collate=family.collate)
        epoch_seconds.append(time.perf_counter() - epoch_start)
        metrics, answers = family.evaluate(model, dev, recipe.eval_batch_size, tokenizer.pad_token_id, ctx, precision)
        log.write({"seed": seed, "epoch": epoch, "step": epoch * steps_per_epoch, "train_loss": mean_loss,
                   "epoch_seconds": epoch_seconds[-1], **metrics})
        if ctx.is_main:
            tqdm.write(f"seed {seed} epoch {epoch}: train loss {mean_loss:.4f}, dev exact match "
                       f"{metrics['exact_match']:.2f}, F1 {metrics['f1']:.2f} ({epoch_seconds[-1]:.1f}s)")
        if best is None or metrics[family.main_metric] > best[1][family.main_metric]:
            best = (epoch, metrics)
            if ctx.is_main:
                family.save_best(model, tokenizer, answers, out)
    if ctx.is_main:
        plot_metrics(out / "metrics.jsonl", out / "metrics.png",
                     {"training loss": ["loss"], "dev": list(family.metrics)})
    # No logits are kept: the best epoch's answers are in its prediction files.
    return SeedResult(seed, best[0], best[1], {}, epoch_seconds, time.perf_counter() - started)


def print_report(summary: dict, dev: list[QuestionExample], output: Path, n: int = 6) -> None:
    """Median EM/F1, one line per seed, and a few dev questions with the best run's answers."""
    seeds = summary["seeds"]
    print(f"\nsquad dev, {summary['eval_questions']} questions"
          f"{' (median of %d seeds)' % len(seeds) if len(seeds) > 1 else ''}: "
          f"exact match {summary['median']['exact_match']:.2f}, F1 {summary['median']['f1']:.2f}")
    for row in seeds if len(seeds) > 1 else []:
        print(f"  seed {row['seed']}: exact match {row['exact_match']:.2f}, F1 {row['f1']:.2f} "
              f"(best epoch {row['best_epoch']}, {row['train_seconds']:.0f}s)")
    predictions = json.loads((output / f"seed-{summary['best_seed']}" / "predictions.json").read_text(encoding="utf-8"))
    print(f"\nsample of dev answers ({summary['best_model']}):")
    for example in random.Random(0).sample(dev, min(n, len(dev))):
        print(f"  Q: {shorten(example.question)}\n     predicted: {shorten(predictions[example.id])!r}   "
              f"gold: {' | '.join(repr(shorten(text)) for text in dict.fromkeys(a.text for a in example.answers))}")
    print(f"\nwritten to {output}/: summary.json, seed-*/ (model, predictions.json, nbest_predictions.json, metrics)")


def shorten(text: str, width: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 3] + "..."
