"""Read a pretraining corpus as a stream of documents, each a list of sentences.

Sources are text files, folders of text files (read recursively, in sorted order) and Hugging Face
Hub datasets by name. Local text follows the conventions of BERT's `create_pretraining_data.py`:

- one sentence or paragraph per line; a blank line ends a document;
- WikiText files (` = Title = ` lines) are recognised: a title line starts a new article, section
  headings (` = = Section = = `) are dropped, and blank lines inside an article are ignored;
- every line is split into sentences, so a paragraph-per-line corpus (Project Gutenberg) gives
  NSP fine-grained places to cut segment A from segment B;
- a line that is not valid UTF-8 is skipped and counted, never fatal (big scraped corpora have a few).

A Hub dataset's rows are read as lines of the same format (that is how `wikitext` is stored);
a row holding several lines is a whole document.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

# File name endings read from folders; an explicitly named file is read whatever its name.
TEXT_SUFFIXES = (".txt", ".text", ".tokens", ".raw")

# A WikiText heading: "= Title =", "= = Section = =", ... (after stripping the line).
_HEADING = re.compile(r"^(=\s)+.*?(\s=)+$")
# A sentence ends at . ! or ? (maybe followed by a closing quote or bracket) before whitespace
# and a capital letter, digit, or opening quote. Crude (it splits "Mr. Smith"), but cheap and
# good enough to give NSP sentence boundaries.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"'”’)\]]))\s+(?=[A-Z0-9\"'“‘(\[])")


class CorpusError(ValueError):
    """A corpus argument that cannot be read (missing path, empty folder, unknown dataset)."""


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
class HubDataset:
    name: str
    config: str | None
    split: str


Source = LocalFile | HubDataset


def split_sentences(line: str) -> list[str]:
    """Split one line of text into sentences (a line without sentence ends stays whole)."""
    return [s for s in _SENTENCE_END.split(line) if s]


# --------------------------------------------------------------------------- resolving sources


def resolve_sources(corpus_args: Iterable[str], hub_split: str = "train") -> list[Source]:
    """Turn `--corpus` arguments into sources: files, text files under folders, Hub datasets.

    An argument that is not an existing path is taken as a Hub dataset name such as
    `wikitext/wikitext-103-raw-v1` (dataset `wikitext`, configuration `wikitext-103-raw-v1`).
    """
    sources: list[Source] = []
    for arg in corpus_args:
        path = Path(arg).expanduser()
        if path.is_file():
            sources.append(LocalFile(path.resolve()))
        elif path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and _is_text_file(p, path))
            if not files:
                raise CorpusError(f"corpus folder {arg} holds no text files ({', '.join(TEXT_SUFFIXES)})")
            sources.extend(LocalFile(p.resolve()) for p in files)
        elif os.sep in arg and (arg.startswith((".", "/", "~")) or Path(arg).parent.exists()):
            raise CorpusError(f"corpus path {arg} does not exist")
        else:
            name, config = _split_hub_name(arg)
            sources.append(HubDataset(name, config, hub_split))
    if not sources:
        raise CorpusError("no corpus given")
    return sources


def _is_text_file(path: Path, root: Path) -> bool:
    hidden = any(part.startswith(".") for part in path.relative_to(root).parts)
    return path.suffix in TEXT_SUFFIXES and not hidden


def _split_hub_name(arg: str) -> tuple[str, str | None]:
    """'wikitext/wikitext-103-raw-v1' -> ('wikitext', 'wikitext-103-raw-v1'); 'owner/name/config' likewise.

    'owner/name' is ambiguous; it is tried as dataset 'owner' + config 'name' first and then as
    the repository 'owner/name' (see `_load_hub_dataset`).
    """
    if "/" in arg:
        name, config = arg.rsplit("/", 1)
        return name, config
    return arg, None


def describe(source: Source) -> str:
    if isinstance(source, LocalFile):
        return str(source.path)
    config = f"/{source.config}" if source.config else ""
    return f"{source.name}{config} (Hugging Face dataset, split {source.split})"


# --------------------------------------------------------------------------- reading documents


def read_documents(sources: list[Source], stats: CorpusStats | None = None) -> Iterator[list[str]]:
    """Yield the corpus as documents (lists of sentences, never empty), source after source."""
    stats = stats if stats is not None else CorpusStats()
    for source in sources:
        stats.sources.append(describe(source))
        lines = _local_lines(source.path, stats) if isinstance(source, LocalFile) else _hub_lines(source)
        for document in _documents_from_lines(lines):
            stats.documents += 1
            yield document


def _local_lines(path: Path, stats: CorpusStats) -> Iterator[str]:
    """Decoded lines of a file; lines that are not valid UTF-8 are counted and skipped."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            stats.lines += 1
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                stats.note_invalid_line(f"{path}:{number}")


def _hub_lines(source: HubDataset) -> Iterator[str | None]:
    """The text rows of a Hub dataset as lines; None marks the end of a multi-line row (a document)."""
    dataset = _load_hub_dataset(source)
    column = _text_column(dataset, source)
    for row in dataset:
        text = row[column].rstrip("\n")
        if "\n" in text:  # a whole document per row (e.g. Wikipedia dumps)
            yield from text.split("\n")
            yield None
        else:
            yield text


def _load_hub_dataset(source: HubDataset):
    import datasets

    attempts = [(source.name, source.config)]
    if source.config is not None:  # 'owner/name' may be a repository without configuration
        attempts.append((f"{source.name}/{source.config}", None))
    first_error: Exception | None = None
    for name, config in attempts:
        try:
            return datasets.load_dataset(name, config, split=source.split)
        except Exception as error:  # noqa: BLE001 - any failure here means "cannot use this name"
            first_error = first_error or error
    raise CorpusError(
        f"corpus {describe(source)} is not a local file or folder, and loading it as a "
        f"Hugging Face dataset failed: {type(first_error).__name__}: {first_error}"
    )


def _text_column(dataset, source: HubDataset) -> str:
    if "text" in dataset.column_names:
        return "text"
    for name, feature in dataset.features.items():
        if getattr(feature, "dtype", None) == "string":
            return name
    raise CorpusError(f"dataset {describe(source)} has no text column (columns: {dataset.column_names})")


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
