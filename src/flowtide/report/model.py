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


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[Any]]


@dataclass
class Chart:
    """A histogram (bars per bin, one series per dataset), a line or a bar chart."""

    title: str
    kind: Literal["histogram", "line", "bar"]
    x: list[Any]
    series: dict[str, list[float]]
    x_label: str = ""
    y_label: str = ""
    status: Status | None = None
    """The verdict the chart illustrates (fail/warn charts come first; pass charts stay out of Markdown)."""
    subtitle: str = ""


@dataclass
class Report:
    kind: str
    title: str
    findings: list[Finding] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(f.status == "fail" for f in self.findings)

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "fail"]

    @property
    def judged(self) -> bool:
        """False when something the report had to judge could not be (an ``unjudged`` finding)."""
        return not any(f.status == "unjudged" for f in self.findings)

    @property
    def verdict(self) -> str | None:
        """ "failed", "not judged" (nothing failed, but something could not be judged) or "passed";
        None for a report that judges nothing (a diff)."""
        if not self.findings:
            return None
        if not self.ok:
            return "failed"
        return "passed" if self.judged else "not judged"

    @property
    def status(self) -> Status:
        """The report's own status: fail, unjudged or pass."""
        return "fail" if not self.ok else "pass" if self.judged else "unjudged"

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
