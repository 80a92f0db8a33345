"""GLUE readers: every task's TSV layout (fixtures in tests/fixtures/glue), the Hub path, and bad input."""

import shutil
from pathlib import Path

import pytest

from finetune.sentence import tasks
from bert.errors import InputError
from finetune.sentence.tasks import TASKS, Example, get_task, load_task_data, metric_key, read_tsv_split

FIXTURES = Path(__file__).parent / "fixtures" / "glue"

# task -> (train rows, {dev split: rows}, {test split: rows}, first train example)
EXPECTED = {
    "cola": (32, {"dev": 4}, {"test": 3},
             Example("The sailors rode the breeze clear of the rocks.", None, 1, "0")),
    "sst2": (4, {"dev": 3}, {"test": 2}, Example("hide new secretions from the parental units ", None, 0, "0")),
    "mrpc": (3, {"dev": 2}, {"test": 1}, Example(
        'Amrozi accused his brother, whom he called "the witness", of deliberately distorting his evidence.',
        'Referring to him as only "the witness", Amrozi accused his brother of deliberately distorting his evidence.',
        1, "0")),
    "qqp": (2, {"dev": 2}, {"test": 1}, Example(
        "How is the life of a math student? Could you describe your own experiences?",
        "Which level of prepration is enough for the exam jlpt5?", 0, "0")),
    "stsb": (2, {"dev": 2}, {"test": 1}, Example("A plane is taking off.", "An air plane is taking off.", 5.0, "0")),
    "mnli": (4, {"dev_matched": 2, "dev_mismatched": 1}, {"test_matched": 1, "test_mismatched": 1}, Example(
        "Conceptually cream skimming has two basic dimensions - product and geography.",
        "Product and geography are what make cream skimming work. ", 1, "0")),
    "qnli": (2, {"dev": 1}, {"test": 1}, Example(
        "When did the third Digimon series begin?",
        "Unlike the two seasons before it and most of the seasons that followed, Digimon Tamers takes a darker "
        "and more realistic approach to its story.", 1, "0")),
    "rte": (2, {"dev": 1}, {"test": 1}, Example(
        "No Weapons of Mass Destruction Found in Iraq Yet.", "Weapons of Mass Destruction Found in Iraq.", 1, "0")),
    "wnli": (4, {"dev": 2}, {"test": 1}, Example(
        "I stuck a pin through a carrot. When I pulled the pin out, it had a hole.", "The carrot had a hole.", 1, "0")),
}


def test_every_glue_task_has_a_fixture():
    assert set(EXPECTED) == set(TASKS)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_reader_on_glue_layout(name):
    n_train, dev_sizes, test_sizes, first = EXPECTED[name]
    data = load_task_data(get_task(name), FIXTURES)
    assert len(data.train) == n_train
    assert {k: len(v) for k, v in data.dev.items()} == dev_sizes
    assert {k: len(v) for k, v in data.test.items()} == test_sizes
    assert data.train[0] == first
    assert all(ex.label is None and ex.index == "0" for split in data.test.values() for ex in split[:1])


def test_cola_headerless_and_quotes_are_text():
    dev = load_task_data(get_task("cola"), FIXTURES).dev["dev"]
    # dev.tsv has no header and no final newline; the quote characters are part of the sentence
    assert [ex.label for ex in dev] == [1, 0, 1, 0]
    assert dev[2].text_a == 'The book was written by "John".'
    assert dev[3].text_a == "Him and me went home."


def test_mrpc_bom_is_stripped_and_labels_are_ints():
    dev = load_task_data(get_task("mrpc"), FIXTURES).dev["dev"]
    assert [ex.label for ex in dev] == [1, 0]
    assert dev[0].text_b.startswith('"The foodservice')


def test_text_labels_map_to_hub_order():
    mnli = load_task_data(get_task("mnli"), FIXTURES)
    assert [ex.label for ex in mnli.train] == [1, 0, 0, 2]  # neutral, entailment, entailment, contradiction
    assert get_task("mnli").labels == ("entailment", "neutral", "contradiction")
    assert metric_key(get_task("mnli"), get_task("mnli").dev_splits[1], "accuracy") == "accuracy_mismatched"
    assert metric_key(get_task("mnli"), get_task("mnli").dev_splits[0], "accuracy") == "accuracy"


def test_task_names_are_case_and_dash_insensitive():
    assert get_task("SST-2") is TASKS["sst2"] and get_task("STS-B").is_regression and get_task("CoLA").name == "cola"


def test_unknown_task():
    with pytest.raises(InputError, match="unknown task 'colaa'; known tasks: cola, sst2"):
        get_task("colaa")


def copy_task(tmp_path, folder):
    shutil.copytree(FIXTURES / folder, tmp_path / folder)
    return tmp_path / folder


