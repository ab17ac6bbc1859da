"""Generated CI files (GitHub Actions, GitLab CI): generate, check, simulate and run locally, and the doctor.

The submodules are the API: ``provider`` picks the CI system (`ci.provider`, or ``provider=``)
and dispatches to its ``render/generate/check/simulate/run``; GitHub's are ``generate``,
``check``, ``simulate`` and ``act`` (each workflow's builder a module of ``github/``), GitLab's
are in ``gitlab/``; ``doctor.doctor`` grades either. Nothing is re-exported here under a submodule's name, so
``import flowtide.workflows.generate`` always yields the module.
"""

from __future__ import annotations

from .generate import WORKFLOW_DIR, WORKFLOW_FILES, GenerateResult, render

__all__ = ["WORKFLOW_DIR", "WORKFLOW_FILES", "GenerateResult", "render"]
