"""Metrics files (JSON or YAML) read from the working tree or from a git revision."""

from __future__ import annotations

import json
import os
import subprocess
from typing import TYPE_CHECKING, Any

from .fingerprint import flatten

if TYPE_CHECKING:
    from ..project import Project


def parse(text: bytes, path: str) -> dict[str, Any]:
    """Flattened numeric-or-scalar metrics of one file; {} if it does not parse."""
    try:
        if path.endswith((".yaml", ".yml")):
            from ..config import parse_yaml

            data, _ = parse_yaml(text, path)
        else:
            data = json.loads(text)
    except Exception:
        return {}
    return flatten(data) if isinstance(data, dict) else {}


def read_at(project: Project, rev: str | None, path: str) -> bytes | None:
    """Bytes of a project file in the working tree (rev None) or at a git revision."""
    if rev is None:
        try:
            with open(os.path.join(project.root, path), "rb") as handle:
                return handle.read()
        except OSError:
            return None
    proc = subprocess.run(["git", "show", f"{rev}:./{path}"], cwd=project.root, capture_output=True)
    return proc.stdout if proc.returncode == 0 else None


def metrics_files(project: Project) -> list[str]:
    from .dag import norm

    seen: dict[str, None] = {}
    for stage in project.config.stages.values():
        for path in stage.metrics:
            seen.setdefault(norm(path), None)
    return list(seen)


def collect(project: Project, rev: str | None = None) -> dict[str, dict[str, Any]]:
    """path → flattened metrics for every declared metrics file that exists."""
    found = {}
    for path in metrics_files(project):
        raw = read_at(project, rev, path)
        if raw is not None:
            found[path] = parse(raw, path)
    return found


def merged(per_file: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One flat mapping; a name defined in two files is kept as ``file:name`` for the later one."""
    out: dict[str, Any] = {}
    for path, values in per_file.items():
        for key, value in values.items():
            out[f"{path}:{key}" if key in out else key] = value
    return out
