"""The terminal rendering: a rich table of findings (rich is imported only when a report is printed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._text import WORD_ONE, counts_line, fmt, short, sorted_findings

if TYPE_CHECKING:
    from .model import Report

_COLOR = {"pass": "green", "fail": "red", "warn": "yellow", "info": "cyan", "unjudged": "magenta"}


def render_terminal(report: Report, console=None, *, all_findings: bool = False) -> None:
    """A table of findings: failures and warnings always, passes when few (or ``all_findings``)."""
    from rich.console import Console
    from rich.table import Table as RichTable

    console = console or Console(highlight=False)
    style = _COLOR[report.status]
    console.print(f"[bold {style}]{report.title}: {report.verdict}[/]")
    if report.verdict != "passed":
        console.print(f"  {report.reason}", markup=False, highlight=False)
    for f in (f for f in report.findings if f.lead):
        word = str(f.details.get("verdict") or WORD_ONE[f.status]).upper()
        console.print(f"[bold {_COLOR[f.status]}]{f.rule} {f.target}: {word}[/]")
        console.print(f"  {f.message}", markup=False, highlight=False)
    shown = [f for f in sorted_findings(report.findings) if not f.lead]
    hidden = 0
    if not all_findings and len(shown) > 15:
        kept = [f for f in shown if f.status != "pass"]
        hidden = len(shown) - len(kept)
        shown = kept
    if shown:
        targets = {f.target for f in report.findings}
        columns = ["", *(["target"] if len(targets) > 1 else []), "rule", "column", "value", "bound", "message"]
        t = RichTable(show_edge=False, pad_edge=False, expand=False)
        for column in columns:
            t.add_column(column, overflow="fold", ratio=4 if column == "message" else None, no_wrap=column == "")
        for f in shown:
            cells = [f"[{_COLOR[f.status]}]{WORD_ONE[f.status]}[/]"]
            if len(targets) > 1:
                cells.append(f.target)
            cells += [f.rule, f.column or "", short(f.value), short(f.bound), f.message]
            t.add_row(*cells)
        console.print(t)
    if hidden:
        console.print(f"[green]{hidden} passed[/] (not listed; see --json or the HTML report)")
    for table in report.tables:
        t = RichTable(title=table.title, title_justify="left", show_edge=False, pad_edge=False)
        for column in table.columns:
            t.add_column(str(column))
        for row in table.rows:
            t.add_row(*(fmt(c) for c in row))
        console.print(t)
    if report.findings:
        console.print(counts_line(report.findings))
    if report.summary:
        console.print(" · ".join(f"{k}: {fmt(v)}" for k, v in report.summary.items()), style="dim")
