"""Live performance: the monitored metric on the predictions that got feedback, against its thresholds.

A higher-is-better metric (accuracy, f1_macro) has a floor ``monitor.performance.min``
and ``max_drop`` below the metric the version was registered with; a lower-is-better
one (error_rate, rmse, mae, mape) has a ceiling ``max`` and ``max_increase`` above it.
Which keys suit which metric is checked where flowtide.yaml loads (config/validate.py).
"""

from __future__ import annotations

import math
from typing import Any

from ..config.schema import MONITOR_METRICS
from ..errors import UsageError
from ..report import Finding

MIN_LABELLED_FOR_VERDICT = 30
"""Labelled predictions a version (or each side of a canary) needs before it is judged on them."""


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool): what a regressor's output and label must be."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def numeric_pairs(pairs: list[tuple[Any, Any]]) -> list[tuple[float, float]]:
    """The (output, label) pairs a regression metric can use: both finite numbers."""
    return [(float(o), float(y)) for o, y in pairs if is_number(o) and is_number(y)]


def lower_is_better(name: str) -> bool:
    return MONITOR_METRICS.get(name, ("", False))[1]


def metric(name: str, outputs: list, labels: list) -> float | None:
    """The live ``name`` of outputs against labels (None: nothing to compute it on).

    Regression metrics use only rows whose output and label are finite numbers;
    mape leaves out rows labelled 0 (their percentage error is undefined).
    """
    if not labels:
        return None
    if name in ("accuracy", "error_rate"):
        correct = sum(1 for o, y in zip(outputs, labels, strict=True) if o == y) / len(labels)
        return correct if name == "accuracy" else 1 - correct
    if name in ("f1_macro", "f1"):
        from ..extras import require

        require("sklearn", f"the {name} metric")
        from sklearn.metrics import f1_score

        return float(f1_score([str(y) for y in labels], [str(o) for o in outputs], average="macro"))
    if name in ("mae", "rmse", "mape"):
        pairs = numeric_pairs(list(zip(outputs, labels, strict=True)))
        if name == "mape":
            ratios = [abs(o - y) / abs(y) for o, y in pairs if y != 0]
            return math.fsum(ratios) / len(ratios) if ratios else None
        if not pairs:
            return None
        errors = [o - y for o, y in pairs]
        if name == "mae":
            return math.fsum(abs(e) for e in errors) / len(errors)
        return math.sqrt(math.fsum(e * e for e in errors) / len(errors))
    raise UsageError(f"monitor.performance.metric {name!r} is not supported: use {', '.join(MONITOR_METRICS)}")


def judge_performance(
    label: str, live: float, labelled: int, registered: float | None, metric_name: str, perf: Any, min_rows: int
) -> Finding:
    """The ``live <metric>`` finding of one served version: pass or fail against ``perf`` once enough rows are
    labelled, info before that (or without ``monitor.performance``, a pass that judges nothing)."""
    status, bound, message = "pass", None, f"{metric_name} {live:.4g} on {labelled} labelled predictions"
    needed = min(min_rows, MIN_LABELLED_FOR_VERDICT)
    if perf is not None and labelled >= needed:
        if lower_is_better(metric_name):
            if perf.max is not None and live > perf.max:
                status, bound = "fail", perf.max
                message += f", above monitor.performance.max {perf.max:g}"
            elif perf.max_increase is not None and registered is not None and live > registered + perf.max_increase:
                status, bound = "fail", registered + perf.max_increase
                message += f", more than {perf.max_increase:g} above its registered {registered:.4g}"
        elif perf.min is not None and live < perf.min:
            status, bound = "fail", perf.min
            message += f", below monitor.performance.min {perf.min:g}"
        elif perf.max_drop is not None and registered is not None and live < registered - perf.max_drop:
            status, bound = "fail", registered - perf.max_drop
            message += f", more than {perf.max_drop:g} below its registered {registered:.4g}"
    elif perf is not None:
        status = "info"
        message += f" (fewer than {needed}: not judged)"
    return Finding(status, label, f"live {metric_name}", message, value=round(live, 4), bound=bound)
