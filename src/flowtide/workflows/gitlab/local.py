"""`flowtide ci simulate --run` for GitLab: run the simulated pipelines with gitlab-ci-local, offline.

Each pipeline runs in a fresh clone of the project (what a runner checks out: committed files
only), every job in a copy of its own (`--shell-isolation`), on the shell (no Docker). The bot
pushes to the project's `origin` (``FLOWTIDE_REMOTE``); secrets and inputs reach the jobs as
CI/CD variables through a private variables file, never on a command line.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from flowtide.errors import UsageError

from ..act import isolated
from ..check import find_binary
from .simulate import SOURCES, pipeline_variables

if TYPE_CHECKING:
    from flowtide.project import Project

    from ..simulate import Simulation

VERSION = "4.60.1"  # the last release that runs on Node 20 (Debian's); `make tools` installs it
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LOOP = re.compile(r"FLOWTIDE_SCHEDULE=(\w+)")


def binary(root: Path | None = None) -> str:
    """gitlab-ci-local on PATH, next to this Python, or in a `.tools` npm prefix (the project's or the cwd's)."""
    found = find_binary("gitlab-ci-local")
    if found:
        return found
    for base in (root, Path.cwd()):
        candidate = base / ".tools" / "node_modules" / ".bin" / "gitlab-ci-local" if base else None
        if candidate and candidate.is_file():
            return str(candidate)
    raise UsageError(
        "gitlab-ci-local not found on PATH, next to this Python, or in .tools/node_modules/.bin",
        hint=f"Install it with `npm install --prefix .tools gitlab-ci-local@{VERSION}` (and `apt-get install rsync`).",
    )


def _origin(root: Path) -> str:
    proc = subprocess.run(["git", "remote", "get-url", "origin"], cwd=root, capture_output=True, text=True)
    url = proc.stdout.strip()
    if proc.returncode != 0 or not url:
        raise UsageError(
            f"{root} has no git remote `origin` for the bot's commits to go to",
            hint="Add one (a bare repository works: `git remote add origin ../project.git`).",
        )
    if "://" not in url and ":" not in url.split("/", 1)[0]:  # a path: gitlab-ci-local would copy it as a file
        url = (root / url).resolve().as_uri()
    return url


def _variables_file(path: Path, variables: dict[str, str]) -> None:
    """gitlab-ci-local's project variables file (YAML), readable by this user only."""
    import json

    for name in variables:
        if not _NAME.match(name):
            raise UsageError(f"variable name {name!r} must use letters, digits and _ (not starting with a digit)")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        # JSON strings are YAML double-quoted scalars
        handle.writelines(f"{name}: {json.dumps(value)}\n" for name, value in variables.items())


def command(project: Project, clone: Path, home: Path, *, manual: list[str] | None = None) -> list[str]:
    args = [
        binary(project.root),
        # run in the clone (subprocess cwd): gitlab-ci-local takes only a relative --cwd
        "--home",
        str(home),
        "--shell-isolation",
        "--shell-executor-no-image",
        "--no-color",
        "--max-job-name-padding",
        "0",
    ]
    if project.config.ci.image:
        # no container engine here: jobs with an image run on the shell too (trusted: the project's own file)
        args.append("--force-shell-executor")
    for job in manual or []:
        args += ["--manual", job]
    return args


def run(
    project: Project,
    simulation: Simulation,
    *,
    inputs: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    isolate: bool = True,
    manual: list[str] | None = None,
    jobs: list[str] | None = None,
    timeout: float = 900,
    **_: object,
) -> Simulation:
    """Run every fired pipeline with gitlab-ci-local; append one record per pipeline to ``simulation.runs``.

    ``inputs`` and ``secrets`` become CI/CD variables; ``manual`` names manual jobs to play
    (`production`: the approval, given here by whoever runs this); ``jobs`` runs only those jobs
    (without the jobs they need); ``isolate`` runs it in a
    network namespace with only loopback when the OS allows it.
    """
    if not shutil.which("rsync"):
        raise UsageError("gitlab-ci-local needs rsync (it copies each job's files)", hint="apt-get install rsync")
    remote = _origin(project.root)
    work = project.state_dir / "tmp" / "gitlab"
    shutil.rmtree(work, ignore_errors=True)
    try:
        for number, plan in enumerate(simulation.fired):
            match = _LOOP.search(plan.file)
            event_vars = pipeline_variables(simulation.event, simulation.branch, match.group(1) if match else None)
            variables = {
                "CI_PIPELINE_SOURCE": SOURCES[simulation.event],
                **{k: v for k, v in event_vars.items() if k.startswith("FLOWTIDE_")},
                "FLOWTIDE_REMOTE": remote,
                **(inputs or {}),
                **(secrets or {}),
            }
            clone = work / f"pipeline-{number}"
            subprocess.run(["git", "clone", "--quiet", str(project.root), str(clone)], check=True, capture_output=True)
            subprocess.run(["git", "checkout", "--quiet", "-B", simulation.branch, "HEAD"], cwd=clone, check=True)
            variables_file = work / f"variables-{number}.yml"
            _variables_file(variables_file, variables)
            # beside the clone, not in it (each job's copy would carry it); gitlab-ci-local wants it relative
            relative = os.path.relpath(variables_file, clone)
            args = [*command(project, clone, work / "home", manual=manual), "--variables-file", relative, *(jobs or [])]
            proc = subprocess.run(
                isolated(args) if isolate else args,
                cwd=clone,
                env={**os.environ, **(env or {})},
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            simulation.runs.append(
                {"workflow": plan.file, "returncode": proc.returncode, "output": proc.stdout + proc.stderr}
            )
    finally:
        # each job's copy holds a virtualenv as big as an installed flowtide; the variables file holds secrets
        shutil.rmtree(work, ignore_errors=True)
    return simulation
