"""One report model, four renderings: terminal (rich), JSON, Markdown, self-contained HTML.

Every command that judges something (check, diff, gate, monitor) builds a
:class:`Report`. Markdown charts are mermaid ``xychart-beta`` blocks (GitHub
renders them, nothing is uploaded anywhere); HTML charts are inline SVG, so the
file opens offline and can be published as a CI artifact.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from .atomic import atomic_write

Status = Literal["pass", "fail", "warn", "info", "unjudged"]
"""``unjudged``: a rule that had to be judged could not be (no data, too little data); it is not a pass."""
_ICON = {"pass": "✅", "fail": "❌", "warn": "⚠️", "info": "ℹ️", "unjudged": "❔"}
_COLOR = {"pass": "green", "fail": "red", "warn": "yellow", "info": "cyan", "unjudged": "magenta"}
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

    # -- JSON -----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        data["judged"] = self.judged
        data["verdict"] = self.verdict
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, default=str) + "\n"

    # -- Markdown -------------------------------------------------------------

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
    def _status(self) -> Status:
        """The report's own status: fail, unjudged or pass."""
        return "fail" if not self.ok else "pass" if self.judged else "unjudged"

    def to_markdown(self, *, max_findings: int = 200) -> str:
        if self.verdict:
            lines = [f"## {_ICON[self._status]} {self.title}: {self.verdict}", ""]
        else:
            lines = [f"## {self.title}", ""]
        if self.summary:
            lines += [" · ".join(f"**{k}**: {_md_cell(_fmt(v))}" for k, v in self.summary.items()), ""]
        if self.findings:
            lines += [_counts_line(self.findings, bold=True), ""]
        header = [
            "| | target | rule | column | value | bound | message |",
            "|---|---|---|---|---|---|---|",
        ]
        shown = _sorted(self.findings)
        notable = [f for f in shown if f.status != "pass"]
        passed = [f for f in shown if f.status == "pass"]
        if notable:
            lines += header + [_md_row(f) for f in notable[:max_findings]]
            if len(notable) > max_findings:
                lines.append(f"\n…and {len(notable) - max_findings} more (see the JSON or HTML report).")
            lines.append("")
        if passed:
            # passes stay out of the way in a PR comment: one click opens them
            lines += [f"<details><summary>{len(passed)} passed</summary>", "", *header]
            lines += [_md_row(f) for f in passed[:max_findings]]
            lines += ["", "</details>", ""]
        for t in self.tables:
            lines += [
                f"### {t.title}",
                "",
                "| " + " | ".join(map(_md_cell, t.columns)) + " |",
                "|" + "---|" * len(t.columns),
            ]
            lines += ["| " + " | ".join(_md_cell(_fmt(c)) for c in row) + " |" for row in t.rows]
            lines.append("")
        quiet = [c for c in self.charts if c.status == "pass"]
        for chart in self.charts:
            if chart.status != "pass":
                lines += _mermaid(chart)
        if quiet:
            lines += [f"_{len(quiet)} more chart(s) without findings are in the HTML report._", ""]
        return "\n".join(lines).rstrip() + "\n"

    # -- terminal -------------------------------------------------------------

    def render_terminal(self, console=None, *, all_findings: bool = False) -> None:
        """A table of findings: failures and warnings always, passes when few (or ``all_findings``)."""
        from rich.console import Console
        from rich.table import Table as RichTable

        console = console or Console(highlight=False)
        style = _COLOR[self._status]
        console.print(f"[bold {style}]{self.title}: {self.verdict}[/]" if self.verdict else f"[bold]{self.title}[/]")
        shown = _sorted(self.findings)
        hidden = 0
        if not all_findings and len(shown) > 15:
            kept = [f for f in shown if f.status != "pass"]
            hidden = len(shown) - len(kept)
            shown = kept
        if shown:
            targets = {f.target for f in self.findings}
            columns = ["", *(["target"] if len(targets) > 1 else []), "rule", "column", "value", "bound", "message"]
            t = RichTable(show_edge=False, pad_edge=False, expand=False)
            for column in columns:
                t.add_column(column, overflow="fold", ratio=4 if column == "message" else None, no_wrap=column == "")
            for f in shown:
                cells = [f"[{_COLOR[f.status]}]{_WORD_ONE[f.status]}[/]"]
                if len(targets) > 1:
                    cells.append(f.target)
                cells += [f.rule, f.column or "", _short(f.value), _short(f.bound), f.message]
                t.add_row(*cells)
            console.print(t)
        if hidden:
            console.print(f"[green]{hidden} passed[/] (not listed; see --json or the HTML report)")
        for table in self.tables:
            t = RichTable(title=table.title, title_justify="left", show_edge=False, pad_edge=False)
            for column in table.columns:
                t.add_column(str(column))
            for row in table.rows:
                t.add_row(*(_fmt(c) for c in row))
            console.print(t)
        if self.findings:
            console.print(_counts_line(self.findings))
        if self.summary:
            console.print(" · ".join(f"{k}: {_fmt(v)}" for k, v in self.summary.items()), style="dim")

    # -- HTML -----------------------------------------------------------------

    def to_html(self) -> str:
        """One self-contained page: verdict, counts, failures as cards, charts, every finding, tables."""
        e = html.escape
        overall = self._status
        counts = _counts(self.findings)
        parts = [
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
            "<meta name='viewport' content='width=device-width, initial-scale=1'>",
            f"<title>{e(self.title)}</title><style>{_CSS}</style></head><body><main>",
            f"<header class='{_HEADER[overall]}'><div class='verdict'>{_MARK[overall]}</div>"
            f"<div><h1>{e(self.title)}</h1><p class='sub'>{self.verdict + ' · ' if self.verdict else ''}"
            f"{e(self.kind)}</p></div></header>",
        ]
        tiles = [(status, n) for status, n in counts.items() if n]
        if tiles or self.summary:
            parts.append("<section class='tiles'>")
            for status, n in tiles:
                parts.append(f"<div class='tile {status}'><b>{n}</b><span>{_WORD[status]}</span></div>")
            for key, value in self.summary.items():
                parts.append(f"<div class='tile meta'><b>{e(_fmt(value))}</b><span>{e(str(key))}</span></div>")
            parts.append("</section>")
        problems = [f for f in _sorted(self.findings) if f.status in ("fail", "unjudged", "warn")]
        if problems:
            parts.append("<h2>What needs attention</h2><section class='cards'>")
            for f in problems:
                parts.append(_html_card(f))
            parts.append("</section>")
        if self.charts:
            ordered = sorted(
                self.charts,
                key=lambda c: {"fail": 0, "unjudged": 1, "warn": 1, None: 2, "info": 3, "pass": 4}[c.status],
            )
            parts.append("<h2>Charts</h2><section class='charts'>")
            for chart in ordered:
                badge = f"<span class='badge {chart.status}'>{_WORD_ONE[chart.status]}</span>" if chart.status else ""
                sub = f"<p class='caption'>{e(chart.subtitle)}</p>" if chart.subtitle else ""
                parts.append(
                    f"<figure class='{chart.status or ''}'><figcaption>{badge}{e(chart.title)}</figcaption>{sub}"
                    f"{svg_chart(chart)}</figure>"
                )
            parts.append("</section>")
        for t in self.tables:
            parts.append(f"<h2>{e(t.title)}</h2><div class='scroll'><table><thead><tr>")
            parts.append("".join(f"<th>{e(str(c))}</th>" for c in t.columns) + "</tr></thead><tbody>")
            parts += ["<tr>" + "".join(f"<td>{e(_fmt(c))}</td>" for c in row) + "</tr>" for row in t.rows]
            parts.append("</tbody></table></div>")
        if self.findings:
            parts.append(
                f"<details {'open' if len(self.findings) <= 30 else ''}><summary><h2>All findings ({len(self.findings)})</h2></summary>"
            )
            parts.append(
                "<div class='scroll'><table><thead><tr><th></th><th>target</th><th>rule</th><th>column</th>"
                "<th>value</th><th>bound</th><th>message</th></tr></thead><tbody>"
            )
            for f in _sorted(self.findings):
                parts.append(
                    f"<tr class='{f.status}'><td><span class='badge {f.status}'>{_WORD_ONE[f.status]}</span></td>"
                    f"<td>{e(f.target)}</td><td>{e(f.rule)}</td><td>{e(f.column or '')}</td>"
                    f"<td>{e(_short(f.value))}</td><td>{e(_short(f.bound))}</td><td>{e(f.message)}</td></tr>"
                )
            parts.append("</tbody></table></div></details>")
        parts.append("<footer>flowtide · self-contained report (no scripts, no external resources)</footer>")
        parts.append("</main></body></html>\n")
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


