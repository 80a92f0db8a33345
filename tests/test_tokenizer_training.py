"""Training a vocabulary: from files, folders or iterators; exact sizes; clear errors; the real corpus."""

import random
import time

import pytest

from bert.errors import InputError
from tokenizer import WordPieceTokenizer


def synthetic_lines(n_lines=3000, seed=0) -> list[str]:
    """Lines of words drawn from a fixed 400-word lexicon (Zipf-like frequencies)."""
    rng = random.Random(seed)
    lexicon = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(400)]
    weights = [1 / (rank + 1) for rank in range(len(lexicon))]
    return [" ".join(rng.choices(lexicon, weights, k=12)) + rng.choice(".!?") for _ in range(n_lines)]


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    """A folder holding the synthetic corpus in two text files (plus a file that is not read)."""
    directory = tmp_path_factory.mktemp("corpus")
    lines = synthetic_lines()
    (directory / "part1.txt").write_text("\n".join(lines[:1500]) + "\n", encoding="utf-8")
    (directory / "sub").mkdir()
    (directory / "sub" / "part2.txt").write_text("\n".join(lines[1500:]) + "\n", encoding="utf-8")
    (directory / "notes.tsv").write_text("Ωmega\tΩmega\n" * 50, encoding="utf-8")
    return directory


def train(source, vocab_size=300, **kwargs):
    return WordPieceTokenizer.train(source, vocab_size=vocab_size, show_progress=False, **kwargs)


def test_trained_vocab_has_exact_size_and_special_tokens_first(corpus_dir):
    tok = train(corpus_dir)
    assert tok.vocab_size == 300
    assert [tok.id_to_token(i) for i in range(5)] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert tok.pad_token_id == 0 and tok.cls_token_id == 2 and tok.mask_token_id == 4
    assert any(token.startswith("##") and len(token) > 3 for token in tok.vocab)  # real merges happened
    assert "ω" not in tok.vocab  # notes.tsv is not a text file, so it was not read


def test_folder_files_and_iterator_give_the_same_vocabulary(corpus_dir):
    # exact ids too: three separate runs, so this also checks that training is reproducible
    from_folder = train(corpus_dir)
    from_files = train([corpus_dir / "part1.txt", str(corpus_dir / "sub" / "part2.txt")])
    from_iterator = train(iter(synthetic_lines()))
    assert from_folder.vocab == from_files.vocab == from_iterator.vocab


def test_lowercase_is_a_training_choice(tmp_path):
    lines = [line.title() for line in synthetic_lines(1500)]
    cased, uncased = train(iter(lines), lowercase=False), train(iter(lines), lowercase=True)
    assert cased.lowercase is False and uncased.lowercase is True
    assert any(token[:1].isupper() for token in cased.vocab if not token.startswith("["))
    assert not any(token[:1].isupper() for token in uncased.vocab if not token.startswith("["))
    assert WordPieceTokenizer.from_pretrained(cased.save(tmp_path / "cased")).lowercase is False


def test_trained_tokenizer_round_trips(corpus_dir, tmp_path):
    tok = train(corpus_dir)
    loaded = WordPieceTokenizer.from_pretrained(tok.save(tmp_path / "tok"))
    texts = synthetic_lines(50, seed=1) + ["Unseen WORDS, zzz!", ""]
    assert loaded.vocab == tok.vocab
    assert [loaded.encode(t) for t in texts] == [tok.encode(t) for t in texts]
    assert loaded.encode_batch_ids(texts) == tok.encode_batch_ids(texts)


# ---------------------------------------------------------------- bad corpora


def test_empty_file_is_named(corpus_dir, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"empty.txt: the file is empty"):
        train([corpus_dir, empty])


def test_non_utf8_file_names_file_and_line(tmp_path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"first line\nsecond line\ncaf\xe9 au lait\n")
    with pytest.raises(ValueError, match=r"latin1.txt:3: not UTF-8 text \(byte 0xe9\)"):
        train(bad)


