"""The tasks' training sentences as a pretraining corpus: every training example, no label, no dev text."""

import subprocess
import sys
from pathlib import Path

from finetune import task_text
from finetune.task_text import cli as task_text_cli
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
    assert task_text_cli.main(["--tasks", "cola, MRPC", "--data-dir", str(GLUE_FIXTURES),
                           "--output", str(tmp_path / "text")]) == 0
    assert sorted(p.name for p in (tmp_path / "text").iterdir()) == ["cola-train.txt", "mrpc-train.txt"]
    capsys.readouterr()
    assert task_text_cli.main(["--tasks", "glue", "--data-dir", str(GLUE_FIXTURES), "--output", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown task 'glue'") and err.count("\n") == 1, err
    assert task_text_cli.main(["--tasks", "cola", "--data-dir", str(tmp_path), "--output", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no such file" in err and err.count("\n") == 1, err


def test_the_step_bert_main_runs_exits_2_on_bad_input(tmp_path):
    """main_job runs `python -m finetune.task_text` as a subprocess: a user error is status 2 there too."""
    result = subprocess.run([sys.executable, "-m", "finetune.task_text", "--tasks", "glue", "--data-dir",
                             str(GLUE_FIXTURES), "--output", str(tmp_path / "x")],
                            capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 2
    assert result.stderr.startswith("error: unknown task 'glue'") and result.stderr.count("\n") == 1
