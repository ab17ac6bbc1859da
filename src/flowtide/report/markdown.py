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
    lines = [f"## {_ICON[report.status]} {report.title}: {report.verdict}", "", f"_{_cell(report.reason)}_", ""]
    for f in (f for f in report.findings if f.lead):
        lines += _lead(f)
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
    """``xychart-beta`` blocks and a legend line (mermaid draws no legend itself).

    mermaid has no "no value": a bucket without data is left out of the x axis, never drawn as 0; when
    series have data in different buckets, each gets its own block. A heatmap becomes a table.
    """
    if chart.kind == "heatmap":
        return _matrix(chart)
    names = list(chart.series)
    present = [i for i in range(len(chart.x)) if all(_has(chart.series[n], i) for n in names)]
    some = [i for i in range(len(chart.x)) if any(_has(chart.series[n], i) for n in names)]
    if present == some:
        blocks = [(chart.title, names, present)]
    else:
        blocks = [
            (f"{chart.title}: {n}", [n], [i for i in range(len(chart.x)) if _has(chart.series[n], i)]) for n in names
        ]
    out: list[str] = []
    for title, series_names, index in blocks:
        if not index:
            continue
        out += _xychart(chart, title, series_names, index)
    skipped = len(chart.x) - len(some)
    if skipped:
        out.append(f"_{skipped} of {len(chart.x)} buckets had no data and are left out._")
        out.append("")
    return out


def _has(series: list, i: int) -> bool:
    return i < len(series) and series[i] is not None and series[i] == series[i]


def _xychart(chart: Chart, title: str, names: list[str], index: list[int]) -> list[str]:
    from .vega import label

    shown = (
        _time_labels([chart.x[i] for i in index]) if chart.x_type == "temporal" else [label(chart.x[i]) for i in index]
    )
    labels = ", ".join(json.dumps(x) for x in shown)
    title = title.replace('"', "'")
    out = ["```mermaid", "xychart-beta", f'  title "{title}"', f"  x-axis [{labels}]"]
    values = [chart.series[n][i] for n in names for i in index]
    bounds = [t["value"] for t in chart.thresholds if isinstance(t.get("value"), (int, float))]
    lo, hi = min([0.0, *values, *bounds]), max([*values, *bounds])
    out.append(f'  y-axis "{chart.y_label or "value"}" {lo:.4g} --> {hi * 1.05 or 1:.4g}')
    for k, name in enumerate(names):
        # a histogram overlays: the first series as bars, the others as lines on top
        verb = "line" if chart.kind == "line" or (chart.kind == "histogram" and k > 0) else "bar"
        out.append(f"  {verb} [{', '.join(f'{chart.series[name][i]:.4g}' for i in index)}]")
    for t in chart.thresholds:  # a threshold is a flat line
        bound = f"{t['value']:.4g}"
        out.append(f"  line [{', '.join(bound for _ in index)}]")
    out.append("```")
    if chart.kind == "histogram" and len(names) > 1:
        legend = f"{names[0]} (bars) · " + " · ".join(f"{n} (line)" for n in names[1:])
    else:
        kinds = "line" if chart.kind == "line" else "bars"
        legend = " · ".join(f"{name} ({kinds} {i + 1})" for i, name in enumerate(names))
    for t in chart.thresholds:
        legend += f" · {t.get('label') or 'threshold'} (flat line)"
    return [*out, f"_{legend}_", ""]


def _time_labels(xs: list[str]) -> list[str]:
    """ISO times as the shortest labels that are still all different (12:05, or 12-01 12:05, or 12:05:30)."""
    from datetime import datetime

    try:
        times = [datetime.fromisoformat(x.replace("Z", "+00:00")) for x in xs]
    except (ValueError, AttributeError):
        return [str(x) for x in xs]
    for pattern in ("%H:%M", "%m-%d %H:%M", "%H:%M:%S", "%m-%d %H:%M:%S", "%H:%M:%S.%f"):
        labels = [t.strftime(pattern) for t in times]
        if len(set(labels)) == len(labels):
            return [x[:-3] if pattern.endswith("%f") else x for x in labels]
    return [str(x) for x in xs]


def _matrix(chart: Chart) -> list[str]:
    """A matrix as one Markdown table per series (GitHub renders no heatmap): rows ``y``, columns ``x``."""
    from .vega import label

    out: list[str] = []
    cols = [label(x) for x in chart.x]
    for name, flat in chart.series.items():
        out += [f"**{_cell(chart.title)} — {_cell(name)}** ({chart.y_label_rows} ↓, {chart.x_label} →)", ""]
        out += ["| | " + " | ".join(map(_cell, cols)) + " |", "|---" + "|---" * len(cols) + "|"]
        for r, row in enumerate(chart.y):
            cells = [flat[r * len(cols) + c] if r * len(cols) + c < len(flat) else None for c in range(len(cols))]
            out.append(f"| **{_cell(label(row))}** | " + " | ".join(_cell(fmt(v)) for v in cells) + " |")
        out.append("")
    return out


def _lead(f: Finding) -> list[str]:
    """The finding a report leads with (a canary verdict): its verdict, message and statistics."""
    word = str(f.details.get("verdict") or f.status).upper()
    lines = [f"### {_ICON[f.status]} {f.rule}: **{word}** ({_cell(f.target)})", "", _cell(f.message), ""]
    test = f.details.get("test")
    if isinstance(test, dict):
        lines += [
            "| canary | production | canary worse by | bounds | margin |",
            "|---|---|---|---|---|",
            f"| {fmt(test.get('canary'))} | {fmt(test.get('production'))} | {fmt(test.get('worse_by'))} "
            f"| {fmt(test.get('lower'))} … {fmt(test.get('upper'))} | {fmt(test.get('margin'))} |",
            "",
        ]
    return lines


def _row(f: Finding) -> str:
    cells = (_ICON[f.status], f.target, f.rule, f.column or "", short(f.value), short(f.bound), f.message)
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")
