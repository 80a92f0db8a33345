"""Corpora read through `datasets` without a network: a folder written by save_to_disk (one split or a
DatasetDict), a folder of data files, a Hub name (faked); vocabulary training and pretraining read them
through the same reader and see the same documents."""

import json

import pytest

from bert.errors import InputError
from pretrain.cli import main as pretrain_main
from tokenizer import WordPieceTokenizer
from tokenizer.cli import main as tokenizer_main
from tokenizer.corpus import DatasetSource, LocalFile, read_documents, resolve_sources
from test_pretrain_run import TINY, write_story_corpus

datasets = pytest.importorskip("datasets")


def story_rows(tmp_path) -> list[str]:
    """The story corpus as one row per document (a row with several lines is a document)."""
    text = write_story_corpus(tmp_path / "stories.txt", n_docs=20).read_text()
    return [doc for doc in text.split("\n\n") if doc.strip()]


def test_saved_dataset_is_recognised_by_its_files_not_read_as_text(tmp_path):
    rows = story_rows(tmp_path)
    saved = tmp_path / "saved"
    datasets.Dataset.from_dict({"body": rows, "id": list(range(len(rows)))}).save_to_disk(saved)
    (saved / "notes.txt").write_text("not part of the corpus\n")  # a text file inside must not make it a text folder
    [source] = resolve_sources([str(saved)], column="body")
    assert isinstance(source, DatasetSource) and source.saved and source.column == "body"
    docs = list(read_documents([source]))
    assert docs == list(read_documents(resolve_sources([str(tmp_path / "stories.txt")])))


def test_saved_dataset_dict_takes_the_split(tmp_path):
    rows = story_rows(tmp_path)
    saved = tmp_path / "saved-dict"
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": rows[:15]}),
                          "validation": datasets.Dataset.from_dict({"text": rows[15:]})}).save_to_disk(saved)
    assert len(list(read_documents(resolve_sources([str(saved)])))) == 15
    assert len(list(read_documents(resolve_sources([str(saved)], split="validation")))) == len(rows) - 15
    with pytest.raises(InputError, match="no split 'test' .*train, validation.*--corpus-split"):
        list(read_documents(resolve_sources([str(saved)], split="test")))


def test_missing_column_names_the_columns(tmp_path):
    saved = tmp_path / "saved"
    datasets.Dataset.from_dict({"body": ["A b c."]}).save_to_disk(saved)
    with pytest.raises(InputError, match="no column 'text' \\(columns: body\\); choose one with --corpus-column"):
        list(read_documents(resolve_sources([str(saved)])))


def test_folder_of_data_files_is_loaded_by_datasets(tmp_path):
    rows = story_rows(tmp_path)
    folder = tmp_path / "jsonl"
    folder.mkdir()
    (folder / "part-0.jsonl").write_text("".join(json.dumps({"text": row}) + "\n" for row in rows))
    [source] = resolve_sources([str(folder)])
    assert isinstance(source, DatasetSource) and not source.saved
    assert list(read_documents([source])) == list(read_documents(resolve_sources([str(tmp_path / "stories.txt")])))


def test_text_folder_stays_a_text_folder(tmp_path):
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "a.txt").write_text("One. Two.\n")
    assert resolve_sources([str(folder)]) == [LocalFile((folder / "a.txt").resolve())]


def test_vocabulary_and_pretraining_read_a_saved_dataset_as_they_read_its_text(tmp_path, capsys, monkeypatch):
    rows = story_rows(tmp_path)
    saved = tmp_path / "saved"
    datasets.Dataset.from_dict({"text": rows}).save_to_disk(saved)
    trained_on, train = {}, WordPieceTokenizer.train.__func__

    def recording_train(cls, texts, **options):  # what the vocabulary trainer is given, sentence by sentence
        trained_on[name] = list(texts)
        return train(cls, iter(trained_on[name]), **options)

    monkeypatch.setattr(WordPieceTokenizer, "train", classmethod(recording_train))
    for name, corpus in (("from-text", tmp_path / "stories.txt"), ("from-dataset", saved)):
        assert tokenizer_main(["train", "--corpus", str(corpus), "--vocab-size", "120",
                               "--output", str(tmp_path / name / "vocab")]) == 0
    assert trained_on["from-dataset"] == trained_on["from-text"]
    assert trained_on["from-text"] == [s for doc in read_documents(resolve_sources([str(saved)])) for s in doc]

    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(TINY))
    monkeypatch.undo()
    for name, corpus in (("from-text", tmp_path / "stories.txt"), ("from-dataset", saved)):
        output = tmp_path / name / "pretrained"
        assert pretrain_main(["--corpus", str(corpus), "--output", str(output), "--cache-dir", str(tmp_path / "cache"),
                              "--vocab", str(tmp_path / name / "vocab"), "--preset", "tiny", "--config", str(config),
                              "--max-seq-length", "64", "--batch-size", "8", "--max-steps", "2", "--eval-every", "0",
                              "--num-workers", "1", "--no-progress"]) == 0
    summaries = [line for line in capsys.readouterr().out.splitlines() if line.startswith("corpus: ")]
    assert len(summaries) == 2 and summaries[0].split(" (cache")[0] == summaries[1].split(" (cache")[0]
    assert "20 documents" in summaries[0]


def test_a_path_that_is_neither_file_nor_folder_is_one_line_and_status_2(tmp_path, capsys):
    """/dev/null exists, so "does not exist" would mislead: both commands say what it is not, before any work."""
    pretrain_argv = ["--corpus", "/dev/null", "--output", str(tmp_path / "pretrained"), "--cache-dir",
                     str(tmp_path / "cache"), "--preset", "tiny", "--vocab-size", "100", "--max-steps", "1",
                     "--no-progress"]
    tokenizer_argv = ["train", "--corpus", "/dev/null", "--vocab-size", "100", "--output", str(tmp_path / "vocab")]
    for main, argv in ((pretrain_main, pretrain_argv), (tokenizer_main, tokenizer_argv)):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.splitlines()[-1] == "error: corpus path /dev/null is neither a file nor a folder", err
        assert "does not exist" not in err
    assert not (tmp_path / "vocab").exists() and not (tmp_path / "cache").exists()
