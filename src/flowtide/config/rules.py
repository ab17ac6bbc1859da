"""The grammar of a ``gates:`` rule, checked when flowtide.yaml loads.

A rule is ``METRIC OP BOUND`` where BOUND is a number (``accuracy >= 0.8``),
relative to the production version's recorded metrics (``f1_macro >= production
- 0.02``), or relative to another metric of the same run, such as a naive
baseline the evaluation wrote next to the model's score (``f1_macro >=
baseline_f1_macro + 0.05``). Parsing lives here, below everything, so that a typo fails every command
at load; ``flowtide.registry.gate`` evaluates the parsed rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OPS = (">=", ">", "<=", "<", "==")
SYNTAX = (
    "Write a gate as METRIC OP NUMBER, METRIC OP production [+|- NUMBER] or METRIC OP OTHER_METRIC [+|- NUMBER], "
    "with OP one of >=, >, <=, <, =="
)
_TOKEN = re.compile(
    r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][\w./]*)|(?P<op>>=|<=|==|>|<|\+|-)|(?P<bad>\S))"
)


class RuleSyntaxError(ValueError):
    """A gate rule that does not parse; the message says what was expected (the caller adds where)."""


@dataclass
class Rule:
    """One parsed gate: ``metric op bound`` where bound = number, production's metric + number, or against + number.

    ``relative``: the bound is the production version's value of ``metric``; ``against``: the bound
    is the value of that other metric of the same run (a baseline); ``number`` is the offset then.
    """

    text: str
    index: int
    metric: str
    op: str
    number: float = 0.0
    relative: bool = False
    against: str | None = None

    def bound(self, base: float | None) -> float:
        """The number to compare with; ``base`` is production's or the ``against`` metric's value."""
        return (base or 0.0) + self.number if self.relative or self.against else self.number


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:  # only trailing whitespace is left
            break
        kind = match.lastgroup or "bad"
        out.append((kind, match.group(kind), match.start(kind) + 1))
        pos = match.end()
    return out


def parse_rule(text: str, index: int = 0) -> Rule:
    """Parse one ``gates:`` entry (RuleSyntaxError says what is wrong with it)."""
    if not isinstance(text, str) or not text.strip():
        raise RuleSyntaxError("empty rule")
    tokens = _tokens(text)
    for kind, value, col in tokens:
        if kind == "bad":
            raise RuleSyntaxError(f"unexpected character {value!r} at column {col}")
    if len(tokens) < 3 or tokens[0][0] != "name":
        raise RuleSyntaxError("expected a metric name, a comparison and a bound")
    metric = tokens[0][1]
    if tokens[1][0] != "op" or tokens[1][1] not in OPS:
        raise RuleSyntaxError(f"expected a comparison (>=, >, <=, <, ==) after {metric!r}, got {tokens[1][1]!r}")
    op = tokens[1][1]
    rest = tokens[2:]
    sign = 1.0
    if rest[0][0] == "op" and rest[0][1] in ("+", "-"):
        sign = -1.0 if rest[0][1] == "-" else 1.0
        rest = rest[1:]
    if len(rest) == 1 and rest[0][0] == "number":
        return Rule(text, index, metric, op, sign * float(rest[0][1]))
    if rest and rest[0][0] == "name" and sign == 1.0:
        name = rest[0][1]
        if name == metric:
            raise RuleSyntaxError(f"{metric!r} is compared with itself: the bound must be a number or another metric")
        offset = 0.0
        if len(rest) == 3 and rest[1][0] == "op" and rest[1][1] in ("+", "-") and rest[2][0] == "number":
            offset = float(rest[2][1]) * (-1.0 if rest[1][1] == "-" else 1.0)
        elif len(rest) != 1:
            raise RuleSyntaxError(f"after `{name}` expected `+ NUMBER` or `- NUMBER`")
        if name == "production":
            return Rule(text, index, metric, op, offset, relative=True)
        return Rule(text, index, metric, op, offset, against=name)
    raise RuleSyntaxError("the right side must be a number, `production [+|- NUMBER]` or `METRIC [+|- NUMBER]`")
