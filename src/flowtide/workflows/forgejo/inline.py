"""Inline called workflows into their callers: one self-contained workflow file per trigger.

Forgejo runs a reusable workflow (`jobs.<id>.uses: ./.forgejo/workflows/X.yml`) either
*expanded* into jobs of the caller's run, which takes no `with:` or `secrets:` and returns no
outputs, or, when the calling job also names a `runs-on`, inside that one job; a `runs-on`
beside `uses:` is in turn refused by GitHub's schema, actionlint and nektos/act. The flowtide
chain needs inputs (the commit to train, the version to deploy), so neither form fits. The
called workflow's jobs are copied into the caller instead: its ``inputs.*`` become the
caller's ``with:`` values (expressions or literals), its ``needs`` are renamed, and each copied
job also needs what the calling job needed and runs only when the calling job's ``if`` holds.
"""

from __future__ import annotations

import re
from typing import Any

from .._yaml import Comment, Q, Trailing

_EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)
_WHOLE = re.compile(r"^\$\{\{(.*)\}\}$", re.S)
_INPUT = re.compile(r"(?<![\w.-])inputs\.([A-Za-z_][A-Za-z0-9_-]*)")
_NEEDS = re.compile(r"(?<![\w.-])needs\.([A-Za-z_][A-Za-z0-9_-]*)")
_LOCAL = re.compile(r"^\./\.github/workflows/([A-Za-z0-9_.-]+\.ya?ml)$")


def triggers(workflow: dict) -> dict:
    return workflow.get("on") or {}


def call_inputs(workflow: dict) -> dict[str, dict]:
    return (triggers(workflow).get("workflow_call") or {}).get("inputs") or {}


def literal(value: Any) -> str:
    """``value`` as an expression literal (strings single-quoted, quotes doubled)."""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return "'" + str(value if value is not None else "").replace("'", "''") + "'"


_ATOM = r"(?:true|false|'(?:[^']|'')*'|[A-Za-z_][\w.-]*)"
_FOLDS = (
    (re.compile(rf"\(\s*({_ATOM})\s*\)"), lambda m: m.group(1)),
    (
        re.compile(r"'((?:[^']|'')*)'\s*(==|!=)\s*'((?:[^']|'')*)'"),
        lambda m: "true" if (m.group(1) == m.group(3)) == (m.group(2) == "==") else "false",
    ),
    (re.compile(r"(?<![\w.'-])true\s*&&\s*"), lambda m: ""),
    (re.compile(r"\s*&&\s*true(?![\w.'-])"), lambda m: ""),
    (re.compile(r"(?<![\w.'-])''\s*\|\|\s*"), lambda m: ""),
    (re.compile(rf"(?<![\w.'-])false\s*&&\s*{_ATOM}(?![\w.'-])(?!\s*(?:==|!=|<|>))"), lambda m: "false"),
    (re.compile(r"(?<![\w.'-])false\s*\|\|\s*"), lambda m: ""),
    # a truthy literal first: `'a' || anything` is 'a' (`||` binds loosest, left to right)
    (re.compile(r"^\s*('(?:[^']|'')+')\s*\|\|.*$", re.S), lambda m: m.group(1)),
)


def fold(expression: str) -> str:
    """``expression`` with what inlining made constant worked out (``'a' == 'a'``, ``true && X``, ``'' || X``).

    Only these few rewrites, each valid wherever it matches; ``false`` alone (or ``false && ...``
    without any ``||``) marks a step or job that can never run.
    """
    while True:
        before = expression
        for pattern, replace in _FOLDS:
            expression = pattern.sub(replace, expression)
        expression = _outer_parens(expression.strip())
        if expression == before:
            return expression


def _outer_parens(expression: str) -> str:
    if not (expression.startswith("(") and expression.endswith(")")):
        return expression
    depth = 0
    for index, char in enumerate(expression):
        depth += char == "("
        depth -= char == ")"
        if depth == 0 and index < len(expression) - 1:
            return expression  # `(a) && (b)`: the first parenthesis closes early
    return expression[1:-1].strip()


def never(expression: str | None) -> bool:
    """Whether an ``if:`` can never hold once folded."""
    if not expression:
        return False
    folded = fold(expression)
    return folded == "false" or (re.match(r"^false\s*&&", folded) is not None and "||" not in folded)


def fragment(value: Any) -> str:
    """A caller's ``with:`` value as an expression fragment: ``${{ E }}`` gives ``(E)``, anything else a literal."""
    text = value.value if isinstance(value, Trailing) else value
    if isinstance(text, str):
        whole = _WHOLE.match(text.strip())
        if whole and "${{" not in whole.group(1):
            inner = whole.group(1).strip()
            return inner if re.fullmatch(_ATOM, inner) else f"({inner})"
        if "${{" in text:
            raise ValueError(f"cannot inline a `with:` value that mixes text and expressions: {text!r}")
    return literal(text)


def _unwrap(fragment_text: str) -> str | None:
    """The literal's text when ``fragment_text`` is a plain string literal, else None."""
    if len(fragment_text) >= 2 and fragment_text[0] == fragment_text[-1] == "'":
        inner = fragment_text[1:-1]
        if "'" not in inner.replace("''", ""):
            return inner.replace("''", "'")
    return None


