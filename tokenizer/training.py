"""Learn a WordPiece vocabulary from a corpus with the HF `tokenizers` trainer (Rust, multi-threaded).

HF's WordPiece trainer learns the vocabulary the way BPE does: count the words of the (normalised,
pre-split) corpus, start from their characters, both word-initial ("a") and continuing ("##a"), and
repeatedly merge the most frequent adjacent pair of pieces until there are `vocab_size` entries.
(Google's original tool scored merges by language-model likelihood instead; encoding, greedy
longest-match-first, is the same whichever way the vocabulary was made.) The five special tokens
come first, so [PAD] is id 0; the other tokens follow in sorted order (see `renumbered`).
"""

from __future__ import annotations

from tokenizers import Tokenizer, trainers

from bert.errors import InputError
from tokenizer.text_files import check_text_file, checked_texts, is_path_list, text_files
from tokenizer.pipeline import SPECIAL_TOKENS, untrained_pipeline

# The defaults of HF's BertWordPieceTokenizer: a character seen only in the rarest words is left out
# of the alphabet (and becomes [UNK]) once 1000 characters are in, and a word must occur twice to
# propose merges.
LIMIT_ALPHABET = 1000
MIN_FREQUENCY = 2


def train_vocabulary(source, vocab_size: int, lowercase: bool, min_frequency: int = MIN_FREQUENCY,
                     show_progress: bool = True) -> dict[str, int]:
    """Train on `source` (paths, or an iterator of strings) and return the vocabulary, token -> id.

    Raises InputError when the corpus cannot give exactly `vocab_size` tokens: too little text or too few
    distinct characters to make that many, or more distinct characters than fit in it.
    """
    if not isinstance(vocab_size, int) or vocab_size <= len(SPECIAL_TOKENS):
        raise ValueError(f"vocab_size must be an integer above {len(SPECIAL_TOKENS)} (the special tokens), "
                         f"got {vocab_size!r}")
    backend = untrained_pipeline(lowercase)
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                        limit_alphabet=LIMIT_ALPHABET, special_tokens=list(SPECIAL_TOKENS),
                                        show_progress=show_progress)
    if is_path_list(source):
        files = text_files(source)
        for path in files:
            check_text_file(path)
        backend.train([str(path) for path in files], trainer)
    else:
        backend.train_from_iterator(checked_texts(source), trainer)
    check_vocab_size(backend, vocab_size)
    return renumbered(backend.get_vocab())


def renumbered(vocab: dict[str, int]) -> dict[str, int]:
    """Special tokens first, then the others in sorted order.

    The trainer numbers tokens in hash-map order, so the same corpus would give different ids from
    run to run. WordPiece matches strings, never ids, so renumbering changes no split; it makes
    vocab.txt (and everything cached from its ids) reproducible.
    """
    others = sorted(token for token in vocab if token not in SPECIAL_TOKENS)
    return {token: i for i, token in enumerate([*SPECIAL_TOKENS, *others])}


def check_vocab_size(backend: Tokenizer, vocab_size: int) -> None:
    """The trainer silently returns fewer (or more) tokens than asked for; make that an error."""
    got = backend.get_vocab_size()
    if got == len(SPECIAL_TOKENS):
        raise InputError("no text to train on: the input is empty")
    if got < vocab_size:
        raise InputError(f"the corpus is too small for vocab_size {vocab_size}: training ran out of merges "
                        f"at {got} tokens (too little text or too few distinct characters); "
                        f"use more text or a vocab_size of at most {got}")
    if got > vocab_size:
        raise InputError(f"vocab_size {vocab_size} is too small for this corpus: its characters alone "
                        f"take {got} entries (each as 'x' and '##x'); use a vocab_size of at least {got}")
