"""Text the tokenizer reads, checked before use: what a vocabulary is trained on (files, folders of files, or
an iterator of strings), and single texts from the command line or from data files.

Every problem is reported before training starts, naming the file and line: a missing path, a folder
without text files, an empty file, bytes that are not UTF-8. (The Rust trainer would otherwise stop
with "stream did not contain valid UTF-8" and no file name.) A single text that is not valid Unicode is an
InputError naming where it came from.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from bert.errors import InputError
from tokenizer.pipeline import check_text

# File name endings read from folders; a file named explicitly is read whatever its name.
TEXT_SUFFIXES = (".txt", ".text", ".tokens", ".raw")
_CHUNK_BYTES = 1 << 24  # validate files 16 MB at a time, so a huge file never sits in memory whole


def is_path_list(source) -> bool:
    """True for a path or a list/tuple of paths; False for an iterator (or generator) of texts.

    A list of strings is read as file names, never as texts: pass `iter(texts)` to train on strings.
    """
    if isinstance(source, (str, os.PathLike)):
        return True
    return isinstance(source, (list, tuple)) and all(isinstance(p, (str, os.PathLike)) for p in source)


def text_files(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """Expand files and folders (recursively, sorted) into the list of text files to train on."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES)
            if not found:
                raise ValueError(f"{path}: no text files ({', '.join(TEXT_SUFFIXES)}) in this folder")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder (to train on strings, pass an "
                                    "iterator such as iter(texts), not a list)")
    if not files:
        raise ValueError("no training files given")
    return files


def check_text_file(path: Path) -> None:
    """Raise ValueError unless `path` holds some non-blank, valid UTF-8 text."""
    has_text = False
    line = 1
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK_BYTES):
            chunk += f.readline()  # end on a line break, so no character is cut in two
            try:
                text = chunk.decode("utf-8")
            except UnicodeDecodeError as e:
                bad_line = line + chunk.count(b"\n", 0, e.start)
                raise ValueError(f"{path}:{bad_line}: not UTF-8 text (byte {chunk[e.start]:#04x}); "
                                 "convert the file, e.g. with `iconv -f latin1 -t utf-8`") from None
            has_text = has_text or not text.isspace()
            line += chunk.count(b"\n")
    if not has_text:
        raise ValueError(f"{path}: the file is empty")


def checked_texts(texts: Iterable[str]) -> Iterator[str]:
    """Pass the strings of `texts` through, stopping with a clear error at the first bad one."""
    for i, text in enumerate(texts):
        check_text(text, f"training text #{i}")
        yield text


def check_text_arguments(*texts: str | None) -> None:
    """Text from the command line that is not valid Unicode (a lone surrogate, which is what Python makes of
    bytes that are not UTF-8 in argv) cannot be tokenised: say so instead of a traceback."""
    for text in texts:
        if text is None:
            continue
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            raise InputError(f"the text {text!r} is not valid UTF-8 (position {e.start})") from None


def check_unicode(text: str, where: str) -> None:
    """Text the tokenizer can take. JSON can spell what is not a character (a lone surrogate, "\\ud800")."""
    try:
        check_text(text, where)
    except ValueError as e:
        raise InputError(str(e)) from None
