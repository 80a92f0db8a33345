"""Reading SQuAD v1.1: the JSON layout, the Hub's rows, and every bad file named by file and question."""

import json
import re
from pathlib import Path

import pytest

from bert.errors import InputError
from finetune.qa import squad
from finetune.qa.squad import Answer, QuestionExample, examples_from_hub_rows, load_squad, read_squad_file

from conftest import SQUAD_FIXTURES


def test_training_fixture():
    examples = read_squad_file(SQUAD_FIXTURES / "train.json")
    assert len(examples) == 16 and len({e.id for e in examples}) == 16
    first = examples[0]
    assert first == QuestionExample("café_müller-1", "Who created Café Müller?", first.context, (Answer("Pina Bausch", 32),))
    assert first.context.startswith("Café Müller is a dance piece by Pina Bausch, first performed in Wuppertal")
    assert all(e.context[a.start:a.end] == a.text for e in examples for a in e.answers)


def test_dev_fixture_keeps_every_annotators_answer():
    examples = read_squad_file(SQUAD_FIXTURES / "dev.json")
    assert [len(e.answers) for e in examples] == [3, 3, 3, 3]
    assert [a.text for a in examples[2].answers] == ["the Swiss Alps", "Swiss Alps", "Alps"]


def test_hub_rows_become_the_same_examples():
    rows = [{"id": "5733be28", "title": "Notre_Dame", "context": "It was in 1858 at Lourdes.",
             "question": "When?", "answers": {"text": ["1858", "in 1858"], "answer_start": [10, 7]}}]
    assert examples_from_hub_rows(rows) == [
        QuestionExample("5733be28", "When?", "It was in 1858 at Lourdes.", (Answer("1858", 10), Answer("in 1858", 7)))]


def test_hub_unreachable_is_one_clear_error(monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'rajpurkar/squad' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr("datasets.load_dataset", offline)
    with pytest.raises(InputError, match=r"could not load rajpurkar/squad split 'train' .*pass --train-file"):
        load_squad(None, None)


def write(tmp_path, document) -> Path:
    path = tmp_path / "file.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document), encoding="utf-8")
    return path


def fixture_with(change):
    document = json.loads((SQUAD_FIXTURES / "train.json").read_text(encoding="utf-8"))
    change(document["data"][0]["paragraphs"][0])
    return document


BAD_FILES = {
    "answer not at its answer_start": (SQUAD_FIXTURES / "bad-answer-start.json",
                                       r".*bad-answer-start.json: question café_müller-3: answer '1978' is not at "
                                       r"answer_start 78 \(the context has '978\.' there\)"),
    "a question without answers": (SQUAD_FIXTURES / "no-answers.json",
                                   r".*no-answers.json: question café_müller-2: no answers .*"),
    "not the SQuAD layout": (SQUAD_FIXTURES / "not-squad.json",
                             r'.*not-squad.json: not a SQuAD JSON file \(expected an object with a "data" list of articles\)'),
    "not JSON": ('{"data": [', r".*file.json: not a SQuAD JSON file \(not valid UTF-8 JSON: .*\)"),
    "a GLUE TSV": ("sentence\tlabel\nfine\t1\n", r".*file.json: not a SQuAD JSON file .*"),
    "no questions": ({"version": "1.1", "data": []}, r".*file.json: no questions"),
    "a paragraph without context": (fixture_with(lambda p: p.pop("context")),
                                    r'.*file.json: article 0, paragraph 0: not a SQuAD JSON file \(a paragraph needs a '
                                    r'"context" string and a "qas" list\)'),
    "an answer_start that is text": (fixture_with(lambda p: p["qas"][0]["answers"][0].update(answer_start="32")),
                                     r'.*paragraph 0, question café_müller-1: an answer needs a "text" string and an '
                                     r'integer "answer_start"'),
    "a repeated id": (fixture_with(lambda p: p["qas"][1].update(id="café_müller-1")),
                      r".*file.json: question café_müller-1: the id appears twice"),
    "an empty answer": (fixture_with(lambda p: p["qas"][0]["answers"][0].update(text="", answer_start=0)),
                        r".*question café_müller-1: an answer is empty"),
    "a boolean answer_start": (fixture_with(lambda p: p["qas"][0]["answers"][0].update(answer_start=True)),
                               r'.*paragraph 0, question café_müller-1: an answer needs a "text" string and an '
                               r'integer "answer_start"'),
    "a lone surrogate in a question": (fixture_with(lambda p: p["qas"][1].update(question="Who\ud800?")),
                                       r".*file.json: question café_müller-2: the question holds '\\ud800' at "
                                       r"position 3, which is not a Unicode character .*"),
    "JSON nested too deep": ("[" * 100_000, r".*file.json: not a SQuAD JSON file \(not valid UTF-8 JSON: .*\)"),
    "an id with a line break": (fixture_with(lambda p: p["qas"][0].update(id="q\n1", answers=[])),
                                r".*file.json: question 'q\\n1': no answers .*"),
    "a negative answer_start": (fixture_with(lambda p: p["qas"][0]["answers"][0].update(answer_start=-5)),
                                r".*question café_müller-1: answer 'Pina Bausch' is not at answer_start -5 .*"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_files_are_named_errors(tmp_path, case):
    source, message = BAD_FILES[case]
    path = source if isinstance(source, Path) else write(tmp_path, source)
    with pytest.raises(InputError) as error:
        read_squad_file(path)
    assert re.fullmatch(message, str(error.value)), str(error.value)


def test_both_files_or_neither(tmp_path):
    with pytest.raises(InputError, match="give both --train-file and --validation-file, or neither"):
        load_squad(SQUAD_FIXTURES / "train.json", None)
    with pytest.raises(InputError, match="nowhere.json: no such file"):
        load_squad(SQUAD_FIXTURES / "train.json", tmp_path / "nowhere.json")


def test_real_files(shared_data):
    folder = shared_data / "qa" / "squad-v1.1"
    train, dev = load_squad(folder / "train-v1.1-first-articles.json", folder / "dev-v1.1.json")
    assert (len(train), len(dev)) == (3807, 10570)
    assert dev[0].id == "56be4db0acb8001400a502ec" and [a.text for a in dev[0].answers] == ["Denver Broncos"] * 3
    assert squad.HUB_DATASET == "rajpurkar/squad"
