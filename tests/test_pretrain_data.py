"""Pretraining data: reading corpora, the token cache, NSP examples, masking and batch order."""

import random

import numpy as np
import pytest

from bert.errors import InputError
from pretrain import cache as cache_module
from pretrain.batches import SpecialIds, collate, micro_batch_positions
from pretrain.cache import load_or_build
from tokenizer.corpus import CorpusStats, read_documents, resolve_sources, split_sentences
from pretrain.examples import (A_END, A_START, B_END, B_START, IS_RANDOM_NEXT, assemble, build_examples,
                               split_held_out, truncated_lengths)
from pretrain.masking import IGNORE_INDEX, MaskingScheme, mask_example
from tokenizer import WordPieceTokenizer

# ----------------------------------------------------------------------------------------------- corpus


def documents_of(path, **kwargs):
    stats = CorpusStats()
    return list(read_documents(resolve_sources([str(path)], **kwargs), stats)), stats


def test_blank_lines_separate_documents_and_paragraphs_split_into_sentences(tmp_path):
    (tmp_path / "a.txt").write_text("First doc. It has two sentences.\nSecond line\n\n\nNext doc!\n")
    docs, stats = documents_of(tmp_path / "a.txt")
    assert docs == [["First doc.", "It has two sentences.", "Second line"], ["Next doc!"]]
    assert stats.documents == 2 and stats.invalid_utf8_lines == 0


def test_sentence_splitting_keeps_closing_quotes_and_lowercase_continuations():
    assert split_sentences('He said "stop." Then he left. e.g. this stays') == \
        ['He said "stop."', "Then he left. e.g. this stays"]


def test_wikitext_titles_start_documents_and_headings_are_dropped(tmp_path):
    (tmp_path / "wiki.tokens").write_text(
        " \n = Lobster = \n \n Lobsters are big . They live in the sea . \n \n = = Biology = = \n \n"
        " They molt . \n \n = Crab = \n \n Crabs walk sideways . \n")
    docs, _ = documents_of(tmp_path / "wiki.tokens")
    assert docs == [["Lobsters are big .", "They live in the sea .", "They molt ."], ["Crabs walk sideways ."]]


def test_invalid_utf8_lines_are_skipped_and_counted(tmp_path):
    (tmp_path / "bad.txt").write_bytes(b"good line\n\xff\xfe broken\nanother good\n\nsecond doc\n")
    docs, stats = documents_of(tmp_path / "bad.txt")
    assert docs == [["good line", "another good"], ["second doc"]]
    assert stats.invalid_utf8_lines == 1 and stats.first_invalid_line.endswith("bad.txt:2")


def test_folders_are_read_recursively_in_order_skipping_other_files(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.txt").write_text("bee\n")
    (tmp_path / "sub" / "a.tokens").write_text("ant\n")
    (tmp_path / "MANIFEST.tsv").write_text("not\ttext\n")
    docs, stats = documents_of(tmp_path)
    assert docs == [["bee"], ["ant"]] and len(stats.sources) == 2


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        resolve_sources([str(tmp_path / "nope.txt")])
    with pytest.raises(InputError, match="^corpus path /dev/null is neither a file nor a folder$"):
        resolve_sources(["/dev/null"])  # it exists: a device, not a file


def test_hub_dataset_rows_are_read_as_lines(monkeypatch):
    datasets = pytest.importorskip("datasets")
    rows = [" = Title = \n", " \n", " Some text . More text . \n", " = Other = \n", " Body . \n"]
    calls = []

    def fake_load_dataset(name, config, split):
        calls.append((name, config, split))
        return datasets.Dataset.from_dict({"text": rows})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    docs = list(read_documents(resolve_sources(["wikitext/wikitext-103-raw-v1"], split="validation")))
    assert calls == [("wikitext", "wikitext-103-raw-v1", "validation")]
    assert docs == [["Some text .", "More text ."], ["Body ."]]


# ----------------------------------------------------------------------------------------------- cache

WORDS = "the a cat dog sat ran on under mat rug big small red blue house tree".split()


def write_corpus(path, n_docs, seed=0):
    rng = random.Random(seed)
    docs = ["\n".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))) + "."
                      for _ in range(rng.randint(3, 10))) for _ in range(n_docs)]
    path.write_text("\n\n".join(docs) + "\n")
    return path


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("vocab")
    WordPieceTokenizer({t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "."] + WORDS)}
                       ).save(directory)
    return directory


