"""From start and end scores to answers: the n best spans of each question over all its windows.

A span is a start token and an end token of the same window with start <= end, both inside the context
(never the question, [CLS], [SEP] or padding), at most `max_answer_length` tokens long. Its score is
start logit + end logit (the model's log-odds of "the answer starts here" and "ends here", which it
learns independently). Every such span of every window is scored, and the `n_best` best distinct
character spans are kept; the answer is the context's own text between the spans' character offsets.

(Hugging Face's run_qa example looks only at the 20 best starts and the 20 best ends of each window.
Scoring every allowed span finds the same best answer whenever one of those pairs is allowed, and still
finds one when none is.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from finetune.qa.windows import Windows


@dataclass(frozen=True)
class Decoding:
    n_best: int = 20  # answers kept per question (nbest_predictions.json)
    max_answer_length: int = 30  # tokens


@dataclass(frozen=True)
class PredictedAnswer:
    text: str  # the context's characters [start, end)
    start: int
    end: int
    score: float  # start logit + end logit


def window_spans(start_logits: torch.Tensor, end_logits: torch.Tensor, in_context: torch.Tensor,
                 decoding: Decoding) -> list[tuple[float, int, int]]:
    """The n_best best allowed spans of one window as (score, start token, end token), best first.

    start_logits, end_logits: (seq,) float; in_context: (seq,) bool, True on the context's tokens.
    """
    width = min(decoding.max_answer_length, len(start_logits))  # no span is longer than the window
    # Row t, column k is the span from token t to token t + k: (seq, width), past the end padded as not allowed.
    end_scores = F.pad(end_logits, (0, width - 1), value=-math.inf).unfold(0, width, 1)
    end_allowed = F.pad(in_context, (0, width - 1), value=False).unfold(0, width, 1)
    scores = start_logits[:, None] + end_scores
    scores = scores.masked_fill(~(in_context[:, None] & end_allowed), -math.inf)
    best = scores.flatten().topk(min(decoding.n_best, scores.numel()))
    return [(score, index // width, index // width + index % width)
            for score, index in zip(best.values.tolist(), best.indices.tolist()) if score > -math.inf]


def best_answers(context: str, windows: list[tuple[torch.Tensor, torch.Tensor, list]],
                 decoding: Decoding) -> list[PredictedAnswer]:
    """The n_best answers of one question, best first, each character span once.

    windows: (start logits (seq,), end logits (seq,), context offsets) of each of the question's windows.
    Overlapping windows can propose the same characters; the higher score stands for them.
    """
    by_span = {}
    for start_logits, end_logits, offsets in windows:
        in_context = torch.tensor([span is not None for span in offsets])
        n = len(offsets)  # logits may be padded past the window's own length
        for score, first, last in window_spans(start_logits[:n], end_logits[:n], in_context, decoding):
            span = (offsets[first][0], offsets[last][1])
            if span not in by_span or score > by_span[span].score:
                by_span[span] = PredictedAnswer(context[span[0]:span[1]], *span, score)
    return sorted(by_span.values(), key=lambda answer: -answer.score)[:decoding.n_best]


def answer_all(windows: Windows, start_logits: torch.Tensor, end_logits: torch.Tensor,
               decoding: Decoding) -> dict[str, list[PredictedAnswer]]:
    """question id -> its n best answers (empty if no window allows a span), for every question of
    `windows`. start_logits, end_logits: (windows, longest) float, row i for window i."""
    of_question: dict[int, list] = {i: [] for i in range(len(windows.examples))}
    for i, question in enumerate(windows.question_index):
        of_question[question].append((start_logits[i], end_logits[i], windows.context_offsets[i]))
    return {example.id: best_answers(example.context, of_question[i], decoding)
            for i, example in enumerate(windows.examples)}


def best_text(answers: list[PredictedAnswer]) -> str:
    """The prediction for a question: its best answer's text, "" if it has none."""
    return answers[0].text if answers else ""


def nbest_record(answers: list[PredictedAnswer]) -> list[dict]:
    """nbest_predictions.json's entry for one question: each answer with a probability, the softmax of
    the scores over this list (as in Hugging Face's run_qa)."""
    if not answers:
        return []
    probabilities = torch.tensor([a.score for a in answers], dtype=torch.float64).softmax(0).tolist()
    return [{"text": a.text, "start": a.start, "end": a.end, "score": round(a.score, 4),
             "probability": round(p, 6)} for a, p in zip(answers, probabilities)]
