"""Drift of one served version: its inputs against its reference data, its predictions against the model's own.

The statistics are the data checks' (``flowtide.checks.drift``), computed on a
stored profile of the reference, so the monitor and ``flowtide check`` agree.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from ..report import Chart, Finding
from .performance import is_number

if TYPE_CHECKING:
    from ..report import Report


def judge_drift(
    group: Any, reference: dict, columns: list[str], method: str, threshold: float, status: str, report: Report
) -> list[str]:
    """Add the ``input drift`` and ``prediction drift`` findings of ``group`` (and a histogram of each drifting
    column) to ``report``; return the drifting input columns."""
    from ..checks.drift import compare

    drifting: list[str] = []
    for column in columns:
        ref = reference["columns"].get(column)
        if ref is None:
            continue
        values = [r["inputs"].get(column) for r in group.rows]
        values = (
            [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
            if ref["kind"] == "numeric"
            else [str(v) for v in values if v is not None]
        )
        result = compare(ref, values, method, threshold, column=column)
        if result.drifted:
            drifting.append(column)
        report.findings.append(
            Finding(
                status if result.drifted else "pass",
                group.label,
                "input drift",
                f"{result.describe()} against the {reference['origin']}",
                column=column,
                value=round(result.statistic, 4),
                bound=result.threshold,
                details={"method": result.method, "chart": result.chart},
            )
        )
        if result.drifted and result.chart.get("edges"):
            edges = result.chart["edges"]
            centers = [round((a + b) / 2, 2) for a, b in itertools.pairwise(edges)]
            report.charts.append(
                Chart(
                    f"{column}: {group.label} vs reference",
                    "histogram",
                    centers,
                    {"reference": result.chart["reference"], "live": result.chart["current"]},
                    x_label=column,
                    y_label="share",
                    y_format=".0%",
                )
            )
    if reference.get("predictions"):
        numeric = reference["predictions"]["kind"] == "numeric"  # a regressor's: compared as numbers, not classes
        outputs = (
            [r["output"] for r in group.rows if is_number(r["output"])]
            if numeric
            else [str(r["output"]) for r in group.rows]
        )
        result = compare(reference["predictions"], outputs, "psi", threshold, column="prediction")
        what = "predicted values" if numeric else "predicted classes"
        report.findings.append(
            Finding(
                status if result.drifted else "pass",
                group.label,
                "prediction drift",
                f"{result.describe()}: {what} vs the model's predictions on its reference data",
                column="prediction",
                value=round(result.statistic, 4),
                bound=result.threshold,
            )
        )
    return drifting
