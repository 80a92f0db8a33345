"""WordPieceTokenizer: encoding, batching, decoding, word ids, save/load, clear errors for bad input; and
the reference tokenizer's steps.

Most tests use a 20-token toy vocabulary so the expected ids can be written down by hand.
"""

import json

import pytest
import torch

from tokenizer import WordPieceTokenizer, reference
from tokenizer.reference import ReferenceTokenizer
from tokenizer.vocab_files import VocabularyError

TOY_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",  # 0-4
              "un", "##aff", "##able", "the", "cat",           # 5-9
              "sat", "##s", ",", "!", "'",                     # 10-14
              "hello", "world", "cafe", "Cafe", "t",           # 15-19
              "##t"]                                           # 20


@pytest.fixture(scope="module")
def toy_vocab_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("toy") / "vocab.txt"
    path.write_text("\n".join(TOY_TOKENS) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def toy(toy_vocab_file):
    return WordPieceTokenizer.from_pretrained(toy_vocab_file)


# ---------------------------------------------------------------- encode


def test_single_text_ids_tokens_and_word_ids(toy):
    e = toy.encode("Unaffable cats, hello!")
    assert e.tokens == ["[CLS]", "un", "##aff", "##able", "cat", "##s", ",", "hello", "!", "[SEP]"]
    assert e.ids == [2, 5, 6, 7, 9, 11, 12, 15, 13, 3]
    assert e.token_type_ids == [0] * 10
    assert e.attention_mask == [1] * 10
    assert e.word_ids == [None, 0, 0, 0, 1, 1, 2, 3, 4, None]


def test_pair_segments_and_word_ids_restart(toy):
    e = toy.encode("the cat", "cats sat")
    assert e.tokens == ["[CLS]", "the", "cat", "[SEP]", "cat", "##s", "sat", "[SEP]"]
    assert e.token_type_ids == [0, 0, 0, 0, 1, 1, 1, 1]
    assert e.word_ids == [None, 0, 1, None, 0, 0, 1, None]


def test_lowercase_strips_accents_and_unknown_words_become_unk(toy):
    assert toy.encode("CAFÉ dog").tokens == ["[CLS]", "cafe", "[UNK]", "[SEP]"]


def test_empty_and_blank_text_give_cls_sep(toy):
    assert toy.encode("").ids == [2, 3]
    assert toy.encode(" \t\n").ids == [2, 3]
    assert toy.encode("", "").ids == [2, 3, 3]


def test_special_token_inside_text_is_one_token_exact_case_only(toy):
    assert toy.encode("the [MASK] sat").ids == [2, 8, 4, 10, 3]
    assert toy.encode("the[MASK]").ids == [2, 8, 4, 3]
    # lowercase "[mask]" is ordinary text: "[", "mask", "]" (none of them in the toy vocabulary)
    assert toy.encode("[mask]").ids == [2, 1, 1, 1, 3]


def test_word_over_100_characters_is_unk(toy):
    assert toy.encode("t" * 100).tokens == ["[CLS]", "t"] + ["##t"] * 99 + ["[SEP]"]
    assert toy.encode("t" * 101).tokens == ["[CLS]", "[UNK]", "[SEP]"]


def test_truncation_single_and_longest_first_pair(toy):
    assert toy.encode("the cat sat", max_length=4).tokens == ["[CLS]", "the", "cat", "[SEP]"]
    # 5 + 1 tokens into a budget of 3: the longer text loses tokens until the lengths meet
    e = toy.encode("the cat sat the cat", "hello", max_length=6)
    assert e.tokens == ["[CLS]", "the", "cat", "[SEP]", "hello", "[SEP]"]
    assert e.token_type_ids == [0, 0, 0, 0, 1, 1]
    assert len(toy.encode("the cat sat " * 400, max_length=512)) == 512


def test_cased_vocabulary_keeps_case(toy_vocab_file):
    cased = WordPieceTokenizer.from_pretrained(toy_vocab_file, lowercase=False)
    assert cased.encode("Cafe cafe").tokens == ["[CLS]", "Cafe", "cafe", "[SEP]"]
    assert cased.encode("Café").tokens == ["[CLS]", "[UNK]", "[SEP]"]  # cased: accents are kept too


# ---------------------------------------------------------------- batches


def test_batch_pads_to_longest(toy):
    batch = toy(["the cat", "hello world !"])
    assert torch.equal(batch["input_ids"], torch.tensor([[2, 8, 9, 3, 0], [2, 15, 16, 13, 3]]))
    assert torch.equal(batch["token_type_ids"], torch.zeros(2, 5, dtype=torch.long))
    assert torch.equal(batch["attention_mask"], torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]))
    assert all(t.dtype == torch.long for t in batch.values())


