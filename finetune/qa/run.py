"""`bert-finetune --task squad`: extractive QA on SQuAD v1.1, as a task family of the fine-tuning engine.

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

Everything is validated before OUT is touched, as for GLUE (finetune/run.py); finetune/train.py runs the seeds.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from finetune.checkpoint import ModelSource, save_classifier
from finetune.qa.decoding import Decoding, nbest_record
from finetune.qa.family import QuestionAnswering, load_question_answerer, write_prediction_files
from finetune.qa.squad import QuestionExample, load_squad, read_squad_file
from finetune.qa.windows import Windowing, Windows
from finetune.train import Recipe
from training import DistributedContext, Precision
from bert.errors import InputError

TASK_NAME = "squad"


def is_squad(task: str | None) -> bool:
    return task is not None and task.lower() == TASK_NAME


def settings(options) -> tuple[Windowing, Decoding]:
    """The windowing and decoding options, checked, and what --task squad cannot take."""
    windowing = Windowing(options.max_seq_length, options.doc_stride, options.max_query_length)
    decoding = Decoding(options.n_best, options.max_answer_length)
    windowing.check()
    for name in ("n_best", "max_answer_length", "max_eval_examples"):
        value = getattr(options, name)
        if value is not None and value < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if options.data_dir is not None:
        raise InputError("--data-dir is for GLUE tasks; --task squad reads --train-file and --validation-file")
    if options.test_file is not None:
        raise InputError("--test-file is not read by --task squad: it scores the --validation-file questions")
    if options.label_all_tokens:
        raise InputError("--label-all-tokens is for token tasks, not --task squad")
    if options.tag_scheme != "auto":
        raise InputError("--tag-scheme is for --task ner (your own tagged files), not --task squad")
    return windowing, decoding


def choose_questions(train: list[QuestionExample], dev: list[QuestionExample], max_train: int | None,
                     max_eval: int | None) -> tuple[list[QuestionExample], list[QuestionExample]]:
    """A random subset of training questions (the same every time, in file order) and the first dev ones."""
    if max_train is not None and max_train < len(train):
        train = [train[i] for i in sorted(random.Random(0).sample(range(len(train)), max_train))]
    return train, dev[:max_eval] if max_eval is not None else dev


def squad_family(options, recipe: Recipe, source: ModelSource, tokenizer, show_progress: bool) -> tuple["SquadFineTuning", str]:
    """--task squad: the questions read, cut into windows, as a task family of the fine-tuning engine; and a
    line saying what it holds."""
    windowing, decoding = settings(options)
    if options.eval_only and options.train_file is None and options.validation_file is not None:
        train, dev = [], read_squad_file(options.validation_file)  # scoring only: no training questions needed
    else:
        train, dev = load_squad(options.train_file, options.validation_file)
    train, dev = choose_questions(train, dev, options.max_train_examples, options.max_eval_examples)
    qa = QuestionAnswering(windowing, decoding)
    qa.build_model(source)  # loads the weights once, so a broken checkpoint fails here
    train_windows = qa.encode(tokenizer, train, labelled=True, show_progress=show_progress)
    dev_windows = qa.encode(tokenizer, dev, labelled=False, show_progress=show_progress)
    family = SquadFineTuning(qa, train_windows, dev_windows, recipe.eval_batch_size, tokenizer.pad_token_id)
    what = (f"squad: {len(train)} training questions ({len(train_windows)} windows), {len(dev)} dev questions "
            f"({len(dev_windows)} windows)")
    return family, what


class SquadFineTuning:
    """SQuAD as a task family of the fine-tuning engine (the interface is finetune/sentence/family.py's):
    training windows, dev windows, and the QuestionAnswering family's model, decoding and files."""

    name, main_metric = TASK_NAME, QuestionAnswering.main_metric
    metric_keys = list(QuestionAnswering.metrics)

    def __init__(self, qa: QuestionAnswering, train: Windows, dev: Windows, eval_batch_size: int, pad_token_id: int):
        self.qa, self.train, self.dev = qa, train, dev
        self.eval_batch_size, self.pad_token_id = eval_batch_size, pad_token_id
        self.train_lengths = train.lengths
        self.summary_extras = {"eval_questions": len(dev.examples), "train_questions": len(train.examples),
                               "train_windows": len(train), "windowing": asdict(qa.windowing),
                               "decoding": asdict(qa.decoding)}

    def build_model(self, source: ModelSource) -> nn.Module:
        return self.qa.build_model(source)

    def train_batch(self, positions: list[int], pad_token_id: int, token_types: bool) -> dict[str, torch.Tensor]:
        return self.qa.collate(self.train, positions, pad_token_id, token_types)

    def item_counts(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        return {"loss": float(len(batch["input_ids"]))}  # the loss is a mean over windows

    def train_items(self) -> dict[str, float]:
        return {}  # a step's mean over its own windows: every batch but the last has batch-size of them

    def evaluate(self, model: nn.Module, ctx: DistributedContext,
                 precision: Precision) -> tuple[dict[str, float], dict[str, list[dict]]]:
        """EM and F1 of the best answers; each question's n best answers as nbest_predictions.json records."""
        metrics, answers = self.qa.evaluate(model, self.dev, self.eval_batch_size, self.pad_token_id, ctx, precision)
        return metrics, {question: nbest_record(found) for question, found in answers.items()}

    def save_best(self, model: nn.Module, tokenizer, nbest: dict[str, list[dict]], out: Path) -> None:
        save_classifier(model, tokenizer, out / "model")
        self.write_predictions(nbest, out)

    def write_predictions(self, nbest: dict[str, list[dict]], out: Path) -> None:
        write_prediction_files(out, nbest)

    def load_best(self, directory: Path) -> nn.Module:
        return load_question_answerer(directory)[0]

    def write_test(self, model: nn.Module, ctx: DistributedContext, precision: Precision, out: Path) -> dict:
        return {}  # SQuAD has no test split here: the dev file is the evaluation

    def print_report(self, summary: dict, results: list, output: Path, n: int = 6) -> None:
        """Median EM/F1, one line per seed, and a few dev questions with the best run's answers."""
        seeds = summary["seeds"]
        print(f"\nsquad dev, {summary['eval_questions']} questions"
              f"{' (median of %d seeds)' % len(seeds) if len(seeds) > 1 else ''}: "
              f"exact match {summary['median']['exact_match']:.2f}, F1 {summary['median']['f1']:.2f}")
        for row in seeds if len(seeds) > 1 else []:
            print(f"  seed {row['seed']}: exact match {row['exact_match']:.2f}, F1 {row['f1']:.2f} "
                  f"(best epoch {row['best_epoch']}, {row['train_seconds']:.0f}s)")
        best_dir = output / f"seed-{summary['best_seed']}"
        predictions = json.loads((best_dir / "predictions.json").read_text(encoding="utf-8"))
        print(f"\nsample of dev answers ({summary['best_model']}):")
        for example in random.Random(0).sample(self.dev.examples, min(n, len(self.dev.examples))):
            print(f"  Q: {shorten(example.question)}\n     predicted: {shorten(predictions[example.id])!r}   "
                  f"gold: {' | '.join(repr(shorten(text)) for text in dict.fromkeys(a.text for a in example.answers))}")
        print(f"\nwritten to {output}/: summary.json, seed-*/ (model, predictions.json, nbest_predictions.json, "
              "metrics)")


def shorten(text: str, width: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 3] + "..."
