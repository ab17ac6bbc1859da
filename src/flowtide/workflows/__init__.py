"""Generated CI workflows (GitHub Actions): generate, check, simulate with act, and the maturity doctor.

The submodules are the API: ``generate.generate/render``, ``check.check``,
``simulate.simulate/run`` and ``doctor.doctor`` (not re-exported here, so a
function never shadows the module of the same name).
"""

from __future__ import annotations

from .generate import WORKFLOW_DIR, WORKFLOW_FILES, GenerateResult, generate, render

__all__ = ["WORKFLOW_DIR", "WORKFLOW_FILES", "GenerateResult", "generate", "render"]
