"""flowtide's own column checks, on the same contract as a plugin's (:mod:`flowtide.checks.contract`).

Registered in pyproject.toml's ``flowtide.checks`` group under the keys of a
column in flowtide.yaml: type, not_null, unique, min, max, in, regex,
max_null_fraction, mean, std.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from .contract import Check, Column, Expressions, Failures


class TypeCheck(Check):
    """``type: int|float|str|bool|date|datetime``: every non-empty cell parses as that type."""

    name = "type"

    def expressions(self, column: Column) -> Expressions:
        if column.type_violation is not None:
            return Expressions(failing=column.type_violation, shown=column.raw)
        # the scan already parsed the declared type; referencing the column makes polars parse every cell
        # (a bad cell then raises and the lenient path counts it), and gives the user a visible pass
        raw = column.raw
        return Expressions(failing=raw.is_null() & False, count=raw.null_count() * 0, shown=raw)

    @property
    def label(self) -> str:
        return f"type {self.bound}"


class NotNull(Check):
    """``not_null: true``: no empty or null cell."""

    name = "not_null"
    bound = "no nulls"

    def expressions(self, column: Column) -> Expressions:
        return Expressions(failing=column.raw.is_null(), count=column.raw.null_count(), shown=column.raw)


class Unique(Check):
    """``unique: true``: no value appears twice."""

    name = "unique"
    bound = "unique"
    label = "unique (duplicate values)"

    def expressions(self, column: Column) -> Expressions:
        typed = column.typed
        # counted as rows repeating an earlier value: a distinct count streams in far less memory
        # than is_duplicated; the sample (second pass) shows every row sharing a value
        return Expressions(
            failing=typed.is_not_null() & typed.is_duplicated(),
            count=typed.count() - typed.drop_nulls().n_unique(),
            shown=typed,
        )

    def describe(self, failures: Failures) -> str:
        n = failures.count
        return f"{failures.rows_word} repeat{'s' if n == 1 else ''} an earlier value; rows sharing a value: {failures.rows_text}"


class Min(Check):
    """``min: N`` (or an ISO date): no value below it."""

    name = "min"

    @property
    def bound(self) -> str:
        return f">= {_g(self.option)}"

    @property
    def label(self) -> str:
        return f"min ({self.bound})"

    def expressions(self, column: Column) -> Expressions:
        return Expressions(failing=column.typed < literal(self.option, column.type))


class Max(Min):
    """``max: N`` (or an ISO date): no value above it."""

    name = "max"

    @property
    def bound(self) -> str:
        return f"<= {_g(self.option)}"

    @property
    def label(self) -> str:
        return f"max ({self.bound})"

    def expressions(self, column: Column) -> Expressions:
        return Expressions(failing=column.typed > literal(self.option, column.type))


class In(Check):
    """``in: [a, b]``: every value is one of these (null is not judged)."""

    name = "in"
    label = "in (value not allowed)"

    def __init__(self, option: Any = None) -> None:
        if not isinstance(option, list | tuple):
            raise TypeError(f"`in:` needs a list of allowed values, got {option!r}")
        super().__init__(list(option))
        self._allowed: list[Any] = list(option)

    def expressions(self, column: Column) -> Expressions:
        import polars as pl

        allowed = [literal(v, column.type) for v in self.option]
        if column.type in (None, "str"):
            allowed = [str(v) for v in allowed]
            expr = column.typed.cast(pl.String)
        else:
            expr = column.typed
        self._allowed = allowed
        return Expressions(failing=~expr.is_in(allowed))  # null stays null: not counted

    @property
    def bound(self) -> Any:
        return self._allowed


class Regex(Check):
    """``regex: PATTERN``: every value matches the pattern in full."""

    name = "regex"

    @property
    def label(self) -> str:
        return f"regex {self.bound!r}"

    def expressions(self, column: Column) -> Expressions:
        import polars as pl

        text = column.typed.cast(pl.String)
        return Expressions(failing=~text.str.contains(f"^(?:{self.option})$"))


class MaxNullFraction(Check):
    """``max_null_fraction: 0.05``: at most this share of cells is null."""

    name = "max_null_fraction"

    @property
    def bound(self) -> str:
        return f"<= {self.option:g}"

    def expressions(self, column: Column) -> Expressions:
        return Expressions(value=column.raw.is_null().mean())

    def judge(self, value: Any) -> tuple[bool, str]:
        limit = self.option
        frac = value or 0.0
        return frac <= limit, f"{frac:.2%} nulls" + ("" if frac <= limit else f", more than {limit:.2%}")


class Mean(Check):
    """``mean: {min, max}``: the column mean lies within the bounds."""

    name = "mean"

    @property
    def bound(self) -> str:
        return bounds_text(self.option)

    def expressions(self, column: Column) -> Expressions:
        import polars as pl

        return Expressions(value=self._stat(column.typed.cast(pl.Float64, strict=False)))

    def _stat(self, values):
        return values.mean()

    def judge(self, value: Any) -> tuple[bool, str]:
        b, stat = self.option, self.name
        if value is None:
            return False, f"no values to compute the {stat}"
        if value != value:  # NaN compares false with both bounds: it must not pass them
            return False, f"{stat} is NaN: the column holds NaN values (not missing cells)"
        if b.min is not None and value < b.min:
            return False, f"{stat} {value:.4g} below {b.min:g}"
        if b.max is not None and value > b.max:
            return False, f"{stat} {value:.4g} above {b.max:g}"
        return True, f"{stat} {value:.4g}"


class Std(Mean):
    """``std: {min, max}``: the column standard deviation lies within the bounds."""

    name = "std"

    def _stat(self, values):
        return values.std()


def bounds_text(b) -> str:
    parts = []
    if b.min is not None:
        parts.append(f">= {b.min:g}")
    if b.max is not None:
        parts.append(f"<= {b.max:g}")
    return ", ".join(parts)


def literal(value: Any, declared: str | None):
    """A bound from flowtide.yaml as the column's type: ISO strings become dates for date columns."""
    if isinstance(value, str) and declared in ("date", "datetime"):
        parsed = _dt.datetime.fromisoformat(value)
        return parsed.date() if declared == "date" else parsed
    return value


def _g(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
