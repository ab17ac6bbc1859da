"""Propose a `columns:` section from the data: types, not_null, ranges with a margin, categories, unique ids.

The proposal is a starting point the user pastes under ``checks: <target>:``
and edits; it is printed as YAML that flowtide.yaml accepts unchanged.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from . import _read
from .engine import type_name

MAX_CATEGORIES = 20
MARGIN = 0.1  # share of the observed range added on each side


def infer_columns(
    path: str | Path, fmt: str | None = None, null_values: list[str] | tuple[str, ...] = _read.NULL_VALUES
) -> tuple[int, dict[str, dict[str, Any]]]:
    """(rows, column -> proposed rules) for the data file at ``path``, in two streaming passes.

    CSV cells in ``null_values`` are nulls, so `NA` neither makes a numeric column text nor becomes a category.
    """
    import polars as pl

    path = Path(path)
    fmt = _read.detect_format(path, fmt)
    if fmt == "csv":
        lf = pl.scan_csv(
            path,
            try_parse_dates=True,
            infer_schema_length=10000,
            encoding="utf8-lossy",
            truncate_ragged_lines=True,
            null_values=list(null_values) or None,
        )
    else:
        lf = _read.scan(path, fmt)
    schema = lf.collect_schema()
    exprs = [pl.len().alias("__rows")]
    for name in schema.names():
        col = pl.col(name)
        exprs += [col.null_count().alias(f"{name}\x00nulls"), col.n_unique().alias(f"{name}\x00distinct")]
        if schema[name].is_numeric() or schema[name].is_temporal():
            exprs += [col.min().alias(f"{name}\x00min"), col.max().alias(f"{name}\x00max")]
    stats = lf.select(exprs).collect(engine="streaming").row(0, named=True)
    rows = int(stats["__rows"])
    small = [
        n
        for n in schema.names()
        if schema[n] in (pl.String, pl.Categorical)
        and stats[f"{n}\x00distinct"] - (stats[f"{n}\x00nulls"] > 0) <= MAX_CATEGORIES
    ]
    categories: dict[str, list] = {}
    if small:
        found = lf.select([pl.col(n).drop_nulls().unique().sort().implode() for n in small]).collect(engine="streaming")
        categories = {n: found.get_column(n)[0].to_list() for n in small}
    out: dict[str, dict[str, Any]] = {}
    for name in schema.names():
        dtype = schema[name]
        nulls = stats[f"{name}\x00nulls"]
        distinct = stats[f"{name}\x00distinct"] - (nulls > 0)
        kind = type_name(dtype)
        rule: dict[str, Any] = {"type": kind} if kind else {}
        if nulls == 0 and rows:
            rule["not_null"] = True
        elif rows and nulls:
            rule["max_null_fraction"] = _ceil_nice(min(1.0, 2 * nulls / rows))
        if (
            kind in ("int", "str", "date", "datetime")
            and rows >= 10
            and distinct == rows - nulls
            and distinct > MAX_CATEGORIES
        ):
            rule["unique"] = True
        if kind in ("int", "float"):
            lo, hi = stats[f"{name}\x00min"], stats[f"{name}\x00max"]
            if lo is not None and hi is not None:
                rule.update(_range(lo, hi, kind))
                if rule.get("unique"):
                    rule.pop("max")  # ids grow: a maximum would fail next month's data
        if name in categories and rows >= 2 * max(distinct, 1):
            rule["in"] = categories[name]
        out[name] = rule
    return rows, out


def _range(lo: float, hi: float, kind: str) -> dict[str, Any]:
    span = (hi - lo) or abs(hi) or 1.0
    low, high = lo - MARGIN * span, hi + MARGIN * span
    if lo >= 0 > low:
        low = 0  # a non-negative quantity stays non-negative
    step = 10 ** math.floor(math.log10(span)) / 10 if span > 0 else 1
    if kind == "int":
        step = max(1, step)
    low = math.floor(low / step) * step
    high = math.ceil(high / step) * step
    if kind == "int":
        return {"min": int(low), "max": int(high)}
    return {"min": _tidy(low), "max": _tidy(high)}


def _tidy(x: float) -> float | int:
    x = float(f"{x:.6g}")
    return int(x) if x.is_integer() else x


def _ceil_nice(x: float) -> float:
    return min(1.0, math.ceil(x * 100) / 100)


def _yaml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_yaml_value(v) for v in value) + "]"
    text = str(value)
    # plain scalars only when YAML reads them back as the same string
    if text and text.replace("_", "").replace("-", "").isalnum() and not _looks_special(text):
        return text
    return json.dumps(text)


def _looks_special(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"):
        return True
    try:
        float(text)
        return True
    except ValueError:
        return text[0].isdigit()


def to_yaml(target: str, rows: int, columns: dict[str, dict[str, Any]], *, indent: str = "") -> str:
    """The proposal as a YAML `columns:` block (flow mappings, one column per line)."""
    lines = [
        f"{indent}# proposed by `flowtide check --infer {target}` from {rows} rows; review before pasting under",
        f"{indent}# checks:\n{indent}#   {target}:",
        f"{indent}columns:",
    ]
    for name, rule in columns.items():
        body = ", ".join(f"{key}: {_yaml_value(value)}" for key, value in rule.items())
        lines.append(f"{indent}  {_yaml_value(name)}: {{{body}}}")
    return "\n".join(lines) + "\n"


def infer(project, target: str) -> str:
    """The proposed `columns:` YAML for a target (source name, checks key or data path)."""
    from ..errors import UsageError
    from .runner import resolve_target

    name, suite, rel = resolve_target(project, target)
    path = project.root / rel
    if not path.is_file():
        raise UsageError(f"{rel} does not exist", hint="Run `flowtide pull` first, or pass a data file path.")
    rows, columns = infer_columns(path, suite.format, suite.null_values)
    return to_yaml(name, rows, columns)
