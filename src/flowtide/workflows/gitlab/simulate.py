"""`flowtide ci simulate` for GitLab: which jobs of `.gitlab-ci.yml` a pipeline gets, from its rules.

The events map to GitLab's pipeline sources: push, pull_request (a merge-request pipeline),
schedule and workflow_dispatch ("Run pipeline", `web`). A schedule or a manual run of the loop
carries `FLOWTIDE_SCHEDULE` (data or monitor; `--workflow` picks it). `workflow:rules` and each
job's `rules:` are evaluated as GitLab does: the first rule whose `if:` (and `changes:`) match
decides, `when: never` excludes; `changes:` is always true outside push and merge-request pipelines.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from flowtide.errors import UsageError

from ..simulate import EVENTS, JobPlan, Simulation, WorkflowPlan, glob_match
from .pipeline import GITLAB_FILE

if TYPE_CHECKING:
    from flowtide.project import Project

SOURCES = {"push": "push", "pull_request": "merge_request_event", "schedule": "schedule", "workflow_dispatch": "web"}
LOOPS = ("data", "monitor")
_NOT_JOBS = {"workflow", "stages", "variables", "default", "include", "image", "services", "cache", "spec"}
_NOT_JOBS |= {"before_script", "after_script"}


# --- GitLab's `rules:if` expressions ------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<var>\$\{?[A-Za-z_][A-Za-z0-9_]*\}?)|(?P<str>\"[^\"]*\"|'[^']*')|(?P<re>/(?:\\.|[^/])*/[a-z]*)"
    r"|(?P<op>==|!=|=~|!~|&&|\|\||\(|\))|(?P<null>null))"
)


def _tokens(expression: str) -> list[tuple[str, str]]:
    out, position = [], 0
    while position < len(expression.rstrip()):
        match = _TOKEN.match(expression, position)
        if not match:
            raise UsageError(f"cannot read the rule expression {expression!r} at {expression[position:]!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        position = match.end()
    return out


def evaluate(expression: str, variables: dict[str, str]) -> bool:
    """The truth of a `rules:if` expression with ``variables`` defined (others are null)."""
    tokens = _tokens(expression)
    position = 0

    def peek() -> tuple[str, str] | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal position
        position += 1
        return tokens[position - 1]

    def operand(token: tuple[str, str]) -> Any:
        kind, text = token
        if kind == "var":
            return variables.get(text.strip("${}"))
        if kind == "str":
            return text[1:-1]
        if kind == "null":
            return None
        return text  # a regex, as written

    def comparison() -> bool:
        token = take()
        if token == ("op", "("):
            value = disjunction()
            take()  # ")"
            return value
        left = operand(token)
        following = peek()
        if following and following[0] == "op" and following[1] in ("==", "!=", "=~", "!~"):
            op = take()[1]
            right = operand(take())
            if op in ("==", "!="):
                return (left == right) == (op == "==")
            pattern, _, flags = str(right)[1:].rpartition("/")
            found = left is not None and re.search(pattern, left, re.I if "i" in flags else 0) is not None
            return found == (op == "=~")
        return bool(left)

    def conjunction() -> bool:
        value = comparison()
        while peek() == ("op", "&&"):
            take()
            value = comparison() and value
        return value

    def disjunction() -> bool:
        value = conjunction()
        while peek() == ("op", "||"):
            take()
            value = conjunction() or value
        return value

    return disjunction()


def _decide(rules: list[dict] | None, variables: dict[str, str], paths: list[str] | None) -> tuple[str, str]:
    """(when, why) for a rules list: when is never, on_success, manual, always, delayed."""
    if rules is None:
        return "on_success", "no rules"
    for rule in rules:
        rule = rule or {}
        if "if" in rule and not evaluate(str(rule["if"]), variables):
            continue
        if "changes" in rule and variables.get("CI_PIPELINE_SOURCE") in ("push", "merge_request_event"):
            patterns = rule["changes"]
            patterns = patterns.get("paths", []) if isinstance(patterns, dict) else patterns
            if paths is not None and not any(glob_match([str(p) for p in patterns], path) for path in paths):
                continue
        why = f"rule {rule.get('if', '(always)')}"
        if "changes" in rule and paths is not None and variables.get("CI_PIPELINE_SOURCE") == "push":
            why += " with a matching change"
        return str(rule.get("when", "on_success")), why
    return "never", "no rule matches"


# --- plans ------------------------------------------------------------------------------------


def load(root) -> dict[str, Any]:
    from ruamel.yaml import YAML

    path = root / GITLAB_FILE
    if not path.is_file():
        raise UsageError(f"no {GITLAB_FILE} in {root}", hint="Run `flowtide ci generate` to write it.")
    data = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise UsageError(f"{path} is not a mapping of jobs", hint="Run `flowtide ci generate` to write it again.")
    return data


def pipeline_variables(event: str, branch: str, loop: str | None) -> dict[str, str]:
    """The predefined variables GitLab sets for such a pipeline (and the loop's own)."""
    source = SOURCES[event]
    variables = {"CI_PIPELINE_SOURCE": source, "CI_DEFAULT_BRANCH": branch}
    if source == "merge_request_event":
        variables["CI_MERGE_REQUEST_TARGET_BRANCH_NAME"] = branch
    else:
        variables["CI_COMMIT_BRANCH"] = branch
    if loop:
        variables["FLOWTIDE_SCHEDULE"] = loop
    return variables


def simulate(
    project: Project,
    event: str,
    *,
    paths: list[str] | None = None,
    branch: str | None = None,
    workflow: str | None = None,
) -> Simulation:
    """The pipelines ``event`` creates (a schedule: one per loop kind, or ``workflow``'s) and their jobs."""
    if event not in EVENTS:
        raise UsageError(f"unknown event {event!r}", hint=f"Use one of: {', '.join(EVENTS)}.")
    if workflow is not None and workflow not in LOOPS:
        raise UsageError(
            f"no GitLab loop {workflow!r}: --workflow is the FLOWTIDE_SCHEDULE of a scheduled or manual pipeline",
            hint=f"Use one of: {', '.join(LOOPS)}.",
        )
    data = load(project.root)
    branch = branch or project.config.ci.default_branch
    if event == "schedule":
        loops: list[str | None] = [workflow] if workflow else list(LOOPS)
    else:
        loops = [workflow] if event == "workflow_dispatch" and workflow else [None]
    result = Simulation(event=event, branch=branch, paths=paths)
    for loop in loops:
        variables = pipeline_variables(event, branch, loop)
        label = f"{GITLAB_FILE} ({SOURCES[event]}" + (f", FLOWTIDE_SCHEDULE={loop})" if loop else ")")
        when, why = _decide((data.get("workflow") or {}).get("rules"), variables, paths)
        plan = WorkflowPlan(file=label, name="pipeline", fired=when != "never", reason=why)
        if plan.fired:
            plan.jobs = _jobs(data, variables, paths)
            if not plan.jobs:
                plan.fired, plan.reason = False, "no job's rules match: GitLab creates no pipeline"
        result.workflows.append(plan)
    return result


def _jobs(data: dict[str, Any], variables: dict[str, str], paths: list[str] | None) -> list[JobPlan]:
    plans: list[JobPlan] = []
    for name, job in data.items():
        if name in _NOT_JOBS or str(name).startswith(".") or not isinstance(job, dict):
            continue
        when, _ = _decide(job.get("rules"), variables, paths)
        if when == "never":
            continue
        plans.append(
            JobPlan(
                id=str(name),
                name=str(job.get("stage", "test")),
                needs=[str(n if isinstance(n, str) else n.get("job")) for n in job.get("needs") or []],
                condition=None if when == "on_success" else when,
            )
        )
    present = {plan.id for plan in plans}
    optional = {
        str(n.get("job"))
        for job in data.values()
        if isinstance(job, dict)
        for n in job.get("needs") or []
        if isinstance(n, dict) and n.get("optional")
    }
    for plan in plans:  # an optional need on a job this pipeline lacks is no need at all
        plan.needs = [n for n in plan.needs if n in present or n not in optional]
    return plans
