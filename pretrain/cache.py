"""The tokenised corpus, cached on disk: built once (with every core), memory-mapped by every later run.

A cache entry is a folder named by a hash of what it was built from: the corpus files (path, size and
modification time), Hub dataset names, the tokenizer's files and this format's version. It holds

    tokens.bin            every token of the corpus, one after another (uint16, or uint32 for vocabularies
                          over 65,536 words), read through np.memmap: nothing is loaded until used
    sentence_starts.npy   (n_sentences + 1,) int64 token offsets: sentence i is tokens[s[i]:s[i + 1]]
    document_starts.npy   (n_documents + 1,) int64 sentence indices: document j is sentences d[j]..d[j + 1]-1
    info.json             counts and the key's ingredients, for humans
    examples-<hash>-{train,held_out}.npy   example tables (pretrain/examples.py), one pair per setting

Building streams the corpus through worker processes chunk by chunk and appends to these files, so memory
stays bounded whatever the corpus size. The folder is built under a temporary name and renamed into place,
so an interrupted build leaves nothing half-written that a later run could pick up.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import tempfile
from array import array
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
from tqdm.auto import tqdm

from bert.errors import InputError
from bert.files import atomic_write, atomic_write_text
from tokenizer.corpus import CorpusStats, DatasetSource, LocalFile, Source, dataset_fingerprint, read_documents

FORMAT_VERSION = 1  # bump when the reading, splitting or file layout changes: old entries are then ignored
TOKENIZER_FILES = ("vocab.txt", "tokenizer.json")  # what decides the token ids (in the tokenizer's directory)
CHUNK_CHARS = 1 << 20  # about 1 MB of text per work unit: big enough to amortise the hand-off to a worker


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "bert-from-scratch" / "pretrain"


@dataclass
class TokenizedCorpus:
    directory: Path
    tokens: np.ndarray  # (n_tokens,) memmap
    sentence_starts: np.ndarray  # (n_sentences + 1,) int64
    document_starts: np.ndarray  # (n_documents + 1,) int64
    info: dict

    @classmethod
    def load(cls, directory: Path) -> "TokenizedCorpus":
        info = json.loads((directory / "info.json").read_text())
        tokens = np.memmap(directory / "tokens.bin", dtype=info["dtype"], mode="r", shape=(info["tokens"],))
        return cls(directory, tokens, np.load(directory / "sentence_starts.npy"),
                   np.load(directory / "document_starts.npy"), info)

    def cached_arrays(self, name: str, settings: dict,
                      build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """Arrays derived from this corpus (example tables), built once per `settings` and memory-mapped.

        `build()` returns {part: array}; they are saved as `{name}-{hash(settings)}-{part}.npy`.
        """
        key = _hash(settings)
        paths = lambda parts: {part: self.directory / f"{name}-{key}-{part}.npy" for part in parts}  # noqa: E731
        index = self.directory / f"{name}-{key}.json"
        if index.exists():
            parts = json.loads(index.read_text())["parts"]
            return {part: np.load(path, mmap_mode="r") for part, path in paths(parts).items()}
        arrays = build()
        for part, path in paths(arrays).items():
            _save_array(path, arrays[part])
        atomic_write_text(index, json.dumps({"parts": list(arrays), "settings": settings}, indent=1))
        return arrays


def corpus_key(sources: list[Source], tokenizer_files: list[Path]) -> dict:
    """What a cache entry depends on. Local files are identified by path, size and modification time
    (hashing 100 MB of text on every run would cost more than it saves)."""
    corpus = []
    for source in sources:
        if isinstance(source, LocalFile):
            stat = source.path.stat()
            corpus.append([str(source.path), stat.st_size, stat.st_mtime_ns])
        else:
            corpus.append(dataset_fingerprint(source))
    tokenizer = {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in tokenizer_files}
    return {"format": FORMAT_VERSION, "corpus": corpus, "tokenizer": tokenizer}


def load_or_build(sources: list[Source], tokenizer_dir: Path, cache_dir: Path, vocab_size: int,
                  num_workers: int = 1, show_progress: bool = True) -> TokenizedCorpus:
    """The cached tokenised corpus for these sources and this tokenizer, built first if missing."""
    tokenizer_files = [Path(tokenizer_dir) / name for name in TOKENIZER_FILES if (Path(tokenizer_dir) / name).exists()]
    key = corpus_key(sources, tokenizer_files)
    directory = Path(cache_dir) / f"corpus-{_hash(key)}"
    if (directory / "info.json").exists():
        return TokenizedCorpus.load(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=".building-"))
    try:
        info = _build(sources, tokenizer_dir, tmp, vocab_size, num_workers, show_progress)
        info["key"] = key
        (tmp / "info.json").write_text(json.dumps(info, indent=1))
        try:
            tmp.rename(directory)
        except OSError:  # another process (rank, run) finished the same entry first: use theirs
            if not (directory / "info.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return TokenizedCorpus.load(directory)


# --------------------------------------------------------------------------- building


def _build(sources: list[Source], tokenizer_dir: Path, out: Path, vocab_size: int, num_workers: int,
           show_progress: bool) -> dict:
    dtype = np.uint16 if vocab_size <= 1 << 16 else np.uint32
    stats = CorpusStats()
    sentence_lengths = array("q")  # 8 bytes per sentence, not a Python int object each
    document_ends = array("q")  # index (into sentences kept) one past each document's last sentence
    total_bytes = sum(s.path.stat().st_size for s in sources if isinstance(s, LocalFile))
    has_dataset = any(isinstance(s, DatasetSource) for s in sources)
    progress = tqdm(total=None if has_dataset else total_bytes, unit="B", unit_scale=True,
                    desc="tokenising corpus", disable=not show_progress)
    with open(out / "tokens.bin", "wb") as token_file:
        chunks = _chunks(read_documents(sources, stats))
        for (sentences, chunk_document_ends, n_bytes), (tokens, lengths) in _tokenize_chunks(
                chunks, tokenizer_dir, num_workers):
            tokens.astype(dtype).tofile(token_file)
            _append_kept(lengths, chunk_document_ends, sentence_lengths, document_ends)
            progress.update(n_bytes)
    progress.close()

    sentence_starts = np.zeros(len(sentence_lengths) + 1, dtype=np.int64)
    np.cumsum(np.frombuffer(sentence_lengths, dtype=np.int64), out=sentence_starts[1:])
    document_starts = np.concatenate([[0], np.frombuffer(document_ends, dtype=np.int64)]).astype(np.int64)
    np.save(out / "sentence_starts.npy", sentence_starts)
    np.save(out / "document_starts.npy", document_starts)
    if sentence_starts[-1] == 0:
        raise InputError("the corpus holds no text (every line was empty or unreadable)")
    return {
        "dtype": np.dtype(dtype).name, "tokens": int(sentence_starts[-1]), "sentences": len(sentence_lengths),
        "documents": len(document_ends), "sources": stats.sources, "lines": stats.lines,
        "invalid_utf8_lines": stats.invalid_utf8_lines, "first_invalid_line": stats.first_invalid_line,
    }


def _chunks(documents: Iterable[list[str]]) -> Iterator[tuple[list[str], list[int], int]]:
    """Group documents' sentences into work units of about CHUNK_CHARS characters.

    Yields (sentences, document_ends, n_bytes): document_ends are the indices into `sentences` just past
    each document that ends inside this chunk (a long document may span several chunks).
    """
    sentences: list[str] = []
    document_ends: list[int] = []
    n_chars = 0
    for document in documents:
        for sentence in document:
            sentences.append(sentence)
            n_chars += len(sentence) + 1
            if n_chars >= CHUNK_CHARS:
                yield sentences, document_ends, n_chars
                sentences, document_ends, n_chars = [], [], 0
        document_ends.append(len(sentences))
    if sentences or document_ends:
        yield sentences, document_ends, n_chars


def _append_kept(lengths: np.ndarray, chunk_document_ends: list[int], sentence_lengths: array,
                 document_ends: array) -> None:
    """Record a chunk's sentences, dropping those that tokenised to nothing, and its document ends,
    dropping documents left empty."""
    kept = lengths > 0
    kept_before = np.concatenate([[0], np.cumsum(kept)])  # kept sentences before each chunk index
    base = len(sentence_lengths)
    sentence_lengths.extend(lengths[kept].astype(np.int64).tolist())
    for end in chunk_document_ends:
        global_end = base + int(kept_before[end])
        if global_end > (document_ends[-1] if document_ends else 0):
            document_ends.append(global_end)


# --------------------------------------------------------------------------- tokenising in workers


def _tokenize(tokenizer, sentences: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Sentences -> (all their token ids concatenated (n_tokens,) int64, each sentence's length (n,))."""
    encoded = tokenizer.encode_batch_ids(sentences)
    lengths = np.fromiter((len(ids) for ids in encoded), dtype=np.int64, count=len(encoded))
    tokens = np.fromiter((t for ids in encoded for t in ids), dtype=np.int64, count=int(lengths.sum()))
    return tokens, lengths


