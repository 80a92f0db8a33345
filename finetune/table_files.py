"""The user's own data files, read into one `Table` whatever their format (chosen by the extension):

    .csv            comma-separated with a header line, RFC 4180 quoting: "a, b" is one field, "" inside a
                    quoted field is a quote, and a quoted field may run over several lines
    .tsv            tab-separated with a header line, quoted the same way (pandas' and csv.writer's TSV);
                    a file that is not valid quoted TSV is read as plain lines cut at each tab, quote
                    characters kept as text (GLUE's TSV files: MRPC has sentences that begin with a quote)
    .jsonl, .json   JSON lines: one object per line, whose keys are the columns

A UTF-8 byte-order mark is dropped, blank lines are skipped, and column names may contain spaces. Every
problem is an InputError naming the file, and the line where there is one.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from bert.errors import InputError
from tokenizer.text_files import check_unicode

FORMATS = {".csv": "CSV", ".tsv": "TSV", ".jsonl": "JSON lines", ".json": "JSON lines"}


@dataclass
class Row:
    line: int  # the line of the file where the row starts (1-based)
    values: dict[str, object]  # column -> cell: text (CSV, TSV) or any JSON value (JSON lines)


@dataclass
class Table:
    path: Path
    columns: list[str]  # the header's names (JSON lines: the keys of the first object)
    rows: list[Row]

    def has_column(self, name: str) -> bool:
        return name in self.columns

    def require_column(self, name: str, option: str) -> None:
        """InputError unless the file has column `name` (named by `option`), listing the columns it has."""
        if not self.has_column(name):
            raise InputError(f"{self.path}: no column {name!r} ({option}); the file has: "
                             + ", ".join(repr(c) for c in self.columns))

    def cell(self, row: Row, column: str) -> str:
        """A cell as text: JSON numbers and booleans as JSON writes them ("2.5", "true"), null as ""."""
        where = f"{self.path}:{row.line}"
        if column not in row.values:
            raise InputError(f"{where}: no {column!r} on this line (it has: "
                             + ", ".join(repr(c) for c in row.values) + ")")
        value = row.values[column]
        if isinstance(value, str):
            check_unicode(value, f"{where}: {column!r}")  # JSON can spell a lone surrogate ("\\ud800")
            return value
        if value is None:
            return ""
        if isinstance(value, (bool, int, float)):
            return json.dumps(value)
        raise InputError(f"{where}: {column!r} is a JSON {type(value).__name__}, not text or a number")


def read_utf8(path: Path) -> str:
    """A text file's content, a UTF-8 byte-order mark dropped; a missing file or one that is not UTF-8 is an
    InputError naming it."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None

def read_table(path: Path) -> Table:
    """Read a .csv, .tsv, .jsonl or .json file (see the module docstring); it must have at least one row."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise InputError(f"{path}: unknown format; name the file .csv, .tsv, .jsonl or .json (JSON lines)")
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text (byte {e.start})") from None
    if not text.strip():
        raise InputError(f"{path}: the file is empty")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        table = read_json_lines(path, text)
    elif suffix == ".tsv":
        table = read_tsv(path, text)
    else:
        table = read_delimited(path, text, ",")
    if not table.rows:
        raise InputError(f"{path}: a header line ({', '.join(repr(c) for c in table.columns)}) but no rows")
    return table


def read_delimited(path: Path, text: str, delimiter: str) -> Table:
    """CSV (or quoted TSV): rows of exactly as many fields as the header, each with the line it starts on."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    records = []  # (first line, fields)
    try:
        while True:
            first_line = reader.line_num + 1
            fields = next(reader, None)
            if fields is None:
                break
            if fields:  # a blank line reads as []
                records.append((first_line, fields))
    except csv.Error as e:
        raise InputError(f"{path}:{reader.line_num}: malformed {FORMATS[path.suffix.lower()]} quoting ({e})") from None
    return table_from_records(path, records)


def read_tsv(path: Path, text: str) -> Table:
    """Quoted TSV if the file is valid as that, else plain tab-separated lines."""
    try:
        return read_delimited(path, text, "\t")
    except InputError:
        lines = text.split("\n")
        records = [(n, line.rstrip("\r").split("\t")) for n, line in enumerate(lines, start=1) if line.rstrip("\r")]
        return table_from_records(path, records)


def table_from_records(path: Path, records: list[tuple[int, list[str]]]) -> Table:
    """The first record is the header; every other must have one field per column."""
    (_, header), rows = records[0], records[1:]
    header = [name.strip() for name in header]
    check_unique(path, header)
    for line, fields in rows:
        if len(fields) != len(header):
            raise InputError(f"{path}:{line}: {len(fields)} fields, but the header has {len(header)} columns")
    return Table(path, header, [Row(line, dict(zip(header, fields))) for line, fields in rows])


def check_unique(path: Path, header: list[str]) -> None:
    seen = set()
    for name in header:
        if name in seen:
            raise InputError(f"{path}:1: column {name!r} appears twice in the header")
        seen.add(name)


def read_json_lines(path: Path, text: str) -> Table:
    rows = []
    for line, record in enumerate(text.split("\n"), start=1):
        if not record.strip():
            continue
        try:
            values = json.loads(record)
        except json.JSONDecodeError as e:
            raise InputError(f"{path}:{line}: not valid JSON ({e.msg}, column {e.colno}); the file must hold "
                             "one JSON object per line") from None
        if not isinstance(values, dict):
            raise InputError(f"{path}:{line}: a JSON {type(values).__name__}, not an object; the file must hold "
                             "one JSON object per line")
        rows.append(Row(line, values))
    return Table(path, list(rows[0].values), rows)
