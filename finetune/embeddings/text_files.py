"""The texts of a file given to bert-embed (--input, --corpus), each with the line it is on.

    --text-columns NAME   a table with a header (CSV, TSV or JSON lines; finetune/table_files.py): column NAME
    FILE.jsonl / .json    JSON lines: each object's "text"
    FILE.csv / .tsv       a table: needs --text-columns
    any other FILE        one text per line (UTF-8), blank lines skipped
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bert.errors import InputError
from finetune.sentence.file_task import parse_text_columns
from finetune.table_files import read_table, read_utf8


@dataclass(frozen=True)
class LineText:
    line: int  # where the text starts in its file (1-based)
    text: str


def read_texts(path: Path, text_columns: str | None = None) -> list[LineText]:
    suffix = path.suffix.lower()
    if text_columns is not None:
        names = parse_text_columns(text_columns)
        if len(names) != 1:
            raise InputError(f"--text-columns {text_columns!r}: a sentence vector is of one text: name one column")
        return table_texts(path, names[0], "--text-columns")
    if suffix in (".jsonl", ".json"):
        return table_texts(path, "text", "JSON lines need a \"text\" key, or --text-columns NAME")
    if suffix in (".csv", ".tsv"):
        raise InputError(f"{path}: a table; name its text column with --text-columns NAME")
    # Lines end at "\n" only: a text may hold U+2028 and other breaks that splitlines() would cut at.
    texts = [LineText(n, line.removesuffix("\r"))
             for n, line in enumerate(read_utf8(path).split("\n"), start=1) if line.strip()]
    if not texts:
        raise InputError(f"{path}: no texts in the file")
    return texts


def table_texts(path: Path, column: str, option: str) -> list[LineText]:
    table = read_table(path)
    table.require_column(column, option)
    return [LineText(row.line, table.cell(row, column)) for row in table.rows]
