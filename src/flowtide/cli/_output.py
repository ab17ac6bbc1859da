"""Rendering helpers shared by commands: JSON, plain lines, rich tables (rich imported lazily)."""

from __future__ import annotations

import json
import sys
from typing import Any


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def table(
    title: str | None,
    columns: list[str],
    rows: list[list[Any]],
    *,
    keep: list[str] | tuple[str, ...] = (),
    under: list[str] | tuple[str, ...] = (),
):
    """The one table style: at the console's width, ``keep`` columns (ids, versions, hashes) and numbers never
    cut, columns empty in every row dropped, ``under`` columns (long messages) printed below their row."""
    from flowtide.report.terminal import RichTable

    return RichTable(
        title, columns, [["" if c is None else str(c) for c in row] for row in rows], keep=keep, under=under
    )


SHORT_COMMIT = 10
"""Characters of a git commit shown in tables (what `git log --oneline` accepts back)."""
DIRTY = "*"
"""The one marker of a commit with uncommitted changes, in every table; DIRTY_NOTE explains it under the table."""
DIRTY_NOTE = "* the working tree had uncommitted changes"


def commit_label(commit: str | None, dirty: bool = False) -> str:
    return (commit or "")[:SHORT_COMMIT] + (DIRTY if dirty and commit else "")


def add_json_flag(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def load_project(args):
    """The Project for ``-C DIR`` (or the current directory)."""
    from flowtide.project import Project

    return Project.load(args.project)


def print_markdown(text: str) -> None:
    """Print Markdown, and append it to the job summary when running in GitHub Actions."""
    import os

    sys.stdout.write(text)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(text + "\n")


def render_report(report, args, *, extra_json: dict | None = None) -> None:
    """Render a Report as the flags ask: ``--html FILE`` as well, then ``--json``, ``--md`` or a terminal table."""
    if getattr(args, "html", None):
        from flowtide.atomic import atomic_write

        atomic_write(args.html, report.to_html(), fsync=False)
    if getattr(args, "json", False):
        print_json({**report.to_dict(), **(extra_json or {})})
    elif getattr(args, "md", False):
        print_markdown(report.to_markdown())
    else:
        report.render_terminal(console())


def human_size(size: int) -> str:
    """A byte count as people read it: 512 B, 3.9 KiB, 1.0 GiB."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
