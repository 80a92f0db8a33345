"""Read a text corpus as a stream of documents, each a list of sentences: the one reader behind both
vocabulary training (`bert-tokenizer train`) and pretraining (`bert-pretrain`), so both see the same
documents with the same cleaning.

Sources (`--corpus`, several allowed):
- text files, and folders of text files (read recursively, in sorted order);
- datasets that `datasets` reads: a Hub name such as `wikitext/wikitext-103-raw-v1`, a folder written by
  `Dataset.save_to_disk` / `DatasetDict.save_to_disk` (recognised by its dataset files, not mistaken for a
  folder of text), or a local folder of data files (parquet, JSON lines, CSV); `--corpus-split` (default
  `train`) picks the split and `--corpus-column` (default `text`) the column.

Local text follows the conventions of BERT's `create_pretraining_data.py`:
- one sentence or paragraph per line; a blank line ends a document;
- WikiText files (` = Title = ` lines) are recognised: a title line starts a new article, section
  headings (` = = Section = = `) are dropped, and blank lines inside an article are ignored;
- every line is split into sentences, so a paragraph-per-line corpus (Project Gutenberg) gives
  NSP fine-grained places to cut segment A from segment B;
- a line that is not valid UTF-8 is skipped and counted, never fatal (big scraped corpora have a few).

A dataset's rows are read as lines of the same format (that is how `wikitext` is stored); a row holding
several lines is a whole document.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from bert.errors import InputError

# File name endings read from folders; an explicitly named file is read whatever its name.
TEXT_SUFFIXES = (".txt", ".text", ".tokens", ".raw")
# What `Dataset.save_to_disk` writes (one split), and `DatasetDict.save_to_disk` (a folder per split).
SAVED_DATASET_FILES = ("state.json", "dataset_info.json")
SAVED_DATASET_DICT_FILE = "dataset_dict.json"
# Data files `datasets.load_dataset(folder)` reads.
DATA_FILE_SUFFIXES = (".parquet", ".arrow", ".jsonl", ".json", ".csv")

# A WikiText heading: "= Title =", "= = Section = =", ... (after stripping the line).
_HEADING = re.compile(r"^(=\s)+.*?(\s=)+$")
# A sentence ends at . ! or ? (maybe followed by a closing quote or bracket) before whitespace
# and a capital letter, digit, or opening quote. Crude (it splits "Mr. Smith"), but cheap and
# good enough to give NSP sentence boundaries.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"'”’)\]]))\s+(?=[A-Z0-9\"'“‘(\[])")


@dataclass
class CorpusStats:
    """What reading the corpus found; filled in while the documents stream past."""

    sources: list[str] = field(default_factory=list)
    documents: int = 0
    lines: int = 0
    invalid_utf8_lines: int = 0
    first_invalid_line: str | None = None  # "file:line" of the first skipped line

    def note_invalid_line(self, where: str) -> None:
        self.invalid_utf8_lines += 1
        if self.first_invalid_line is None:
            self.first_invalid_line = where


@dataclass(frozen=True)
class LocalFile:
    path: Path


@dataclass(frozen=True)
class DatasetSource:
    """A dataset read through `datasets`: from the Hub (`name`, `config`), or from a local folder (`folder`),
    either written by save_to_disk (`saved`) or holding data files."""

    name: str
    config: str | None
    split: str
    column: str
    folder: Path | None = None
    saved: bool = False


Source = LocalFile | DatasetSource


def split_sentences(line: str) -> list[str]:
    """Split one line of text into sentences (a line without sentence ends stays whole)."""
    return [s for s in _SENTENCE_END.split(line) if s]


# --------------------------------------------------------------------------- resolving sources


def resolve_sources(corpus_args: Iterable[str], split: str = "train", column: str = "text") -> list[Source]:
    """Turn `--corpus` arguments into sources: files, text files under folders, datasets.

    An existing path must be a file or a folder. An argument that is not an existing path is taken as a Hub
    dataset name such as `wikitext/wikitext-103-raw-v1` (dataset `wikitext`, configuration `wikitext-103-raw-v1`).
    """
    sources: list[Source] = []
    for arg in corpus_args:
        path = Path(arg).expanduser()
        if path.is_file():
            sources.append(LocalFile(path.resolve()))
        elif path.is_dir():
            sources.extend(_folder_sources(path, arg, split, column))
        elif path.exists():  # a device (/dev/null), a pipe, a socket
            raise InputError(f"corpus path {arg} is neither a file nor a folder")
        elif os.sep in arg and (arg.startswith((".", "/", "~")) or Path(arg).parent.exists()):
            raise InputError(f"corpus path {arg} does not exist")
        else:
            name, config = _split_hub_name(arg)
            sources.append(DatasetSource(name, config, split, column))
    if not sources:
        raise InputError("no corpus given")
    return sources


def _folder_sources(path: Path, arg: str, split: str, column: str) -> list[Source]:
    """A saved dataset, a folder of text files, or a folder of data files for `datasets`, in that order."""
    folder = path.resolve()
    if is_saved_dataset(path):
        return [DatasetSource(str(folder), None, split, column, folder=folder, saved=True)]
    files = sorted(p for p in path.rglob("*") if p.is_file() and _visible(p, path))
    text = [p for p in files if p.suffix in TEXT_SUFFIXES]
    if text:
        return [LocalFile(p.resolve()) for p in text]
    if any(p.suffix in DATA_FILE_SUFFIXES for p in files):
        return [DatasetSource(str(folder), None, split, column, folder=folder)]
    raise InputError(f"corpus folder {arg} holds no text files ({', '.join(TEXT_SUFFIXES)}), no dataset saved "
                     f"with save_to_disk and no data files ({', '.join(DATA_FILE_SUFFIXES)})")


def is_saved_dataset(path: Path) -> bool:
    """True for a folder written by Dataset.save_to_disk or DatasetDict.save_to_disk."""
    return (path / SAVED_DATASET_DICT_FILE).is_file() or all((path / f).is_file() for f in SAVED_DATASET_FILES)


def _visible(path: Path, root: Path) -> bool:
    return not any(part.startswith(".") for part in path.relative_to(root).parts)


def _split_hub_name(arg: str) -> tuple[str, str | None]:
    """'wikitext/wikitext-103-raw-v1' -> ('wikitext', 'wikitext-103-raw-v1'); 'owner/name/config' likewise.

    'owner/name' is ambiguous; it is tried as dataset 'owner' + config 'name' first and then as
    the repository 'owner/name' (see `_load_dataset`).
    """
    if "/" in arg:
        name, config = arg.rsplit("/", 1)
        return name, config
    return arg, None


def describe(source: Source) -> str:
    if isinstance(source, LocalFile):
        return str(source.path)
    if source.folder is not None:
        kind = "dataset saved with save_to_disk" if source.saved else "dataset folder"
        return f"{source.folder} ({kind}, split {source.split}, column {source.column})"
    config = f"/{source.config}" if source.config else ""
    return f"{source.name}{config} (Hugging Face dataset, split {source.split}, column {source.column})"


def dataset_fingerprint(source: DatasetSource) -> list:
    """What identifies a dataset's content for caching: its name, or a local folder's files (path, size,
    modification time)."""
    if source.folder is None:
        return ["hf", source.name, source.config, source.split, source.column]
    files = sorted(p for p in source.folder.rglob("*") if p.is_file())
    return ["folder", str(source.folder), source.split, source.column,
            [[str(p.relative_to(source.folder)), p.stat().st_size, p.stat().st_mtime_ns] for p in files]]


# --------------------------------------------------------------------------- reading documents


def read_documents(sources: list[Source], stats: CorpusStats | None = None) -> Iterator[list[str]]:
    """Yield the corpus as documents (lists of sentences, never empty), source after source."""
    stats = stats if stats is not None else CorpusStats()
    for source in sources:
        stats.sources.append(describe(source))
        lines = _local_lines(source.path, stats) if isinstance(source, LocalFile) else _dataset_lines(source)
        for document in _documents_from_lines(lines):
            stats.documents += 1
            yield document


def read_sentences(sources: list[Source], stats: CorpusStats | None = None) -> Iterator[str]:
    """Every sentence of the corpus, in order: what a vocabulary is trained on."""
    for document in read_documents(sources, stats):
        yield from document


def _local_lines(path: Path, stats: CorpusStats) -> Iterator[str]:
    """Decoded lines of a file; lines that are not valid UTF-8 are counted and skipped."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            stats.lines += 1
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                stats.note_invalid_line(f"{path}:{number}")


