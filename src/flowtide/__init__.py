"""flowtide: continuous training, testing, deployment and monitoring for ML repositories.

Importing this package is cheap: the public API below is resolved lazily, and
heavy libraries (polars, scikit-learn, uvicorn, mlflow, ray) load only inside
the functions that use them.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_API: dict[str, str] = {
    "FlowtideError": "flowtide.errors",
    "ConfigError": "flowtide.errors",
    "UsageError": "flowtide.errors",
    "Config": "flowtide.config",
    "load_config": "flowtide.config",
    "Project": "flowtide.project",
    "Lock": "flowtide.lock",
    "Store": "flowtide.store",
    "pull": "flowtide.data.pull",
    "init": "flowtide.scaffold",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> object:  # no `typing` at start-up: it costs more than the rest of --help
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'flowtide' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
