"""`flowtide ci simulate`: which workflows and jobs an event fires, and (with --run) run them with act.

Triggers are evaluated the way GitHub does: `on:` event names, `branches` /
`branches-ignore` and `paths` / `paths-ignore` filters with GitHub's glob
syntax (``*`` stops at ``/``, ``**`` does not, ``!`` negates, last match
wins), and reusable-workflow chains (`uses: ./.github/workflows/X.yml`).
Running them is `workflows/act.py`.
"""

from __future__ import annotations

import functools
import re
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowtide.errors import UsageError

from .generate import WORKFLOW_DIR, workflow_dir

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


def load_workflows(root: Path, directory: str = WORKFLOW_DIR) -> dict[str, dict]:
    """Every workflow file under ``directory`` (.github/workflows), parsed as YAML 1.2 (so `on:` stays a string)."""
    from flowtide.config import cached_by_stat

    found: dict[str, dict] = {}
    for path in sorted([*(root / directory).glob("*.yml"), *(root / directory).glob("*.yaml")]):
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
    directory = workflow_dir(project.config)
    workflows = load_workflows(project.root, directory)
    if not workflows:
        raise UsageError(
            f"no workflows in {project.root / directory}", hint="Run `flowtide ci generate` to write them."
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
