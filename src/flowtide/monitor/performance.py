"""Live performance: the monitored metric on the predictions that got feedback, against its thresholds.

``monitor.performance.min`` is an absolute floor (a ceiling for error metrics);
``max_drop`` is relative to the metric the version was registered with.
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import UsageError
from ..report import Finding

MIN_LABELLED_FOR_VERDICT = 30
"""Labelled predictions a version (or each side of a canary) needs before it is judged on them."""


def metric(name: str, outputs: list, labels: list) -> float | None:
    if not labels:
        return None
    if name in ("accuracy", "error_rate"):
        correct = sum(1 for o, y in zip(outputs, labels, strict=True) if o == y) / len(labels)
        return correct if name == "accuracy" else 1 - correct
    if name in ("f1_macro", "f1"):
        from sklearn.metrics import f1_score

        return float(f1_score([str(y) for y in labels], [str(o) for o in outputs], average="macro"))
    if name in ("mae", "rmse"):
        errors = [float(o) - float(y) for o, y in zip(outputs, labels, strict=True)]
        if name == "mae":
            return sum(abs(e) for e in errors) / len(errors)
        return math.sqrt(sum(e * e for e in errors) / len(errors))
    raise UsageError(
        f"monitor.performance.metric {name!r} is not supported: use accuracy, error_rate, f1_macro, mae or rmse"
    )


LOWER_IS_BETTER = {"error_rate", "mae", "rmse"}


def judge_performance(
    label: str, live: float, labelled: int, registered: float | None, metric_name: str, perf: Any, min_rows: int
) -> Finding:
    """The ``live <metric>`` finding of one served version: pass or fail against ``perf`` once enough rows are
    labelled, info before that (or without ``monitor.performance``, a pass that judges nothing)."""
    status, bound, message = "pass", None, f"{metric_name} {live:.3f} on {labelled} labelled predictions"
    if perf is not None and labelled >= min(min_rows, MIN_LABELLED_FOR_VERDICT):
        worse = (lambda a, b: a > b) if metric_name in LOWER_IS_BETTER else (lambda a, b: a < b)
        if perf.min is not None and worse(live, perf.min):
            status, bound = "fail", perf.min
            message += f", below monitor.performance.min {perf.min}"
        elif perf.max_drop is not None and registered is not None:
            limit = registered + perf.max_drop if metric_name in LOWER_IS_BETTER else registered - perf.max_drop
            if worse(live, limit):
                status, bound = "fail", limit
                message += f", more than {perf.max_drop} worse than its registered {registered:.3f}"
    elif perf is not None:
        status = "info"
        message += f" (fewer than {min(min_rows, MIN_LABELLED_FOR_VERDICT)}: not judged)"
    return Finding(status, label, f"live {metric_name}", message, value=round(live, 4), bound=bound)
