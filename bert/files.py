"""Writing a file so that a crash never leaves half of one: checkpoints, vocabularies, the tokenised-corpus
cache, predictions and reports are written through `atomic_write`."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from .errors import InputError
from typing import Callable


def atomic_write(path: Path, write: Callable[[str], object]) -> None:
    """Call write(tmp_path), then rename over `path`: a crash leaves the old file or the new, never half.

    The temporary file sits beside `path` (a rename within one folder is atomic) under a name no other
    process picks, and `write` creates it, so the file gets the usual permissions (the umask's), as a
    plain open() would give it.
    """
    path = Path(path)
    tmp = str(path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp"))
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_text(path: Path, text: str) -> None:
    """`text` into `path` as UTF-8 with "\\n" line ends, atomically (see atomic_write)."""
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8", newline="\n"))


def check_output_writable(output: Path, flag: str = "--output") -> None:
    """Fail before training rather than after it: --output must be a directory that exists or can be made,
    in a place we may write to (`flag` names it in the error). Nothing is created here."""
    if output.exists() and not output.is_dir():
        raise InputError(f"{flag} {output}: exists and is not a directory")
    existing = output
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"{flag} {output}: {existing} is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{flag} {output}: no permission to write in {existing}")
