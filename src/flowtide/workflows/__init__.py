"""Generated CI workflows (GitHub Actions): generate, check, simulate with act, and the maturity doctor.

The submodules are the API: ``generate.generate/render``, ``check.check``,
``simulate.simulate``, ``act.run`` and ``doctor.doctor``; each workflow's builder is a
module of ``github/``. Nothing is re-exported here under a submodule's name, so
``import flowtide.workflows.generate`` always yields the module.
"""

from __future__ import annotations

from .generate import WORKFLOW_DIR, WORKFLOW_FILES, GenerateResult, render

__all__ = ["WORKFLOW_DIR", "WORKFLOW_FILES", "GenerateResult", "render"]
