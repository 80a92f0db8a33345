"""BERT's tokenisation pipeline, assembled from HF `tokenizers` parts (the Rust fast path).

A text goes through four stages; `reference.py` spells each one out in plain Python:

1. normalise   BertNormalizer: drop control characters, map whitespace to " ", put spaces around
               CJK ideographs, and (uncased models only) lowercase and strip accents.
2. pre-split   BertPreTokenizer: split on whitespace and around every punctuation character,
               so "don't!" -> "don", "'", "t", "!". These pieces are the *words* of `word_ids`.
3. WordPiece   greedy longest-match-first over the vocabulary; pieces after the first carry "##";
               a word longer than 100 characters, or one with an unmatchable piece, becomes [UNK].
4. templates   [CLS] A [SEP] and [CLS] A [SEP] B [SEP], segment ids 0 for A, 1 for B.

The special tokens are registered as "added tokens", so a literal "[MASK]" inside a text is the
[MASK] token, exactly as in `transformers.BertTokenizerFast`.
"""

from __future__ import annotations

from tokenizers import AddedToken, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
# Training puts them first, in this order, so a vocabulary we train has [PAD] at id 0.
SPECIAL_TOKENS = (PAD, UNK, CLS, SEP, MASK)
CONTINUATION_PREFIX = "##"
MAX_WORD_CHARS = 100  # Google's limit: longer "words" are URLs, base64, ... -> [UNK]


def bert_normalizer(lowercase: bool) -> normalizers.BertNormalizer:
    # strip_accents=None means "strip when lowercasing", the rule of the original uncased/cased models.
    return normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                      strip_accents=None, lowercase=lowercase)


def untrained_pipeline(lowercase: bool) -> Tokenizer:
    """Normaliser + pre-tokeniser + an empty WordPiece model: what a WordPiece trainer fills in."""
    backend = Tokenizer(WordPiece(unk_token=UNK, continuing_subword_prefix=CONTINUATION_PREFIX,
                                  max_input_chars_per_word=MAX_WORD_CHARS))
    backend.normalizer = bert_normalizer(lowercase)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return backend


def bert_pipeline(vocab: dict[str, int], lowercase: bool) -> Tokenizer:
    """The full encoder for `vocab` (token -> id, which must hold every SPECIAL_TOKENS entry)."""
    backend = untrained_pipeline(lowercase)
    backend.model = WordPiece(vocab, unk_token=UNK, continuing_subword_prefix=CONTINUATION_PREFIX,
                              max_input_chars_per_word=MAX_WORD_CHARS)
    # Already in the vocabulary, so they keep their ids; normalized=False: "[mask]" is not [MASK].
    backend.add_special_tokens([AddedToken(token, normalized=False, special=True) for token in SPECIAL_TOKENS])
    backend.post_processor = processors.TemplateProcessing(
        single=f"{CLS}:0 $A:0 {SEP}:0",
        pair=f"{CLS}:0 $A:0 {SEP}:0 $B:1 {SEP}:1",
        special_tokens=[(CLS, vocab[CLS]), (SEP, vocab[SEP])],
    )
    backend.decoder = decoders.WordPiece(prefix=CONTINUATION_PREFIX)
    return backend


def check_text(text, name: str) -> None:
    """Raise a clear error if `text` is not something the Rust pipeline can take (a real str)."""
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a str, not {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"{name} holds {text[e.start]!r} at position {e.start}, which is not a Unicode "
                         "character (a stray byte kept by errors='surrogateescape'?)") from None
