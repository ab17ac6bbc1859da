"""The HTML rendering: one self-contained page (styles and SVG charts inlined, no scripts, no CDN).

It opens offline and can be published as a CI artifact or on GitHub Pages; the styles are report.css,
the charts Vega-Lite specs rendered to SVG by :mod:`.vega`.
"""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from ._text import WORD, WORD_ONE, counts, finding_columns, fmt, short, sorted_findings
from .vega import to_svg

if TYPE_CHECKING:
    from .model import Finding, Report

_HEADER = {"fail": "bad", "unjudged": "unjudged", "warn": "warn", "pass": "ok"}
_MARK = {"fail": "✗", "unjudged": "?", "warn": "!", "pass": "✓"}


@cache
def _css() -> str:
    return Path(__file__).with_name("report.css").read_text(encoding="utf-8")


def css() -> str:
    """The report styles (the dashboard shares them)."""
    return _css()


def to_html(report: Report) -> str:
    """One self-contained page: verdict, counts, failures as cards, charts, every finding, tables."""
    e = html.escape
    overall = report.status
    tally = counts(report.findings)
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{e(report.title)}</title><style>\n{_css()}</style></head><body><main>",
        f"<header class='{_HEADER[overall]}'><div class='verdict'>{_MARK[overall]}</div>"
        f"<div><h1>{e(report.title)}</h1><p class='sub'><b class='word'>{report.verdict}</b> · {e(report.kind)}</p>"
        f"<p class='reason'>{e(report.reason)}</p></div></header>",
    ]
    for f in (f for f in report.findings if f.lead):
        parts.append(_lead(f))
    tiles = [(status, n) for status, n in tally.items() if n]
    if tiles or report.summary:
        parts.append("<section class='tiles'>")
        for status, n in tiles:
            parts.append(f"<div class='tile {status}'><b>{n}</b><span>{WORD[status]}</span></div>")
        for key, value in report.summary.items():
            parts.append(f"<div class='tile meta'><b>{e(fmt(value))}</b><span>{e(str(key))}</span></div>")
        parts.append("</section>")
    problems = [f for f in sorted_findings(report.findings) if f.status in ("fail", "unjudged", "warn") and not f.lead]
    if problems:
        parts.append("<h2>What needs attention</h2><section class='cards'>")
        for f in problems:
            parts.append(_card(f))
        parts.append("</section>")
    if report.charts:
        ordered = sorted(
            report.charts,
            key=lambda c: {"fail": 0, "unjudged": 1, "warn": 1, None: 2, "info": 3, "pass": 4}[c.status],
        )
        parts.append("<h2>Charts</h2><section class='charts'>")
        for chart in ordered:
            badge = f"<span class='badge {chart.status}'>{WORD_ONE[chart.status]}</span>" if chart.status else ""
            parts.append(
                f"<figure class='{chart.status or ''}' aria-label='{e(chart.title)}'>"
                f"{f'<figcaption>{badge}</figcaption>' if badge else ''}{to_svg(chart.spec())}</figure>"
            )
        parts.append("</section>")
    for t in report.tables:
        parts.append(f"<h2>{e(t.title)}</h2><div class='scroll'><table><thead><tr>")
        parts.append("".join(f"<th>{e(str(c))}</th>" for c in t.columns) + "</tr></thead><tbody>")
        marks = t.statuses if len(t.statuses) == len(t.rows) else [""] * len(t.rows)
        parts += [
            f"<tr class='{e(mark or '')}'>" + "".join(f"<td>{e(fmt(c))}</td>" for c in row) + "</tr>"
            for row, mark in zip(t.rows, marks, strict=True)
        ]
        parts.append("</tbody></table></div>")
    if report.findings:
        parts.append(
            f"<details {'open' if len(report.findings) <= 30 else ''}><summary><h2>All findings ({len(report.findings)})</h2></summary>"
        )
        columns = finding_columns(report.findings)  # a column empty for every finding is left out
        parts.append(
            "<div class='scroll'><table><thead><tr><th></th>"
            + "".join(f"<th>{c}</th>" for c in columns)
            + "<th>message</th></tr></thead><tbody>"
        )
        for f in sorted_findings(report.findings):
            cells = "".join(f"<td>{e(short(getattr(f, c)))}</td>" for c in columns)
            parts.append(
                f"<tr class='{f.status}'><td><span class='badge {f.status}'>{WORD_ONE[f.status]}</span></td>"
                f"{cells}<td>{e(f.message)}</td></tr>"
            )
        parts.append("</tbody></table></div></details>")
    parts.append("<footer>flowtide · self-contained report (no scripts, no external resources)</footer>")
    parts.append("</main></body></html>\n")
    return "\n".join(parts)


def _lead(f: Finding) -> str:
    """A finding the report leads with (a canary verdict): its verdict large, its message, its statistics."""
    e = html.escape
    details = f.details
    word = details.get("verdict") or WORD_ONE[f.status]
    rows: list[tuple[str, str]] = []
    test = details.get("test")
    if isinstance(test, dict):
        rows += [
            (f"canary {test.get('metric', '')}", fmt(test.get("canary"))),
            (f"production {test.get('metric', '')}", fmt(test.get("production"))),
            ("canary worse by", fmt(test.get("worse_by"))),
            ("confidence bounds", f"{fmt(test.get('lower'))} … {fmt(test.get('upper'))}"),
            ("margin", fmt(test.get("margin"))),
        ]
    labelled = details.get("labelled")
    if isinstance(labelled, dict):
        rows += [(f"labelled ({role})", fmt(n)) for role, n in labelled.items()]
    stats = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in rows)
    return (
        f"<section class='lead {f.status}'><div class='lead-word'>{e(str(word))}</div>"
        f"<div><h2>{e(f.rule)}: {e(f.target)}</h2><p>{e(f.message)}</p>"
        + (f"<table class='mini'>{stats}</table>" if stats else "")
        + "</div></section>"
    )


def _card(f: Finding) -> str:
    e = html.escape
    where = " · ".join(e(x) for x in (f.target, f.column or "") if x)
    body = [
        f"<article class='card {f.status}'><div class='card-head'><span class='badge {f.status}'>{WORD_ONE[f.status]}</span>"
        f"<b>{e(f.rule)}</b><span class='where'>{where}</span></div><p>{e(f.message)}</p>"
    ]
    rows, values = f.details.get("rows"), f.details.get("values")
    if isinstance(rows, list) and rows:
        vals = values if isinstance(values, list) and len(values) == len(rows) else [""] * len(rows)
        body.append("<table class='mini'><tr><th>row</th>" + ("<th>value</th>" if values else "") + "</tr>")
        for r, v in zip(rows, vals, strict=True):
            body.append(
                f"<tr><td>{e(str(r))}</td>"
                + (f"<td><code>{e(fmt(v) if v is not None else 'null')}</code></td>" if values else "")
                + "</tr>"
            )
        body.append("</table>")
    hint = f.details.get("hint")
    if hint:
        body.append(f"<p class='hint'>{e(str(hint))}</p>")
    body.append("</article>")
    return "".join(body)