def test_cache_holds_the_token_stream_and_is_reused(tmp_path, tokenizer_dir, monkeypatch):
    corpus = write_corpus(tmp_path / "c.txt", n_docs=5)
    sources = resolve_sources([str(corpus)])
    built = load_or_build(sources, tokenizer_dir, tmp_path / "cache", vocab_size=30, show_progress=False)

    tok = WordPieceTokenizer.from_pretrained(tokenizer_dir)
    docs = list(read_documents(sources))
    expected = [t for doc in docs for s in doc for t in tok.encode_batch_ids([s])[0]]
    assert built.tokens.dtype == np.uint16 and built.tokens.tolist() == expected
    assert built.info["documents"] == 5 and len(built.document_starts) == 6
    first_doc = built.tokens[built.sentence_starts[built.document_starts[0]]:
                             built.sentence_starts[built.document_starts[1]]]
    assert first_doc.tolist() == [t for s in docs[0] for t in tok.encode_batch_ids([s])[0]]

    monkeypatch.setattr(cache_module, "_build", lambda *a, **k: pytest.fail("the cache was rebuilt"))
    again = load_or_build(sources, tokenizer_dir, tmp_path / "cache", vocab_size=30, show_progress=False)
    assert again.directory == built.directory


def test_cache_key_changes_with_the_corpus_file(tmp_path, tokenizer_dir):
    corpus = write_corpus(tmp_path / "c.txt", n_docs=3)
    first = load_or_build(resolve_sources([str(corpus)]), tokenizer_dir, tmp_path, 30, show_progress=False)
    write_corpus(corpus, n_docs=4, seed=1)
    second = load_or_build(resolve_sources([str(corpus)]), tokenizer_dir, tmp_path, 30, show_progress=False)
    assert first.directory != second.directory and second.info["documents"] == 4


def test_worker_processes_give_the_same_cache(tmp_path, tokenizer_dir, monkeypatch):
    monkeypatch.setattr(cache_module, "CHUNK_CHARS", 300)  # many chunks, documents spanning chunk edges
    corpus = write_corpus(tmp_path / "c.txt", n_docs=20)
    one = load_or_build(resolve_sources([str(corpus)]), tokenizer_dir, tmp_path / "one", 30, 1, False)
    two = load_or_build(resolve_sources([str(corpus)]), tokenizer_dir, tmp_path / "two", 30, 2, False)
    assert np.array_equal(one.tokens, two.tokens)
    assert np.array_equal(one.sentence_starts, two.sentence_starts)
    assert np.array_equal(one.document_starts, two.document_starts)


# ----------------------------------------------------------------------------------------------- examples


def synthetic_corpus(n_docs=30, seed=0):
    """Sentence and document boundaries of a random corpus; token i of the stream has value i."""
    rng = np.random.default_rng(seed)
    sentences_per_doc = rng.integers(1, 25, n_docs)
    lengths = rng.integers(1, 40, sentences_per_doc.sum())
    sentence_starts = np.concatenate([[0], np.cumsum(lengths)])
    document_starts = np.concatenate([[0], np.cumsum(sentences_per_doc)])
    return sentence_starts, document_starts


def document_of(sentence_starts, document_starts):
    """token position -> index of the document holding it, for arrays of positions."""
    doc_token_starts = sentence_starts[document_starts]
    return lambda token: np.searchsorted(doc_token_starts, token, side="right") - 1


def check_pairs_fit(examples, max_seq_length):
    len_a, len_b = examples[:, A_END] - examples[:, A_START], examples[:, B_END] - examples[:, B_START]
    assert (len_a >= 1).all() and (len_b >= 1).all() and (len_a + len_b + 3 <= max_seq_length).all()


def google_truncation(len_a, len_b, max_total):
    while len_a + len_b > max_total:
        if len_a > len_b:
            len_a -= 1
        else:
            len_b -= 1
    return len_a, len_b


