"""`bert-tokenizer train` / `encode`, and `python -m tokenizer`."""

import subprocess
import sys
from pathlib import Path

import pytest

from tokenizer import WordPieceTokenizer
from tokenizer.cli import main

REPO = Path(__file__).resolve().parents[1]


def write_corpus(directory: Path) -> Path:
    directory.mkdir()
    words = ["the", "cat", "sat", "on", "mat", "unaffable", "dog", "ran", "far", "away", "Crème", "brûlée"]
    lines = [" ".join(words[(i * 7 + j) % len(words)] for j in range(9)) + "." for i in range(400)]
    (directory / "a.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


def test_train_then_encode(tmp_path, capsys):
    corpus = write_corpus(tmp_path / "corpus")
    assert main(["train", "--input", str(corpus), "--vocab-size", "70", "--output", str(tmp_path / "tok")]) == 0
    assert "saved 70 tokens (uncased)" in capsys.readouterr().out
    tok = WordPieceTokenizer.from_pretrained(tmp_path / "tok")
    assert tok.vocab_size == 70 and tok.lowercase

    assert main(["encode", "--vocab", str(tmp_path / "tok"), "The cat", "--pair", "sat."]) == 0
    tokens_line, ids_line = capsys.readouterr().out.splitlines()
    assert tokens_line.split() == ["tokens:", "[CLS]", "the", "cat", "[SEP]", "sat", ".", "[SEP]"]
    assert [int(i) for i in ids_line.split()[1:]] == tok.encode("The cat", "sat.").ids

    for flag in ("--max-seq-length", "--max-length"):  # --max-length: the old name, still read
        assert main(["encode", "--vocab", str(tmp_path / "tok"), "The cat", "--pair", "sat.", flag, "5"]) == 0
        tokens_line, _ = capsys.readouterr().out.splitlines()
        assert tokens_line.split() == ["tokens:", "[CLS]", "the", "[SEP]", "sat", "[SEP]"]
    with pytest.raises(SystemExit):
        main(["encode", "--help"])
    help_text = capsys.readouterr().out
    assert "--max-seq-length N" in help_text and "--max-length" not in help_text


def test_cased_training(tmp_path, capsys):
    corpus = write_corpus(tmp_path / "corpus")
    assert main(["train", "--input", str(corpus / "a.txt"), "--vocab-size", "70", "--output", str(tmp_path / "tok"),
                 "--cased"]) == 0
    assert "(cased)" in capsys.readouterr().out
    assert WordPieceTokenizer.from_pretrained(tmp_path / "tok").lowercase is False


def test_lines_that_are_not_utf8_are_skipped_and_counted_as_pretraining_does(tmp_path, capsys):
    corpus = write_corpus(tmp_path / "corpus")
    with open(corpus / "a.txt", "ab") as f:
        f.write(b"caf\xe9 latin-1 line\n")
    assert main(["train", "--corpus", str(corpus), "--vocab-size", "70", "--output", str(tmp_path / "tok")]) == 0
    err = capsys.readouterr().err
    assert f"note: skipped 1 line(s) that are not valid UTF-8 (first: {corpus / 'a.txt'}:401)" in err
    assert "caf" not in (tmp_path / "tok" / "vocab.txt").read_text()


def test_user_errors_are_one_line(tmp_path, capsys):
    missing = tmp_path / "no" / "such.txt"
    assert main(["train", "--corpus", str(missing), "--vocab-size", "50", "--output", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"error: corpus path {missing} does not exist\n"
    assert not (tmp_path / "out").exists()

    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    assert main(["train", "--corpus", str(empty), "--vocab-size", "50", "--output", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == "error: no text to train on: the input is empty"
    assert not (tmp_path / "out").exists()

    assert main(["encode", "--vocab", str(tmp_path / "missing"), "text"]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'missing'}: no such file or directory\n"

    for flag in ("--max-seq-length", "--max-length"):  # --max-length: the old name, still read
        assert main(["encode", "--vocab", str(tmp_path / "missing"), "text", "--pair", "more", flag, "2"]) == 2
        assert capsys.readouterr().err == ("error: --max-seq-length 2 leaves no room for the text: [CLS] and [SEP] "
                                           "take 3 tokens\n")
    corpus = write_corpus(tmp_path / "corpus")
    a_file = corpus / "a.txt"  # --output where a file stands, or below one: refused before any training
    for output in (a_file, a_file / "vocab"):
        assert main(["train", "--corpus", str(corpus), "--vocab-size", "70", "--output", str(output)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: --output {output}: ") and "not a directory" in err and "training" not in err

    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "caf"]) + "\n", encoding="utf-8")
    undecodable = b"caf\xe9".decode("utf-8", errors="surrogateescape")  # how Python passes such argv bytes on
    assert main(["encode", "--vocab", str(vocab), undecodable]) == 2
    assert capsys.readouterr().err == "error: the text 'caf\\udce9' is not valid UTF-8 (position 3)\n"

    with pytest.raises(SystemExit) as stop:  # a flag's value: argparse's usage error, also status 2
        main(["train", "--corpus", str(empty), "--vocab-size", "5", "--output", str(tmp_path / "out")])
    assert stop.value.code == 2 and "--vocab-size: must be above 5" in capsys.readouterr().err


def test_python_dash_m(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "##s"]) + "\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "tokenizer", "encode", "--vocab", str(vocab), "Hellos!"],
                            capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].split() == ["tokens:", "[CLS]", "hello", "##s", "[UNK]", "[SEP]"]
