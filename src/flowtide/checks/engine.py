"""The check engine: every rule of a suite compiled to polars aggregates, evaluated in one pass.

All table and column rules become expressions of ONE ``select`` over a lazy
scan, run on the streaming engine (bounded memory, files larger than RAM).
Only rules that fail cost a second query, which fetches the first few failing
data row numbers (1-based, the header is not a row) and their values.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..config import CheckSuite, ColumnCheck
from ..report import Finding
from . import _read
from .contract import Check, Column, Failures
from .rules import bounds_text

SAMPLE = 5  # failing rows shown per rule
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d")
_DATETIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
)
_BOOL_WORDS = {"true": True, "false": False, "t": True, "f": False, "yes": True, "no": False, "1": True, "0": False}


@dataclass
class _Rule:
    column: str | None
    rule: str
    agg: Any  # polars expression giving a count of failing rows, or a value judged in Python
    predicate: Any = None  # row-level "this row fails" expression (count rules only)
    bound: Any = None
    judge: Any = None  # value -> (ok, message) for value rules
    raw: Any = None  # the expression whose values a failure shows
    describe: Any = None  # Failures -> message, for count rules


@dataclass
class Evaluation:
    findings: list[Finding]
    rows: int | None
    columns: dict[str, dict[str, Any]]
    lazy: Any  # the LazyFrame used (drift reuses it)
    typed: dict[str, Any]  # column -> typed expression


def _family(dtype) -> str:
    return type_name(dtype) or str(dtype)


def type_name(dtype) -> str | None:
    """The `type:` word of a check (int, float, str, bool, date, datetime) for a polars dtype, if any."""
    import polars as pl

    if dtype == pl.Boolean:
        return "bool"
    if dtype.is_integer():
        return "int"
    if dtype.is_float():
        return "float"
    if dtype == pl.Date:
        return "date"
    if isinstance(dtype, pl.Datetime):
        return "datetime"
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, (pl.Categorical, pl.Enum)):
        return "str"
    return None


def _typed(name: str, dtype, declared: str | None):
    """(typed expression, type-violation predicate or None) for a column."""
    import polars as pl

    col = pl.col(name)
    if declared is None:
        return col, None
    family = _family(dtype)
    if family == declared or (declared == "float" and family == "int"):
        return col, None
    if declared == "int" and family == "float":
        return col, col.is_not_null() & col.is_not_nan() & (col.floor() != col)
    if declared == "str":
        return col.cast(pl.String), None
    text = col.cast(pl.String, strict=False)
    if declared == "int":
        typed = text.str.strip_chars().cast(pl.Int64, strict=False)
    elif declared == "float":
        typed = text.str.strip_chars().cast(pl.Float64, strict=False)
    elif declared == "bool":
        typed = (
            text.str.strip_chars().str.to_lowercase().replace_strict(_BOOL_WORDS, default=None, return_dtype=pl.Boolean)
        )
    elif declared == "date":
        if family == "str":
            stripped = text.str.strip_chars()
            typed = pl.coalesce([stripped.str.to_date(f, strict=False) for f in _DATE_FORMATS])
        else:
            typed = col.cast(pl.Date, strict=False)
    elif family == "str":
        stripped = text.str.strip_chars()
        typed = pl.coalesce(
            [stripped.str.to_datetime(f, strict=False, time_unit="us") for f in _DATETIME_FORMATS]
            + [stripped.str.to_date(f, strict=False).cast(pl.Datetime("us")) for f in _DATE_FORMATS]
        )
    else:
        typed = col.cast(pl.Datetime("us"), strict=False)
    return typed, col.is_not_null() & typed.is_null()


def compile_rules(
    suite: CheckSuite, schema, target: str, project_config=None
) -> tuple[list[_Rule], list[Finding], dict]:
    """Rules for the columns present in ``schema``; schema-level findings (missing/unexpected columns) directly."""
    import polars as pl

    findings: list[Finding] = []
    rules: list[_Rule] = []
    typed_exprs: dict[str, Any] = {}
    present = set(schema.names())
    required = list(dict.fromkeys([*suite.required, *suite.columns]))
    missing = [c for c in required if c not in present]
    if missing:
        findings.append(
            Finding(
                "fail", target, "required", f"missing column(s): {', '.join(missing)}", value=missing, bound=required
            )
        )
    if suite.strict:
        extra = [c for c in schema.names() if c not in suite.columns and c not in suite.required]
        if extra:
            findings.append(Finding("fail", target, "strict", f"unexpected column(s): {', '.join(extra)}", value=extra))
    if suite.rows:
        bounds = suite.rows

        def judge_rows(n, b=bounds):
            if b.min is not None and n < b.min:
                return False, f"{n} rows, fewer than the minimum {b.min:g}"
            if b.max is not None and n > b.max:
                return False, f"{n} rows, more than the maximum {b.max:g}"
            return True, f"{n} rows"

        rules.append(_Rule(None, "rows", pl.len(), bound=bounds_text(bounds), judge=judge_rows))
    for name, spec in suite.columns.items():
        if name not in present:
            continue
        typed, bad_type = _typed(name, schema[name], spec.type)
        typed_exprs[name] = typed
        raw = pl.col(name)
        rules.extend(_column_rules(name, spec, typed, raw, bad_type))
    if suite.freshness and suite.freshness.column in present:
        f = suite.freshness
        spec = suite.columns.get(f.column) or ColumnCheck()
        typed = typed_exprs.get(f.column)
        if typed is None:
            typed, _ = _typed(f.column, schema[f.column], "datetime" if _family(schema[f.column]) != "date" else "date")
        today = _dt.datetime.now(_dt.UTC).replace(tzinfo=None)

        def judge_fresh(newest, f=f, today=today):
            if newest is None:
                return False, f"no dates in {f.column}"
            stamp = newest if isinstance(newest, _dt.datetime) else _dt.datetime.combine(newest, _dt.time())
            age = (today - stamp).total_seconds() / 86400
            ok = age <= f.max_age_days
            return (
                ok,
                f"newest {f.column} is {newest} ({age:.1f} days old{'' if ok else f', more than {f.max_age_days:g}'})",
            )

        rules.append(_Rule(f.column, "freshness", typed.max(), bound=f"<= {f.max_age_days:g} days", judge=judge_fresh))
    elif suite.freshness:
        findings.append(
            Finding(
                "fail",
                target,
                "freshness",
                f"freshness column {suite.freshness.column!r} is missing",
                column=suite.freshness.column,
            )
        )
    return rules, findings, typed_exprs


def _column_rules(name: str, spec: ColumnCheck, typed, raw, bad_type) -> list[_Rule]:
    """Every check written under the column, each looked up in the ``flowtide.checks`` registry."""
    column = Column(name=name, raw=raw, typed=typed, type=spec.type, type_violation=bad_type)
    return [_compile(column, check) for check in column_checks(spec)]


def column_checks(spec: ColumnCheck) -> list[Check]:
    """The checks a column's rules make, in the order written in ColumnCheck, then the plugins' in file order."""
    from .. import plugins

    options = [(_yaml_key(f.name), getattr(spec, f.name)) for f in fields(spec) if f.name != "plugins"]
    options += list(spec.plugins.items())
    return [
        plugins.load(plugins.CHECKS, key)(option)
        for key, option in options
        if option is not None and option is not False
    ]


def _yaml_key(field_name: str) -> str:
    return field_name[:-1] if field_name.endswith("_") else field_name


def _compile(column: Column, check: Check) -> _Rule:
    compiled = check.expressions(column)
    if compiled.failing is None:
        return _Rule(column.name, check.name, compiled.value, bound=check.bound, judge=check.judge)
    count = compiled.count if compiled.count is not None else compiled.failing.sum()
    shown = compiled.shown if compiled.shown is not None else column.typed
    return _Rule(column.name, check.name, count, compiled.failing, check.bound, raw=shown, describe=check.describe)


def evaluate(suite: CheckSuite, path: Path, target: str, fmt: str) -> Evaluation:
    """Run every rule of ``suite`` on the file in one streaming pass (two when something fails)."""
    import polars as pl

    findings: list[Finding] = []
    declared = {name: spec.type for name, spec in suite.columns.items() if spec.type}
    problems: list[_read.Problem] = []
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    if fmt == "csv":
        tail = _read.check_tail(path, sep)
        if tail:
            problems.append(tail)
        # columns the file lacks cannot get a declared type
        present = set(_read.header_fields(path, sep))
        declared = {k: v for k, v in declared.items() if k in present}
    lenient = False
    if path.stat().st_size == 0:
        empty = Finding(
            "fail", target, "read", f"{path.name} is empty (0 bytes)", details={"hint": "Pull or produce it again."}
        )
        return Evaluation([empty], None, {}, None, {})
    try:
        fast = _read_without_tokens(suite, path, declared, target) if fmt == "csv" else None
        if fast is not None:
            lf, schema, rules, schema_findings, typed, values = fast
        else:
            lf = _read.scan(path, fmt, declared, null_values=suite.null_values)
            schema = lf.collect_schema()
            rules, schema_findings, typed = compile_rules(suite, schema, target)
            values = _collect(lf, rules, every_column=fmt == "csv")
    except pl.exceptions.PolarsError as exc:
        if fmt != "csv":
            located = _read.find_bad_json_line(path) if fmt == "jsonl" else None
            message = located.message if located else f"cannot read {path.name} as {fmt}: {_first_line(exc)}"
            details = {**(located.details if located else {}), "error": str(exc)}
            return Evaluation(
                [Finding("fail", target, "read", message, value=details.get("rows"), details=details)],
                None,
                {},
                None,
                {},
            )
        lenient = True
        text = str(exc)
        if "utf-8" in text.lower() or "utf8" in text.lower():
            problem = _read.find_bad_utf8(path)
            if problem:
                problems.append(problem)
        if "more fields" in text:
            problem = _read.find_long_rows(path, sep)
            if problem:
                problems.append(problem)
        try:
            lf = _read.scan(path, fmt, lenient=True, null_values=suite.null_values)
            schema = lf.collect_schema()
            rules, schema_findings, typed = compile_rules(suite, schema, target)
            values = _collect(lf, rules, every_column=fmt == "csv")
        except pl.exceptions.PolarsError as again:
            parse_error = "could not parse" in str(again) or "utf-8" in str(again).lower()
            if not parse_error:
                # not the file: a rule that cannot apply to its column (e.g. a numeric min on text)
                rule, message = "rules", f"cannot evaluate the rules on {path.name}: {_first_line(again)}"
                hint = "Declare the column's `type:` so bounds and values are compared as that type."
            else:  # unreadable even as text, e.g. an unterminated quote
                rule, message = "read", f"cannot read {path.name} even as text: {_first_line(again)}"
                hint = "Look for an unterminated quote or a binary file under a .csv name."
            finding = Finding("fail", target, rule, message, details={"error": str(again), "hint": hint})
            return Evaluation([*(_problem_findings(problems, target)), finding], None, {}, None, {})
    findings.extend(_problem_findings(problems, target))
    findings.extend(schema_findings)
    failing: list[tuple[_Rule, int]] = []
    rows = values["__rows"]
    for i, rule in enumerate(rules):
        value = values[f"r{i}"]
        if rule.judge is not None:
            ok, message = rule.judge(value)
            findings.append(
                Finding(
                    "pass" if ok else "fail",
                    target,
                    rule.rule,
                    message,
                    column=rule.column,
                    value=_plain(value),
                    bound=rule.bound,
                )
            )
            continue
        failed = int(value or 0)
        if failed:
            failing.append((rule, failed))
        else:
            findings.append(
                Finding(
                    "pass", target, rule.rule, "all rows pass", column=rule.column, value=0, bound=_plain(rule.bound)
                )
            )
    if failing:
        samples = _failing_rows(lf, [r for r, _ in failing])
        for (rule, failed), (row_numbers, shown) in zip(failing, samples, strict=True):
            message = rule.describe(Failures(failed, row_numbers, shown))
            findings.append(
                Finding(
                    "fail",
                    target,
                    rule.rule,
                    message,
                    column=rule.column,
                    value=failed,
                    bound=_plain(rule.bound),
                    details={"failed": failed, "rows": row_numbers, "values": [_plain(v) for v in shown]},
                )
            )
    stats = {name: {"type": _family(schema[name])} for name in schema.names()}
    if lenient:
        findings.append(
            Finding("info", target, "read", "the file was read leniently (as text, lossy UTF-8, ragged rows tolerated)")
        )
    return Evaluation(findings, rows, stats, lf, typed)


def _problem_findings(problems: list[_read.Problem], target: str) -> list[Finding]:
    return [
        Finding("fail", target, p.rule, p.message, value=p.details.get("rows"), details=p.details) for p in problems
    ]


_NAN_WORDS = frozenset({"NaN", "nan"})


def _read_without_tokens(suite: CheckSuite, path: Path, declared: dict[str, str], target: str):
    """The CSV read as if ``null_values`` were empty, when that provably gives the same frame; else None.

    polars compares every cell with every null token: ~17 % of a check of 1M clean rows. For
    the default tokens (or a subset) nothing else can differ: no int, bool, date or datetime
    parses any of them (a cell holding one is null or an error either way), so a token survives
    only as text in a String column or as NaN in a Float column (``NaN``, ``nan``). The same
    pass looks for exactly those: NaN with ``is_nan``; a token in text with ``is_in``, or, for a
    column with an ``in:`` rule that allows no token, by that rule itself (no value outside the
    allowed ones means no token). Anything found, or any error, and the caller reads the file
    with the tokens as before: this only ever skips work, it never decides a finding.
    """
    import polars as pl

    tokens = list(suite.null_values)
    if not tokens or not set(tokens) <= set(_read.NULL_VALUES) or _token_near_the_top(path, tokens):
        return None
    try:
        lf = _read.scan(path, "csv", declared, null_values=())
        schema = lf.collect_schema()
        rules, schema_findings, typed = compile_rules(suite, schema, target)
        by_in = {
            rule.column: i
            for i, rule in enumerate(rules)
            if rule.rule == "in" and not {str(v) for v in rule.bound or ()} & set(tokens)
        }
        guards, proofs = [], []
        for name, dtype in schema.items():
            if dtype == pl.String and name in by_in:
                proofs.append(f"r{by_in[name]}")
            elif dtype == pl.String:
                guards.append(pl.col(name).is_in(tokens).any())
            elif dtype.is_float():
                if _NAN_WORDS & set(tokens):
                    guards.append(pl.col(name).is_nan().any())
            elif not (dtype.is_integer() or dtype == pl.Boolean or dtype.is_temporal()):
                return None  # a dtype not argued for above
        values = _collect(lf, rules, every_column=True, guards=guards)
    except Exception:  # whatever went wrong, the read with the tokens decides (and reports) it
        return None
    if any(values[f"__guard{i}"] for i in range(len(guards))) or any(values[key] for key in proofs):
        return None
    return lf, schema, rules, schema_findings, typed, values


_SNIFF_BYTES = 64 * 1024


def _token_near_the_top(path: Path, tokens: list[str]) -> bool:
    """Whether a cell of the file's first 64 KiB looks like a null token (split naively, quotes or not).

    A file that holds tokens mostly shows one early; the token-free pass would then only find it and be
    repeated by the read with the tokens. Declining here on a false alarm (a quoted comma) only costs
    the skipped speed-up, and a token further down is still found by that pass's own guards.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(_SNIFF_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return True  # the read with the tokens reports it
    words = {token for token in tokens if token}
    quoted_empty = "" in tokens
    separator = _read.csv_separator(path)
    for line in head.split("\n")[1:-1]:  # the header, and the last line cut short, are not cells of data
        for cell in line.rstrip("\r").split(separator):
            cell = cell.strip()
            if cell.strip('"') in words or (quoted_empty and cell == '""'):
                return True
    return False


