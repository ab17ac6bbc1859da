"""The terminal rendering: a rich table of findings (rich is imported only when a report is printed)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ._text import WORD_ONE, counts_line, finding_columns, fmt, short, sorted_findings
from .layout import layout

if TYPE_CHECKING:
    from .model import Report

_COLOR = {"pass": "green", "fail": "red", "warn": "yellow", "info": "cyan", "unjudged": "magenta"}


def render_terminal(report: Report, console=None, *, all_findings: bool = False) -> None:
    """A table of findings: failures and warnings always, passes when few (or ``all_findings``)."""
    from rich.console import Console

    console = console or Console(highlight=False)
    style = _COLOR[report.status]
    console.print(f"[bold {style}]{report.title}: {report.verdict}[/]")
    if report.verdict != "passed":
        _indented(console, report.reason)
    for f in (f for f in report.findings if f.lead):
        word = str(f.details.get("verdict") or WORD_ONE[f.status]).upper()
        console.print(f"[bold {_COLOR[f.status]}]{f.rule} {f.target}: {word}[/]")
        _indented(console, f.message)
    shown = [f for f in sorted_findings(report.findings) if not f.lead]
    hidden = 0
    if not all_findings and len(shown) > 15:
        kept = [f for f in shown if f.status != "pass"]
        hidden = len(shown) - len(kept)
        shown = kept
    if shown:
        columns = ["", *finding_columns(shown), "message"]
        rows = [[WORD_ONE[f.status], *(short(getattr(f, c)) for c in columns[1:-1]), f.message] for f in shown]
        styles = {i: _COLOR[f.status] for i, f in enumerate(shown)}
        console.print(
            RichTable(None, columns, rows, keep=["column", "value", "bound"], under=["message"], styles=styles)
        )
    if hidden:
        console.print(f"[green]{hidden} passed[/] (not listed; see --json or the HTML report)")
    for table in report.tables:
        rows = [[fmt(c) for c in row] for row in table.rows]
        console.print(RichTable(table.title, list(map(str, table.columns)), rows, keep=table.keep, under=table.under))
    if report.findings:
        console.print(counts_line(report.findings))
    if report.summary:
        console.print(" · ".join(f"{k}: {fmt(v)}" for k, v in report.summary.items()), style="dim")


def _indented(console, text: str) -> None:
    import textwrap

    for line in textwrap.wrap(text, max(console.width - 2, 20), initial_indent="  ", subsequent_indent="  "):
        console.print(line, markup=False, highlight=False, soft_wrap=True)


class RichTable:
    """A table rich prints at the console's width (rich is imported by whoever prints it, never here)."""

    def __init__(
        self,
        title: str | None,
        columns: Sequence[str],
        rows: Iterable[Sequence[str]],
        *,
        keep: Iterable[str] = (),
        under: Iterable[str] = (),
        styles: dict[int, str] | None = None,
    ) -> None:
        self.title, self.columns, self.rows = title, list(columns), [list(r) for r in rows]
        self.keep, self.under = list(keep), list(under)
        self.styles = styles or {}
        """row index -> a rich style for the row's first cell (a status word in its colour)."""

    def __rich_console__(self, console, options):
        from rich.text import Text

        if self.title:
            yield Text(self.title, style="bold")
        present_first = any(row and row[0] for row in self.rows)
        for line in layout(self.columns, self.rows, options.max_width, keep=self.keep, under=self.under):
            text = Text(line.text, no_wrap=True, overflow="ignore", end="\n")
            if line.kind == "header":
                text.stylize("bold dim")
            elif line.kind == "under":
                text.stylize("dim")
            elif line.row is not None and line.row in self.styles and present_first:
                text.stylize(self.styles[line.row], 0, len(str(self.rows[line.row][0])))
            yield text
