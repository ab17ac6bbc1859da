"""``init``: turn a git repository into a flowtide project, or scaffold an example project.

Writes a commented flowtide.yaml, params.yaml, a Makefile, a .gitignore for
``.flowtide/`` and a tests/ skeleton (or copies the whole example tree). A file
that already exists is never overwritten without ``force``; .gitignore only
gains the lines it lacks. The result lists what was written and what skipped.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .atomic import atomic_write, write_if_changed
from .config import CONFIG_FILE, LOCK_FILE, STATE_DIR
from .errors import FlowtideError, UsageError

TEMPLATES = Path(__file__).parent / "templates" / "init"
# example project templates (package data; read as files so init does not import the examples layer)
EXAMPLES = Path(__file__).parent / "examples"
GITIGNORE_LINES = [".flowtide/"]
# never copied out of an example template: local state of someone who ran it in place
_SKIP_NAMES = {STATE_DIR, LOCK_FILE, "__pycache__", ".pytest_cache", ".ruff_cache", ".venv", ".git"}
_SKIP_SUFFIXES = (".pyc", ".pyo")


@dataclass
class InitResult:
    root: Path
    written: list[str] = field(default_factory=list)
    """Files created (or overwritten with ``force``), relative to ``root``."""
    skipped: list[str] = field(default_factory=list)
    """Files that existed and were left alone."""
    updated: list[str] = field(default_factory=list)
    """Files that gained lines (.gitignore)."""
    git_initialized: bool = False
    example: str | None = None

    def to_dict(self) -> dict:
        return {
            "root": str(self.root),
            "written": self.written,
            "skipped": self.skipped,
            "updated": self.updated,
            "git_initialized": self.git_initialized,
            "example": self.example,
        }


def init(
    directory: str | os.PathLike[str] | None = None,
    *,
    example: str | None = None,
    force: bool = False,
    project_name: str | None = None,
) -> InitResult:
    """Scaffold a flowtide project in ``directory`` (default: the current directory)."""
    root = Path(directory or os.getcwd()).absolute()
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root} exists and is not a directory")
    root.mkdir(parents=True, exist_ok=True)
    result = InitResult(root=root, example=example)
    result.git_initialized = _ensure_git(root)
    if example:
        _copy_example(example, root, force, result)
    else:
        name = project_name or _project_name(root)
        for template in _walk(TEMPLATES):
            rel = template.relative_to(TEMPLATES).as_posix()
            if rel == "gitignore":
                continue
            text = template.read_text(encoding="utf-8").replace("{{project}}", name)
            _write(root, rel, text.encode("utf-8"), force, result)
    _merge_gitignore(root, result)
    _write_workflows(root, result)
    return result


def _write_workflows(root: Path, result: InitResult) -> None:
    """The GitHub Actions workflows (.github/workflows), generated from the flowtide.yaml just written."""
    from .config import load_config
    from .workflows.generate import render

    for rel, text in render(load_config(root, use_cache=False)).items():
        _write(root, rel, text.encode("utf-8"), False, result)


# --- helpers -------------------------------------------------------------------------


def _ensure_git(root: Path) -> bool:
    """``git init`` the directory unless it is already inside a repository; say whether it did."""
    try:
        inside = subprocess.run(
            ["git", "rev-parse", "--is-inside-work-tree"], cwd=root, capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise FlowtideError(
            "git is not installed", hint="flowtide keeps its state in git; install git first."
        ) from None
    if inside.returncode == 0 and inside.stdout.strip() == "true":
        return False
    proc = subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, capture_output=True, text=True, check=False)
    if proc.returncode != 0:  # git older than 2.28 has no -b
        proc = subprocess.run(["git", "init", "-q"], cwd=root, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise FlowtideError(f"`git init` failed in {root}: {proc.stderr.strip()}")
    return True


def _project_name(root: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", root.name).strip("-.") or "project"
    return name if name[0].isalpha() else f"p-{name}"


def _walk(base: Path):
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_NAMES)
        for filename in sorted(filenames):
            if filename in _SKIP_NAMES or filename.endswith(_SKIP_SUFFIXES):
                continue
            yield Path(dirpath) / filename


def _write(root: Path, rel: str, data: bytes, force: bool, result: InitResult, mode: int | None = None) -> None:
    dest = root / rel
    if dest.exists() or dest.is_symlink():
        if not force:
            result.skipped.append(rel)
            return
        if dest.is_dir():
            raise UsageError(f"{rel} is a directory; init will not replace it even with --force")
    atomic_write(dest, data)
    if mode is not None:
        os.chmod(dest, mode)
    result.written.append(rel)


def _copy_example(example: str, root: Path, force: bool, result: InitResult) -> None:
    source = EXAMPLES / example
    if not re.fullmatch(r"[A-Za-z0-9_-]+", example) or not (source / CONFIG_FILE).is_file():
        raise UsageError(f"unknown example {example!r}", hint=f"Available examples: {', '.join(example_names())}.")
    for template in _walk(source):
        rel = template.relative_to(source).as_posix()
        if rel == ".gitignore":
            continue  # merged line by line below, never overwritten
        _write(root, rel, template.read_bytes(), force, result, mode=template.stat().st_mode & 0o777)
    ignore = source / ".gitignore"
    _merge_gitignore(root, result, ignore.read_text(encoding="utf-8").splitlines() if ignore.is_file() else None)


def example_names() -> list[str]:
    return sorted(p.name for p in EXAMPLES.iterdir() if (p / CONFIG_FILE).is_file())


def _merge_gitignore(root: Path, result: InitResult, lines: list[str] | None = None) -> None:
    """Create .gitignore, or append the rules it lacks (never removes or reorders a user's lines)."""
    path = root / ".gitignore"
    wanted = lines if lines is not None else (TEMPLATES / "gitignore").read_text(encoding="utf-8").splitlines()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        atomic_write(path, "\n".join(wanted) + "\n")
        if ".gitignore" not in result.written:
            result.written.append(".gitignore")
        return
    present = {line.strip() for line in text.splitlines()}
    missing = [line for line in wanted if line.strip() and not line.startswith("#") and line.strip() not in present]
    if not missing:
        return
    if text and not text.endswith("\n"):
        text += "\n"
    write_if_changed(path, text + "# flowtide\n" + "\n".join(missing) + "\n")
    if ".gitignore" not in result.written + result.updated:
        result.updated.append(".gitignore")
