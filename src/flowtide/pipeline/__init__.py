"""The pipeline: a cached DAG of stages, run records, sweeps and metrics diffs.

``run`` and ``status`` decide what is stale from fingerprints in flowtide.lock;
``sweep`` runs the pipeline over a grid of params; ``diff`` compares metrics,
params and plots between git revisions. Submodules load lazily so the no-op
``flowtide status`` imports only what it needs.
"""

from __future__ import annotations

import importlib
from typing import Any

_API: dict[str, str] = {
    "run": "engine",
    "status": "engine",
    "RunResult": "engine",
    "StaleStage": "engine",
    "sweep": "sweeps",
    "SweepResult": "sweeps",
    "diff": "compare",
    "RunRecord": "runs",
    "list_runs": "runs",
    "get_run": "runs",
    "Executor": "executors",
    "LocalExecutor": "executors",
    "RayExecutor": "executors",
}

__all__ = list(_API)


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'flowtide.pipeline' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