def test_truncation_matches_googles_one_token_at_a_time_loop():
    rng = random.Random(0)
    for _ in range(2000):
        a, b, m = rng.randint(1, 300), rng.randint(1, 300), rng.randint(2, 200)
        assert truncated_lengths(a, b, m) == google_truncation(a, b, m)


def test_nsp_pairs_are_half_random_never_same_document_and_fit():
    sentence_starts, document_starts = synthetic_corpus()
    train, held_out = build_examples(sentence_starts, document_starts, max_seq_length=64, short_seq_prob=0.1,
                                     nsp=True, held_out_fraction=0.1, seed=0)
    doc_of = document_of(sentence_starts, document_starts)
    for examples in (train, held_out):
        check_pairs_fit(examples, 64)
        same_doc = doc_of(examples[:, A_START]) == doc_of(examples[:, B_START])
        is_random = examples[:, IS_RANDOM_NEXT] == 1
        assert not (is_random & same_doc).any()  # a random B never comes from A's document
        assert (same_doc | is_random).all()  # a true continuation does
        follows = ~is_random
        assert (examples[follows, B_START] >= examples[follows, A_END]).all()
    assert 0.45 < train[:, IS_RANDOM_NEXT].mean() < 0.55
    train_lengths = train[:, A_END] - train[:, A_START] + train[:, B_END] - train[:, B_START] + 3
    assert (train_lengths < 40).mean() > 0.03  # short_seq_prob gives some short examples
    # no training example reads a held-out token
    held_docs = split_held_out(sentence_starts, document_starts, 0.1, max_sentence_tokens=30, seed=0)[1]
    starts = held_docs.sentence_starts
    held_out_tokens = np.concatenate([np.arange(starts[f], starts[l]) for f, l in zip(held_docs.first, held_docs.last)])
    train_tokens = np.concatenate([np.arange(s, e) for row in train for s, e in (row[:2], row[2:4])])
    assert not np.isin(train_tokens, held_out_tokens).any()


@pytest.mark.parametrize("negatives", ["swapped", "both"])
def test_swapped_negatives_are_a_documents_continuation_put_before_it(negatives):
    sentence_starts, document_starts = synthetic_corpus(n_docs=300)
    default, _ = build_examples(sentence_starts, document_starts, max_seq_length=64, short_seq_prob=0.1,
                                nsp=True, held_out_fraction=0.1, seed=0)
    train, held_out = build_examples(sentence_starts, document_starts, max_seq_length=64, short_seq_prob=0.1,
                                     nsp=True, held_out_fraction=0.1, seed=0, nsp_negatives=negatives)
    doc_of = document_of(sentence_starts, document_starts)
    for examples in (train, held_out):
        check_pairs_fit(examples, 64)
        is_negative = examples[:, IS_RANDOM_NEXT] == 1
        swapped = is_negative & (examples[:, B_END] <= examples[:, A_START]) & (
            doc_of(examples[:, A_START]) == doc_of(examples[:, B_START]))
        # a swapped pair: B is text that came just before A in A's document (only trimming between them)
        assert (examples[swapped, A_START] - examples[swapped, B_END] < 64).all()
        other_document = is_negative & (doc_of(examples[:, A_START]) != doc_of(examples[:, B_START]))
        assert (swapped | other_document | ~is_negative).all()
        if examples is train:
            swapped_share = swapped.sum() / is_negative.sum()
    assert 0.45 < train[:, IS_RANDOM_NEXT].mean() < 0.6  # half, plus single sentences (always negative)
    if negatives == "swapped":  # all but the single-sentence chunks, which have nothing to swap
        assert swapped_share > 0.6
    else:
        assert 0.35 < swapped_share < 0.65
    assert not np.array_equal(train, default)


def sentences_of(documents):
    return np.concatenate([np.arange(f, l) for f, l in zip(documents.first, documents.last)])


