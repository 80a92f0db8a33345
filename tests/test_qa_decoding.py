"""Start/end scores -> answers: which spans are allowed (start <= end, inside the context, at most
max_answer_length tokens), the n best over all windows, and the answer as the context's own characters."""

import math

import pytest
import torch

from finetune.qa.decoding import Decoding, PredictedAnswer, answer_all, best_answers, best_text, nbest_record, window_spans
from finetune.qa.squad import QuestionExample
from finetune.qa.windows import Windows

NEG = -10.0


def logits(seq: int, **scores: float) -> torch.Tensor:
    """(seq,) logits, NEG everywhere except the named positions: logits(8, t3=5.0)."""
    x = torch.full((seq,), NEG)
    for name, value in scores.items():
        x[int(name[1:])] = value
    return x


def in_context(seq: int, first: int, last: int) -> torch.Tensor:
    mask = torch.zeros(seq, dtype=torch.bool)
    mask[first:last + 1] = True
    return mask


def test_best_span_is_the_highest_start_plus_end():
    start, end = logits(8, t3=1.0, t5=4.0), logits(8, t4=2.0, t6=3.0)
    spans = window_spans(start, end, in_context(8, 3, 7), Decoding(n_best=3, max_answer_length=30))
    assert spans == [(4.0 + 3.0, 5, 6), (1.0 + 3.0, 3, 6), (1.0 + 2.0, 3, 4)]


def test_an_end_before_its_start_is_not_allowed():
    # The best start (5) comes after the best end (4): the best allowed span pairs other positions.
    start, end = logits(8, t5=9.0, t3=1.0), logits(8, t4=9.0, t6=0.5)
    best = window_spans(start, end, in_context(8, 3, 7), Decoding(n_best=2, max_answer_length=30))
    assert best == [(1.0 + 9.0, 3, 4), (9.0 + 0.5, 5, 6)]  # not (5, 4), which would score 18


def test_question_and_special_tokens_are_never_answers():
    # [CLS] (0) and the question (1, 2) score highest, but only the context (3..6) may answer.
    start, end = logits(8, t0=20.0, t1=20.0, t3=1.0), logits(8, t0=20.0, t2=20.0, t7=20.0, t6=1.0)
    spans = window_spans(start, end, in_context(8, 3, 6), Decoding(n_best=100, max_answer_length=30))
    assert spans[0] == (2.0, 3, 6)
    assert all(3 <= first <= last <= 6 for _, first, last in spans)
    assert len(spans) == 4 + 3 + 2 + 1  # every ordered pair of the 4 context tokens


def test_spans_longer_than_max_answer_length_are_not_allowed():
    seq = 50
    start, end = logits(seq, t3=5.0, t40=2.0), logits(seq, t45=5.0, t42=1.0)
    allowed = in_context(seq, 3, 48)
    assert window_spans(start, end, allowed, Decoding(1, max_answer_length=43)) == [(10.0, 3, 45)]  # 43 tokens
    assert window_spans(start, end, allowed, Decoding(1, max_answer_length=42)) == [(7.0, 40, 45)]
    spans = window_spans(start, end, allowed, Decoding(n_best=10_000, max_answer_length=4))
    assert max(last - first + 1 for _, first, last in spans) == 4
    assert len(spans) == sum(min(4, 48 - t + 1) for t in range(3, 49))
    # A limit far past the window is the window: no (seq x limit) table is built.
    assert window_spans(start, end, allowed, Decoding(1, max_answer_length=10**9)) == [(10.0, 3, 45)]


def test_answers_are_the_contexts_own_characters_over_all_windows():
    context = "Café  Müller by   Pina  Bausch, 1978."
    #          0123456789012345678901234567890123456
    window_1 = [None, None, (0, 4), (6, 12), (13, 15), (18, 22), None]  # [CLS] q cafe muller by pina [SEP]
    window_2 = [None, None, (13, 15), (18, 22), (24, 30), (30, 31), None]  # ... by pina bausch , [SEP]
    windows = [
        (logits(7, t5=3.0), logits(7, t5=1.0), window_1),  # "Pina" alone: 4.0
        (logits(7, t3=3.5), logits(7, t4=4.0, t3=1.0), window_2),  # "Pina  Bausch": 7.5, "Pina" again: 4.5
    ]
    answers = best_answers(context, windows, Decoding(n_best=3, max_answer_length=30))
    # two spaces and the case kept; characters 18-22 proposed by both windows: listed once, with the better score
    assert answers[:2] == [PredictedAnswer("Pina  Bausch", 18, 30, 7.5), PredictedAnswer("Pina", 18, 22, 4.5)]
    assert len(answers) == 3 and answers[2].score < 4.5


def test_window_logits_padded_past_the_window_are_ignored():
    context = "Pina Bausch"
    offsets = [None, None, (0, 4), (5, 11), None]
    start, end = torch.cat([logits(5, t2=1.0), torch.full((3,), 50.0)]), torch.cat([logits(5, t3=1.0), torch.full((3,), 50.0)])
    assert best_answers(context, [(start, end, offsets)], Decoding())[0].text == "Pina Bausch"


def test_answer_all_groups_windows_by_question():
    examples = [QuestionExample("q1", "?", "Pina Bausch", ()), QuestionExample("q2", "?", "in 1978", ())]
    offsets = [[None, (0, 4), (5, 11), None], [None, (0, 2), (3, 7), None], [None, None, None, None]]
    windows = Windows(examples, [0, 1, 1], [[0] * 4] * 3, [[0] * 4] * 3, offsets, None, None)
    start = torch.stack([logits(4, t2=2.0), logits(4, t2=2.0), logits(4)])
    end = torch.stack([logits(4, t2=2.0), logits(4, t2=2.0), logits(4)])
    answers = answer_all(windows, start, end, Decoding(n_best=2))
    assert list(answers) == ["q1", "q2"]
    assert best_text(answers["q1"]) == "Bausch" and best_text(answers["q2"]) == "1978"


def test_a_question_with_no_allowed_span_gets_an_empty_answer():
    answers = best_answers("text", [(logits(3), logits(3), [None, None, None])], Decoding())
    assert answers == [] and best_text(answers) == "" and nbest_record(answers) == []


def test_nbest_record_probabilities_are_a_softmax_of_the_scores():
    answers = [PredictedAnswer("a", 0, 1, 2.0), PredictedAnswer("b", 2, 3, 1.0), PredictedAnswer("c", 4, 5, 1.0)]
    record = nbest_record(answers)
    assert [r["text"] for r in record] == ["a", "b", "c"]
    total = math.exp(2.0) + 2 * math.exp(1.0)
    assert [r["probability"] for r in record] == pytest.approx([math.exp(2) / total, math.e / total, math.e / total],
                                                              abs=1e-6)
    assert record[0] == {"text": "a", "start": 0, "end": 1, "score": 2.0, "probability": round(math.exp(2) / total, 6)}
