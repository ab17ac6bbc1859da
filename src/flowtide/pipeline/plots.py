"""Plot files (CSV or JSON series) turned into report charts, one series per revision."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from ..report import Chart


def parse(raw: bytes, path: str) -> list[dict[str, Any]]:
    """Rows of a plot file: CSV/TSV with a header, a JSON list of records, or a JSON mapping of columns."""
    text = raw.decode("utf-8", errors="replace")
    if path.endswith(".json"):
        try:
            data = json.loads(text)
        except ValueError:
            return []
        if isinstance(data, dict):
            if len(data) == 1 and isinstance(next(iter(data.values())), list):
                data = next(iter(data.values()))  # {"points": [...]}
            else:
                columns = {k: v for k, v in data.items() if isinstance(v, list)}
                n = max((len(v) for v in columns.values()), default=0)
                return [{k: v[i] if i < len(v) else None for k, v in columns.items()} for i in range(n)]
        return [row for row in data if isinstance(row, dict)] if isinstance(data, list) else []
    delimiter = "\t" if path.endswith(".tsv") else ","
    return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(io.StringIO(text), delimiter=delimiter)]


def _number(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return value


def chart(path: str, versions: dict[str, list[dict[str, Any]]]) -> Chart | None:
    """The series of every revision overlaid.

    Two text columns and one number (``actual,predicted,count``) are a matrix: a heatmap per revision.
    Otherwise x is the first column, or all text columns joined ("fog/rain" for a confusion matrix in long
    format); every numeric column is a series per revision. A numeric x gives a line chart.
    """
    first = next((rows for rows in versions.values() if rows), None)
    if not first:
        return None
    columns = list(first[0])
    numeric = [c for c in columns if all(isinstance(r.get(c), (int, float)) or r.get(c) is None for r in first)]
    text = [c for c in columns if c not in numeric]
    if text:
        x_cols, y_cols = text, numeric
    else:
        x_cols, y_cols = columns[:1], numeric[1:]
    if not y_cols:
        return None
    if len(text) == 2 and len(numeric) == 1:
        return _matrix(path, versions, text[0], text[1], numeric[0])

    def key(row: dict[str, Any]) -> Any:
        return "/".join(str(row.get(c)) for c in x_cols) if text else row.get(x_cols[0])

    xs: list[Any] = []
    for rows in versions.values():
        for row in rows:
            if key(row) not in xs:
                xs.append(key(row))
    series: dict[str, list[float | None]] = {}
    for label, rows in versions.items():
        by_x = {key(row): row for row in rows}
        for col in y_cols:
            name = f"{col} ({label})" if len(y_cols) > 1 else label
            series[name] = [_float(by_x.get(x, {}).get(col)) for x in xs]
    numeric_x = not text and all(isinstance(x, (int, float)) for x in xs)
    return Chart(
        title=path,
        kind="line" if numeric_x and len(xs) > 2 else "bar",
        x=xs,
        series=series,
        x_label="/".join(x_cols),
        y_label=y_cols[0] if len(y_cols) == 1 else "value",
    )


def _matrix(path: str, versions: dict[str, list[dict[str, Any]]], row: str, col: str, value: str) -> Chart:
    """Long format ``actual,predicted,count`` as a matrix per revision (a confusion matrix is a heatmap)."""
    rows: list[str] = []
    cols: list[str] = []
    for data in versions.values():
        for r in data:
            if str(r.get(row)) not in rows:
                rows.append(str(r.get(row)))
            if str(r.get(col)) not in cols:
                cols.append(str(r.get(col)))
    series: dict[str, list[float | None]] = {}
    for label, data in versions.items():
        cells = {(str(r.get(row)), str(r.get(col))): _float(r.get(value)) for r in data}
        series[label] = [cells.get((a, b)) for a in rows for b in cols]
    return Chart(
        title=path, kind="heatmap", x=cols, y=rows, series=series, x_label=col, y_label=value, y_label_rows=row
    )


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
