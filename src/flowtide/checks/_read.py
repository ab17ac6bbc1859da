"""Reading a data file for checks: format detection, lazy scans, and diagnosing broken files.

A healthy file is scanned lazily with the declared column types. A file that
polars refuses (bad bytes, a ragged row, a cell of the wrong type) is scanned
again leniently (every column as text, lossy UTF-8, ragged rows tolerated) and
what went wrong is located in the bytes, so the user gets a report, not a traceback.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import NULL_VALUES

DATA_FORMATS = ("csv", "parquet", "jsonl")
"""The data file formats checks read (`format:` of a check suite); model formats are a registry (flowtide.formats)."""
_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
_TAIL = 1 << 16


def detect_format(path: str | os.PathLike[str], declared: str | None = None) -> str:
    """The file's format: the declared one, else from the extension (csv by default)."""
    if declared:
        return declared
    suffixes = [s.lower() for s in Path(path).suffixes]
    for suffix in reversed(suffixes):
        if suffix in _EXTENSIONS:
            return _EXTENSIONS[suffix]
    return "csv"


def polars_type(kind: str):
    """The polars dtype for a declared column type."""
    import polars as pl

    return {
        "int": pl.Int64,
        "float": pl.Float64,
        "str": pl.String,
        "bool": pl.Boolean,
        "date": pl.Date,
        "datetime": pl.Datetime("us"),
    }[kind]


def csv_separator(path: Path) -> str:
    return "\t" if path.suffix.lower() == ".tsv" else ","


def scan(
    path: Path,
    fmt: str,
    types: dict[str, str] | None = None,
    *,
    lenient: bool = False,
    null_values: list[str] | tuple[str, ...] = NULL_VALUES,
):
    """A LazyFrame over the file; CSV columns get their declared types (or all text when lenient).

    CSV cells equal to one of ``null_values`` are read as null (an empty cell always is), so a
    numeric column with ``NA`` in it is still numeric, as pandas reads it.
    """
    import polars as pl

    if fmt == "parquet":
        return pl.scan_parquet(path)
    if fmt == "jsonl":
        return pl.scan_ndjson(path, infer_schema_length=10000)
    separator = csv_separator(path)
    nulls = list(null_values) or None
    if lenient:
        return pl.scan_csv(
            path,
            separator=separator,
            infer_schema=False,
            encoding="utf8-lossy",
            truncate_ragged_lines=True,
            null_values=nulls,
        )
    overrides = {name: polars_type(kind) for name, kind in (types or {}).items()}
    return pl.scan_csv(
        path,
        separator=separator,
        schema_overrides=overrides or None,
        infer_schema_length=10000,
        null_values=nulls,
    )


@dataclass
class Problem:
    """Something wrong with the file's bytes, located for the user."""

    rule: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)


def find_bad_utf8(path: Path) -> Problem | None:
    """The first invalid UTF-8 byte: its offset, line and data row."""
    offset = 0  # file offset of data[0]
    newlines = 0
    carry = b""
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(1 << 22)
            data = carry + chunk
            if not data:
                return None
            try:
                data.decode("utf-8")
                carry = b""
                consumed = len(data)
            except UnicodeDecodeError as exc:
                # a character split across chunks is not an error: keep its bytes for the next round
                if chunk and exc.reason == "unexpected end of data" and len(data) - exc.start < 4:
                    carry = data[exc.start :]
                    consumed = exc.start
                else:
                    bad = offset + exc.start
                    line = newlines + data.count(b"\n", 0, exc.start) + 1
                    return Problem(
                        "encoding",
                        f"bytes are not valid UTF-8 at byte offset {bad} (line {line}, data row {line - 1}): "
                        f"{data[exc.start : exc.start + 4]!r}",
                        {"offset": bad, "line": line, "rows": [line - 1]},
                    )
            newlines += data.count(b"\n", 0, consumed)
            offset += consumed
            if not chunk:
                return None


def header_fields(path: Path, separator: str = ",") -> list[str]:
    with open(path, "rb") as handle:
        first = handle.readline(1 << 20)
    text = first.decode("utf-8", errors="replace").rstrip("\r\n")
    return next(csv.reader(io.StringIO(text), delimiter=separator), [])


def check_tail(path: Path, separator: str = ",") -> Problem | None:
    """A truncated last line: fewer fields than the header, or no final newline mid-record."""
    size = path.stat().st_size
    if size == 0:
        return None
    header = header_fields(path, separator)
    with open(path, "rb") as handle:
        handle.seek(max(0, size - _TAIL))
        tail = handle.read()
    ends_with_newline = tail.endswith(b"\n")
    body = tail.rstrip(b"\r\n")
    last = body.rsplit(b"\n", 1)[-1]
    if size <= _TAIL and b"\n" not in body:
        return None  # header only
    fields = next(csv.reader(io.StringIO(last.decode("utf-8", errors="replace")), delimiter=separator), [])
    if len(fields) >= len(header) or not header:
        return None
    line = _count_lines(path, size, ends_with_newline)
    return Problem(
        "ragged_row",
        f"the last line (line {line}, data row {line - 1}) has {len(fields)} of {len(header)} fields"
        + ("" if ends_with_newline else " and no final newline: the file looks truncated"),
        {
            "line": line,
            "rows": [line - 1],
            "fields": len(fields),
            "expected": len(header),
            "values": [last.decode("utf-8", "replace")[:80]],
        },
    )


def _count_lines(path: Path, size: int, ends_with_newline: bool) -> int:
    count = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            count += chunk.count(b"\n")
    return count if ends_with_newline else count + 1


def find_long_rows(path: Path, separator: str = ",", limit: int = 5) -> Problem | None:
    """Rows with more fields than the header (polars refuses them); only run on files that failed."""
    header = header_fields(path, separator)
    found: list[int] = []
    count = 0
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        reader = csv.reader(handle, delimiter=separator)
        next(reader, None)
        for row_number, row in enumerate(reader, start=1):
            if len(row) > len(header):
                count += 1
                if len(found) < limit:
                    found.append(row_number)
    if not count:
        return None
    return Problem(
        "ragged_row",
        f"{count} row(s) have more fields than the header's {len(header)} (rows {', '.join(map(str, found))}); "
        "the extra fields were ignored",
        {"rows": found, "count": count},
    )


def find_bad_json_line(path: Path, limit: int = 5) -> Problem | None:
    """Lines of a JSON-lines file that are not a JSON object (polars only says the file is bad)."""
    import json

    bad: list[int] = []
    count = 0
    first_error = ""
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                ok = isinstance(json.loads(line), dict)
                reason = "not a JSON object"
            except ValueError as exc:
                ok, reason = False, str(exc)
            if not ok:
                count += 1
                first_error = first_error or reason
                if len(bad) < limit:
                    bad.append(number)
    if not count:
        return None
    return Problem(
        "read",
        f"{count} line(s) are not valid JSON objects (lines {', '.join(map(str, bad))}; first: {first_error})",
        {"rows": bad, "count": count},
    )