def test_batch_pairs_truncated_and_padded_to_max_length(toy):
    batch = toy(["the cat sat", "hello"], ["cats", "world"], max_length=7, padding="max_length")
    assert batch["input_ids"].tolist() == [[2, 8, 9, 3, 9, 11, 3], [2, 15, 3, 16, 3, 0, 0]]
    assert batch["token_type_ids"].tolist() == [[0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 1, 1, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1] * 7, [1, 1, 1, 1, 1, 0, 0]]


def test_batch_equals_single_encodings(toy):
    texts = ["the cat", "unaffable cats, hello world!", ""]
    batch = toy(texts, max_length=6)
    for row, text in enumerate(texts):
        ids = toy.encode(text, max_length=6).ids
        assert batch["input_ids"][row, :len(ids)].tolist() == ids
        assert batch["attention_mask"][row].sum().item() == len(ids)


def test_encode_batch_ids_and_words_have_no_specials_and_no_padding(toy):
    assert toy.encode_batch_ids(["the cats", "", "unaffable!"]) == [[8, 9, 11], [], [5, 6, 7, 13]]
    assert toy.encode_batch_words(["the cats", "unaffable!"]) == [([8, 9, 11], [0, 1, 1]),
                                                                  ([5, 6, 7, 13], [0, 0, 0, 1])]
    # a long text comes out whole: this is for corpus preprocessing, which packs its own sequences
    assert len(toy.encode_batch_ids(["the " * 1000])[0]) == 1000


def test_settings_do_not_leak_between_calls(toy):
    toy(["the cat sat"], max_length=3, padding="max_length")
    assert toy.encode("the cat sat").ids == [2, 8, 9, 10, 3]
    assert toy.encode_batch_ids(["the", "the cat sat"]) == [[8], [8, 9, 10]]


# ---------------------------------------------------------------- decode and ids


def test_decode_joins_pieces_and_skips_special_tokens(toy):
    ids = toy.encode("unaffable cats sat", "hello").ids
    assert toy.decode(ids) == "unaffable cats sat hello"
    assert toy.decode(torch.tensor(ids), skip_special_tokens=False) == "[CLS] unaffable cats sat [SEP] hello [SEP]"


def test_special_ids_come_from_the_vocabulary(toy, minilm_path):
    def special_ids(tok):
        return tok.pad_token_id, tok.unk_token_id, tok.cls_token_id, tok.sep_token_id, tok.mask_token_id

    assert special_ids(toy) == (0, 1, 2, 3, 4)
    hf = WordPieceTokenizer.from_pretrained(minilm_path)  # bert-base-uncased's vocabulary
    assert special_ids(hf) == (0, 100, 101, 102, 103)
    assert hf.special_ids == {0, 100, 101, 102, 103}
    assert hf.vocab_size == 30522 and hf.lowercase is True
    assert hf.encode("hello").ids == [101, 7592, 102]


# ---------------------------------------------------------------- save / load


def test_save_load_round_trip(toy, tmp_path):
    directory = toy.save(tmp_path / "tok")
    assert sorted(p.name for p in directory.iterdir()) == ["tokenizer.json", "tokenizer_config.json", "vocab.txt"]
    assert (directory / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1] == TOY_TOKENS
    assert json.loads((directory / "tokenizer_config.json").read_text())["do_lower_case"] is True
    texts = ["Unaffable cats, hello!", "CAFÉ [MASK] t", ""]
    for loaded in (WordPieceTokenizer.from_pretrained(directory),
                   WordPieceTokenizer.from_pretrained(directory / "tokenizer.json"),
                   WordPieceTokenizer.from_pretrained(directory / "vocab.txt")):
        assert loaded.vocab == toy.vocab and loaded.lowercase is True
        assert [loaded.encode(t) for t in texts] == [toy.encode(t) for t in texts]


def test_cased_setting_is_recorded_not_guessed(toy_vocab_file, tmp_path):
    cased = WordPieceTokenizer.from_pretrained(toy_vocab_file, lowercase=False)
    directory = cased.save(tmp_path / "cased")
    spec = json.loads((directory / "tokenizer.json").read_text())
    assert spec["normalizer"]["lowercase"] is False
    assert WordPieceTokenizer.from_pretrained(directory).lowercase is False
    (directory / "tokenizer.json").unlink()  # tokenizer_config.json alone still records it
    assert WordPieceTokenizer.from_pretrained(directory).lowercase is False
    with pytest.raises(ValueError, match="records lowercase=False"):
        WordPieceTokenizer.from_pretrained(directory, lowercase=True)


def test_hf_loads_what_we_save(toy_vocab_file, tmp_path):
    transformers = pytest.importorskip("transformers")
    texts = ["Unaffable cats, hello!", "Cafe CAFE café", "the [MASK] sat"]
    for lowercase in (True, False):
        ours = WordPieceTokenizer.from_pretrained(toy_vocab_file, lowercase=lowercase)
        hf = transformers.BertTokenizerFast.from_pretrained(str(ours.save(tmp_path / str(lowercase))))
        assert [hf(t)["input_ids"] for t in texts] == [ours.encode(t).ids for t in texts]