def _dataset_lines(source: DatasetSource) -> Iterator[str | None]:
    """The text rows of a dataset as lines; None marks the end of a multi-line row (a document)."""
    dataset = _load_dataset(source)
    if source.column not in dataset.column_names:
        raise InputError(f"corpus {describe(source)}: no column {source.column!r} (columns: "
                         f"{', '.join(dataset.column_names)}); choose one with --corpus-column")
    for row in dataset.select_columns([source.column]):
        text = row[source.column]
        if not isinstance(text, str):  # a missing value
            continue
        text = text.rstrip("\n")
        if "\n" in text:  # a whole document per row (e.g. Wikipedia dumps)
            yield from text.split("\n")
            yield None
        else:
            yield text


def _load_dataset(source: DatasetSource):
    import datasets

    if source.saved:
        loaded = datasets.load_from_disk(str(source.folder))
        if isinstance(loaded, datasets.DatasetDict):
            if source.split not in loaded:
                raise InputError(f"corpus {source.folder}: no split {source.split!r} (splits: "
                                 f"{', '.join(loaded)}); choose one with --corpus-split")
            return loaded[source.split]
        return loaded
    attempts = [(source.name, source.config)]
    if source.config is not None:  # 'owner/name' may be a repository without configuration
        attempts.append((f"{source.name}/{source.config}", None))
    first_error: Exception | None = None
    for name, config in attempts:
        try:
            return datasets.load_dataset(name, config, split=source.split)
        except Exception as error:  # noqa: BLE001 - any failure here means "cannot use this name"
            first_error = first_error or error
    raise InputError(
        f"corpus {describe(source)} is not a local file or folder, and loading it as a "
        f"Hugging Face dataset failed: {type(first_error).__name__}: {first_error}"
    )


def _documents_from_lines(lines: Iterable[str | None]) -> Iterator[list[str]]:
    """Group lines into documents (see the module docstring); None is an explicit document break."""
    document: list[str] = []
    wikitext = False  # becomes True at the first "= Title =" line of this source
    for line in lines:
        text = line.strip() if line is not None else ""
        heading = _HEADING.match(text)
        starts_article = heading is not None and not text.startswith("= =")
        if starts_article:
            wikitext = True
        ends_document = line is None or starts_article or (not text and not wikitext)
        if ends_document:
            if document:
                yield document
            document = []
        elif text and heading is None:
            document.extend(split_sentences(text))
    if document:
        yield document


def add_corpus_dataset_flags(parser) -> None:
    """--corpus-split / --corpus-column: which split and column of a dataset corpus to read."""
    parser.add_argument("--corpus-split", "--hub-split", dest="corpus_split", default="train",
                        help="split of a dataset corpus (Hub name or saved folder; default: %(default)s)")
    parser.add_argument("--corpus-column", default="text",
                        help="text column of a dataset corpus (default: %(default)s)")