def test_malformed_row_names_file_and_line(tmp_path):
    folder = copy_task(tmp_path, "MRPC")
    lines = (folder / "train.tsv").read_text(encoding="utf-8-sig").splitlines()
    lines[2] = lines[2].rsplit("\t", 1)[0]  # drop the second sentence of row 2 (line 3)
    (folder / "train.tsv").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"MRPC/train.tsv:3: expected 5 tab-separated fields, found 4"):
        load_task_data(get_task("mrpc"), tmp_path)


def test_label_outside_task_labels(tmp_path):
    folder = copy_task(tmp_path, "CoLA")
    text = (folder / "dev.tsv").read_text().replace("clc95\t0\t*\tHim", "clc95\t2\t*\tHim")
    (folder / "dev.tsv").write_text(text)
    with pytest.raises(InputError, match=r"CoLA/dev.tsv:4: label '2' is not one of cola's labels \(0, 1\)"):
        load_task_data(get_task("cola"), tmp_path)


def test_regression_label_must_be_a_number(tmp_path):
    folder = copy_task(tmp_path, "STS-B")
    (folder / "dev.tsv").write_text((folder / "dev.tsv").read_text().replace("4.750", "high"))
    with pytest.raises(InputError, match=r"STS-B/dev.tsv:3: label 'high' is not a number"):
        load_task_data(get_task("stsb"), tmp_path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InputError, match=r"RTE: no such directory"):
        load_task_data(get_task("rte"), tmp_path)
    folder = copy_task(tmp_path, "RTE")
    (folder / "dev.tsv").unlink()
    with pytest.raises(InputError, match=r"RTE/dev.tsv: no such file"):
        load_task_data(get_task("rte"), tmp_path)


def test_missing_test_file_is_skipped(tmp_path):
    folder = copy_task(tmp_path, "RTE")
    (folder / "test.tsv").unlink()
    assert load_task_data(get_task("rte"), tmp_path).test == {}


def test_header_without_needed_column(tmp_path):
    folder = copy_task(tmp_path, "SST-2")
    (folder / "train.tsv").write_text((folder / "train.tsv").read_text().replace("sentence\tlabel", "text\tlabel"))
    with pytest.raises(InputError, match=r"SST-2/train.tsv:1: header has no column 'sentence'"):
        read_tsv_split(get_task("sst2"), tmp_path, get_task("sst2").train_split, labelled=True)


def test_hub_rows_become_the_same_examples(monkeypatch):
    """The Hub path (no network in tests): nyu-mll/glue rows carry label ids in our order, -1 on test."""
    rows = {
        "train": [{"premise": "A man sleeps.", "hypothesis": "A man rests.", "label": 0, "idx": 0},
                  {"premise": "A dog barks.", "hypothesis": "A cat barks.", "label": 2, "idx": 1}],
        "validation_matched": [{"premise": "p", "hypothesis": "h", "label": 1, "idx": 0}],
        "validation_mismatched": [{"premise": "p2", "hypothesis": "h2", "label": 1, "idx": 0}],
        "test_matched": [{"premise": "p3", "hypothesis": "h3", "label": -1, "idx": 7}],
        "test_mismatched": [{"premise": "p4", "hypothesis": "h4", "label": -1, "idx": 8}],
    }
    monkeypatch.setattr(tasks, "_load_hub_rows", lambda task, split: rows[split.hub])
    data = load_task_data(get_task("mnli"), None)
    assert data.train == [Example("A man sleeps.", "A man rests.", 0, "0"), Example("A dog barks.", "A cat barks.", 2, "1")]
    assert data.dev["dev_mismatched"] == [Example("p2", "h2", 1, "0")]
    assert data.test["test_matched"] == [Example("p3", "h3", None, "7")]


def test_hub_failure_is_one_clear_line(monkeypatch):
    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'nyu-mll/glue' on the Hub (LocalEntryNotFoundError)\nmore detail")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(InputError, match=r"could not load nyu-mll/glue/cola split 'train' .*Couldn't reach.*--data-dir"):
        load_task_data(get_task("cola"), None)


def test_real_glue_row_counts(shared_data):
    """The official row counts (PROVENANCE.md), read with the same readers."""
    counts = {"cola": (8551, 1043, 1063), "mrpc": (3668, 408, 1725), "sst2": (67349, 872, 1821),
              "rte": (2490, 277, 3000), "stsb": (5749, 1500, 1379), "wnli": (635, 71, 146)}
    for name, (n_train, n_dev, n_test) in counts.items():
        data = load_task_data(get_task(name), shared_data / "glue")
        assert (len(data.train), len(data.dev["dev"]), len(data.test["test"])) == (n_train, n_dev, n_test), name
