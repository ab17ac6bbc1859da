"""The model registry: versions of a model with lineage, and the stage each one is in.

The registry is one committed file, ``flowtide.registry``: an append-only log of
JSON events (register / promote / rollback), one per line with sorted keys, so a
promotion is a readable one-line diff. The state (which version is in which
stage) is derived by replaying the log. Each registered version also gets a git
tag ``<model>@v<N>`` on the commit it was built from, when the project is a repo.
"""

from __future__ import annotations

from .lineage import actor, is_git_repo, now, read_gate_results, read_metrics
from .log import (
    BRIEF_FIELDS,
    GATE_RESULTS,
    REGISTRY_FILE,
    STAGES,
    SUMMARY_TAIL,
    Registry,
    Version,
    append_events,
    brief,
    briefs,
    parse_version,
)
from .operations import promote, register, rollback
from .snapshot import summary

__all__ = [
    "BRIEF_FIELDS",
    "GATE_RESULTS",
    "REGISTRY_FILE",
    "STAGES",
    "SUMMARY_TAIL",
    "Registry",
    "Version",
    "actor",
    "append_events",
    "brief",
    "briefs",
    "is_git_repo",
    "now",
    "parse_version",
    "promote",
    "read_gate_results",
    "read_metrics",
    "register",
    "rollback",
    "summary",
]