_ORDER = {"fail": 0, "unjudged": 1, "warn": 2, "pass": 3, "info": 4}
_WORD = {"fail": "failed", "unjudged": "not judged", "warn": "warnings", "pass": "passed", "info": "notes"}
_WORD_ONE = {"fail": "fail", "unjudged": "not judged", "warn": "warn", "pass": "pass", "info": "info", None: ""}
_HEADER = {"fail": "bad", "unjudged": "unjudged", "pass": "ok"}
_MARK = {"fail": "✗", "unjudged": "?", "pass": "✓"}


def _sorted(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: _ORDER[f.status])


def _counts(findings: list[Finding]) -> dict[str, int]:
    counts = dict.fromkeys(("fail", "unjudged", "warn", "pass", "info"), 0)
    for f in findings:
        counts[f.status] += 1
    return counts


def _counts_line(findings: list[Finding], *, bold: bool = False) -> str:
    parts = []
    for status, n in _counts(findings).items():
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


def _md_row(f: Finding) -> str:
    cells = (_ICON[f.status], f.target, f.rule, f.column or "", _short(f.value), _short(f.bound), f.message)
    return "| " + " | ".join(_md_cell(c) for c in cells) + " |"


def _short(value: Any, limit: int = 60) -> str:
    text = _fmt(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _html_card(f: Finding) -> str:
    e = html.escape
    where = " · ".join(e(x) for x in (f.target, f.column or "") if x)
    body = [
        f"<article class='card {f.status}'><div class='card-head'><span class='badge {f.status}'>{_WORD_ONE[f.status]}</span>"
        f"<b>{e(f.rule)}</b><span class='where'>{where}</span></div><p>{e(f.message)}</p>"
    ]
    rows, values = f.details.get("rows"), f.details.get("values")
    if isinstance(rows, list) and rows:
        vals = values if isinstance(values, list) and len(values) == len(rows) else [""] * len(rows)
        body.append("<table class='mini'><tr><th>row</th>" + ("<th>value</th>" if values else "") + "</tr>")
        for r, v in zip(rows, vals, strict=True):
            body.append(
                f"<tr><td>{e(str(r))}</td>"
                + (f"<td><code>{e(_fmt(v) if v is not None else 'null')}</code></td>" if values else "")
                + "</tr>"
            )
        body.append("</table>")
    hint = f.details.get("hint")
    if hint:
        body.append(f"<p class='hint'>{e(str(hint))}</p>")
    body.append("</article>")
    return "".join(body)


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


def _tick(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.3g}"
    return str(x)


def _nice_ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    """Round tick values (1, 2, 2.5, 5 × 10^k steps) covering [lo, hi]."""
    span = hi - lo
    if span <= 0:
        return [lo]
    raw = span / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step) * step
    ticks = []
    v = first
    while v <= hi + step * 1e-9:
        ticks.append(round(v, 12))
        v += step
    return ticks


