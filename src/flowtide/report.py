"""One report model, four renderings: terminal (rich), JSON, Markdown, self-contained HTML.

Every command that judges something (check, diff, gate, monitor) builds a
:class:`Report`. Markdown charts are mermaid ``xychart-beta`` blocks (GitHub
renders them, nothing is uploaded anywhere); HTML charts are inline SVG, so the
file opens offline and can be published as a CI artifact.
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from .atomic import atomic_write

Status = Literal["pass", "fail", "warn", "info"]
_ICON = {"pass": "✅", "fail": "❌", "warn": "⚠️", "info": "ℹ️"}
_COLOR = {"pass": "green", "fail": "red", "warn": "yellow", "info": "cyan"}
_PALETTE = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2"]


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

    # -- JSON -----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, default=str) + "\n"

    # -- Markdown -------------------------------------------------------------

    def to_markdown(self, *, max_findings: int = 200) -> str:
        verdict = "passed" if self.ok else "failed"
        lines = [f"## {_ICON['pass' if self.ok else 'fail']} {self.title}: {verdict}", ""]
        if self.summary:
            lines += [" · ".join(f"**{k}**: {v}" for k, v in self.summary.items()), ""]
        shown = sorted(self.findings, key=lambda f: {"fail": 0, "warn": 1, "pass": 2, "info": 3}[f.status])
        if shown:
            lines += [
                "| | target | rule | column | value | bound | message |",
                "|---|---|---|---|---|---|---|",
            ]
            for f in shown[:max_findings]:
                lines.append(
                    "| "
                    + " | ".join(
                        _md_cell(c)
                        for c in (
                            _ICON[f.status],
                            f.target,
                            f.rule,
                            f.column or "",
                            _fmt(f.value),
                            _fmt(f.bound),
                            f.message,
                        )
                    )
                    + " |"
                )
            if len(shown) > max_findings:
                lines.append(f"\n…and {len(shown) - max_findings} more (see the JSON or HTML report).")
            lines.append("")
        for t in self.tables:
            lines += [
                f"### {t.title}",
                "",
                "| " + " | ".join(map(_md_cell, t.columns)) + " |",
                "|" + "---|" * len(t.columns),
            ]
            lines += ["| " + " | ".join(_md_cell(_fmt(c)) for c in row) + " |" for row in t.rows]
            lines.append("")
        for chart in self.charts:
            lines += _mermaid(chart)
        return "\n".join(lines).rstrip() + "\n"

    # -- terminal -------------------------------------------------------------

    def render_terminal(self, console=None) -> None:
        from rich.console import Console
        from rich.table import Table as RichTable

        console = console or Console(highlight=False)
        style = "green" if self.ok else "red"
        console.print(f"[bold {style}]{self.title}: {'passed' if self.ok else 'failed'}[/]")
        if self.findings:
            t = RichTable(show_edge=False, pad_edge=False)
            for column in ("", "target", "rule", "column", "value", "bound", "message"):
                t.add_column(column, overflow="fold")
            for f in sorted(self.findings, key=lambda f: {"fail": 0, "warn": 1, "pass": 2, "info": 3}[f.status]):
                t.add_row(
                    f"[{_COLOR[f.status]}]{f.status}[/]",
                    f.target,
                    f.rule,
                    f.column or "",
                    _fmt(f.value),
                    _fmt(f.bound),
                    f.message,
                )
            console.print(t)
        for table in self.tables:
            t = RichTable(title=table.title, title_justify="left", show_edge=False, pad_edge=False)
            for column in table.columns:
                t.add_column(str(column))
            for row in table.rows:
                t.add_row(*(_fmt(c) for c in row))
            console.print(t)
        if self.summary:
            console.print(" · ".join(f"{k}: {v}" for k, v in self.summary.items()))

    # -- HTML -----------------------------------------------------------------

    def to_html(self) -> str:
        e = html.escape
        parts = [
            "<!doctype html><html><head><meta charset='utf-8'>",
            f"<title>{e(self.title)}</title><style>{_CSS}</style></head><body>",
            f"<h1 class='{'ok' if self.ok else 'bad'}'>{e(self.title)}: {'passed' if self.ok else 'failed'}</h1>",
        ]
        if self.summary:
            parts.append(
                "<p class='summary'>"
                + " · ".join(f"<b>{e(str(k))}</b>: {e(str(v))}" for k, v in self.summary.items())
                + "</p>"
            )
        if self.findings:
            parts.append(
                "<table><tr><th></th><th>target</th><th>rule</th><th>column</th><th>value</th><th>bound</th><th>message</th></tr>"
            )
            for f in sorted(self.findings, key=lambda f: {"fail": 0, "warn": 1, "pass": 2, "info": 3}[f.status]):
                parts.append(
                    f"<tr class='{f.status}'><td>{f.status}</td><td>{e(f.target)}</td><td>{e(f.rule)}</td><td>{e(f.column or '')}</td>"
                    f"<td>{e(_fmt(f.value))}</td><td>{e(_fmt(f.bound))}</td><td>{e(f.message)}</td></tr>"
                )
            parts.append("</table>")
        for t in self.tables:
            parts.append(
                f"<h2>{e(t.title)}</h2><table><tr>" + "".join(f"<th>{e(str(c))}</th>" for c in t.columns) + "</tr>"
            )
            parts += ["<tr>" + "".join(f"<td>{e(_fmt(c))}</td>" for c in row) + "</tr>" for row in t.rows]
            parts.append("</table>")
        for chart in self.charts:
            parts.append(f"<figure><figcaption>{e(chart.title)}</figcaption>{svg_chart(chart)}</figure>")
        parts.append("</body></html>\n")
        return "\n".join(parts)

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


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    return str(value)


def _md_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _mermaid(chart: Chart) -> list[str]:
    labels = ", ".join(json.dumps(str(x) if not isinstance(x, (int, float)) else f"{x:.3g}") for x in chart.x)
    out = ["```mermaid", "xychart-beta", f'  title "{chart.title}"', f"  x-axis [{labels}]"]
    values = [v for s in chart.series.values() for v in s if v is not None]
    if values:
        out.append(
            f'  y-axis "{chart.y_label or "value"}" {min(0.0, min(values)):.4g} --> {max(values) * 1.05 or 1:.4g}'
        )
    for series in chart.series.values():
        verb = "line" if chart.kind == "line" else "bar"
        out.append(f"  {verb} [{', '.join(f'{v:.4g}' if v is not None else '0' for v in series)}]")
    out.append("```")
    legend = " · ".join(f"{name} ({'series ' + str(i + 1)})" for i, name in enumerate(chart.series))
    return [*out, f"_{legend}_", ""]


def svg_chart(chart: Chart, width: int = 640, height: int = 260) -> str:
    """Inline SVG: grouped bars (histogram/bar) or polylines (line)."""
    e = html.escape
    left, right, top, bottom = 50, 10, 10, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for s in chart.series.values() for v in s if v is not None]
    lo = min([0.0, *values]) if values else 0.0
    hi = max(values) if values else 1.0
    hi = hi if hi > lo else lo + 1.0
    n = max(len(chart.x), 1)

    def y(v: float) -> float:
        return top + plot_h - (v - lo) / (hi - lo) * plot_h

    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img'>"]
    out.append(f"<line x1='{left}' y1='{top + plot_h}' x2='{left + plot_w}' y2='{top + plot_h}' stroke='#888'/>")
    out.append(f"<line x1='{left}' y1='{top}' x2='{left}' y2='{top + plot_h}' stroke='#888'/>")
    for frac in (0, 0.5, 1):
        v = lo + (hi - lo) * frac
        out.append(f"<text x='{left - 4}' y='{y(v) + 4:.1f}' font-size='10' text-anchor='end'>{v:.3g}</text>")
    step = plot_w / n
    label_every = max(1, n // 10)
    for i, x in enumerate(chart.x):
        if i % label_every == 0:
            text = f"{x:.3g}" if isinstance(x, float) else str(x)
            out.append(
                f"<text x='{left + step * (i + 0.5):.1f}' y='{top + plot_h + 14}' font-size='10' text-anchor='middle'>{e(text)}</text>"
            )
    names = list(chart.series)
    for k, name in enumerate(names):
        color = _PALETTE[k % len(_PALETTE)]
        series = chart.series[name]
        if chart.kind == "line":
            points = " ".join(
                f"{left + step * (i + 0.5):.1f},{y(v):.1f}" for i, v in enumerate(series) if v is not None
            )
            out.append(f"<polyline fill='none' stroke='{color}' stroke-width='2' points='{points}'/>")
        else:
            bar_w = step * 0.8 / len(names)
            for i, v in enumerate(series):
                if v is None:
                    continue
                x0 = left + step * i + step * 0.1 + bar_w * k
                out.append(
                    f"<rect x='{x0:.1f}' y='{y(max(v, lo)):.1f}' width='{bar_w:.1f}' height='{abs(y(lo) - y(v)):.1f}' fill='{color}' fill-opacity='0.8'/>"
                )
        out.append(f"<rect x='{left + 10 + 120 * k}' y='{height - 14}' width='10' height='10' fill='{color}'/>")
        out.append(f"<text x='{left + 24 + 120 * k}' y='{height - 5}' font-size='11'>{e(name)}</text>")
    out.append("</svg>")
    return "".join(out)


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
h1.ok{color:#2a7d2a} h1.bad{color:#b3261e}
table{border-collapse:collapse;margin:1em 0} td,th{border:1px solid #ddd;padding:4px 8px;font-size:13px;text-align:left}
tr.fail td{background:#fdecea} tr.warn td{background:#fff8e1} tr.pass td{background:#f1f8f1}
figure{margin:1.5em 0} figcaption{font-weight:600;margin-bottom:.3em} .summary{color:#555}
"""
