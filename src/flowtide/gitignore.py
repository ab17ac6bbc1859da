"""Keep paths out of git: add anchored ``/path`` lines to the project's .gitignore, idempotently.

A path counts as ignored already when a .gitignore inside the repository matches
it (asked of git itself, so ``models/`` or ``*.skops`` covers ``models/m.skops``);
a user's global excludes file or ``.git/info/exclude`` does not count, because a
teammate's clone would not share it. The user's lines are never removed or
reordered: missing rules are appended under one comment.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from .atomic import write_if_changed

if TYPE_CHECKING:
    from .config import Stage

OUTPUTS_COMMENT = "stage outputs: their bytes live in the flowtide store, flowtide.lock records their hashes"


def ignore(
    root: Path,
    paths: list[str],
    comment: str,
    *,
    tmp_dir: str | os.PathLike[str] | None = None,
) -> list[str]:
    """Append ``/path`` to ``root/.gitignore`` for each of ``paths`` git does not ignore yet; the lines added."""
    path = root / ".gitignore"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    present = {line.strip() for line in text.splitlines()}
    wanted: list[str] = []
    for rel in paths:
        rel = PurePosixPath(rel.strip("/")).as_posix()
        line = f"/{rel}"
        outside = rel in (".", "") or rel.split("/")[0] == ".."  # not this .gitignore's to say
        if outside or {line, rel, f"{line}/", f"{rel}/"} & present or line in wanted:
            continue
        wanted.append(line)
    if not wanted:
        return []
    covered = _ignored_by_repository(root, [line[1:] for line in wanted])
    added = [line for line in wanted if line[1:] not in covered]
    if not added:
        return []
    if text and not text.endswith("\n"):
        text += "\n"
    write_if_changed(path, text + f"# {comment}\n" + "\n".join(added) + "\n", tmp_dir=tmp_dir)
    return added


def stage_outputs(stages: Iterable[Stage]) -> list[str]:
    """The ``outs`` of ``stages`` that no stage also lists as metrics or plots (those files are committed)."""
    stages = list(stages)
    committed = {path for stage in stages for path in (*stage.metrics, *stage.plots)}
    return [out for stage in stages for out in stage.outs if out not in committed]


def _ignored_by_repository(root: Path, paths: list[str]) -> set[str]:
    """Which of ``paths`` (relative to ``root``) a .gitignore of the repository already ignores.

    Outside a git repository (or without git) nothing is: the caller falls back to exact lines.
    """
    try:
        proc = subprocess.run(
            ["git", "check-ignore", "--no-index", "--verbose", "--non-matching", "-z", "--stdin"],
            cwd=root,
            input="\0".join(paths) + "\0",
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return set()
    if proc.returncode not in (0, 1):
        return set()
    fields = proc.stdout.split("\0")
    covered = set()
    # -z --verbose: SOURCE NUL LINENUM NUL PATTERN NUL PATHNAME NUL per path (empty source: not matched)
    for i in range(0, len(fields) - 3, 4):
        source, _, pattern, name = fields[i : i + 4]
        if not source or pattern.startswith("!") or os.path.isabs(source) or source.startswith(("~", "..")):
            continue
        if PurePosixPath(source).name == ".gitignore":
            covered.add(name)
    return covered