_worker_tokenizer = None  # in a worker process (which lives for one build): loaded on its first chunk


def _tokenize_in_worker(tokenizer_dir: str, sentences: list[str]) -> tuple[np.ndarray, np.ndarray]:
    global _worker_tokenizer
    if _worker_tokenizer is None:  # loaded here, not in a Pool initializer: an initializer that fails
        _worker_tokenizer = _load_tokenizer(tokenizer_dir)  # makes Pool respawn workers forever
    return _tokenize(_worker_tokenizer, sentences)


def _load_tokenizer(tokenizer_dir: str):
    from tokenizer import WordPieceTokenizer

    return WordPieceTokenizer.from_pretrained(tokenizer_dir)


def _no_tokenizer_threads() -> None:
    """Pool initializer: parallelism comes from the worker processes, not from threads inside each."""
    os.environ["TOKENIZERS_PARALLELISM"] = "false"


def _tokenize_chunks(chunks: Iterator[tuple], tokenizer_dir: Path, num_workers: int) -> Iterator[tuple]:
    """Yield (chunk, (tokens, lengths) of its sentences) in order, tokenised by `num_workers` processes.

    At most 2 chunks per worker are in flight, so a fast reader never piles the corpus up in memory
    (Pool.imap would: it queues its whole input). Errors in a worker surface here, from `result.get()`.
    """
    if num_workers <= 1:
        tokenizer = _load_tokenizer(str(tokenizer_dir))
        for chunk in chunks:
            yield chunk, _tokenize(tokenizer, chunk[0])
        return
    with multiprocessing.get_context().Pool(num_workers, _no_tokenizer_threads) as pool:
        in_flight: deque = deque()
        for chunk in chunks:
            in_flight.append((chunk, pool.apply_async(_tokenize_in_worker, (str(tokenizer_dir), chunk[0]))))
            if len(in_flight) >= 2 * num_workers:
                done, result = in_flight.popleft()
                yield done, result.get()
        while in_flight:
            done, result = in_flight.popleft()
            yield done, result.get()


# --------------------------------------------------------------------------- small helpers


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def _save_array(path: Path, array_: np.ndarray) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:  # a file object: np.save would add ".npy" to a path
            np.save(f, array_)
    atomic_write(path, write)
