"""Forgejo (and Gitea) Actions: the same loop as the GitHub workflows, in ``.forgejo/workflows/``.

``render(config)`` gives the files; ``generate``, ``check``, ``simulate`` and ``doctor`` pick
them when ``ci.provider`` is ``forgejo``. What differs from GitHub and why is docs/forgejo.md:
the called workflows are inlined (``inline``), and production is an approver's dispatch
(``adapt``).
"""

from __future__ import annotations

from .adapt import APPROVERS_VARIABLE, BOT_EMAIL, BOT_NAME
from .render import WORKFLOW_DIR, WORKFLOW_FILES, render

__all__ = ["APPROVERS_VARIABLE", "BOT_EMAIL", "BOT_NAME", "WORKFLOW_DIR", "WORKFLOW_FILES", "render"]
