"""Quality gates: rules a candidate model must pass before it may reach production.

A rule is ``METRIC OP BOUND`` where BOUND is a number (``accuracy >= 0.8``),
relative to the production version (``f1_macro >= production - 0.02``) or to
another metric of the same run, such as a naive baseline (``f1_macro >=
baseline_f1_macro + 0.05``); its grammar lives in :mod:`flowtide.config.rules`
and is checked when the config loads, so a typo fails every command, not just
this one. Production's side of a relative rule is production re-scored on the
candidate's evaluation data (:mod:`.rescore`), or, when that is impossible, the
metrics recorded at its registration, with a warning that says why. Model tests
(pytest files marked ``model``) run as one more rule. The result is saved under
``.flowtide/gate.json`` keyed by the artifact's hash, so ``flowtide register``
records exactly the verdict of the bytes it registers; the report itself is also
written to ``.flowtide/reports/gate.{json,md,html}``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..atomic import atomic_write
from ..config.rules import Rule, parse_rule
from ..errors import UsageError
from ..report import Finding, Report, Table
from .lineage import now, read_gate_results, read_metrics
from .log import GATE_RESULTS, Registry
from .rescore import Baseline, baseline

if TYPE_CHECKING:
    from ..project import Project

_OPS = {
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
    "==": lambda a, b: abs(a - b) <= 1e-12 * max(1.0, abs(a), abs(b)),
}


def parse_rules(project: Project) -> list[Rule]:
    """The ``gates:`` rules, parsed (their grammar was checked when the config loaded)."""
    return [parse_rule(text, index) for index, text in enumerate(project.config.gates)]


def evaluate(
    project: Project,
    *,
    run_tests: bool = True,
    rescore: bool = True,
    log: Callable[[str], None] | None = None,
) -> Report:
    """Judge the current metrics (and model tests) against ``gates:``; save the verdict for register.

    ``rescore``: compare relative rules with production re-scored on the candidate's
    evaluation data (False: with its recorded metrics). ``log`` hears of a re-score that runs.
    """
    config = project.config
    model = config.model
    rules = parse_rules(project)
    metrics = read_metrics(project)
    if rules and not metrics:
        files = [m for stage in config.stages.values() for m in stage.metrics]
        raise UsageError(
            f"no metrics to judge: none of the stages' metrics files exist ({', '.join(files) or 'no `metrics:` declared'})",
            hint="Run `flowtide run` first; stages declare their metrics files under `metrics:`.",
        )
    for rule in rules:
        for metric in (rule.metric, rule.against) if rule.against else (rule.metric,):
            if metric not in metrics:
                raise config.error(
                    f"gate {rule.text!r}: unknown metric {metric!r}",
                    "gates",
                    rule.index,
                    hint=f"The current metrics are: {', '.join(sorted(metrics))}.",
                )
            value = metrics[metric]
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise config.error(
                    f"gate {rule.text!r}: metric {metric!r} is {value!r}, not a number", "gates", rule.index
                )
    name = model.name if model else config.project
    production = Registry.load(project).in_stage(model.name, "production") if model else None
    findings: list[Finding] = []
    base_line: Baseline | None = None
    relative = sorted({rule.metric for rule in rules if rule.relative})
    if production is not None and relative:
        base_line = baseline(project, production, relative, enabled=rescore, log=log)
        findings.append(_comparison_finding(name, base_line, rescore))
    for rule in rules:
        value = metrics[rule.metric]
        details = {"metric": rule.metric, "op": rule.op, "relative": rule.relative}
        if rule.relative and base_line is not None:
            details["comparison"] = base_line.comparison
        if rule.against:
            details["against"] = rule.against
        if rule.relative and production is None:
            findings.append(
                Finding(
                    "pass",
                    name,
                    rule.text,
                    "no production version yet: relative rule passes",
                    value=value,
                    details=details,
                )
            )
            continue
        base = base_line.metrics.get(rule.metric) if rule.relative else None
        if rule.relative and not _number(base):
            findings.append(
                Finding(
                    "warn",
                    name,
                    rule.text,
                    f"production v{production.version} recorded no {rule.metric!r}: nothing to compare with"
                    if not base_line.rescored
                    else f"production v{production.version} re-scored gave no number for {rule.metric!r}",
                    value=value,
                    details=details,
                )
            )
            continue
        against = ""
        if rule.relative:
            recorded = production.metrics.get(rule.metric)
            against = f" ({base_line.describe()}: {base:.4g}"
            if base_line.rescored and _number(recorded):
                against += f"; recorded at registration: {recorded:.4g}"
            against += ")"
            details["production"] = base
            details["production_recorded"] = recorded
        elif rule.against:
            base = metrics[rule.against]
            against = f" ({rule.against}: {base:.4g})"
        bound = rule.bound(base)
        ok = _OPS[rule.op](value, bound)
        message = f"{rule.metric} = {value:.4g} {'satisfies' if ok else 'violates'} {rule.op} {bound:.4g}{against}"
        findings.append(
            Finding("pass" if ok else "fail", name, rule.text, message, value=value, bound=bound, details=details)
        )
    tests_result = None
    if run_tests and model and model.tests:
        tests_result = run_model_tests(project, model.tests)
        findings.append(tests_result)
    rows = []
    against = base_line.metrics if base_line is not None else production.metrics if production else {}
    for metric in sorted(metrics):
        if not _number(metrics[metric]):
            continue  # strings and lists are recorded, not compared
        prod = against.get(metric)
        delta = metrics[metric] - prod if _number(prod) else None
        row = [metric, metrics[metric], prod, delta]
        if base_line is not None and base_line.rescored:
            row.append(production.metrics.get(metric))
        rows.append(row)
    columns = ["metric", "candidate", "production", "delta"]
    title = "Metrics vs production"
    if base_line is not None:
        title += f" ({base_line.describe()})"
        if base_line.rescored:
            columns.append("production recorded")
    artifact = _artifact_hash(project)
    summary = {
        "model": name,
        "artifact": artifact[:12] if artifact else "missing",
        "production": f"v{production.version}" if production else "none",
    }
    if base_line is not None:
        summary["compared with"] = base_line.describe() + (" (cached)" if base_line.cached else "")
    summary["rules"] = len(rules)
    summary["model tests"] = _tests_summary(tests_result, model.tests if model else [], run_tests)
    report = Report(
        kind="gate",
        title=f"Gate for model {name}",
        findings=findings,
        tables=[Table(title, columns, rows)] if rows else [],
        summary=summary,
    )
    if artifact:
        _save(project, artifact, report, metrics, tests_ran=bool(tests_result) or not (model and model.tests))
    report.write(project.state_dir / "reports", "gate")  # for CI artifacts, like check's reports
    return report


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _comparison_finding(name: str, base_line: Baseline, rescore: bool) -> Finding:
    """What production's side of the relative rules is; a warning when it is not the same data."""
    version = base_line.version.version
    if base_line.rescored:
        how = f"with stage {base_line.stage!r}" + (", from the cache" if base_line.cached else "")
        message = f"{base_line.describe()} ({how}): both sides of the relative rules scored on the same data"
        return Finding("info", name, "same data", message, value=base_line.rows, details=base_line.to_dict())
    return Finding(
        "warn" if rescore else "info",
        name,
        "same data",
        f"production v{version} not re-scored on the candidate's evaluation data: {base_line.reason}; "
        "relative rules compare with its metrics recorded at registration, on other data",
        details=base_line.to_dict(),
    )


