"""``init``: turn a git repository into a flowtide project, or scaffold an example project.

Writes a commented flowtide.yaml, params.yaml, a Makefile, a .gitignore for
``.flowtide/`` and the stage outputs, and a tests/ skeleton (or copies the whole
example tree). In an existing repository it leaves what works working: a file
that already exists is never overwritten without ``force``; no pytest.ini or
ruff.toml beside a pytest or ruff configuration they would override; a user's
Makefile only gains, in a marked block, the targets the workflows call and it
lacks; .gitignore only gains the lines it lacks. The result lists what was
written, updated, kept and skipped, and why.

(The module is ``scaffold``, not ``init``: a submodule named like a public
function would replace ``flowtide.init`` once imported.)
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import makefile, toolconfig
from .atomic import atomic_write, write_if_changed
from .config import CONFIG_FILE, LOCK_FILE, STATE_DIR
from .errors import FlowtideError, UsageError
from .gitignore import OUTPUTS_COMMENT, ignore, stage_outputs

if TYPE_CHECKING:
    from .config import Config

TEMPLATES = Path(__file__).parent / "templates" / "init"
# example project templates (package data; read as files so init does not import the examples layer)
EXAMPLES = Path(__file__).parent / "examples"
GITIGNORE_LINES = [".flowtide/"]
# never copied out of an example template: local state of someone who ran it in place
_SKIP_NAMES = {STATE_DIR, LOCK_FILE, "__pycache__", ".pytest_cache", ".ruff_cache", ".venv", ".git"}
_SKIP_SUFFIXES = (".pyc", ".pyo")
# a tool's own config file that would silently win over the repository's existing settings of that tool
_TOOL_FILES = {"pytest.ini": "pytest", "ruff.toml": "ruff"}


@dataclass
class InitResult:
    root: Path
    written: list[str] = field(default_factory=list)
    """Files created (or overwritten with ``force``), relative to ``root``."""
    skipped: list[str] = field(default_factory=list)
    """Files that existed and were left alone."""
    updated: list[str] = field(default_factory=list)
    """Files that gained lines (.gitignore, a user's Makefile)."""
    kept: list[str] = field(default_factory=list)
    """The repository's own settings init left in charge, one sentence each."""
    notes: list[str] = field(default_factory=list)
    """What init deliberately did not do, and when it will."""
    reasons: dict[str, str] = field(default_factory=dict)
    """Why (or with what) a file in ``updated`` changed."""
    git_initialized: bool = False
    example: str | None = None

    def to_dict(self) -> dict:
        return {
            "root": str(self.root),
            "written": self.written,
            "skipped": self.skipped,
            "updated": self.updated,
            "kept": self.kept,
            "notes": self.notes,
            "reasons": self.reasons,
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
    top = _git_top(root)
    if example:
        _copy_example(example, root, force, result, top)
    else:
        name = project_name or _project_name(root)
        for template in _walk(TEMPLATES):
            rel = template.relative_to(TEMPLATES).as_posix()
            if rel == "gitignore":
                continue
            text = template.read_text(encoding="utf-8").replace("{{project}}", name)
            _write_template(root, rel, text.encode("utf-8"), force, result, top)
    from .config import load_config

    config = load_config(root, use_cache=False)
    if "Makefile" in result.skipped:
        _complete_makefile(root, config, result)
    _merge_gitignore(root, result)
    _ignore_outputs(root, config, result)
    _write_workflows(root, config, result)
    return result


def _write_workflows(root: Path, config: Config, result: InitResult) -> None:
    """The CI files of `ci.provider` (GitHub Actions workflows by default), generated from the flowtide.yaml."""
    from .workflows import dependabot
    from .workflows.generate import WORKFLOW_DIR, WORKFLOW_FILES, render

    if config.ci.provider != "github":
        from .workflows import provider

        for rel, text in provider.render(config).items():
            _write(root, rel, text.encode("utf-8"), False, result)
        return
    files = render(config)
    for rel, text in {**files, dependabot.DEPENDABOT: dependabot.render()}.items():
        _write(root, rel, text.encode("utf-8"), False, result)
    left_out = [name for name in WORKFLOW_FILES if f"{WORKFLOW_DIR}/{name}" not in files]
    if "monitor.yml" in left_out:
        result.notes.append(
            "no monitor.yml: flowtide.yaml declares no model to monitor; `flowtide ci generate` writes it "
            "once a model: section exists"
        )


# --- an existing repository --------------------------------------------------------


def _write_template(root: Path, rel: str, data: bytes, force: bool, result: InitResult, top: Path | None) -> None:
    """``_write``, except where the repository's own files already do the template's job."""
    tool = _TOOL_FILES.get(rel)
    if tool:
        existing = toolconfig.find(root, tool, top=top)
        if existing is not None and existing.path != root / rel:
            result.kept.append(f"your {existing.describe(root)} (no {rel}: it would override it)")
            return
    if rel == "Makefile":
        current = makefile.find(root)
        if current is not None and (current.name != "Makefile" or not force):
            result.skipped.append(rel)  # completed with the targets the workflows call once the config is known
            return
    _write(root, rel, data, force, result)


def _complete_makefile(root: Path, config: Config, result: InitResult) -> None:
    """Add the targets the workflows call that the user's Makefile lacks; keep every target it has."""
    path = makefile.find(root)
    assert path is not None
    update = makefile.add_missing(root, config, _makefile_recipes(root), _makefile_preamble())
    result.skipped.remove("Makefile")
    if update.added:
        result.updated.append(path.name)
        result.reasons[path.name] = f"added {', '.join(update.added)}: the generated workflows call them"
    else:
        result.skipped.append(path.name)
    if update.kept:
        result.kept.append(f"your {path.name} targets {', '.join(update.kept)} (the workflows run them as they are)")
    for target, key in update.unknown.items():
        result.notes.append(
            f"{path.name} has no target {target!r}, which {key} in flowtide.yaml runs: add it, or change {key}"
        )


def _makefile_preamble() -> list[str]:
    """The template Makefile's variables; ``?=`` keeps a value the user's Makefile already sets."""
    from . import __version__
    from .workflows.install import PACKAGE

    return [
        "PYTHON ?= python3",
        f"FLOWTIDE_REQUIREMENT ?= {PACKAGE}=={__version__}",
        "PIP_INSTALL ?= $(if $(shell $(PYTHON) -m uv --version 2>/dev/null),$(PYTHON) -m uv pip install --quiet "
        "--python $(PYTHON),$(PYTHON) -m pip install --quiet)",
    ]


def _makefile_recipes(root: Path) -> dict[str, list[str]]:
    """What the template's install / lint / test do, for a repository whose own tools may differ."""
    from .workflows.install import TOOLS

    install = ['@$(PYTHON) -c "import flowtide" 2>/dev/null || $(PIP_INSTALL) "$(FLOWTIDE_REQUIREMENT)"']
    if (root / "requirements.txt").is_file():
        install.append("$(PIP_INSTALL) -r requirements.txt")
    if _is_package(root):
        install.append("$(PIP_INSTALL) -e .")
    # a repository's own requirements may not pin the tools: install the pinned one on first use
    ruff, pytest = (f"{name}=={TOOLS[name]}" for name in ("ruff", "pytest"))
    return {
        "install": install,
        "lint": [
            f'@$(PYTHON) -m ruff --version >/dev/null 2>&1 || $(PIP_INSTALL) "{ruff}"',
            "$(PYTHON) -m ruff check .",
        ],
        "test": [
            f'@$(PYTHON) -m pytest --version >/dev/null 2>&1 || $(PIP_INSTALL) "{pytest}"',
            "$(PYTHON) -m pytest -q",
        ],
    }


def _is_package(root: Path) -> bool:
    """An installable project (its tests import it): a pyproject.toml with [project] or [build-system], or setup.py."""
    if (root / "setup.py").is_file():
        return True
    pyproject = root / "pyproject.toml"
    return toolconfig.has_section(pyproject, "[project]") or toolconfig.has_section(pyproject, "[build-system]")


def _ignore_outputs(root: Path, config: Config, result: InitResult) -> None:
    """Stage outputs (their bytes live in the store) and a store kept inside the project stay out of git."""
    added = ignore(root, stage_outputs(config.stages.values()), OUTPUTS_COMMENT)
    store = Path(config.store.path)
    if not store.is_absolute() and Path(os.path.normpath(store)).parts[:1] != ("..",):
        added += ignore(root, [store.as_posix()], "flowtide's local store (store.path): blobs, never committed")
    if added:
        if ".gitignore" not in result.written + result.updated:
            result.updated.append(".gitignore")
        previous = result.reasons.get(".gitignore")
        result.reasons[".gitignore"] = (f"{previous}, " if previous else "added ") + ", ".join(added)


# --- helpers -------------------------------------------------------------------------


def _git_top(root: Path) -> Path | None:
    proc = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=root, capture_output=True, text=True)
    return Path(proc.stdout.strip()) if proc.returncode == 0 and proc.stdout.strip() else None


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


def _copy_example(example: str, root: Path, force: bool, result: InitResult, top: Path | None) -> None:
    source = EXAMPLES / example
    if not re.fullmatch(r"[A-Za-z0-9_-]+", example) or not (source / CONFIG_FILE).is_file():
        raise UsageError(f"unknown example {example!r}", hint=f"Available examples: {', '.join(example_names())}.")
    for template in _walk(source):
        rel = template.relative_to(source).as_posix()
        if rel == ".gitignore":
            continue  # merged line by line below, never overwritten
        mode = template.stat().st_mode & 0o777
        if rel in _TOOL_FILES or rel == "Makefile":
            _write_template(root, rel, template.read_bytes(), force, result, top)
        else:
            _write(root, rel, template.read_bytes(), force, result, mode=mode)
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
        result.reasons[".gitignore"] = "added " + ", ".join(missing)
