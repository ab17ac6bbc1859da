"""The report object: findings (judged rules), tables and charts, and the verdict they add up to.

Rendering lives beside it, one module per output (``json``, ``markdown``, ``terminal``, ``html``);
the methods here are the short way to call them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..atomic import atomic_write

Status = Literal["pass", "fail", "warn", "info", "unjudged"]
"""``unjudged``: a rule that had to be judged could not be (no data, too little data); it is not a pass."""


@dataclass
class Finding:
    """One judged rule: what was tested, on what, and the verdict."""

    status: Status
    target: str
    rule: str
    message: str
    column: str | None = None
    value: Any = None
    bound: Any = None
    details: dict[str, Any] = field(default_factory=dict)
    lead: bool = False
    """Shown first, with its statistics, in every rendering (the canary verdict of a monitor report)."""


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[Any]]
    under: list[str] = field(default_factory=list)
    """Columns of long text a terminal prints under their row instead of beside it."""
    keep: list[str] = field(default_factory=list)
    """Columns a terminal never wraps (ids, versions, hashes); numbers are never wrapped anyway."""
    statuses: list[str] = field(default_factory=list)
    """A status per row (``warn`` for a regression), shown as the row's colour; empty: none."""


@dataclass
class Chart:
    """A chart's data: grouped bars per x (``bar``, ``histogram``), lines (``line``) or a matrix (``heatmap``).

    ``series`` maps a name to one value per x (None: no data there, drawn as nothing, never as 0);
    a heatmap's series is its matrix row by row (rows ``y``, columns ``x``), one panel per series.
    :meth:`spec` is the Vega-Lite specification every rendering draws from.
    """

    title: str
    kind: Literal["histogram", "line", "bar", "heatmap"]
    x: list[Any]
    series: dict[str, list[float | None]]
    x_label: str = ""
    y_label: str = ""
    status: Status | None = None
    """The verdict the chart illustrates (fail/warn charts come first; pass charts stay out of Markdown)."""
    subtitle: str = ""
    thresholds: list[dict[str, Any]] = field(default_factory=list)
    """Horizontal rules: ``{"value": 0.2, "label": "threshold 0.2"}``."""
    x_type: Literal["ordinal", "temporal"] = "ordinal"
    """temporal: x values are ISO 8601 times (the axis picks readable, distinct ticks)."""
    y: list[Any] = field(default_factory=list)
    """A heatmap's row labels."""
    y_label_rows: str = ""
    """A heatmap's row axis title (its ``y_label`` names the cell values)."""
    y_format: str = ""
    """A d3 format for the value axis, e.g. ``.0%``."""

    def spec(self) -> dict[str, Any]:
        from .vega import spec

        return spec(self)


@dataclass
class Report:
    kind: str
    title: str
    findings: list[Finding] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    unjudged_reason: str = ""
    """Why a report that judged nothing could not (shown instead of the generic "nothing was judged")."""

    @property
    def ok(self) -> bool:
        return not any(f.status == "fail" for f in self.findings)

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "fail"]

    @property
    def judged(self) -> bool:
        """False when something the report had to judge could not be (an ``unjudged`` finding), or when it
        judged nothing at all (no finding passed, warned or failed): a report never passes for nothing."""
        if any(f.status == "unjudged" for f in self.findings):
            return False
        return any(f.status in ("pass", "warn", "fail") for f in self.findings)

    @property
    def verdict(self) -> str:
        """ "failed", "not judged" (nothing failed, but something could not be judged, or nothing was),
        "warning" (nothing failed, something deserves a look) or "passed"."""
        if not self.ok:
            return "failed"
        if not self.judged:
            return "not judged"
        return "warning" if any(f.status == "warn" for f in self.findings) else "passed"

    @property
    def status(self) -> Status:
        """The report's own status: fail, unjudged, warn or pass."""
        return {"failed": "fail", "not judged": "unjudged", "warning": "warn", "passed": "pass"}[self.verdict]  # type: ignore[return-value]

    @property
    def reason(self) -> str:
        """Why the verdict is what it is, in one line (what failed, what could not be judged and why)."""
        verdict = self.verdict
        if verdict == "failed":
            picked = self.failures
        elif verdict == "not judged":
            picked = [f for f in self.findings if f.status == "unjudged"]
            if not picked:
                notes = [f.message for f in self.findings if f.status == "info"]
                return self.unjudged_reason or "nothing was judged" + (f": {notes[0]}" if notes else "")
        elif verdict == "warning":
            picked = [f for f in self.findings if f.status == "warn"]
        else:
            return f"{sum(f.status == 'pass' for f in self.findings)} of {len(self.findings)} rules passed"
        first = picked[0]
        text = f"{first.target}: {first.message}" if first.target else first.message
        return text + (f" (and {len(picked) - 1} more)" if len(picked) > 1 else "")

    # -- renderings -------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        from .json import to_dict

        return to_dict(self)

    def to_json(self) -> str:
        from .json import to_json

        return to_json(self)

    def to_markdown(self, *, max_findings: int = 200) -> str:
        from .markdown import to_markdown

        return to_markdown(self, max_findings=max_findings)

    def render_terminal(self, console=None, *, all_findings: bool = False) -> None:
        """A table of findings: failures and warnings always, passes when few (or ``all_findings``)."""
        from .terminal import render_terminal

        render_terminal(self, console, all_findings=all_findings)

    def to_html(self) -> str:
        """One self-contained page: verdict, counts, failures as cards, charts, every finding, tables."""
        from .html import to_html

        return to_html(self)

    def write(self, directory: str | Path, stem: str | None = None) -> dict[str, Path]:
        """Write report.json, report.md and report.html into ``directory``."""
        directory = Path(directory)
        stem = stem or self.kind
        paths = {
            "json": directory / f"{stem}.json",
            "markdown": directory / f"{stem}.md",
            "html": directory / f"{stem}.html",
        }
        atomic_write(paths["json"], self.to_json(), fsync=False)
        atomic_write(paths["markdown"], self.to_markdown(), fsync=False)
        atomic_write(paths["html"], self.to_html(), fsync=False)
        return paths
