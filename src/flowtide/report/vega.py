"""Charts as Vega-Lite specifications, rendered to static SVG offline (vl-convert: no browser, no script, no CDN).

The spec is the chart's data and encoding in one plain dict: the HTML report inlines its SVG, ``--json``
carries the spec itself, and the dashboard uses both. ``vl_convert`` is imported only to render.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .model import Chart

SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
WIDTH = 760
FONT = "Arial, Liberation Sans, Helvetica, sans-serif"
"""Metric-compatible families: the widths vl-convert measures are the widths a browser draws, so labels never overlap."""
PALETTE = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#9D755D", "#BAB0AC"]
THRESHOLD_COLOR = "#C0392B"


def label(x: Any) -> str:
    """An x value as an axis label (numbers to 3 significant digits)."""
    if isinstance(x, float):
        return f"{x:.3g}"
    return str(x)


def spec(chart: Chart) -> dict[str, Any]:
    """The Vega-Lite spec of a chart, its data inlined (nulls left out: an empty bucket is no point, not 0)."""
    base: dict[str, Any] = {
        "$schema": SCHEMA,
        "title": {"text": chart.title, "subtitle": chart.subtitle or None, "anchor": "start", "limit": WIDTH},
        "config": {
            "font": FONT,
            "axis": {"labelLimit": 160, "titleFontWeight": "normal"},
            "legend": {"labelLimit": 0, "orient": "bottom", "direction": "horizontal", "titleFontWeight": "normal"},
            "view": {"stroke": None},
            "range": {"category": PALETTE},
        },
    }
    if not chart.subtitle:
        del base["title"]["subtitle"]
    if chart.kind == "heatmap":
        return {**base, **_heatmap(chart)}
    values = []
    for name, series in chart.series.items():
        for i, v in enumerate(series):
            if v is None or (isinstance(v, float) and math.isnan(v)) or i >= len(chart.x):
                continue
            values.append(
                {"x": label(chart.x[i]) if chart.x_type != "temporal" else chart.x[i], "series": name, "value": v}
            )
    order = [label(x) for x in chart.x]
    if chart.x_type == "temporal":
        x_enc: dict[str, Any] = {"field": "x", "type": "temporal", "title": chart.x_label or None}
        x_enc["axis"] = {"labelOverlap": True, "labelAngle": 0, "tickCount": 6, "format": _time_format(chart.x)}
    else:
        x_enc = {"field": "x", "type": "ordinal", "sort": order, "title": chart.x_label or None}
        x_enc["axis"] = {"labelOverlap": True, "labelAngle": -40 if len(order) > 8 else 0}
    y_title = chart.y_label or "value"
    y_enc: dict[str, Any] = {"field": "value", "type": "quantitative", "title": y_title}
    if chart.y_format:
        y_enc["axis"] = {"format": chart.y_format}
    names = list(chart.series)
    color = {
        "field": "series",
        "type": "nominal",
        "title": None,
        "sort": names,
        "legend": {"columns": min(len(names), 3), "symbolLimit": 0, "columnPadding": 16},
    }
    tooltip = [{"field": "series"}, {"field": "x", "title": chart.x_label or "x"}, {"field": "value"}]
    if chart.kind == "line":
        mark: dict[str, Any] = {"type": "line", "point": True, "strokeWidth": 2}
        main = {"mark": mark, "encoding": {"x": x_enc, "y": y_enc, "color": color, "tooltip": tooltip}}
    else:  # bar and histogram: grouped bars, each series beside the others under its own label
        opacity = 0.85 if chart.kind == "bar" else 0.75
        main = {
            "mark": {"type": "bar", "opacity": opacity},
            "encoding": {
                "x": x_enc,
                "xOffset": {"field": "series", "sort": names},
                "y": y_enc,
                "color": color,
                "tooltip": tooltip,
            },
        }
    layers: list[dict[str, Any]] = [main]
    for t in chart.thresholds:
        layers.append(
            {
                "data": {"values": [{"value": t["value"], "label": t.get("label", "")}]},
                "mark": {"type": "rule", "color": THRESHOLD_COLOR, "strokeDash": [6, 4], "strokeWidth": 1.5},
                "encoding": {"y": {"field": "value", "type": "quantitative"}},
            }
        )
        if t.get("label"):
            layers.append(
                {
                    "data": {"values": [{"value": t["value"], "label": t["label"]}]},
                    "mark": {
                        "type": "text",
                        "align": "right",
                        "baseline": "bottom",
                        "dy": -2,
                        "x": "width",
                        "color": THRESHOLD_COLOR,
                        "fontSize": 11,
                    },
                    "encoding": {"y": {"field": "value", "type": "quantitative"}, "text": {"field": "label"}},
                }
            )
    return {
        **base,
        "width": WIDTH,
        "height": 220,
        "data": {"values": values},
        "layer": layers,
    }


def _time_format(xs: list[Any]) -> str:
    """A d3 time format that suits the span of ``xs`` (ISO times): seconds, minutes, or days and hours."""
    from datetime import datetime

    try:
        times = [datetime.fromisoformat(str(x).replace("Z", "+00:00")).timestamp() for x in xs]
    except ValueError:
        return "%m-%d %H:%M"
    span = max(times) - min(times) if times else 0
    if span < 20:  # a replay or a test: seconds apart, so milliseconds tell the ticks apart
        return "%H:%M:%S.%L"
    return "%H:%M:%S" if span < 600 else "%H:%M" if span < 86400 else "%m-%d %H:%M"


def _heatmap(chart: Chart) -> dict[str, Any]:
    """A confusion matrix (or any matrix): one panel per series, cells coloured and labelled with their count."""
    values = []
    cols, rows = [label(x) for x in chart.x], [label(y) for y in chart.y]
    for name, flat in chart.series.items():
        for r, row_label in enumerate(rows):
            for c, col_label in enumerate(cols):
                v = flat[r * len(cols) + c] if r * len(cols) + c < len(flat) else None
                if v is None:
                    continue
                values.append({"series": name, "x": col_label, "y": row_label, "value": v})
    size = max(28, min(48, 300 // max(len(cols), 1)))
    layer = [
        {
            "mark": {"type": "rect", "stroke": "white"},
            "encoding": {
                "color": {
                    "field": "value",
                    "type": "quantitative",
                    "scale": {"scheme": "blues"},
                    "title": chart.y_label or "count",
                    "legend": {"orient": "right", "direction": "vertical"},
                },
                "tooltip": [{"field": "series"}, {"field": "y"}, {"field": "x"}, {"field": "value"}],
            },
        },
        {
            "mark": {"type": "text", "fontSize": 11},
            "encoding": {
                "text": {"field": "value", "type": "quantitative", "format": ",.4~g"},
                # white on dark cells: the transform below gives each panel its own maximum
                "color": {
                    "condition": {"test": "datum.value > datum.panel_max * 0.5", "value": "white"},
                    "value": "#222",
                },
            },
        },
    ]
    return {
        "data": {"values": values},
        "transform": [{"joinaggregate": [{"op": "max", "field": "value", "as": "panel_max"}], "groupby": ["series"]}],
        "facet": {
            "column": {"field": "series", "type": "nominal", "title": None, "sort": list(chart.series)},
        },
        "spec": {
            "width": size * len(cols),
            "height": size * len(rows),
            "encoding": {
                "x": {
                    "field": "x",
                    "type": "ordinal",
                    "sort": cols,
                    "title": chart.x_label or None,
                    "axis": {"labelAngle": -40 if len(cols) > 4 else 0},
                },
                "y": {"field": "y", "type": "ordinal", "sort": rows, "title": chart.y_label_rows or None},
            },
            "layer": layer,
        },
        "resolve": {"scale": {"color": "shared"}},
    }


def to_svg(chart_spec: dict[str, Any]) -> str:
    """Static SVG of a spec (vl-convert renders it in-process: offline, no browser)."""
    try:
        import vl_convert as vlc
    except ImportError as exc:  # a dependency of flowtide; its absence is a broken install
        from ..errors import FlowtideError

        raise FlowtideError(
            "the HTML report needs vl-convert-python to draw its charts", hint="pip install vl-convert-python"
        ) from exc
    svg = vlc.vegalite_to_svg(chart_spec, allowed_base_urls=[])  # data is inline: nothing may be fetched
    # drop the XML prolog so the SVG can be inlined in HTML
    if svg.startswith("<?xml"):
        svg = svg[svg.index("?>") + 2 :].lstrip()
    return svg
