"""SQuAD v1.1 exact match and F1: known values worked by hand, and agreement with the official script's
own functions (tests/squad_official.py) on awkward pairs."""

import json

import pytest

from finetune.qa import metrics
from finetune.qa.metrics import exact_match, f1, normalize_answer, squad_scores
from finetune.qa.squad import Answer, QuestionExample, read_squad_file

import squad_official
from conftest import SQUAD_FIXTURES


@pytest.mark.parametrize("text, normalised", [
    ("The  Denver Broncos!", "denver broncos"),
    ("an apple a day", "apple day"),
    ("Theatre, the thesis", "theatre thesis"),  # only whole-word articles go
    ("A-B  (c.)\t\nd", "ab c d"),  # punctuation is dropped, not replaced by a space
    ("“São Paulo”", "“são paulo”"),  # curly quotes are not ASCII punctuation: the official script keeps them
    ("the", ""),
])
def test_normalize_answer(text, normalised):
    assert normalize_answer(text) == normalised


@pytest.mark.parametrize("prediction, truth, em, f1_value", [
    ("Denver Broncos", "the Denver Broncos.", 1.0, 1.0),
    ("the cat sat on the mat", "cat on mat", 0.0, 2 * 0.75 * 1.0 / 1.75),  # 3 shared of 4 predicted, 3 gold
    ("Saint Paul", "Saint Paul of Tarsus", 0.0, 2 * 1.0 * 0.5 / 1.5),
    ("paris paris", "paris", 0.0, 2 * 0.5 * 1.0 / 1.5),  # a bag of words: the second "paris" is unmatched
    ("1978", "in 1978", 0.0, 2 / 3),
    ("Wuppertal", "Bonn", 0.0, 0.0),
    ("", "Bonn", 0.0, 0.0),
    ("the", "a", 1.0, 0.0),  # both normalise to "": equal strings, but no shared words
])
def test_exact_match_and_f1_known_pairs(prediction, truth, em, f1_value):
    assert exact_match(prediction, truth) == em
    assert f1(prediction, truth) == pytest.approx(f1_value, abs=1e-12)
    assert exact_match(prediction, truth) == float(squad_official.exact_match_score(prediction, truth))
    assert f1(prediction, truth) == pytest.approx(squad_official.f1_score(prediction, truth), abs=1e-12)


AWKWARD = ["Non ducor, duco", "non-ducor duco", "A Tale of Two Cities", "tale two cities", "  the  the  ",
           "Müller's", "mullers", "É", "é", "205 million", "about 205 million", "U.S.", "US", "an", "Anne",
           "the Rhine Gorge", "Rhine gorge.", "172.9 km", "1729 km", "São\u00a0Paulo", "são paulo", "🚋"]


def test_agrees_with_the_official_functions_on_every_pair():
    for prediction in AWKWARD:
        assert normalize_answer(prediction) == squad_official.normalize_answer(prediction)
        for truth in AWKWARD:
            assert exact_match(prediction, truth) == float(squad_official.exact_match_score(prediction, truth))
            assert f1(prediction, truth) == pytest.approx(squad_official.f1_score(prediction, truth), abs=1e-12)


def test_scores_take_the_best_gold_answer_and_average_on_a_0_to_100_scale():
    def question(qid, *golds):
        return QuestionExample(qid, "?", " ".join(golds), tuple(Answer(g, 0) for g in golds))

    examples = [question("a", "Pina Bausch", "Bausch"), question("b", "the Swiss Alps", "Alps"),
                question("c", "chairs and tables")]
    predictions = {"a": "Bausch", "b": "Swiss Alps", "c": "tables"}
    # a: exact (second gold); b: exact (first gold, article dropped); c: precision 1, recall 1/3, F1 1/2
    assert squad_scores(predictions, examples) == pytest.approx({"exact_match": 200 / 3, "f1": 100 * 2.5 / 3})
    # a question without a prediction counts as 0 over all the questions
    assert squad_scores({"a": "Bausch"}, examples) == pytest.approx({"exact_match": 100 / 3, "f1": 100 / 3})


def test_agrees_with_the_official_evaluate_on_the_dev_fixture():
    dataset = json.loads((SQUAD_FIXTURES / "dev.json").read_text(encoding="utf-8"))["data"]
    examples = read_squad_file(SQUAD_FIXTURES / "dev.json")
    guesses = ["Bausch", "tables and chairs", "the Alps", "Mannheim and Mainz"]
    predictions = {example.id: guess for example, guess in zip(examples, guesses)}
    assert squad_scores(predictions, examples) == pytest.approx(squad_official.evaluate(dataset, predictions))
    assert squad_scores(predictions, examples)["exact_match"] == 50.0


def test_real_dev_set_scored_like_the_official_script(shared_data):
    """Predictions built from the real dev set's own answers, mangled a little, scored both ways."""
    path = shared_data / "qa" / "squad-v1.1" / "dev-v1.1.json"
    examples = read_squad_file(path)[:2000]
    predictions = {e.id: (e.answers[-1].text + " of it" if i % 3 else e.answers[0].text.upper())
                   for i, e in enumerate(examples)}
    dataset = json.loads(path.read_text(encoding="utf-8"))["data"]
    ours, official = squad_scores(predictions, examples), squad_official.evaluate(dataset, predictions)
    assert ours == pytest.approx(official, abs=1e-9)
    assert 30 < ours["exact_match"] < 100 and ours["f1"] > ours["exact_match"]


def test_punctuation_is_ascii_only():
    assert metrics.PUNCTUATION == set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