@pytest.mark.parametrize("n_docs, fraction", [(30, 0.1), (30, 0.01), (200, 0.05), (1, 0.2)])
def test_held_out_documents_are_random_whole_documents_of_the_exact_share(n_docs, fraction):
    sentence_starts, document_starts = synthetic_corpus(n_docs=n_docs)
    train, held_out = split_held_out(sentence_starts, document_starts, fraction, max_sentence_tokens=1000, seed=3)
    n_sentences = len(sentence_starts) - 1
    train_sentences, held_sentences = sentences_of(train), sentences_of(held_out)
    assert len(held_sentences) == max(1, round(fraction * n_sentences))
    assert np.array_equal(np.sort(np.concatenate([train_sentences, held_sentences])), np.arange(n_sentences))
    # each held-out part is the end of its document: a whole document or the tail of the one split
    assert set(held_out.last.tolist()) <= set(document_starts[1:].tolist())
    partial = ~np.isin(held_out.first, document_starts)
    assert partial.sum() <= 1
    if n_docs >= 30 and fraction >= 0.05:
        assert not np.array_equal(held_sentences, np.arange(n_sentences - len(held_sentences), n_sentences))
        other_seed = split_held_out(sentence_starts, document_starts, fraction, max_sentence_tokens=1000, seed=4)[1]
        assert not np.array_equal(held_out.first, other_seed.first)  # drawn at random, not the corpus's end


def test_assembled_pair_has_cls_sep_and_token_types():
    tokens = np.arange(100, 120, dtype=np.uint16)
    ids, types = assemble(np.array([0, 3, 10, 12, 1]), tokens, cls_id=2, sep_id=3)
    assert ids.tolist() == [2, 100, 101, 102, 3, 110, 111, 3]
    assert types.tolist() == [0, 0, 0, 0, 0, 1, 1, 1]
    ids, types = assemble(np.array([5, 7, 7, 7, 0]), tokens, cls_id=2, sep_id=3)
    assert ids.tolist() == [2, 105, 106, 3] and types.tolist() == [0, 0, 0, 0]


def test_single_document_needs_no_nsp():
    sentence_starts, document_starts = synthetic_corpus(n_docs=1)
    with pytest.raises(InputError, match="single document.*--no-nsp"):
        build_examples(sentence_starts, document_starts, max_seq_length=64, short_seq_prob=0.1, nsp=True,
                       held_out_fraction=0.1, seed=0)
    train, _ = build_examples(sentence_starts, document_starts, max_seq_length=64, short_seq_prob=0.1, nsp=False,
                              held_out_fraction=0.1, seed=0)
    lengths = train[:, A_END] - train[:, A_START]
    assert (lengths <= 62).all() and (train[:, B_START] == train[:, B_END]).all()
    assert np.array_equal(train[1:, A_START], train[:-1, A_END])  # segments tile the document



def test_packing_documents_fills_examples_without_crossing_a_held_out_document():
    """One-sentence documents of 10 tokens each: one example per sentence without packing; with it, six
    sentences (60 of the 62 tokens) in most examples, and no example spans the tokens of a held-out document."""
    sentence_starts = np.arange(0, 1001, 10, dtype=np.int64)  # 100 sentences
    document_starts = np.arange(101, dtype=np.int64)  # each its own document
    settings = dict(max_seq_length=64, short_seq_prob=0.1, nsp=False, held_out_fraction=0.1, seed=0)
    plain, _ = build_examples(sentence_starts, document_starts, **settings)
    train, held_out = build_examples(sentence_starts, document_starts, pack_documents=True, **settings)
    assert len(plain) == 90 and (plain[:, A_END] - plain[:, A_START] == 10).all()
    lengths = train[:, A_END] - train[:, A_START]
    assert lengths.sum() == 900 and lengths.max() == 60 and len(train) < len(plain) / 3
    held_tokens = {t for row in held_out for t in range(row[A_START], row[A_END])}
    assert len(held_tokens) == 100
    assert not any(held_tokens & set(range(row[A_START], row[A_END])) for row in train)
    assert (train[:, B_START] == train[:, B_END]).all()


# ----------------------------------------------------------------------------------------------- masking

SPECIAL = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4}


def scheme(vocab_size=1000, **options):
    tokens = list(SPECIAL) + [f"##w{i}" if i % 3 == 0 else f"w{i}" for i in range(5, vocab_size)]
    return MaskingScheme.for_vocabulary(tokens, list(SPECIAL.values()), SPECIAL["[MASK]"], **options)


