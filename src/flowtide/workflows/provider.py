"""Which CI system the files are for: one render, generate, check, simulate and run per provider.

``ci.provider`` in flowtide.yaml picks it (github, gitlab, forgejo); every function here
takes ``provider=`` to override it (`flowtide ci generate --provider gitlab`). Each
provider's own modules do the work: GitHub's are ``generate``/``check``/``simulate``/``act``,
GitLab's are ``gitlab/``. Forgejo's workflows are GitHub's adapted (``forgejo/``), so Forgejo takes
GitHub's path with a config whose `ci.provider` says forgejo.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowtide.errors import UsageError

if TYPE_CHECKING:
    from flowtide.config import Config
    from flowtide.project import Project
    from flowtide.report import Report

    from .generate import GenerateResult
    from .simulate import Simulation

PROVIDERS = ("github", "gitlab", "forgejo")


def resolve(config: Config, provider: str | None = None) -> str:
    """``provider`` (validated) or the config's `ci.provider`."""
    if provider is None:
        return config.ci.provider
    if provider not in PROVIDERS:
        raise UsageError(f"unknown CI provider {provider!r}", hint=f"Use one of: {', '.join(PROVIDERS)}.")
    return provider


def render(config: Config, provider: str | None = None) -> dict[str, str]:
    """``{relative path: text}`` of every file the provider's CI needs."""
    name = resolve(config, provider)
    if name == "gitlab":
        from .gitlab import pipeline

        return pipeline.render(config)
    from . import generate

    return generate.render(_as(config, name))


def _as(config: Config, name: str) -> Config:
    """``config`` with `ci.provider` set to ``name`` (GitHub's and Forgejo's renderers read it)."""
    if config.ci.provider == name:
        return config
    import dataclasses

    return dataclasses.replace(config, ci=dataclasses.replace(config.ci, provider=name))


def _project_as(project: Project, name: str) -> Project:
    import dataclasses

    config = _as(project.config, name)
    return project if config is project.config else dataclasses.replace(project, config=config)


def generated(root: Path, provider: str) -> list[str]:
    """Files on disk that flowtide generated for ``provider`` (they carry its header)."""
    if provider == "gitlab":
        from .gitlab import pipeline

        path = root / pipeline.GITLAB_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except (FileNotFoundError, UnicodeDecodeError):
            return []
        return [pipeline.GITLAB_FILE] if text.startswith(f"# {pipeline.HEADER}\n") else []
    if provider == "forgejo":
        from .generate import left_over

        return left_over(root, {}, ".forgejo/workflows")
    if provider == "github":
        from . import dependabot
        from .generate import left_over

        ours = left_over(root, {})
        try:
            text: str | None = (root / dependabot.DEPENDABOT).read_text(encoding="utf-8")
        except FileNotFoundError:
            text = None
        # flowtide's dependabot.yml only keeps the workflows' action pins current: it goes with them
        return [*ours, dependabot.DEPENDABOT] if ours and text is not None and dependabot.is_ours(text) else ours
    return []


def _others(root: Path, provider: str) -> list[str]:
    return [rel for other in PROVIDERS if other != provider for rel in generated(root, other)]


def generate(project: Project, *, provider: str | None = None, write: bool = True) -> GenerateResult:
    """Write the provider's files; with the configured provider, remove what flowtide generated for another one.

    An override (``provider=`` differing from `ci.provider`) only writes: trying a provider out
    leaves the configured one's files alone.
    """
    from flowtide.atomic import write_if_changed

    from . import generate as github

    name = resolve(project.config, provider)
    if name in ("github", "forgejo"):
        result = github.generate(_project_as(project, name), write=write)
    else:
        result = github.GenerateResult(files=render(project.config, name))
        for rel, text in result.files.items():
            path = project.root / rel
            same = path.is_file() and path.read_text(encoding="utf-8") == text
            if (write and write_if_changed(path, text)) or (not write and not same):
                result.changed.append(rel)
            else:
                result.unchanged.append(rel)
    if name == project.config.ci.provider:
        for rel in _others(project.root, name):
            if write:
                _remove(project.root, rel)
            result.removed.append(rel)
    return result


def _remove(root: Path, rel: str) -> None:
    """Delete a file flowtide generated, and the directories it leaves empty (.forgejo/workflows, .forgejo)."""
    path = root / rel
    path.unlink(missing_ok=True)
    for parent in path.parents:
        if parent == root:
            break
        try:
            parent.rmdir()  # only when empty
        except OSError:
            break


def check(project: Project, *, provider: str | None = None, lint: bool = True) -> Report:
    """Are the provider's files what flowtide.yaml generates, and valid? (One finding per file.)"""
    from flowtide.report import Finding

    name = resolve(project.config, provider)
    if name == "gitlab":
        from .gitlab.check import check as check_gitlab

        report = check_gitlab(project, lint=lint)
    else:
        from .check import check as check_github

        report = check_github(_project_as(project, name), lint=lint)
    if name == project.config.ci.provider:
        for rel in _others(project.root, name):
            report.findings.append(
                Finding(
                    "fail",
                    rel,
                    "up-to-date",
                    f"generated for another CI provider, but ci.provider is {name}: run `flowtide ci generate`, "
                    "which removes it",
                )
            )
    return report


def simulate(project: Project, event: str, *, provider: str | None = None, **options: Any) -> Simulation:
    """What ``event`` runs: the workflows and jobs (GitHub) or the pipeline's jobs (GitLab)."""
    name = resolve(project.config, provider)
    if name == "gitlab":
        from .gitlab.simulate import simulate as simulate_gitlab

        return simulate_gitlab(project, event, **options)
    from .simulate import simulate as simulate_github

    return simulate_github(_project_as(project, name), event, **options)


def run(project: Project, simulation: Simulation, *, provider: str | None = None, **options: Any) -> Simulation:
    """Run what ``simulation`` fired, locally: act for GitHub and Forgejo, gitlab-ci-local for GitLab."""
    name = resolve(project.config, provider)
    if name == "gitlab":
        from .gitlab.local import run as run_gitlab

        return run_gitlab(project, simulation, **options)
    from .act import run as run_act

    return run_act(_project_as(project, name), simulation, **options)