def svg_chart(chart: Chart, width: int = 640, height: int = 260) -> str:
    """Inline SVG. histogram: series overlaid (first filled, others outlined steps); bar: grouped; line: polylines.

    Every bar and point carries a <title>, so hovering shows its exact value without any script.
    """
    e = html.escape
    left, right, top, bottom = 56, 14, 16, 58
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for s in chart.series.values() for v in s if v is not None]
    lo = min([0.0, *values]) if values else 0.0
    hi = max(values) if values else 1.0
    hi = hi * 1.08 if hi > lo else lo + 1.0
    n = max(len(chart.x), 1)
    share = chart.kind == "histogram" and values and max(values) <= 1.0 and min(values) >= 0.0

    def y(v: float) -> float:
        return top + plot_h - (v - lo) / (hi - lo) * plot_h

    def label(v: float) -> str:
        if share:
            return f"{v:.0%}" if hi >= 0.1 else f"{v:.1%}"
        return f"{v:.3g}"

    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' width='100%' "
        f"style='max-width:{width}px' role='img' aria-label='{e(chart.title)}' font-family='system-ui,sans-serif'>"
    ]
    for v in _nice_ticks(lo, hi):
        out.append(f"<line x1='{left}' y1='{y(v):.1f}' x2='{left + plot_w}' y2='{y(v):.1f}' class='grid'/>")
        out.append(
            f"<text x='{left - 6}' y='{y(v) + 4:.1f}' font-size='10' text-anchor='end' class='tick'>{label(v)}</text>"
        )
    step = plot_w / n
    label_every = max(1, math.ceil(n / 10))
    for i, x in enumerate(chart.x):
        if i % label_every == 0:
            out.append(
                f"<text x='{left + step * (i + 0.5):.1f}' y='{top + plot_h + 14}' font-size='10' text-anchor='middle' class='tick'>{e(_tick(x))}</text>"
            )
    if chart.x_label:
        out.append(
            f"<text x='{left + plot_w / 2:.1f}' y='{top + plot_h + 30}' font-size='11' text-anchor='middle' class='axis'>{e(chart.x_label)}</text>"
        )
    if chart.y_label:
        out.append(
            f"<text transform='translate(12 {top + plot_h / 2:.1f}) rotate(-90)' font-size='11' text-anchor='middle' class='axis'>{e(chart.y_label)}</text>"
        )
    names = list(chart.series)
    for k, name in enumerate(names):
        color = _PALETTE[k % len(_PALETTE)]
        series = chart.series[name]
        if chart.kind == "line":
            points = [
                (left + step * (i + 0.5), y(v), chart.x[i] if i < len(chart.x) else i, v)
                for i, v in enumerate(series)
                if v is not None
            ]
            out.append(
                f"<polyline fill='none' stroke='{color}' stroke-width='2' points='{' '.join(f'{px:.1f},{py:.1f}' for px, py, _, _ in points)}'/>"
            )
            for px, py, xv, v in points:
                out.append(
                    f"<circle cx='{px:.1f}' cy='{py:.1f}' r='2.5' fill='{color}'><title>{e(name)} at {e(_tick(xv))}: {e(label(v))}</title></circle>"
                )
        elif chart.kind == "histogram":
            pad = step * 0.06
            if k == 0:
                for i, v in enumerate(series):
                    if v is None:
                        continue
                    out.append(
                        f"<rect x='{left + step * i + pad:.1f}' y='{y(max(v, lo)):.1f}' width='{max(step - 2 * pad, 0.5):.1f}' "
                        f"height='{abs(y(lo) - y(v)):.1f}' fill='{color}' fill-opacity='0.45'>"
                        f"<title>{e(name)} · {e(_tick(chart.x[i]) if i < len(chart.x) else str(i))}: {e(label(v))}</title></rect>"
                    )
            else:
                path = []
                # numeric bins join into one step line; categories get one level mark each
                joined = all(isinstance(x, (int, float)) for x in chart.x)
                for i, v in enumerate(series):
                    v = lo if v is None else v
                    x0, x1 = left + step * i, left + step * (i + 1)
                    if not joined:
                        x0, x1 = x0 + pad, x1 - pad
                    move = "M" if i == 0 or not joined else "L"
                    path.append(f"{move}{x0:.1f},{y(v):.1f} L{x1:.1f},{y(v):.1f}")
                out.append(f"<path d='{' '.join(path)}' fill='none' stroke='{color}' stroke-width='2.2'/>")
                for i, v in enumerate(series):
                    if v is None:
                        continue
                    out.append(
                        f"<rect x='{left + step * i:.1f}' y='{top}' width='{step:.1f}' height='{plot_h}' fill='transparent'>"
                        f"<title>{e(_tick(chart.x[i]) if i < len(chart.x) else str(i))}: "
                        + " · ".join(
                            f"{e(nm)} {e(label(chart.series[nm][i]))}"
                            for nm in names
                            if i < len(chart.series[nm]) and chart.series[nm][i] is not None
                        )
                        + "</title></rect>"
                    )
        else:
            bar_w = step * 0.8 / len(names)
            for i, v in enumerate(series):
                if v is None:
                    continue
                x0 = left + step * i + step * 0.1 + bar_w * k
                out.append(
                    f"<rect x='{x0:.1f}' y='{y(max(v, lo)):.1f}' width='{bar_w:.1f}' height='{abs(y(lo) - y(v)):.1f}' fill='{color}' fill-opacity='0.85'>"
                    f"<title>{e(name)} · {e(_tick(chart.x[i]) if i < len(chart.x) else str(i))}: {e(label(v))}</title></rect>"
                )
        lx = left + 130 * k
        if chart.kind == "histogram" and k > 0:
            out.append(
                f"<line x1='{lx}' y1='{height - 9}' x2='{lx + 14}' y2='{height - 9}' stroke='{color}' stroke-width='2.5'/>"
            )
        else:
            out.append(
                f"<rect x='{lx}' y='{height - 14}' width='12' height='10' rx='2' fill='{color}' fill-opacity='{0.45 if chart.kind == 'histogram' else 0.85}'/>"
            )
        out.append(f"<text x='{lx + 18}' y='{height - 5}' font-size='11' class='legend'>{e(name)}</text>")
    out.append(f"<line x1='{left}' y1='{y(lo):.1f}' x2='{left + plot_w}' y2='{y(lo):.1f}' class='base'/>")
    out.append("</svg>")
    return "".join(out)


