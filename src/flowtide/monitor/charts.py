"""The monitor report's charts over time: predictions, live performance and input drift per time bucket."""

from __future__ import annotations

import time
from typing import Any

from ..report import Chart
from .performance import metric

TIME_BUCKETS = 12


def _buckets(times: list[float]) -> tuple[float, float, list[str]]:
    """Start, span and the bucket centres as ISO 8601 UTC times (distinct, so no axis repeats a tick)."""
    start, end = min(times), max(times)
    span = max(end - start, 1e-9)
    labels = []
    for i in range(TIME_BUCKETS):
        t = start + span * (i + 0.5) / TIME_BUCKETS
        labels.append(time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z")
    return start, span, labels


def drift_over_time(judged: list, columns: list[str], method: str, threshold: float | None) -> Chart | None:
    """The drift statistic of each column per time bucket, for the busiest judged groups."""
    from ..checks.drift import compare

    if not judged:
        return None
    start, span, labels = _buckets([r["time"] for g, _ in judged for r in g.rows])
    series: dict[str, list[float | None]] = {}
    for group, reference in sorted(judged, key=lambda item: -len(item[0].rows))[:2]:
        buckets: list[list[dict]] = [[] for _ in range(TIME_BUCKETS)]
        for r in group.rows:
            buckets[min(int((r["time"] - start) / span * TIME_BUCKETS), TIME_BUCKETS - 1)].append(r)
        for column in columns:
            ref = reference["columns"].get(column)
            if ref is None or ref["kind"] != "numeric":
                continue
            values: list[float | None] = []
            for bucket in buckets:
                xs = [r["inputs"].get(column) for r in bucket]
                xs = [x for x in xs if isinstance(x, (int, float)) and not isinstance(x, bool)]
                values.append(round(compare(ref, xs, method, threshold).statistic, 4) if len(xs) >= 20 else None)
            if any(v is not None for v in values):
                series[f"{column} v{group.version} {group.role}"] = values
    if not series:
        return None
    return Chart(
        f"Input drift ({method}) over time",
        "line",
        labels,
        series,
        x_label="time (UTC)",
        y_label=method,
        x_type="temporal",
        # a distance method decides by its threshold: drawn; under the tests PSI is an effect size, no line
        thresholds=[{"value": threshold, "label": f"drift threshold {threshold:g}"}] if threshold is not None else [],
        subtitle="buckets with fewer than 20 predictions have no point",
    )


def time_charts(
    groups: dict, feedback: dict, judging: dict, since: float, until: float, perf: Any = None
) -> list[Chart]:
    """Predictions per time bucket, and each model's live metric (``judging[model].metric_name``) per bucket,
    with ``monitor.performance``'s bound drawn as a threshold."""
    times = [r["time"] for g in groups.values() for r in g.rows]
    if not times:
        return []
    start, span, x = _buckets(times)
    n = TIME_BUCKETS
    counts: dict[str, list[float]] = {}
    scores: dict[str, list[float | None]] = {}
    metric_names: set[str] = set()
    for group in groups.values():
        buckets: list[list[dict]] = [[] for _ in range(n)]
        for r in group.rows:
            buckets[min(int((r["time"] - start) / span * n), n - 1)].append(r)
        name = f"v{group.version} {group.role}"
        counts[name] = [float(len(b)) for b in buckets]
        judge = judging[group.model]
        metric_names.add(judge.metric_name)
        values: list[float | None] = []
        for b in buckets:
            pairs = judge.pairs(b, feedback)
            value = metric(judge.metric_name, [o for o, _ in pairs], [y for _, y in pairs]) if pairs else None
            values.append(round(value, 4) if value is not None else None)
        if any(v is not None for v in values):
            scores[name] = values
    charts = [
        Chart(
            "Predictions over time",
            "line",
            x,
            counts,
            x_label="time (UTC)",
            y_label="predictions",
            x_type="temporal",
            subtitle=f"{len(times):,} predictions in {n} buckets",
        )
    ]
    if scores:
        metric_name = metric_names.pop() if len(metric_names) == 1 else "metric"
        thresholds = []
        bound = None
        if perf is not None and metric_name != "metric":
            bound = perf.min if perf.min is not None else perf.max
        if bound is not None:
            word = "minimum" if perf.min is not None else "maximum"
            thresholds.append({"value": bound, "label": f"monitor.performance {word} {bound:g}"})
        empty = sum(v is None for vs in scores.values() for v in vs)
        charts.append(
            Chart(
                f"Live {metric_name} over time",
                "line",
                x,
                scores,
                x_label="time (UTC)",
                y_label=metric_name,
                x_type="temporal",
                thresholds=thresholds,
                subtitle=f"{empty} buckets without labelled predictions have no point" if empty else "",
            )
        )
    return charts