def _tests_summary(result: Finding | None, tests: list[str], run_tests: bool) -> str:
    if not tests:
        return "none declared"
    if not run_tests:
        return "skipped"
    return result.status if result else "not run"


def _artifact_hash(project: Project) -> str | None:
    model = project.config.model
    if model is None:
        return None
    path = project.resolve(model.path, "model path")
    if not path.is_file():
        return None
    digest, _ = project.stat_cache.hash(path, key=model.path)
    project.stat_cache.save()
    return digest


def _save(project: Project, artifact: str, report: Report, metrics: dict[str, Any], *, tests_ran: bool) -> None:
    rules = [
        {"rule": f.rule, "status": f.status, "value": f.value, "bound": f.bound, "message": f.message}
        for f in report.findings
    ]
    entry = {"passed": report.ok and tests_ran, "evaluated": True, "at": now(), "rules": rules, "metrics": metrics}
    if not tests_ran:
        entry["message"] = "model tests were skipped (--no-tests): run `flowtide gate` with them before registering"
    with project.mutex("gate", timeout=60):
        results = read_gate_results(project)
        results.pop(artifact, None)
        results[artifact] = entry
        for old in list(results)[:-50]:  # keep the recent verdicts only
            results.pop(old)
        atomic_write(project.state_dir / GATE_RESULTS, json.dumps(results, indent=1, sort_keys=True, default=str))