_CSS = """
:root{--bg:#f7f7f5;--fg:#1d1d1f;--muted:#6b6b70;--card:#fff;--line:#e4e4e7;--fail:#c4302b;--fail-bg:#fdeceb;
--warn:#b26a00;--warn-bg:#fff4e0;--pass:#2e7d32;--pass-bg:#eaf5ea;--info:#1f6f8b;--info-bg:#e6f3f7;
--unjudged:#7b3fa0;--unjudged-bg:#f3eaf8}
@media (prefers-color-scheme:dark){:root{--bg:#161618;--fg:#ececef;--muted:#a1a1aa;--card:#1f1f23;--line:#34343a;
--fail-bg:#3a1d1c;--warn-bg:#3a2c14;--pass-bg:#1b3220;--info-bg:#16303a;--unjudged-bg:#2e1f38}}
*{box-sizing:border-box} body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif}
main{max-width:1120px;margin:0 auto;padding:28px 24px 48px}
header{display:flex;gap:16px;align-items:center;padding:18px 20px;border-radius:14px;background:var(--card);border:1px solid var(--line)}
header .verdict{width:48px;height:48px;border-radius:50%;display:grid;place-items:center;font-size:26px;color:#fff;flex:none}
header.ok .verdict{background:var(--pass)} header.bad .verdict{background:var(--fail)}
header.unjudged .verdict{background:var(--unjudged)}
h1{margin:0;font-size:22px} .sub{margin:2px 0 0;color:var(--muted)} h2{font-size:16px;margin:28px 0 10px;display:inline-block}
.tiles{display:flex;flex-wrap:wrap;gap:10px;margin-top:14px}
.tile{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:8px 14px;min-width:96px}
.tile b{display:block;font-size:18px} .tile span{color:var(--muted);font-size:12px}
.tile.fail{border-color:var(--fail);background:var(--fail-bg)} .tile.warn{border-color:var(--warn);background:var(--warn-bg)}
.tile.unjudged{border-color:var(--unjudged);background:var(--unjudged-bg)}
.tile.pass b{color:var(--pass)} .tile.meta b{font-size:14px;font-weight:600}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:12px}
.card{background:var(--card);border:1px solid var(--line);border-left:4px solid var(--line);border-radius:10px;padding:12px 14px}
.card.fail{border-left-color:var(--fail)} .card.warn{border-left-color:var(--warn)} .card.unjudged{border-left-color:var(--unjudged)}
.card p{margin:8px 0} .card-head{display:flex;gap:8px;align-items:center} .where{color:var(--muted);margin-left:auto;font-size:12px}
.hint{color:var(--muted);font-size:12px}
.badge{display:inline-block;font-size:11px;font-weight:700;text-transform:uppercase;letter-spacing:.03em;padding:1px 7px;border-radius:999px;margin-right:6px}
.badge.fail{background:var(--fail-bg);color:var(--fail)} .badge.warn{background:var(--warn-bg);color:var(--warn)}
.badge.pass{background:var(--pass-bg);color:var(--pass)} .badge.info{background:var(--info-bg);color:var(--info)}
.badge.unjudged{background:var(--unjudged-bg);color:var(--unjudged)}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));gap:14px}
figure{margin:0;background:var(--card);border:1px solid var(--line);border-radius:12px;padding:12px 14px}
figure.fail,figure.warn{border-color:var(--warn)} figure.fail{border-color:var(--fail)}
figcaption{font-weight:600;margin-bottom:4px} .caption{margin:0 0 6px;color:var(--muted);font-size:12px}
svg .grid{stroke:var(--line)} svg .base{stroke:var(--muted)} svg .tick,svg .axis,svg .legend{fill:var(--muted)} svg .legend{fill:var(--fg)}
svg rect:hover{fill-opacity:.8}
.scroll{overflow-x:auto} table{border-collapse:collapse;width:100%;background:var(--card);border-radius:10px;overflow:hidden}
td,th{border-bottom:1px solid var(--line);padding:6px 10px;font-size:13px;text-align:left;vertical-align:top}
th{color:var(--muted);font-weight:600;background:var(--bg)}
tr.fail td{background:var(--fail-bg)} tr.warn td{background:var(--warn-bg)} tr.unjudged td{background:var(--unjudged-bg)}
table.mini{width:auto;margin-top:4px} table.mini td,table.mini th{padding:2px 10px;font-size:12px}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
details>summary{cursor:pointer;list-style:none} details>summary::-webkit-details-marker{display:none}
details>summary h2::before{content:'▸ ';color:var(--muted)} details[open]>summary h2::before{content:'▾ '}
footer{margin-top:36px;color:var(--muted);font-size:12px}
"""
