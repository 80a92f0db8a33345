"""BERT's tokenizer in plain Python, written to be read: Google's BasicTokenizer + WordPiece.

This is not the fast path (`WordPieceTokenizer` runs HF's Rust code); it is the same algorithm spelled
out step by step, and the tests hold the two equal. A walk through "Unaffable!" with a vocabulary
that holds "un", "##aff", "##able" and "!" (bert-base-uncased's own vocabulary happens to split it
as una ##ffa ##ble, because it has no "un" + "##aff"):

1. clean_text        drop control characters, turn every kind of whitespace into " "  "Unaffable!"
2. space_out_cjk     put spaces around Chinese/Japanese ideographs (none here)     "Unaffable!"
3. split on spaces                                                                  ["Unaffable!"]
4. lowercase, strip accents (uncased vocabularies only: "Crème" -> "creme")         ["unaffable!"]
5. split_punctuation every punctuation character becomes a word of its own     ["unaffable", "!"]
6. wordpiece         greedy longest-match-first, word by word. For "unaffable":
        is "unaffable" in the vocabulary? "unaffabl"? ... "una"? "un"? yes      -> "un"
        the rest, as a continuation: "##affable"? "##affabl"? ... "##aff"? yes   -> "##aff"
        the rest: "##able"? yes                                                  -> "##able"
     and "!" is in the vocabulary as it is. Tokens: ["un", "##aff", "##able", "!"].
     A piece that matches nothing, not even one character, makes the whole word [UNK];
     so does a word over 100 characters.
7. encode            look up the ids; wrap as [CLS] A [SEP] or [CLS] A [SEP] B [SEP].

One addition to Google's algorithm, made by HF: a special token written in the text ("[MASK]",
exact case) is kept whole as that token. Known differences from HF's tokenizers are listed in
tests/test_tokenizer_parity.py.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from tokenizer.pipeline import CLS, CONTINUATION_PREFIX, MAX_WORD_CHARS, SEP, SPECIAL_TOKENS, UNK
from tokenizer.vocab_files import read_vocab_txt

# The CJK Unified Ideograph blocks (Chinese hanzi, Japanese kanji, Korean hanja). Hangul, hiragana
# and katakana are not in them: those scripts put spaces between words, so they need no help.
CJK_RANGES = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)
_SPECIAL_TOKEN = re.compile("(" + "|".join(re.escape(token) for token in SPECIAL_TOKENS) + ")")


# ------------------------------------------------------------------ character classes


def is_whitespace(char: str) -> bool:
    return char in " \t\n\r" or unicodedata.category(char) == "Zs"


def is_control(char: str) -> bool:
    # \t \n \r are control characters to Unicode, but whitespace to us.
    return char not in "\t\n\r" and unicodedata.category(char).startswith("C")


def is_punctuation(char: str) -> bool:
    # Every ASCII character that is not a letter or digit counts, e.g. "$", "^", "`", which
    # Unicode files under symbols, not punctuation.
    cp = ord(char)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def is_cjk(char: str) -> bool:
    return any(low <= ord(char) <= high for low, high in CJK_RANGES)


# ------------------------------------------------------------------ the steps


def clean_text(text: str) -> str:
    """Drop NUL, U+FFFD and control characters; turn whitespace (tab, NBSP, ...) into " "."""
    kept = []
    for char in text:
        if char == "\x00" or char == "\ufffd" or is_control(char):
            continue
        kept.append(" " if is_whitespace(char) else char)
    return "".join(kept)


def space_out_cjk(text: str) -> str:
    """Surround each CJK ideograph with spaces: written Chinese has no spaces between words."""
    return "".join(f" {char} " if is_cjk(char) else char for char in text)


def strip_accents(word: str) -> str:
    """Decompose (NFD: "é" -> "e" + combining acute) and drop the combining marks."""
    return "".join(char for char in unicodedata.normalize("NFD", word) if unicodedata.category(char) != "Mn")


def split_punctuation(word: str) -> list[str]:
    """ "don't!" -> ["don", "'", "t", "!"]: each punctuation character alone, the runs between kept."""
    pieces, current = [], ""
    for char in word:
        if is_punctuation(char):
            if current:
                pieces.append(current)
            pieces.append(char)
            current = ""
        else:
            current += char
    if current:
        pieces.append(current)
    return pieces


def basic_tokenize(text: str, lowercase: bool) -> list[str]:
    """Steps 1-5: text -> words (what WordPiece then splits further)."""
    words = []
    for word in space_out_cjk(clean_text(text)).split():
        if lowercase:
            word = strip_accents(word.lower())
        words += split_punctuation(word)
    return words


def wordpiece(word: str, vocab: dict[str, int]) -> list[str]:
    """Step 6: greedy longest-match-first split of one word into vocabulary pieces (or [UNK])."""
    if len(word) > MAX_WORD_CHARS:
        return [UNK]
    pieces, start = [], 0
    while start < len(word):
        for end in range(len(word), start, -1):  # try the longest candidate first
            piece = word[start:end] if start == 0 else CONTINUATION_PREFIX + word[start:end]
            if piece in vocab:
                break
        else:
            return [UNK]  # nothing matches here, not even a single character
        pieces.append(piece)
        start = end
    return pieces


def truncate_pair(a: list[int], b: list[int], budget: int) -> tuple[list[int], list[int]]:
    """Google's rule: drop the last token of the longer list (of b on a tie) until both fit."""
    a, b = list(a), list(b)
    while len(a) + len(b) > budget:
        if len(a) > len(b):
            a.pop()
        else:
            b.pop()
    return a, b


# ------------------------------------------------------------------ the tokenizer


class ReferenceTokenizer:
    """`ReferenceTokenizer("vocab.txt").encode("Hello!")` -> [CLS] hello ! [SEP] as ids."""

    def __init__(self, vocab_file: str | Path, lowercase: bool = True):
        self.vocab = read_vocab_txt(Path(vocab_file))
        self.lowercase = lowercase

    def tokenize(self, text: str) -> list[str]:
        tokens = []
        for chunk in _SPECIAL_TOKEN.split(text):  # the capture group keeps the special tokens
            if chunk in SPECIAL_TOKENS:
                tokens.append(chunk)
                continue
            for word in basic_tokenize(chunk, self.lowercase):
                tokens += wordpiece(word, self.vocab)
        return tokens

    def encode(self, text: str, pair: str | None = None, max_length: int | None = None) -> list[int]:
        """[CLS] text [SEP] (pair [SEP]) as ids, cut to `max_length` tokens if given."""
        a = [self.vocab[token] for token in self.tokenize(text)]
        b = [] if pair is None else [self.vocab[token] for token in self.tokenize(pair)]
        specials = 2 if pair is None else 3
        if max_length is not None:
            if max_length < specials:
                raise ValueError(f"max_length must be at least {specials}, got {max_length}")
            a, b = truncate_pair(a, b, budget=max_length - specials)
        ids = [self.vocab[CLS]] + a + [self.vocab[SEP]]
        if specials == 3:
            ids += b + [self.vocab[SEP]]
        return ids
