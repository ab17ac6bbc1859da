"""The check contract: a column rule compiles to polars expressions and describes its failure.

Every rule under a column in flowtide.yaml is a :class:`Check` registered in the
``flowtide.checks`` entry-point group under the key users write. flowtide's own
rules (``type``, ``not_null``, ``unique``, ``min``, ``max``, ``in``, ``regex``,
``max_null_fraction``, ``mean``, ``std``; :mod:`flowtide.checks.rules`) are
registered there exactly as a package registers its own::

    [project.entry-points."flowtide.checks"]
    even = "my_checks:Even"

    # flowtide.yaml
    checks:
      orders:
        columns:
          quantity: {type: int, even: true}

How the engine uses a check (:mod:`flowtide.checks.engine`):

1. ``Check(option)`` once per column, with the value written under its key
   (``true``, a number, a list, a mapping...). A key set to ``false`` or
   ``null`` makes no check. Raise ``ValueError`` or ``TypeError`` for an option
   you cannot use: flowtide reports it as flowtide.yaml:line:col when the
   config is loaded, before any data is read.
2. ``expressions(column)`` returns :class:`Expressions` built on ``column``
   (:class:`Column`: the column as read and as its declared type). Every rule of
   a suite becomes one aggregate of ONE streaming ``select``, so a check never
   sees the data itself and must not collect anything. Two shapes:

   - a **row rule** gives ``failing``, a boolean expression true for each row
     that breaks the rule (null counts as passing). Its aggregate is the number
     of failing rows (``count``, by default ``failing.sum()``). When that is not
     zero, the engine fetches the first failing rows in a second pass and calls
     ``describe(failures)`` for the report's message.
   - a **value rule** gives ``value``, an aggregate (a mean, a share...) that the
     engine passes to ``judge(value) -> (ok, message)``.
3. ``bound`` is what the rule requires, shown in reports and ``--json``.

Import polars inside ``expressions``, not at module level: listing the
registered checks must not load it. The conformance suite every registered
check runs is tests/conformance/test_checks.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass
class Column:
    """A column as a check sees it: polars expressions, never data."""

    name: str
    raw: Any
    """``pl.col(name)``: the cells as read."""
    typed: Any
    """The cells as the declared ``type:`` (unparseable cells are null); ``raw`` when no type is declared."""
    type: str | None = None
    """The declared type word (int, float, str, bool, date, datetime), if any."""
    type_violation: Any = None
    """Rows whose cell does not parse as the declared type (None when the file already has that type)."""


@dataclass
class Expressions:
    """What a check compiles to: a row rule (``failing``) or a value rule (``value``)."""

    failing: Any = None
    """Row-level boolean expression: this row breaks the rule."""
    count: Any = None
    """Aggregate number of failing rows; default ``failing.sum()``."""
    shown: Any = None
    """The values a failure shows for its first failing rows; default ``column.typed``."""
    value: Any = None
    """An aggregate judged by ``Check.judge`` (instead of ``failing``)."""


@dataclass
class Failures:
    """The failing rows of a row rule: how many, and the first few (1-based data row numbers, values as text)."""

    count: int
    rows: list[int] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)

    @property
    def rows_text(self) -> str:
        """``"3 (x), 7 (y), …"``: the first failing rows with their values, and an ellipsis when there are more."""
        pairs = ", ".join(f"{r} ({_show(v)})" for r, v in zip(self.rows, self.values, strict=True))
        return pairs + ("" if self.count <= len(self.rows) else ", …")

    @property
    def rows_word(self) -> str:
        return f"{self.count} row{'s' if self.count != 1 else ''}"


class Check:
    """Base class of a column check; subclass it (or follow the same shape) and register it.

    Override ``expressions`` (required), then ``describe`` (row rules) or
    ``judge`` (value rules); ``label`` and ``bound`` have defaults.
    """

    name: ClassVar[str] = ""
    """The key users write in flowtide.yaml; the entry-point name."""

    def __init__(self, option: Any = True) -> None:
        self.option = option

    @property
    def bound(self) -> Any:
        """What the rule requires, as reports show it."""
        return self.option

    @property
    def label(self) -> str:
        """How the default message names the rule ("3 rows failed LABEL; ...")."""
        return self.name

    def expressions(self, column: Column) -> Expressions:
        raise NotImplementedError(f"{type(self).__name__}.expressions(column) is not implemented")

    def describe(self, failures: Failures) -> str:
        """The message of a failing row rule."""
        return f"{failures.rows_word} failed {self.label}; first: row {failures.rows_text}"

    def judge(self, value: Any) -> tuple[bool, str]:
        """(passed, message) for a value rule's aggregate."""
        raise NotImplementedError(f"{type(self).__name__}.judge(value) is not implemented")


def _show(value: Any) -> str:
    if value is None:
        return "null"
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "…"