def _collect(lf, rules: list[_Rule], *, every_column: bool = False, guards: list | None = None) -> dict[str, Any]:
    import polars as pl

    # the row count is always computed: it reports the size and makes polars read every row
    exprs = [pl.len().alias("__rows"), *(rule.agg.alias(f"r{i}") for i, rule in enumerate(rules))]
    exprs += [guard.alias(f"__guard{i}") for i, guard in enumerate(guards or ())]
    if every_column:
        # a CSV row with extra fields or a broken quote only shows when its columns are parsed
        used = {rule.column for rule in rules}
        names = [n for n in lf.collect_schema().names() if n not in used]
        exprs += [pl.col(n).null_count().alias(f"__parse_{i}") for i, n in enumerate(names)]
    return lf.select(exprs).collect(engine="streaming").row(0, named=True)


def _failing_rows(lf, rules: list[_Rule]) -> list[tuple[list[int], list[Any]]]:
    """First SAMPLE failing row numbers and values of every failing rule, in one more pass."""
    import polars as pl

    indexed = lf.with_row_index("__row", offset=1)
    exprs = []
    for i, rule in enumerate(rules):
        predicate = rule.predicate.fill_null(False)
        exprs.append(pl.col("__row").filter(predicate).head(SAMPLE).implode().alias(f"n{i}"))
        exprs.append(rule.raw.filter(predicate).head(SAMPLE).cast(pl.String).implode().alias(f"v{i}"))
    row = indexed.select(exprs).collect(engine="streaming").row(0, named=True)
    return [(list(row[f"n{i}"]), list(row[f"v{i}"])) for i in range(len(rules))]


def _plain(value: Any) -> Any:
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    return value


def _first_line(exc: Exception) -> str:
    return re.split(r"\n", str(exc).strip(), maxsplit=1)[0]