def test_missing_paths_and_lists_of_texts_are_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt: no such file or folder"):
        train(tmp_path / "nope.txt")
    with pytest.raises(FileNotFoundError, match=r"pass an iterator such as iter\(texts\)"):
        train(["the cat sat on the mat", "another line"])
    (tmp_path / "data.csv").write_text("a,b\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no text files"):
        train(tmp_path)


def test_corpus_too_small_for_the_vocab_size(tmp_path):
    with pytest.raises(InputError, match=r"too small for vocab_size 300: training ran out of merges at \d+ tokens"):
        train(iter(["aaa aaa bbb ab ba"] * 10))


def test_vocab_size_too_small_for_the_alphabet():
    with pytest.raises(InputError, match=r"vocab_size 20 is too small for this corpus: .* at least \d+"):
        train(iter(synthetic_lines(500)), vocab_size=20)


def test_empty_iterator_and_bad_items():
    with pytest.raises(InputError, match="no text to train on"):
        train(iter([]))
    with pytest.raises(TypeError, match="training text #1 must be a str, not bytes"):
        train(iter(["fine", b"bytes"]))
    with pytest.raises(ValueError, match=r"training text #0 holds '\\udce9'"):
        train(iter([b"caf\xe9".decode("utf-8", errors="surrogateescape")]))
    with pytest.raises(ValueError, match="vocab_size must be an integer above 5"):
        train(iter(["text"]), vocab_size=5)


# ---------------------------------------------------------------- the real corpus


def unk_rate(tok, lines) -> float:
    ids = [i for row in tok.encode_batch_ids(lines) for i in row]
    return ids.count(tok.unk_token_id) / len(ids)


def read_lines(path, max_bytes=None) -> list[str]:
    with open(path, encoding="utf-8") as f:
        text = f.read(max_bytes) if max_bytes else f.read()
    return [line for line in text.split("\n")[:-1] if line.strip()]


@pytest.fixture(scope="module")
def gutenberg(shared_data):
    files = sorted((shared_data / "corpus" / "gutenberg").glob("gutenberg_*.txt"))
    assert len(files) == 13
    return files


def test_real_corpus_vocab_8000_has_under_1_percent_unk_on_held_out_text(gutenberg, shared_data):
    # 400 kB from the start of each of the first 12 files (4.8 MB of books); held out: the 13th file's
    # books and WikiText-2's test articles (the full 100 MB corpus is the slow test below).
    training = [line for path in gutenberg[:12] for line in read_lines(path, 400_000)]
    tok = train(iter(training), vocab_size=8000)
    assert tok.vocab_size == 8000
    held_out_books = read_lines(gutenberg[12], 2_000_000)
    wikitext = read_lines(shared_data / "corpus" / "wikitext-2" / "wiki.test.tokens")
    assert unk_rate(tok, held_out_books) < 0.01
    assert unk_rate(tok, wikitext) < 0.01


@pytest.mark.slow
def test_training_on_100_mb_takes_under_2_minutes(gutenberg, shared_data, tmp_path):
    megabytes = sum(path.stat().st_size for path in gutenberg) / 1e6
    assert megabytes > 100
    start = time.perf_counter()
    tok = train(gutenberg[0].parent, vocab_size=8000)
    seconds = time.perf_counter() - start
    print(f"trained 8000 tokens on {megabytes:.0f} MB in {seconds:.1f} s")
    assert seconds < 120
    wikitext = read_lines(shared_data / "corpus" / "wikitext-2" / "wiki.test.tokens")
    assert unk_rate(tok, wikitext) < 0.01
    loaded = WordPieceTokenizer.from_pretrained(tok.save(tmp_path / "tok"))
    assert loaded.encode_batch_ids(wikitext[:500]) == tok.encode_batch_ids(wikitext[:500])
