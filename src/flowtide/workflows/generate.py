"""Emit the GitHub Actions workflows (ci, data, train, deploy, monitor) from the project config.

Every workflow stays thin: each step is a flowtide command or a Makefile target
that also runs on a laptop. The output is a pure function of flowtide.yaml, so
re-running `flowtide ci generate` is byte-identical and `flowtide ci check` can
tell when config and workflows drifted apart.

This module renders and writes the set; each workflow's builder is its own module
in ``github/`` (``ci``, ``data``, ``train``, ``deploy``, ``monitor``). ``generate`` also
writes ``.github/dependabot.yml`` and keeps the newer action pins Dependabot proposes
(``dependabot.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import dependabot
from ._yaml import HEADER, dump
from .github import ci, data, deploy, monitor, train
from .install import install_spec

if TYPE_CHECKING:
    from flowtide.config import Config
    from flowtide.project import Project

WORKFLOW_DIR = ".github/workflows"
WORKFLOW_FILES = ("ci.yml", "data.yml", "train.yml", "deploy.yml", "monitor.yml")


@dataclass
class GenerateResult:
    files: dict[str, str] = field(default_factory=dict)
    """Relative path -> content of every workflow (and of .github/dependabot.yml unless it is the user's)."""
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    """Workflows flowtide wrote earlier that flowtide.yaml no longer asks for (monitor.yml without a model)."""
    kept: list[str] = field(default_factory=list)
    """Files the user owns that flowtide would otherwise write (a dependabot.yml without flowtide's header)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "changed": self.changed,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "kept": self.kept,
            "files": sorted(self.files),
        }


def generate(project: Project, *, write: bool = True) -> GenerateResult:
    """Render every workflow and (with ``write``) write those whose bytes changed, atomically."""
    from flowtide.atomic import write_if_changed

    if project.config.ci.provider == "forgejo":  # no Dependabot on Forgejo
        result = GenerateResult(files=render(project.config))
    else:
        result = GenerateResult(files=dependabot.keep_newer_pins(project.root, render(project.config)))
        if dependabot.is_ours(_read(project.root / dependabot.DEPENDABOT)):
            result.files[dependabot.DEPENDABOT] = dependabot.render()
        else:
            result.kept.append(dependabot.DEPENDABOT)
    for rel, text in result.files.items():
        if (write and write_if_changed(project.root / rel, text)) or (not write and _read(project.root / rel) != text):
            result.changed.append(rel)
        else:
            result.unchanged.append(rel)
    for rel in left_over(project.root, result.files, workflow_dir(project.config)):
        if write:
            (project.root / rel).unlink()
        result.removed.append(rel)
    return result


def left_over(root: Path, files: dict[str, str], directory: str = WORKFLOW_DIR) -> list[str]:
    """Workflow files flowtide generated (its header says so) under ``directory`` that ``files`` no longer has; a
    user's are not. Files of another provider's directory are ``provider.generate``'s to remove."""
    names = [f"{directory}/{name}" for name in WORKFLOW_FILES]
    return [rel for rel in names if rel not in files and (_read(root / rel) or "").startswith(f"# {HEADER}\n")]


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def render(config: Config) -> dict[str, str]:
    """``{".github/workflows/ci.yml": text, ...}`` for ``config``."""
    _validate(config)
    if config.ci.provider == "forgejo":
        from .forgejo import render as forgejo_render

        return forgejo_render(config)
    builders = {
        "ci.yml": ci.build,
        "data.yml": data.build,
        "train.yml": train.build,
        "deploy.yml": deploy.build,
        "monitor.yml": monitor.build,
    }
    return {
        f"{WORKFLOW_DIR}/{name}": dump(builders[name](config), header=HEADER)
        for name in WORKFLOW_FILES
        # no model, nothing to monitor: an hourly monitor.yml would only fail, ~720 times a month
        if name != "monitor.yml" or config.model is not None
    }


def workflow_dir(config: Config) -> str:
    """Where ``config``'s CI provider reads its workflows."""
    return ".forgejo/workflows" if config.ci.provider == "forgejo" else WORKFLOW_DIR


def _validate(config: Config) -> None:
    """What only writing workflows refuses; the CI settings themselves were checked when flowtide.yaml loaded."""
    install_spec(config)
    _refuse_losses(config)


def _refuse_losses(config: Config) -> None:
    """No workflow that would lose what it makes with its throw-away runner: say what keeps it instead.

    All or nothing: data.yml and monitor.yml call train.yml, so a partial set would not even validate.
    """
    if config.store.remote:
        return
    if config.model is not None and config.model.storage != "git":
        raise config.error(
            f"model {config.model.name!r} would be lost in CI: a runner's store dies with the runner and there is "
            "no `store.remote`, so the versions train.yml registers could never be deployed; no workflows written",
            "model",
            hint="Keep models where they outlive the runner, either in a remote store:\n"
            "  store: {remote: s3://BUCKET/PREFIX}   # + repository secrets AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY\n"
            f"or, for artifacts up to model.git_max_mb ({config.model.git_max_mb:g} MB), in train.yml's bot commit:\n"
            "  model: {..., storage: git}\n"
            "then run `flowtide ci generate` again.",
        )
    lost = sorted(name for name, source in config.sources.items() if source.storage == "store")
    if lost:
        raise config.error(
            f"sources {', '.join(lost)} use `storage: store` without a `store.remote`: data.yml would commit their "
            "hashes and lose their bytes with the runner; no workflows written",
            "sources",
            lost[0],
            "storage",
            hint="Add `store: {remote: s3://BUCKET/PREFIX}`, or use `storage: git` for files small enough to commit.",
        )
