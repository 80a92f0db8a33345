"""The tasks' training sentences as a pretraining corpus: every training example, no label, no dev text."""

from pathlib import Path

import pytest

from finetune import task_text
from finetune.sentence.tasks import Example, get_task, read_tsv_split
from tokenizer.corpus import read_documents, resolve_sources

GLUE_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "glue"


def test_pairs_become_two_line_documents_and_labels_are_left_out(tmp_path):
    mrpc = get_task("mrpc")
    [path] = task_text.write_task_text([mrpc], GLUE_FIXTURES, tmp_path)
    assert path == tmp_path / "mrpc-train.txt"
    train = read_tsv_split(mrpc, GLUE_FIXTURES, mrpc.train_split, labelled=True)
    expected = "".join(f"{example.text_a}\n{example.text_b}\n\n" for example in train)
    assert path.read_text(encoding="utf-8") == expected
    dev = read_tsv_split(mrpc, GLUE_FIXTURES, mrpc.dev_splits[0], labelled=True)
    assert not {example.text_a for example in dev} & set(path.read_text(encoding="utf-8").splitlines())


def test_single_sentence_task_and_the_corpus_reader_agree(tmp_path):
    cola = get_task("cola")
    [path] = task_text.write_task_text([cola], GLUE_FIXTURES, tmp_path)
    train = read_tsv_split(cola, GLUE_FIXTURES, cola.train_split, labelled=True)
    lines = path.read_text(encoding="utf-8").split("\n\n")[:-1]
    assert lines == [example.text_a for example in train]  # one sentence per document, in order
    documents = list(read_documents(resolve_sources([str(tmp_path)])))
    assert len(documents) == len(train)
    assert [" ".join(document) for document in documents] == [example.text_a for example in train]


def test_whitespace_inside_a_text_cannot_break_a_document(monkeypatch):
    examples = [Example("two\nlines", "tab\there", 0, "0"), Example("   ", None, 1, "1"), Example("kept", "  ", 0, "2")]
    monkeypatch.setattr(task_text, "read_split", lambda task, data_dir, split, labelled: examples)
    documents = task_text.training_documents(get_task("mrpc"), Path("unused"))
    assert documents == [["two lines", "tab here"], ["kept"]]


def test_cli_writes_every_task_and_rejects_an_unknown_one(tmp_path, capsys):
    task_text.main(["--tasks", "cola, MRPC", "--data-dir", str(GLUE_FIXTURES), "--output", str(tmp_path / "text")])
    assert sorted(p.name for p in (tmp_path / "text").iterdir()) == ["cola-train.txt", "mrpc-train.txt"]
    with pytest.raises(SystemExit, match="unknown task 'glue'"):
        task_text.main(["--tasks", "glue", "--data-dir", str(GLUE_FIXTURES), "--output", str(tmp_path / "x")])
    with pytest.raises(SystemExit, match="no such file"):
        task_text.main(["--tasks", "cola", "--data-dir", str(tmp_path), "--output", str(tmp_path / "y")])
