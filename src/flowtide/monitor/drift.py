"""Drift of one served version: its inputs against its reference data, its predictions against the model's own.

The decision is :func:`flowtide.monitor.decision.decide` (tests with a stated
false-alarm rate by default; its docstring explains the design) on a stored
profile of the reference, the statistics the data checks use.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from ..report import Chart, Finding
from .performance import is_number

if TYPE_CHECKING:
    from ..report import Report
    from .decision import ColumnDecision, Policy


def judge_drift(
    group: Any,
    reference: dict,
    columns: list[str],
    policy: Policy,
    status: str,
    report: Report,
    feedback: dict | None = None,
) -> tuple[list[str], bool]:
    """Add the ``input drift`` and ``prediction drift`` findings of ``group`` (and a histogram of each drifting
    column) to ``report``; return (the drifting input columns, whether drift was judged at all).

    With ``method: adwin`` the live error rate (rows with ``feedback``) is watched by ADWIN too; a rise is
    reported as drift of ``(error rate)``."""
    from .decision import decide

    rows = sorted(group.rows, key=lambda r: r["time"])
    profiles: dict[str, dict] = {}
    values: dict[str, list] = {}
    for column in columns:
        ref = reference["columns"].get(column)
        if ref is None:
            continue
        raw = [r["inputs"].get(column) for r in rows]
        profiles[column] = ref
        values[column] = (
            [v for v in raw if isinstance(v, (int, float)) and not isinstance(v, bool)]
            if ref["kind"] == "numeric"
            else [str(v) for v in raw if v is not None]
        )
    if reference.get("predictions"):
        profiles["prediction"] = reference["predictions"]
        numeric = reference["predictions"]["kind"] == "numeric"  # a regressor's: compared as numbers, not classes
        values["prediction"] = (
            [r["output"] for r in rows if is_number(r["output"])] if numeric else [str(r["output"]) for r in rows]
        )
    if not values:
        return [], False
    decision = decide(profiles, values, policy)
    drifting: list[str] = []
    for column in decision.columns:
        prediction = column.column == "prediction" and "prediction" not in columns
        if column.drifted and not prediction:
            drifting.append(column.column)
        report.findings.append(_finding(group, column, policy, status, reference, prediction))
        if column.drifted and profiles[column.column]["kind"] == "numeric":
            report.charts.append(_histogram(group, column, profiles[column.column], values[column.column], policy))
    if decision.judged:
        report.findings.append(Finding("info", group.label, "drift decision", decision.statement()))
    if policy.method == "adwin" and feedback:
        finding = _error_rate(group, rows, feedback, policy, status)
        if finding is not None:
            report.findings.append(finding)
            if finding.status == status:
                drifting.append("(error rate)")
    return drifting, decision.judged


def _error_rate(group: Any, rows: list[dict], feedback: dict, policy: Policy, status: str) -> Finding | None:
    """ADWIN on the live errors in time order (0/1 for classes, absolute error for numbers): did they rise?"""
    from .decision import adwin_error_change

    errors = []
    for r in rows:
        if r["request_id"] not in feedback:
            continue
        output, label = r["output"], feedback[r["request_id"]]
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (output, label))
        errors.append(abs(float(output) - float(label)) if numbers else float(str(output) != str(label)))
    if len(errors) < policy.min_window:
        return None
    change = adwin_error_change(errors)
    if change is None:
        return Finding("pass", group.label, "live error rate", f"ADWIN found no change in {len(errors)} labelled rows")
    at, before, after = change
    rose = after > before
    return Finding(
        status if rose else "pass",
        group.label,
        "live error rate",
        f"ADWIN: the error rate {'rose' if rose else 'fell'} from {before:.3g} to {after:.3g} (alarm at labelled row {at} of {len(errors)})",
        value=round(after, 4),
        bound=round(before, 4),
    )


def _finding(
    group: Any, column: ColumnDecision, policy: Policy, status: str, reference: dict, prediction: bool
) -> Finding:
    rule = "prediction drift" if prediction else "input drift"
    against = "the model's predictions on its reference data" if prediction else f"the {reference['origin']}"
    details: dict[str, Any] = {
        "method": policy.method,
        "rows": column.rows,
        "effects": column.effects,
        "detectable_shift": column.detectable,
        "tests": [
            {"test": t.name, "window": t.window, "statistic": t.statistic, "p": t.p_value, "adjusted": t.adjusted}
            for t in column.tests
        ],
    }
    if column.status == "not judged":
        shift = (
            f"; at {column.rows} rows the smallest detectable mean shift is {column.detectable:.2g} sd"
            if column.detectable is not None
            else ""
        )
        return Finding(
            "info",
            group.label,
            rule,
            f"not judged: {column.rows} rows, fewer than monitor.drift.min_window {policy.min_window}{shift}",
            column=column.column,
            value=column.rows,
            bound=policy.min_window,
            details=details,
        )
    return Finding(
        status if column.drifted else "pass",
        group.label,
        rule,
        f"{column.describe()} (against {against})",
        column=column.column,
        value=float(f"{column.statistic:.4g}") if column.statistic == column.statistic else None,
        bound=column.bound,
        details=details,
    )


def _histogram(group: Any, column: ColumnDecision, profile: dict, values: list, policy: Policy) -> Chart:
    from ..checks.drift import compare

    chart = compare(profile, values[-policy.max_window :], "psi").chart
    edges = chart["edges"]
    centers = [round((a + b) / 2, 2) for a, b in itertools.pairwise(edges)]
    return Chart(
        f"{column.column}: {group.label} vs reference",
        "histogram",
        centers,
        {"reference": chart["reference"], "live": chart["current"]},
        x_label=column.column,
        y_label="share",
        y_format=".0%",
    )
