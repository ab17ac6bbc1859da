"""The way in from DVC, GTO and CML: their files read directly, turned into flowtide's config, lock, store and registry.

dvc     dvc.yaml + params.yaml + dvc.lock + ``*.dvc`` → flowtide.yaml, flowtide.lock, the store
gto     GTO's git tags (``name@vX.Y.Z``, ``name#stage#N``) → flowtide.registry events
(CML steps in CI files are found by :mod:`flowtide.workflows.cml`, which `import dvc` and `doctor` point at
``flowtide ci generate``.)

Neither DVC nor GTO is imported: flowtide does not depend on them.
"""

from __future__ import annotations

import importlib
from typing import Any

_API: dict[str, str] = {
    "import_dvc": "dvc",
    "DvcImport": "dvc",
    "import_gto": "gto",
    "GtoImport": "gto",
}

__all__ = list(_API)


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'flowtide.importers' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
