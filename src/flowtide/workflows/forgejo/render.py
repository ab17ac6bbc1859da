"""Render the Forgejo Actions workflows: the GitHub builders' output, adapted, with the called workflows inlined."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._yaml import HEADER, Comment, dump
from ..github import ci, data, deploy, monitor, train
from . import adapt
from .inline import flatten, prune, resolve_top_level

if TYPE_CHECKING:
    from flowtide.config import Config

WORKFLOW_DIR = ".forgejo/workflows"
WORKFLOW_FILES = ("ci.yml", "data.yml", "train.yml", "deploy.yml", "monitor.yml")

_NOTE = (
    "Forgejo Actions: the called workflows' jobs are inlined (see docs/forgejo.md); `permissions`\n"
    "is kept for GitHub-compatible tools, Forgejo's automatic token writes to this repository"
)


def render(config: Config) -> dict[str, str]:
    """``{".forgejo/workflows/ci.yml": text, ...}`` for ``config`` (the caller validated the CI settings)."""
    if config.ci.token == "app":
        raise config.error(
            "ci.token: app asks for a GitHub App token, which Forgejo does not have; no workflows written",
            "ci",
            "token",
            hint="Remove `token: app` (the automatic token commits and pushes on Forgejo), then run "
            "`flowtide ci generate` again.",
        )
    github = {
        "ci.yml": adapt.ci(ci.build(config), config),
        "data.yml": data.build(config),
        "train.yml": train.build(config),
        "deploy.yml": adapt.deploy(deploy.build(config), config),
    }
    if config.model is not None:  # no model, no monitor.yml (as on GitHub)
        github["monitor.yml"] = adapt.monitor(monitor.build(config), config)
    github = {name: adapt.jobs(workflow, config) for name, workflow in github.items()}
    callable_ = {**github, "deploy.yml": adapt.for_inlining(github["deploy.yml"])}
    files = {}
    for name, workflow in github.items():
        jobs = adapt.tidy(prune(resolve_top_level(workflow, flatten({**callable_, name: workflow}, name))))
        out = adapt.drop_calls(workflow)
        out = {Comment(_NOTE): None, **{k: (jobs if k == "jobs" else v) for k, v in out.items()}}
        files[f"{WORKFLOW_DIR}/{name}"] = dump(out, header=HEADER)
    return files