def masking_input(n=100_000, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, 1000, n)
    ids[::50] = SPECIAL["[CLS]"]
    ids[25::50] = SPECIAL["[SEP]"]
    ids[-500:] = SPECIAL["[PAD]"]
    return ids


def test_masking_statistics_on_100k_tokens():
    ids = masking_input()
    masked, labels = mask_example(ids, scheme(), np.random.default_rng(1))
    targets = labels != IGNORE_INDEX
    maskable = ids >= 5
    assert not targets[~maskable].any() and (masked[~maskable] == ids[~maskable]).all()  # specials untouched
    assert (labels[targets] == ids[targets]).all()
    assert abs(targets.sum() / maskable.sum() - 0.15) < 0.005
    became_mask = (masked[targets] == SPECIAL["[MASK]"]).mean()
    unchanged = (masked[targets] == ids[targets]).mean()
    became_random = 1 - became_mask - unchanged
    assert abs(became_mask - 0.8) < 0.01 and abs(unchanged - 0.1) < 0.01 and abs(became_random - 0.1) < 0.01
    assert (masked[targets & (masked != SPECIAL["[MASK]"])] >= 5).all()  # random tokens are never specials
    assert (masked[~targets] == ids[~targets]).all()


def test_mask_probability_is_configurable():
    ids = masking_input()
    _, labels = mask_example(ids, scheme(mask_prob=0.3), np.random.default_rng(1))
    assert abs((labels != IGNORE_INDEX).sum() / (ids >= 5).sum() - 0.3) < 0.007


def test_whole_word_masking_masks_words_entirely():
    ids = masking_input(20_000)
    s = scheme(whole_word=True)
    _, labels = mask_example(ids, s, np.random.default_rng(2))
    targets = labels != IGNORE_INDEX
    continues = s.continues_word[ids] & (ids >= 5)
    previous_is_word = np.roll(ids >= 5, 1)
    inside_word = continues & previous_is_word  # a "##" piece glued to the token before it
    assert (targets[inside_word] == np.roll(targets, 1)[inside_word]).all()
    assert abs(targets.sum() / (ids >= 5).sum() - 0.15) < 0.02


def test_masks_depend_only_on_the_generator_seed():
    ids = masking_input(5_000)
    one = mask_example(ids, scheme(), np.random.default_rng([7, 0, 3]))
    same = mask_example(ids, scheme(), np.random.default_rng([7, 0, 3]))
    other = mask_example(ids, scheme(), np.random.default_rng([7, 0, 4]))
    assert all(np.array_equal(a, b) for a, b in zip(one, same))
    assert not np.array_equal(one[1], other[1])


# ----------------------------------------------------------------------------------------------- batches


def test_one_process_with_accumulation_sees_what_two_processes_see():
    one = [micro_batch_positions(3, micro, 0, batch_size=4, grad_accum=2, world_size=1) for micro in range(2)]
    two = [micro_batch_positions(3, 0, rank, batch_size=4, grad_accum=1, world_size=2) for rank in range(2)]
    assert all(np.array_equal(a, b) for a, b in zip(one, two))
    assert one[0].tolist() == [24, 25, 26, 27] and one[1].tolist() == [28, 29, 30, 31]


def test_collate_pads_to_a_multiple_of_8_and_keeps_specials_visible():
    tokens = np.arange(100, 200, dtype=np.uint16)
    examples = np.array([[0, 5, 5, 9, 0], [20, 21, 30, 31, 1]])
    s = scheme(vocab_size=300)
    batch = collate(examples, [np.random.default_rng(i) for i in range(2)], tokens, s,
                    SpecialIds(cls=2, sep=3, pad=0), nsp=True)
    assert batch["input_ids"].shape == (2, 16)
    assert batch["attention_mask"].sum(1).tolist() == [12, 5]
    assert batch["input_ids"][1, 5:].eq(0).all() and batch["labels"][1, 5:].eq(IGNORE_INDEX).all()
    assert batch["input_ids"][:, 0].eq(2).all() and batch["next_sentence_label"].tolist() == [0, 1]
    assert batch["token_type_ids"][0].tolist() == [0] * 7 + [1] * 5 + [0] * 4
