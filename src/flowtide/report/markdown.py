"""The Markdown rendering, for PR comments and job summaries.

Charts are mermaid ``xychart-beta`` blocks: GitHub renders them, so no image is uploaded anywhere.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ._text import counts_line, fmt, short, sorted_findings

if TYPE_CHECKING:
    from .model import Chart, Finding, Report

_ICON = {"pass": "✅", "fail": "❌", "warn": "⚠️", "info": "ℹ️", "unjudged": "❔"}


def to_markdown(report: Report, *, max_findings: int = 200) -> str:
    if report.verdict:
        lines = [f"## {_ICON[report.status]} {report.title}: {report.verdict}", ""]
    else:
        lines = [f"## {report.title}", ""]
    if report.summary:
        lines += [" · ".join(f"**{k}**: {_cell(fmt(v))}" for k, v in report.summary.items()), ""]
    if report.findings:
        lines += [counts_line(report.findings, bold=True), ""]
    header = [
        "| | target | rule | column | value | bound | message |",
        "|---|---|---|---|---|---|---|",
    ]
    shown = sorted_findings(report.findings)
    notable = [f for f in shown if f.status != "pass"]
    passed = [f for f in shown if f.status == "pass"]
    if notable:
        lines += header + [_row(f) for f in notable[:max_findings]]
        if len(notable) > max_findings:
            lines.append(f"\n…and {len(notable) - max_findings} more (see the JSON or HTML report).")
        lines.append("")
    if passed:
        # passes stay out of the way in a PR comment: one click opens them
        lines += [f"<details><summary>{len(passed)} passed</summary>", "", *header]
        lines += [_row(f) for f in passed[:max_findings]]
        lines += ["", "</details>", ""]
    for t in report.tables:
        lines += [
            f"### {t.title}",
            "",
            "| " + " | ".join(map(_cell, t.columns)) + " |",
            "|" + "---|" * len(t.columns),
        ]
        lines += ["| " + " | ".join(_cell(fmt(c)) for c in row) + " |" for row in t.rows]
        lines.append("")
    quiet = [c for c in report.charts if c.status == "pass"]
    for chart in report.charts:
        if chart.status != "pass":
            lines += mermaid(chart)
    if quiet:
        lines += [f"_{len(quiet)} more chart(s) without findings are in the HTML report._", ""]
    return "\n".join(lines).rstrip() + "\n"


def mermaid(chart: Chart) -> list[str]:
    """A mermaid ``xychart-beta`` block and its legend line (mermaid draws no legend itself)."""
    labels = ", ".join(json.dumps(str(x) if not isinstance(x, (int, float)) else f"{x:.3g}") for x in chart.x)
    title = chart.title.replace('"', "'")
    out = ["```mermaid", "xychart-beta", f'  title "{title}"', f"  x-axis [{labels}]"]
    values = [v for s in chart.series.values() for v in s if v is not None]
    if values:
        out.append(
            f'  y-axis "{chart.y_label or "value"}" {min(0.0, min(values)):.4g} --> {max(values) * 1.05 or 1:.4g}'
        )
    for index, series in enumerate(chart.series.values()):
        # a histogram overlays: the first series as bars, the others as lines on top
        verb = "line" if chart.kind == "line" or (chart.kind == "histogram" and index > 0) else "bar"
        out.append(f"  {verb} [{', '.join(f'{v:.4g}' if v is not None else '0' for v in series)}]")
    out.append("```")
    if chart.kind == "histogram" and len(chart.series) > 1:
        names = list(chart.series)
        legend = f"{names[0]} (bars) · " + " · ".join(f"{n} (line)" for n in names[1:])
    else:
        legend = " · ".join(f"{name} ({'series ' + str(i + 1)})" for i, name in enumerate(chart.series))
    return [*out, f"_{legend}_", ""]


def _row(f: Finding) -> str:
    cells = (_ICON[f.status], f.target, f.rule, f.column or "", short(f.value), short(f.bound), f.message)
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")
