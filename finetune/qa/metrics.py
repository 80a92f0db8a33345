"""SQuAD v1.1's two metrics, as its official evaluation script (evaluate-v1.1.py) defines them.

Both compare *normalised* answers: lower-cased, ASCII punctuation removed, the articles a / an / the
removed, whitespace collapsed ("The  Denver Broncos!" -> "denver broncos").

- exact match: 1 if the normalised prediction equals the normalised gold answer, else 0;
- F1: the harmonic mean of precision and recall over the two answers' words (a bag: a word counts as
  often as it appears in both).

A question scores the best value over its gold answers (dev questions have up to three), and a split
scores the mean over its questions, times 100: the 0-100 scale the official script prints.
"""

from __future__ import annotations

import re
import string
from collections import Counter

from finetune.qa.squad import QuestionExample

PUNCTUATION = frozenset(string.punctuation)  # ASCII only, as in the official script
ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """lower case -> drop punctuation -> drop articles -> collapse whitespace (the official order)."""
    text = "".join(ch for ch in text.lower() if ch not in PUNCTUATION)
    return " ".join(ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(truth))


def f1(prediction: str, truth: str) -> float:
    predicted, gold = normalize_answer(prediction).split(), normalize_answer(truth).split()
    shared = sum((Counter(predicted) & Counter(gold)).values())
    if shared == 0:
        return 0.0
    precision, recall = shared / len(predicted), shared / len(gold)
    return 2 * precision * recall / (precision + recall)


def squad_scores(predictions: dict[str, str], examples: list[QuestionExample]) -> dict[str, float]:
    """{"exact_match": .., "f1": ..} on the 0-100 scale, averaged over `examples` (a question without a
    prediction scores 0, as in the official script)."""
    totals = {"exact_match": 0.0, "f1": 0.0}
    for example in examples:
        prediction = predictions.get(example.id)
        if prediction is None:
            continue
        truths = [answer.text for answer in example.answers]
        totals["exact_match"] += max(exact_match(prediction, truth) for truth in truths)
        totals["f1"] += max(f1(prediction, truth) for truth in truths)
    return {name: 100.0 * total / len(examples) for name, total in totals.items()}