def test_load_hf_checkpoint_directory_ignores_its_padding_settings(minilm_path):
    # this checkpoint's tokenizer.json pads everything to 128; we build our own pipeline from its vocabulary
    tok = WordPieceTokenizer.from_pretrained(minilm_path)
    assert len(tok.encode("a short text")) == 5


# ---------------------------------------------------------------- bad input


def write_vocab(tmp_path, tokens, name="vocab.txt"):
    path = tmp_path / name
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return path


def test_vocab_without_special_tokens_is_rejected(tmp_path):
    with pytest.raises(ValueError, match=r"vocab.txt: the vocabulary lacks the special token\(s\) \[CLS\] \[MASK\]"):
        WordPieceTokenizer.from_pretrained(write_vocab(tmp_path, ["[PAD]", "[UNK]", "[SEP]", "a"]))


def test_vocab_with_duplicate_token_names_both_lines(tmp_path):
    with pytest.raises(ValueError, match=r"vocab.txt:7: token 'a' already appears on line 6"):
        WordPieceTokenizer.from_pretrained(write_vocab(tmp_path, TOY_TOKENS[:5] + ["a", "a"]))


def test_vocab_that_is_not_utf8_is_rejected(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_bytes("\n".join(TOY_TOKENS).encode() + b"\ncaf\xe9\n")
    with pytest.raises(ValueError, match="vocab.txt: not a UTF-8 text file"):
        WordPieceTokenizer.from_pretrained(path)


def test_missing_paths_are_clear(tmp_path):
    with pytest.raises(VocabularyError, match="no such file or directory"):
        WordPieceTokenizer.from_pretrained(tmp_path / "nope")
    with pytest.raises(VocabularyError, match="no vocab.txt or tokenizer.json in this directory"):
        WordPieceTokenizer.from_pretrained(tmp_path)


def test_non_text_and_non_unicode_inputs_are_clear(toy):
    with pytest.raises(TypeError, match="text must be a str, not bytes"):
        toy.encode(b"the cat")
    smuggled = b"caf\xe9".decode("utf-8", errors="surrogateescape")
    with pytest.raises(ValueError, match=r"text #1 holds '\\udce9' at position 3"):
        toy(["the cat", smuggled])
    with pytest.raises(TypeError, match="pair #0 must be a str, not NoneType"):
        toy(["the cat"], [None])
    with pytest.raises(ValueError, match=r"text #0 holds"):
        toy.encode_batch_ids([smuggled])


def test_bad_lengths_and_padding_are_clear(toy):
    with pytest.raises(ValueError, match="max_length must be an integer of at least 3"):
        toy.encode("the", "cat", max_length=2)
    with pytest.raises(ValueError, match="padding='max_length' needs max_length"):
        toy(["the"], padding="max_length")
    with pytest.raises(ValueError, match="got 2 texts but 1 pairs"):
        toy(["the", "cat"], ["sat"])
    with pytest.raises(ValueError, match="no texts to encode"):
        toy([])


# ---------------------------------------------------------------- the reference, step by step


def test_reference_walkthrough_from_its_docstring(toy_vocab_file, toy):
    ref = ReferenceTokenizer(toy_vocab_file)
    assert reference.basic_tokenize("Unaffable!", lowercase=True) == ["unaffable", "!"]
    assert reference.wordpiece("unaffable", ref.vocab) == ["un", "##aff", "##able"]
    assert ref.tokenize("Unaffable!") == ["un", "##aff", "##able", "!"]
    ids = [2, 5, 6, 7, 13, 3, 8, 9, 3]
    assert ref.encode("Unaffable!", "the cat") == toy.encode("Unaffable!", "the cat").ids == ids


def test_reference_steps():
    assert reference.clean_text("a\x00b\u00a0c\td\x7fe\ufffd") == "ab c de"
    assert reference.space_out_cjk("I love北京") == "I love 北  京 "
    assert reference.strip_accents("crème brûlée") == "creme brulee"
    assert reference.split_punctuation("don't!$5") == ["don", "'", "t", "!", "$", "5"]
    words = ["creme", "brulee", ",", "don", "'", "t"]
    assert reference.basic_tokenize("Crème\u00a0BRÛLÉE, don't", lowercase=True) == words
    assert reference.basic_tokenize("Crème", lowercase=False) == ["Crème"]
    vocab = {"un": 0, "##aff": 1, "t": 2, "##t": 3}
    assert reference.wordpiece("unaffx", vocab) == ["[UNK]"]  # "x" matches nothing: the whole word is lost
    assert reference.wordpiece("t" * 100, vocab) == ["t"] + ["##t"] * 99
    assert reference.wordpiece("t" * 101, vocab) == ["[UNK]"]
    assert reference.truncate_pair([1, 2, 3, 4], [5, 6], budget=3) == ([1, 2], [5])
    assert reference.truncate_pair([1, 2, 3], [4, 5, 6], budget=3) == ([1, 2], [4])  # a tie cuts the second
