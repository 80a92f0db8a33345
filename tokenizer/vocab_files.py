"""Reading and writing a tokenizer on disk, in the layout HF uses for BERT.

A saved tokenizer is a directory with
- vocab.txt              one token per line; the line number (from 0) is the token id;
- tokenizer.json         the full HF `tokenizers` pipeline (vocabulary + normaliser settings);
- tokenizer_config.json  {"do_lower_case": ..., "tokenizer_class": "BertTokenizer", ...}, which
                         `transformers.BertTokenizerFast.from_pretrained(dir)` reads.

Whether text is lowercased is read from the files, never guessed: from the normaliser in
tokenizer.json, else `do_lower_case` in tokenizer_config.json. Only a bare vocab.txt records
nothing; then the caller says (`lowercase=`, default True, as for bert-base-uncased).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from bert.errors import InputError
from bert.files import atomic_write_text
from tokenizer.pipeline import CONTINUATION_PREFIX, SPECIAL_TOKENS

VOCAB_FILE = "vocab.txt"
TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "tokenizer_config.json"
MODEL_MAX_LENGTH = 512  # recorded for HF, which warns about longer inputs; BERT has 512 positions


class VocabularyError(InputError, ValueError):
    """A vocabulary the user named that cannot be used (missing, malformed, without the special tokens): bad
    input, printed as one line by every command; also a ValueError, as before, for callers that catch those."""


def read_vocab_txt(path: Path) -> dict[str, int]:
    """vocab.txt -> {token: id}, the id being the 0-based line number."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise VocabularyError(f"{path}: not a UTF-8 text file ({e.reason} at byte {e.start})") from None
    # Split on "\n" only: str.splitlines() would also split inside tokens such as "\x85" or "\u2028".
    tokens = text.split("\n")
    if tokens[-1] == "":
        tokens.pop()  # the final line break ends the last line; it does not start an empty token
    vocab = {}
    for line, token in enumerate(tokens):
        if token in vocab:
            raise VocabularyError(f"{path}:{line + 1}: token {token!r} already appears on line {vocab[token] + 1}")
        vocab[token] = line
    check_special_tokens(vocab, path)
    return vocab


def read_tokenizer_json(path: Path) -> tuple[dict[str, int], bool]:
    """An HF tokenizer.json of a BERT WordPiece tokenizer -> (vocab, lowercase)."""
    try:
        spec = json.loads(Path(path).read_text(encoding="utf-8"))
        model, normalizer = spec["model"], spec["normalizer"] or {}
    except (ValueError, KeyError, TypeError) as e:
        raise VocabularyError(f"{path}: not a tokenizer.json file ({e})") from None
    if model.get("type") != "WordPiece" or model.get("continuing_subword_prefix", "##") != CONTINUATION_PREFIX:
        raise VocabularyError(f"{path}: not a BERT WordPiece tokenizer (model {model.get('type')!r})")
    if normalizer.get("type") != "BertNormalizer":
        raise VocabularyError(f"{path}: expected BERT's normaliser (BertNormalizer), found {normalizer.get('type')!r}")
    lowercase = bool(normalizer.get("lowercase", True))
    if normalizer.get("strip_accents") not in (None, lowercase):
        raise VocabularyError(f"{path}: strip_accents={normalizer['strip_accents']} with lowercase={lowercase} is "
                         "not supported (accents are stripped exactly when text is lowercased)")
    vocab = model["vocab"]
    check_special_tokens(vocab, path)
    return vocab, lowercase


def read_recorded_lowercase(directory: Path) -> bool | None:
    """`do_lower_case` from tokenizer_config.json in `directory`, or None if nothing is recorded."""
    path = directory / CONFIG_FILE
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("do_lower_case")
    except (ValueError, AttributeError) as e:
        raise VocabularyError(f"{path}: not a JSON object ({e})") from None
    return None if value is None else bool(value)


def check_special_tokens(vocab: dict[str, int], where) -> None:
    missing = [token for token in SPECIAL_TOKENS if token not in vocab]
    if missing:
        raise VocabularyError(f"{where}: the vocabulary lacks the special token(s) {' '.join(missing)} "
                         f"(a BERT vocabulary needs all of {' '.join(SPECIAL_TOKENS)})")


def load(path: str | os.PathLike, lowercase: bool | None = None) -> tuple[dict[str, int], bool]:
    """Find the vocabulary and lowercase setting at `path` (a directory, vocab.txt or tokenizer.json).

    `lowercase` is only needed for a bare vocab.txt (None means True there); passing a value that
    contradicts what the files record is an error, not an override.
    """
    path = Path(path)
    directory = path if path.is_dir() else path.parent
    if path.is_dir():
        if (path / TOKENIZER_FILE).is_file():
            path = path / TOKENIZER_FILE
        elif (path / VOCAB_FILE).is_file():
            path = path / VOCAB_FILE
        else:
            raise VocabularyError(f"{path}: no {VOCAB_FILE} or {TOKENIZER_FILE} in this directory")
    elif not path.is_file():
        raise VocabularyError(f"{path}: no such file or directory")

    if path.suffix == ".json":
        vocab, recorded = read_tokenizer_json(path)
    else:
        vocab = read_vocab_txt(path)
        recorded = read_recorded_lowercase(directory) if path.name == VOCAB_FILE else None
    if recorded is not None and lowercase is not None and lowercase != recorded:
        raise VocabularyError(f"{path}: the tokenizer records lowercase={recorded}, but lowercase={lowercase} was asked for")
    return vocab, recorded if recorded is not None else lowercase if lowercase is not None else True


def save(directory: str | os.PathLike, vocab: dict[str, int], lowercase: bool, tokenizer_json: str) -> Path:
    """Write vocab.txt, tokenizer.json and tokenizer_config.json into `directory` (created if needed)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokens = sorted(vocab, key=vocab.get)
    config = {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": lowercase,
        "strip_accents": None,
        "tokenize_chinese_chars": True,
        "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
        "mask_token": "[MASK]",
        "model_max_length": MODEL_MAX_LENGTH,
    }
    atomic_write_text(directory / VOCAB_FILE, "".join(token + "\n" for token in tokens))
    atomic_write_text(directory / TOKENIZER_FILE, tokenizer_json)
    atomic_write_text(directory / CONFIG_FILE, json.dumps(config, indent=2) + "\n")
    return directory

