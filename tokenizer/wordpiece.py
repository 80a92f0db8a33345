"""WordPieceTokenizer: BERT's tokenizer, running on the HF `tokenizers` Rust pipeline.

    tok = WordPieceTokenizer.train(["corpus/"], vocab_size=8000)       # or .from_pretrained(dir)
    tok.encode("Hello, world!").tokens    # ['[CLS]', 'hello', ',', 'world', '!', '[SEP]']
    batch = tok(["a text", "another one"], max_length=128)               # dict of (batch, seq) tensors
    tok.save("my-vocab/")                 # vocab.txt + tokenizer.json + tokenizer_config.json
    tok.encode_windows(question, context, max_length=384, stride=128)   # a long pair as overlapping windows

Special-token ids are looked up in the vocabulary, never assumed: a vocabulary we train has [PAD]
at 0, bert-base-uncased's has [PAD] at 0 but [CLS] at 101.

Length rules. `max_length=None` (the default) never truncates: a text longer than the model's 512
positions comes out whole, and the model rejects it. With `max_length`, the output is cut to that
many tokens including [CLS]/[SEP]; a pair is cut by HF's "longest_first" rule: the longer text loses
tokens from its end first; when both must be cut, each keeps half the room, and an odd token left
over goes to the longer text (the second on a tie). Google's original gives it to the first text.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tokenizer import vocab_files
from tokenizer.pipeline import CLS, MASK, PAD, SEP, SPECIAL_TOKENS, UNK, bert_pipeline, check_text
from tokenizer.training import MIN_FREQUENCY, train_vocabulary


@dataclass(frozen=True)
class Encoding:
    """One encoded text or text pair; all lists have one entry per token."""

    ids: list[int]
    tokens: list[str]
    token_type_ids: list[int]  # 0 up to and including the first [SEP], 1 after it
    attention_mask: list[int]  # all 1: a single encoding is never padded
    word_ids: list[int | None]  # word (within its own text) each token came from; None for [CLS]/[SEP]
    offsets: list[tuple[int, int]]  # characters [start, end) of each token in its own text; (0, 0) for [CLS]/[SEP]
    sequence_ids: list[int | None]  # 0: from the text, 1: from the pair, None: [CLS]/[SEP]

    def __len__(self) -> int:
        return len(self.ids)


def as_tensor(rows: list[list[int]]) -> torch.Tensor:
    """Equal-length lists -> a (batch, seq) int64 tensor. (numpy reads nested lists ~3x faster than torch.)"""
    return torch.from_numpy(np.array(rows, dtype=np.int64))


class WordPieceTokenizer:
    """A BERT WordPiece vocabulary plus the lowercase setting it was made with."""

    def __init__(self, vocab: dict[str, int], lowercase: bool = True):
        vocab_files.check_special_tokens(vocab, "WordPieceTokenizer")
        if sorted(vocab.values()) != list(range(len(vocab))):
            raise ValueError("WordPieceTokenizer: token ids must be 0, 1, ..., len(vocab) - 1")
        self._vocab = dict(vocab)
        self.lowercase = bool(lowercase)
        # The Rust encoder. Truncation and padding are its state: every method sets both before use.
        self._backend = bert_pipeline(self._vocab, self.lowercase)
        self.pad_token_id, self.unk_token_id = vocab[PAD], vocab[UNK]
        self.cls_token_id, self.sep_token_id, self.mask_token_id = vocab[CLS], vocab[SEP], vocab[MASK]
        self.special_ids = frozenset(vocab[token] for token in SPECIAL_TOKENS)

    # ------------------------------------------------------------------ making and storing one

    @classmethod
    def train(cls, files_or_iterator, vocab_size: int, lowercase: bool = True,
              min_frequency: int = MIN_FREQUENCY, show_progress: bool = True) -> WordPieceTokenizer:
        """Learn a vocabulary of exactly `vocab_size` tokens.

        `files_or_iterator`: a path, or a list of paths, to text files or folders (read recursively:
        *.txt, *.text, *.tokens, *.raw), one or more sentences per line, UTF-8; or any iterator of
        strings (a generator, `iter(list_of_texts)`). A list is always read as file names.
        Raises ValueError (file and line named) for empty or non-UTF-8 files, and InputError when the
        corpus cannot make `vocab_size` tokens.
        """
        vocab = train_vocabulary(files_or_iterator, vocab_size, lowercase, min_frequency, show_progress)
        return cls(vocab, lowercase)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, lowercase: bool | None = None) -> WordPieceTokenizer:
        """Load from a directory (ours, or any HF BERT checkpoint), a vocab.txt or a tokenizer.json.

        The lowercase setting comes from tokenizer.json or tokenizer_config.json; `lowercase` is
        only for a bare vocab.txt that records none (default True, as for bert-base-uncased).
        """
        vocab, lowercase = vocab_files.load(path, lowercase)
        return cls(vocab, lowercase)

    def save(self, directory: str | os.PathLike) -> Path:
        """Write vocab.txt, tokenizer.json and tokenizer_config.json (HF-loadable); returns the dir."""
        self._set_limits(max_length=None, pad_to=None)  # so tokenizer.json records neither
        return vocab_files.save(directory, self._vocab, self.lowercase, self._backend.to_str())

    # ------------------------------------------------------------------ the vocabulary

    @property
    def vocab_size(self) -> int:
        return len(self._vocab)

    @property
    def vocab(self) -> dict[str, int]:
        """A copy of the vocabulary, token -> id."""
        return dict(self._vocab)

    def token_to_id(self, token: str) -> int | None:
        return self._vocab.get(token)

    def id_to_token(self, token_id: int) -> str | None:
        return self._backend.id_to_token(token_id)

    # ------------------------------------------------------------------ encoding

    def encode(self, text: str, pair: str | None = None, max_length: int | None = None) -> Encoding:
        """[CLS] text [SEP] (pair [SEP]) as ids, tokens, segment ids, mask and word ids."""
        check_text(text, "text")
        if pair is not None:
            check_text(pair, "pair")
        self._set_limits(max_length, pad_to=None, paired=pair is not None)
        return _encoding(self._backend.encode(text, pair))

    def encode_windows(self, text: str, pair: str, max_length: int, stride: int,
                       max_text_length: int | None = None) -> list[Encoding]:
        """[CLS] text [SEP] pair [SEP] for a pair too long for one sequence: only `pair` is cut, into
        windows of at most `max_length` tokens that each repeat the whole `text` (a question) and
        overlap the previous window by `stride` tokens of `pair` (a document).

        Window k holds pair tokens [k * step, k * step + room), step = room - stride, where room is
        what [CLS], text and the two [SEP] leave of max_length; the last window may be shorter.
        A text longer than `max_text_length` tokens is first cut after that many tokens (cutting its
        characters, so the offsets still point into the text as given). Offsets stay per text: a
        window's pair tokens point into `pair` itself, however far into it the window starts.
        """
        check_text(text, "text")
        check_text(pair, "pair")
        if max_text_length is not None:
            text = self._cut_to_tokens(text, max_text_length)
        room = max_length - len(self._bare_encoding(text)) - 3
        if not 0 <= stride < room:
            raise ValueError(f"stride {stride} leaves no room to move: windows of {max_length} tokens hold "
                             f"{room} tokens of the pair after the text and [CLS]/[SEP]")
        self._backend.enable_truncation(max_length, stride=stride, strategy="only_second")
        self._backend.no_padding()
        first = self._backend.encode(text, pair)
        return [_encoding(e) for e in [first, *first.overflowing]]

    def _bare_encoding(self, text: str):
        """The backend's encoding of one text without [CLS]/[SEP], untruncated."""
        self._set_limits(max_length=None, pad_to=None)
        return self._backend.encode(text, add_special_tokens=False)

    def _cut_to_tokens(self, text: str, n: int) -> str:
        """`text` up to the end of its n-th token. WordPiece matches greedily from the left, so the cut
        text encodes to exactly those n tokens."""
        offsets = self._bare_encoding(text).offsets
        return text if len(offsets) <= n else text[:offsets[n - 1][1]]

    def __call__(self, texts: str | Sequence[str], pairs: Sequence[str] | None = None,
                 max_length: int | None = None, padding: bool | str = True) -> dict[str, torch.Tensor]:
        """Encode a batch into (batch, seq) int64 tensors: input_ids, token_type_ids, attention_mask.

        padding=True (or "longest") pads to the longest encoding in the batch, padding="max_length"
        to `max_length`; padded positions have id [PAD], segment 0 and mask 0.
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts:
            raise ValueError("no texts to encode")
        if pairs is not None:
            pairs = [pairs] if isinstance(pairs, str) else list(pairs)
            if len(pairs) != len(texts):
                raise ValueError(f"got {len(texts)} texts but {len(pairs)} pairs")
        if padding not in (True, "longest", "max_length"):
            raise ValueError(f"padding must be True, 'longest' or 'max_length', got {padding!r}")
        if padding == "max_length" and max_length is None:
            raise ValueError("padding='max_length' needs max_length")
        self._set_limits(max_length, pad_to=max_length if padding == "max_length" else "longest",
                         paired=pairs is not None)
        inputs = texts if pairs is None else list(zip(texts, pairs))
        # encode_batch_fast: parallel, and skips the character offsets we do not need here.
        encodings = self._run_batch(self._backend.encode_batch_fast, inputs)
        return {
            "input_ids": as_tensor([e.ids for e in encodings]),
            "token_type_ids": as_tensor([e.type_ids for e in encodings]),
            "attention_mask": as_tensor([e.attention_mask for e in encodings]),
        }

    def encode_batch_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """WordPiece ids of each text, without [CLS]/[SEP], untruncated (for corpus preprocessing)."""
        self._set_limits(max_length=None, pad_to=None)
        encodings = self._run_batch(lambda batch: self._backend.encode_batch_fast(batch, add_special_tokens=False),
                                    list(texts))
        return [e.ids for e in encodings]

    def encode_batch_words(self, texts: Sequence[str]) -> list[tuple[list[int], list[int]]]:
        """Like `encode_batch_ids`, each with its word ids (for whole-word masking); a bit slower.

        Words are what BERT's pre-tokeniser splits on: whitespace-separated runs of letters and
        digits, and every punctuation character on its own.
        """
        self._set_limits(max_length=None, pad_to=None)
        encodings = self._run_batch(lambda batch: self._backend.encode_batch(batch, add_special_tokens=False),
                                    list(texts))
        return [(e.ids, e.word_ids) for e in encodings]

    def split_words(self, text: str) -> list[tuple[str, tuple[int, int]]]:
        """BERT's words of a raw text, each with its (start, end) character offsets in `text`.

        The pre-split stage alone (whitespace, and every punctuation character on its own): "Paris."
        -> ("Paris", (0, 5)), (".", (5, 6)). Encoding these words with `encode_words` gives the same
        pieces as encoding the text, so a token classifier can be run on raw text and its word labels
        mapped back to spans of the original characters.
        """
        check_text(text, "text")
        return self._backend.pre_tokenizer.pre_tokenize_str(text)

    def encode_words(self, sentences: Sequence[Sequence[str]], max_length: int | None = None) -> list[Encoding]:
        """Encode sentences given as lists of words (pre-split, as in CoNLL files): [CLS] pieces [SEP].

        `word_ids` then index the given words, so a label per word can be put on its pieces. A word may
        still be split further (by punctuation: "1996-08-22" is 5 words of BERT's, all with one word id)
        and normalised (lowercased); a word cut off by `max_length` has no piece left.
        """
        for i, words in enumerate(sentences):
            for word in words:
                check_text(word, f"word of sentence #{i}")
        self._set_limits(max_length, pad_to=None)
        encodings = self._backend.encode_batch([list(words) for words in sentences], is_pretokenized=True)
        return [_encoding(e) for e in encodings]

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        """Ids (a list or a 1-D tensor) back to text: "##" pieces are glued to the piece before."""
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        return self._backend.decode(ids, skip_special_tokens=skip_special_tokens)

    # ------------------------------------------------------------------ internals

    def _set_limits(self, max_length: int | None, pad_to: int | str | None, paired: bool = False) -> None:
        """Configure the backend's truncation and padding (None, "longest" or a length) for the next call."""
        if max_length is None:
            self._backend.no_truncation()
        else:
            needed = 3 if paired else 2  # room for [CLS] [SEP] (+ [SEP]); Rust ignores a smaller limit
            if not isinstance(max_length, int) or max_length < needed:
                raise ValueError(f"max_length must be an integer of at least {needed} ([CLS] and [SEP]"
                                 f"{' twice' if paired else ''}), got {max_length!r}")
            self._backend.enable_truncation(max_length, strategy="longest_first")
        if pad_to is None:
            self._backend.no_padding()
        else:
            self._backend.enable_padding(pad_id=self.pad_token_id, pad_type_id=0, pad_token=PAD,
                                         length=None if pad_to == "longest" else pad_to)

    def _run_batch(self, encode_batch, inputs: list):
        """Run a Rust batch encoder; turn its vague TypeError about a bad item into a clear error."""
        try:
            return encode_batch(inputs)
        except TypeError:
            for i, item in enumerate(inputs):
                for part, text in zip(("text", "pair"), item if isinstance(item, tuple) else (item,)):
                    check_text(text, f"{part} #{i}")
            raise


def _encoding(e) -> Encoding:
    """Our Encoding of a `tokenizers` one."""
    return Encoding(e.ids, e.tokens, e.type_ids, e.attention_mask, e.word_ids, e.offsets, e.sequence_ids)
