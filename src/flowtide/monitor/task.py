"""Which task a monitored model does, classification or regression, and how flowtide knows it.

In order: ``model.task``; the model itself (a scikit-learn estimator's type or an
ONNX model's outputs, read through the verified safe loaders, never unpickled);
the task of ``monitor.performance.metric``; the metrics the version was registered
with; the feedback labels and outputs (non-integral numbers mean regression).
When nothing says, classification is assumed, and the report says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..config.schema import MONITOR_METRICS
from .performance import is_number

if TYPE_CHECKING:
    from ..project import Project

log = logging.getLogger("flowtide.monitor")

_REGRESSION_METRICS = {"rmse", "mae", "mape", "mse", "r2", "explained_variance", "max_error", "median_absolute_error"}
_CLASSIFICATION_METRICS = {
    "accuracy",
    "balanced_accuracy",
    "error_rate",
    "f1",
    "f1_macro",
    "f1_micro",
    "f1_weighted",
    "precision",
    "recall",
    "roc_auc",
    "log_loss",
}


@dataclass(frozen=True)
class Task:
    name: str
    """classification or regression."""
    source: str
    """How it is known, e.g. "model.task" or "from the model weather v1"."""

    @property
    def regression(self) -> bool:
        return self.name == "regression"

    def __str__(self) -> str:
        return f"{self.name} ({self.source})"


def infer_task(project: Project, registry: Any, model: str, pairs: list[tuple[Any, Any]]) -> Task:
    """The task of ``model``; ``pairs`` are its logged (output, label) pairs, the last evidence asked."""
    config = project.config
    if config.model is not None and config.model.task and config.model.name == model:
        return Task(config.model.task, "model.task")
    versions = [registry.in_stage(model, "production"), registry.in_stage(model, "staging")]
    versions = [v for v in versions if v is not None] or list(reversed(registry.versions(model)))[:1]
    for version in versions:
        task = _from_artifact(project, version)
        if task:
            return Task(task, f"from the model {model} v{version.version}")
    perf = config.monitor.performance
    if perf is not None and perf.metric:
        return Task(MONITOR_METRICS[perf.metric][0], f"from monitor.performance.metric {perf.metric}")
    for version in versions:
        names = set(version.metrics or {})
        if names & _REGRESSION_METRICS and not names & _CLASSIFICATION_METRICS:
            return Task("regression", f"from the registered metrics of {model} v{version.version}")
        if names & _CLASSIFICATION_METRICS and not names & _REGRESSION_METRICS:
            return Task("classification", f"from the registered metrics of {model} v{version.version}")
    values = [v for pair in pairs for v in pair]
    if (
        values
        and all(is_number(v) for v in values)
        and any(isinstance(v, float) and not v.is_integer() for v in values)
    ):
        return Task("regression", "from the feedback: labels and outputs are numbers")
    if any(isinstance(v, (str, bool)) for v in values):
        return Task("classification", "from the feedback: labels are classes")
    return Task("classification", "assumed: nothing says otherwise; set model.task")


def _from_artifact(project: Project, version: Any) -> str | None:
    """What the verified model says about itself (None when it cannot be loaded here or does not say)."""
    from ..formats import load_model

    try:
        return load_model(project, version).task
    except Exception as exc:  # not here (no store), or a user loader that fails: ask the next witness
        log.debug("could not load %s v%s to learn its task: %s", version.model, version.version, exc)
        return None
