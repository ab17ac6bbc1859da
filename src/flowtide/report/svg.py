"""Charts as inline SVG for the HTML report: no script, no external resource, a <title> on every mark."""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .model import Chart

PALETTE = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2"]


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
        color = PALETTE[k % len(PALETTE)]
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
