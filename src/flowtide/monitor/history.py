"""Monitor results over time: one JSON line per `flowtide monitor` run in .flowtide/monitor/history.jsonl.

The dashboard draws live performance, traffic and drift across runs from it. Appending is one
``write`` of one line (:func:`flowtide.atomic.append_line`: a torn last line from a killed run is
skipped when read back and cut off by the next append).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..project import Project
    from . import MonitorResult

HISTORY = Path("monitor") / "history.jsonl"


def history_path(project: Project) -> Path:
    return project.state_dir / HISTORY


def record(result: MonitorResult, *, since: float, until: float) -> dict[str, Any]:
    """What one monitor run found, as plain data: verdict, traffic, live metric and drift per version."""
    report = result.report
    versions = []
    for table in report.tables:
        if table.title.startswith("Served versions"):
            versions = [dict(zip(table.columns, row, strict=False)) for row in table.rows]
    return {
        "time": until,
        "since": since,
        "verdict": report.verdict,
        "reason": report.reason,
        "title": report.title,
        "predictions": report.summary.get("predictions", 0),
        "labelled": report.summary.get("labelled", 0),
        "drifted": result.drifted,
        "versions": versions,
        "canary": [
            {"model": v.model, "canary": v.canary, "verdict": v.verdict, "scores": v.scores} for v in result.verdicts
        ],
        "actions": result.actions,
        # the bounds the report drew (monitor.performance, drift threshold), so the dashboard draws them too
        "thresholds": {c.y_label: c.thresholds for c in report.charts if c.thresholds},
    }


def append(project: Project, entry: dict[str, Any]) -> None:
    """One line per run; a torn last line a killed run left is cut off first, so it cannot swallow this one."""
    from ..atomic import append_line

    path = history_path(project)
    path.parent.mkdir(parents=True, exist_ok=True)
    append_line(path, (json.dumps(entry, sort_keys=True, default=str) + "\n").encode(), fsync=False)


def read(project: Project) -> list[dict[str, Any]]:
    """Every recorded monitor run, oldest first; lines that are not a record are skipped."""
    path = history_path(project)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("time"), (int, float)):
            out.append(entry)
    return sorted(out, key=lambda e: e["time"])
