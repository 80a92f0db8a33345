"""Extractive question answering as a task family: everything a fine-tuning loop needs to know about it.

The loop (finetune.qa.run today; the shared training engine later) calls only this:

    family = QuestionAnswering(Windowing(...), Decoding(...))
    family.name, family.metrics, family.main_metric     "squad", ("exact_match", "f1"), "f1" (picks the best epoch)
    family.build_model(source)                          fresh QA head on the checkpoint's encoder
    family.encode(tokenizer, examples, labelled)        -> Windows (.lengths for length-grouped batches)
    family.collate(windows, positions, pad_token_id, token_types)
                                                        -> dict of (batch, longest) tensors, with
                                                           start_positions / end_positions when labelled
    family.evaluate(model, windows, batch_size, pad_token_id, ctx, precision)
                                                        -> (metrics, answers: question id -> n-best)
    family.answer(model, windows, batch_size, pad_token_id, ctx, precision)
                                                        -> answers alone (unlabelled questions: bert-predict)
    family.save_best(model, tokenizer, answers, out)    out/model/, out/predictions.json,
                                                        out/nbest_predictions.json

The model is `BertForQuestionAnswering` (or `DistilBertForQuestionAnswering` for a DistilBERT checkpoint),
saved in HF layout so `transformers` loads it under the same class name.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from bert.files import atomic_write
from finetune.checkpoint import ModelSource, build_head_model, load_head_model, save_classifier
from finetune.inference import predict_rows
from finetune.qa.decoding import Decoding, PredictedAnswer, answer_all, best_text, nbest_record
from finetune.qa.metrics import squad_scores
from finetune.qa.squad import QuestionExample
from finetune.qa.windows import Windowing, Windows, collate_windows, encode_windows
from training import DistributedContext, Precision

class QuestionAnswering:
    """SQuAD v1.1-style extractive QA: windows in, n-best character spans out, scored by EM and F1."""

    name = "squad"
    metrics = ("exact_match", "f1")
    main_metric = "f1"

    def __init__(self, windowing: Windowing = Windowing(), decoding: Decoding = Decoding()):
        self.windowing = windowing
        self.decoding = decoding

    def build_model(self, source: ModelSource) -> nn.Module:
        """The checkpoint's encoder (pretraining or classifier heads dropped) with a fresh start/end layer,
        or a random model for a preset. Call set_seed first: fresh weights come from torch's generator."""
        return build_head_model(source, "QuestionAnswering")

    def encode(self, tokenizer, examples: list[QuestionExample], labelled: bool,
               show_progress: bool = False) -> Windows:
        return encode_windows(tokenizer, examples, self.windowing, labelled, show_progress=show_progress)

    collate = staticmethod(collate_windows)

    def answer(self, model: nn.Module, windows: Windows, batch_size: int, pad_token_id: int,
               ctx: DistributedContext | None = None,
               precision: Precision | None = None) -> dict[str, list[PredictedAnswer]]:
        """Every question's n best answers, best first: question id -> answers."""
        start_logits, end_logits = predict_span_logits(model, windows, batch_size, pad_token_id, ctx, precision)
        return answer_all(windows, start_logits, end_logits, self.decoding)

    def evaluate(self, model: nn.Module, windows: Windows, batch_size: int, pad_token_id: int,
                 ctx: DistributedContext | None = None,
                 precision: Precision | None = None) -> tuple[dict[str, float], dict[str, list[PredictedAnswer]]]:
        """EM and F1 (0-100) of the best answers, and every question's n best answers."""
        answers = self.answer(model, windows, batch_size, pad_token_id, ctx, precision)
        predictions = {question: best_text(found) for question, found in answers.items()}
        return squad_scores(predictions, windows.examples), answers

    def save_best(self, model: nn.Module, tokenizer, answers: dict[str, list[PredictedAnswer]], out: Path) -> None:
        save_classifier(model, tokenizer, out / "model")
        write_predictions(out, answers)


def predict_span_logits(model: nn.Module, windows: Windows, batch_size: int, pad_token_id: int,
                        ctx: DistributedContext | None = None,
                        precision: Precision | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Start and end logits, each (windows, longest) float32 in the windows' order; positions past a window's
    length are 0."""
    def make_batch(positions):
        batch = collate_windows(windows, positions, pad_token_id, token_types=model.config.type_vocab_size > 0)
        batch.pop("start_positions", None)
        batch.pop("end_positions", None)
        return batch

    rows = predict_rows(model, windows.lengths, batch_size, make_batch,
                        lambda out: torch.stack([out.start_logits, out.end_logits], dim=-1),
                        (max(windows.lengths), 2), ctx, precision)  # (windows, longest, 2)
    return rows[..., 0], rows[..., 1]


def write_predictions(out: Path, answers: dict[str, list[PredictedAnswer]]) -> None:
    """predictions.json and nbest_predictions.json of every question's answers, best first."""
    write_prediction_files(out, {question: nbest_record(found) for question, found in answers.items()})


def write_prediction_files(out: Path, nbest: dict[str, list[dict]]) -> None:
    """predictions.json in the official format ({question id: answer text}) and nbest_predictions.json
    ({question id: [{text, start, end, score, probability}, ...]}, best first)."""
    predictions = {question: records[0]["text"] if records else "" for question, records in nbest.items()}
    for name, record in (("predictions.json", predictions), ("nbest_predictions.json", nbest)):
        text = json.dumps(record, indent=2, ensure_ascii=False) + "\n"
        atomic_write(out / name, lambda tmp, text=text: Path(tmp).write_text(text, encoding="utf-8"))


def load_question_answerer(directory: Path) -> tuple[nn.Module, object]:
    """A fine-tuned QA model and its tokenizer, for prediction."""
    return load_head_model(directory, "QuestionAnswering")
