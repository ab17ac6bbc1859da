"""Text helpers every rendering shares: status words, ordering, counts and value formatting."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .model import Finding

ORDER = {"fail": 0, "unjudged": 1, "warn": 2, "pass": 3, "info": 4}
WORD = {"fail": "failed", "unjudged": "not judged", "warn": "warnings", "pass": "passed", "info": "notes"}
"""A status as the heading of a count (HTML tiles)."""
WORD_ONE = {"fail": "fail", "unjudged": "not judged", "warn": "warn", "pass": "pass", "info": "info", None: ""}
"""A status as the badge of one finding or chart."""


def sorted_findings(findings: list[Finding]) -> list[Finding]:
    """Failures first, then not judged, warnings, passes and notes (stable within a status)."""
    return sorted(findings, key=lambda f: ORDER[f.status])


def counts(findings: list[Finding]) -> dict[str, int]:
    tally = dict.fromkeys(("fail", "unjudged", "warn", "pass", "info"), 0)
    for f in findings:
        tally[f.status] += 1
    return tally


def counts_line(findings: list[Finding], *, bold: bool = False) -> str:
    parts = []
    for status, n in counts(findings).items():
        if n:
            word = {
                "fail": "failed",
                "unjudged": "not judged",
                "warn": "warning" if n == 1 else "warnings",
                "pass": "passed",
                "info": "note" if n == 1 else "notes",
            }[status]
            text = f"{n} {word}"
            parts.append(f"**{text}**" if bold and status in ("fail", "unjudged") else text)
    return " · ".join(parts)


def fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt(v) for v in value)
    return str(value)


def short(value: Any, limit: int = 60) -> str:
    text = fmt(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


FINDING_COLUMNS = ("target", "rule", "column", "value", "bound")


def finding_columns(findings: list[Finding]) -> list[str]:
    """The finding fields worth a column: not empty for every finding (and ``target`` only when there are several)."""
    shown = []
    for name in FINDING_COLUMNS:
        values = [getattr(f, name) for f in findings]
        if name == "target":
            if len(set(values)) > 1:
                shown.append(name)
        elif any(v not in (None, "") for v in values):
            shown.append(name)
    return shown