def substitute(value: Any, inputs: dict[str, str], needs: dict[str, str], *, condition: bool = False) -> Any:
    """``value`` with ``inputs.NAME`` replaced by ``inputs[NAME]`` and ``needs.ID`` renamed, inside expressions.

    ``condition`` marks an ``if:`` value, which is an expression as a whole.
    """
    if isinstance(value, dict):
        return {
            key: (val if isinstance(key, Comment) else substitute(val, inputs, needs, condition=key == "if"))
            for key, val in value.items()
        }
    if isinstance(value, list):
        return [substitute(item, inputs, needs) for item in value]
    if isinstance(value, Trailing):
        return Trailing(substitute(value.value, inputs, needs), value.comment)
    if not isinstance(value, str):
        return value

    def rewrite(expression: str) -> str:
        changed = _INPUT.sub(lambda m: inputs.get(m.group(1), m.group(0)), expression)
        changed = _NEEDS.sub(lambda m: "needs." + needs.get(m.group(1), m.group(1)), changed)
        return fold(changed) if changed != expression else expression

    def embedded(match: re.Match) -> str:
        expression = match.group(1)
        changed = rewrite(expression)
        if changed == expression:
            return match.group(0)
        plain = _unwrap(changed)  # `${{ 'weather' }}` is just weather
        return plain if plain is not None else "${{ " + changed + " }}"

    text = rewrite(value) if condition and "${{" not in value else _EXPRESSION.sub(embedded, value)
    return Q(text) if isinstance(value, Q) else text


def _needs_list(job: dict) -> list[str]:
    needs = job.get("needs")
    if needs is None:
        return []
    return [needs] if isinstance(needs, str) else list(needs)


def _set_needs(job: dict, needs: list[str]) -> dict:
    """``job`` with ``needs`` placed where GitHub's key order has it (before ``if``), one name as a string."""
    out: dict[Any, Any] = {}
    placed = False
    for key, value in job.items():
        if key == "needs":
            continue
        if not placed and key not in ("name",) and needs:
            out["needs"] = needs[0] if len(needs) == 1 else needs
            placed = True
        out[key] = value
    if not placed and needs:
        out["needs"] = needs[0] if len(needs) == 1 else needs
    return out


def _and(outer: str | None, inner: str | None) -> str | None:
    if not outer:
        return inner
    if not inner:
        return outer
    # `&&` binds looser than comparisons and tighter than `||`: only a part with `||` needs parentheses
    return " && ".join(f"({part})" if "||" in part else part for part in (outer, inner))


def flatten(workflows: dict[str, dict], name: str, *, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """The jobs of ``workflows[name]`` with every local reusable-workflow call replaced by the called jobs.

    ``inputs.*`` of ``name`` itself are left for its own caller (or the top level) to resolve.
    """
    jobs: dict[str, Any] = {}
    own = workflows[name].get("jobs") or {}
    for job_id, job in own.items():
        uses = job.get("uses")
        match = _LOCAL.match(str(uses.value if isinstance(uses, Trailing) else uses or ""))
        if not match:
            jobs[job_id] = job
            continue
        called = match.group(1)
        if called in seen or called not in workflows:
            raise ValueError(f"{name}: job {job_id} calls {called}, which cannot be inlined")
        declared = call_inputs(workflows[called])
        given = job.get("with") or {}
        values = {
            key: fragment(given[key]) if key in given else literal(spec.get("default", ""))
            for key, spec in declared.items()
        }
        inner = flatten(workflows, called, seen=(*seen, name))
        taken = set(own) | set(jobs)
        rename = {
            inner_id: inner_id if inner_id == job_id or inner_id not in taken else f"{job_id}-{inner_id}"
            for inner_id in inner
        }
        outer_needs = _needs_list(job)
        for inner_id, inner_job in inner.items():
            copied = substitute(inner_job, values, rename)
            needs = [*outer_needs, *(rename.get(n, n) for n in _needs_list(inner_job))]
            copied = _set_needs(copied, list(dict.fromkeys(needs)))
            condition = _and(job.get("if"), copied.get("if"))
            condition = fold(condition) if condition else condition
            if condition:
                copied = _with_if(copied, condition)
            jobs[rename[inner_id]] = copied
    return jobs


def _with_if(job: dict, condition: str) -> dict:
    out: dict[Any, Any] = {}
    for key, value in job.items():
        if key == "if":
            continue
        out[key] = value
        if key == "needs" or (key == "name" and "needs" not in job):
            out["if"] = condition
    if "if" not in out:
        out = {"if": condition, **out}
    return out


def resolve_top_level(workflow: dict, jobs: dict[str, Any]) -> dict[str, Any]:
    """``jobs`` of a workflow that is no longer called: inputs only `workflow_call` declared take their defaults."""
    dispatched = (triggers(workflow).get("workflow_dispatch") or {}).get("inputs") or {}
    values = {
        key: literal(spec.get("default", "")) for key, spec in call_inputs(workflow).items() if key not in dispatched
    }
    return {job_id: substitute(job, values, {}) for job_id, job in jobs.items()}


def prune(jobs: dict[str, Any]) -> dict[str, Any]:
    """``jobs`` without the steps and jobs whose ``if`` can never hold (and the jobs that need those)."""
    dead = {job_id for job_id, job in jobs.items() if never(job.get("if"))}
    while True:
        more = {job_id for job_id, job in jobs.items() if job_id not in dead and dead & set(_needs_list(job))}
        if not more:
            break
        dead |= more
    out: dict[str, Any] = {}
    for job_id, job in jobs.items():
        if job_id in dead:
            continue
        if "steps" in job:
            job = {**job, "steps": [step for step in job["steps"] if not never(step.get("if"))]}
        out[job_id] = job
    return out