def _require_pytest(project: Project) -> None:
    """Model tests run with pytest, which is the project's tool, not flowtide's: say how to install it."""
    from importlib.util import find_spec

    if find_spec("pytest") is not None:
        return
    pinned = None
    for path in sorted(project.root.glob("requirements*.txt")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            words = line.split("#", 1)[0].split()
            if words and words[0].lower().startswith("pytest=="):
                pinned = (path.name, words[0])
                break
        if pinned:
            break
    how = f"pip install -r {pinned[0]} (it pins {pinned[1]})" if pinned else "pip install pytest"
    raise UsageError(
        f"model.tests in flowtide.yaml are pytest files, and pytest is not installed in this environment "
        f"({sys.executable}); the gate did not run and its previous verdict is unchanged",
        hint=f"Install it with: {how}; or run `flowtide gate --no-tests` (a verdict without the model tests is not registrable).",
    )


def run_model_tests(project: Project, tests: list[str]) -> Finding:
    """Run ``pytest -m model`` on the declared files in a subprocess; one Finding with the failures."""
    for rel in tests:
        if not project.resolve(rel, "model test path").exists():
            raise project.config.error(f"model test path {rel!r} does not exist", "model", "tests")
    _require_pytest(project)
    rule = "pytest -m model " + " ".join(tests)
    with tempfile.TemporaryDirectory(prefix="flowtide-gate-") as tmp:
        junit = Path(tmp) / "junit.xml"
        command = [sys.executable, "-m", "pytest", "-m", "model", "-q", "-p", "no:cacheprovider"]
        command += ["-W", "ignore::pytest.PytestUnknownMarkWarning", f"--junitxml={junit}", *tests]
        env = {**os.environ, **dict(project.env), "FLOWTIDE_PROJECT": str(project.root)}
        env.pop("PYTEST_ADDOPTS", None)
        env.pop("PYTEST_XDIST_WORKER", None)
        try:
            proc = subprocess.run(command, cwd=project.root, env=env, capture_output=True, text=True, timeout=1800)
        except subprocess.TimeoutExpired:
            return Finding("fail", "model tests", rule, "model tests timed out after 30 minutes")
        passed, failed, skipped = _junit(junit)
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
    details = {"passed": passed, "failed": failed, "skipped": skipped, "exit_code": proc.returncode}
    if proc.returncode == 0:
        return Finding(
            "pass", "model tests", rule, f"{len(passed)} model test(s) passed", value=len(passed), details=details
        )
    if proc.returncode == 5:
        return Finding("warn", "model tests", rule, "no tests marked `model` were collected", value=0, details=details)
    if failed:
        message = f"{len(failed)} model test(s) failed: {', '.join(failed)}"
    else:
        message = f"pytest exited {proc.returncode}: {tail.splitlines()[-1] if tail else 'no output'}"
    details["output"] = tail
    return Finding("fail", "model tests", rule, message, value=len(failed), details=details)


def _junit(path: Path) -> tuple[list[str], list[str], list[str]]:
    import xml.etree.ElementTree as ET

    passed: list[str] = []
    failed: list[str] = []
    skipped: list[str] = []
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return passed, failed, skipped
    for case in root.iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}".lstrip(":")
        kinds = {child.tag for child in case}
        if kinds & {"failure", "error"}:
            failed.append(name)
        elif "skipped" in kinds:
            skipped.append(name)
        else:
            passed.append(name)
    return passed, failed, skipped
