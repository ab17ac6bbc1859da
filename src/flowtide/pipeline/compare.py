"""``diff``: metrics, params and plots of two git revisions (or a revision and the working tree).

Builds a Report of kind "diff" whose tables render as a PR-comment-ready
Markdown table, and whose charts (plots of both revisions overlaid) render as
inline SVG in the HTML page.
"""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from ..report import Finding, Report, Table
from . import metrics as metrics_mod
from . import plots as plots_mod
from .fingerprint import flatten

if TYPE_CHECKING:
    from ..project import Project

WORKSPACE = "workspace"


def _check_rev(project: Project, rev: str) -> None:
    inside = subprocess.run(["git", "rev-parse", "--git-dir"], cwd=project.root, capture_output=True)
    if inside.returncode != 0:
        raise UsageError(
            f"{project.root} is not in a git repository, so there are no revisions to compare",
            hint="Run `git init` and commit, or compare runs with `flowtide runs`.",
        )
    proc = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], cwd=project.root, capture_output=True
    )
    if proc.returncode != 0:
        raise UsageError(
            f"unknown git revision {rev!r} in {project.root}",
            hint="Use a branch, tag or commit (e.g. HEAD, main, HEAD~1); `flowtide diff` alone compares HEAD with the working tree.",
        )


def _params_at(project: Project, rev: str | None) -> dict[str, Any]:
    raw = metrics_mod.read_at(project, rev, project.config.params)
    if raw is None:
        return {}
    from ..config import parse_yaml

    try:
        data, _ = parse_yaml(raw, project.config.params)
    except Exception:
        return {}
    return flatten(data) if isinstance(data, dict) else {}


def _delta(a: Any, b: Any) -> str:
    if isinstance(a, bool) or isinstance(b, bool):
        return "" if a == b else "changed"
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        change = b - a
        if change == 0:
            return "0"
        text = f"{change:+.4g}"
        if a:
            text += f" ({change / abs(a) * 100:+.1f}%)"
        return text
    if a is None or b is None:
        return "added" if a is None else "removed"
    return "" if a == b else "changed"


_MARK = {"regression": "worse", "improvement": "better", "unchanged": "same"}


def _direction(directions: dict[str, bool], key: str) -> bool | None:
    """Higher is better (True), lower is better (False) or unknown (None) for a metric key (``eval.accuracy``)."""
    if key in directions:
        return directions[key]
    return directions.get(key.rsplit(".", 1)[-1])


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _judge(path: str, key: str, a: Any, b: Any, higher: bool | None, label_a: str, label_b: str) -> Finding:
    """A metric's change judged by its direction: worse is a warning (a regression), same or better passes."""
    details: dict[str, Any] = {"file": path, "a": a, "b": b, "higher_is_better": higher}
    if not (_number(a) and _number(b)):
        what = "added" if a is None else "removed" if b is None else "not a number"
        return Finding("info", path, key, f"{key}: {what} ({label_a}: {a}, {label_b}: {b})", value=b, details=details)
    if higher is None:
        return Finding(
            "info",
            path,
            key,
            f"{key}: {a} → {b} ({_delta(a, b)}); direction unknown, so not judged "
            "(set metrics.{name}.higher_is_better or a gate on it)".replace("{name}", key),
            value=b,
            bound=a,
            details=details,
        )
    worse = b < a if higher else b > a
    better = b > a if higher else b < a
    change = "regression" if worse else "improvement" if better else "unchanged"
    details["change"] = change
    way = "higher" if higher else "lower"
    if worse:
        message = f"{key} regressed: {a} → {b} ({_delta(a, b)}); {way} is better"
    elif better:
        message = f"{key} improved: {a} → {b} ({_delta(a, b)}); {way} is better"
    else:
        message = f"{key} unchanged at {b}"
    return Finding("warn" if worse else "pass", path, key, message, value=b, bound=a, details=details)


def diff(
    project: Project,
    rev_a: str | None = None,
    rev_b: str | None = None,
    *,
    all_params: bool = False,
    plots: bool = False,
) -> Report:
    """Compare ``rev_a`` (default HEAD) with ``rev_b`` (default: the working tree)."""
    rev_a = rev_a or "HEAD"
    for rev in (rev_a, rev_b):
        if rev is not None:
            _check_rev(project, rev)
    label_a, label_b = rev_a, rev_b or WORKSPACE
    if label_a == label_b:
        label_b += " "
    from ..config.validate import metric_directions

    directions = metric_directions(project.config)
    before, after = metrics_mod.collect(project, rev_a), metrics_mod.collect(project, rev_b)
    rows = []
    findings: list[Finding] = []
    changed_metrics = 0
    for path in dict.fromkeys([*before, *after]):
        values_a, values_b = before.get(path, {}), after.get(path, {})
        for key in dict.fromkeys([*values_a, *values_b]):
            a, b = values_a.get(key), values_b.get(key)
            changed_metrics += a != b
            finding = _judge(path, key, a, b, _direction(directions, key), label_a, label_b.strip())
            findings.append(finding)
            rows.append([path, key, a, b, _delta(a, b), _MARK.get(finding.details.get("change", ""), "")])
    params_a, params_b = _params_at(project, rev_a), _params_at(project, rev_b)
    param_rows = []
    for key in dict.fromkeys([*params_a, *params_b]):
        a, b = params_a.get(key), params_b.get(key)
        if all_params or a != b:
            param_rows.append([key, a, b, _delta(a, b)])
    report = Report(
        kind="diff",
        title=f"Metrics and params: {label_a} → {label_b.strip()}",
        findings=findings,
        tables=[
            Table(
                "Metrics",
                ["file", "metric", label_a, label_b, "change", "judged"],
                rows,
                statuses=["warn" if f.details.get("change") == "regression" else "" for f in findings],
            )
        ],
        summary={
            "a": label_a,
            "b": label_b.strip(),
            "metrics changed": changed_metrics,
            "params changed": sum(1 for r in param_rows if r[1] != r[2]),
        },
    )
    if not any(f.status in ("pass", "warn") for f in findings):
        report.unjudged_reason = (
            "no metrics in either revision"
            if not findings
            else "no metric has a known direction: add a gate (accuracy >= 0.8) or "
            "`metrics: {NAME: {higher_is_better: true}}` to flowtide.yaml"
        )
    if param_rows:
        report.tables.append(Table("Params", ["param", label_a, label_b, "change"], param_rows))
    if plots:
        for path in _plot_files(project):
            versions = {}
            for label, rev in ((label_a, rev_a), (label_b.strip(), rev_b)):
                raw = metrics_mod.read_at(project, rev, path)
                if raw is not None:
                    versions[label] = plots_mod.parse(raw, path)
            chart = plots_mod.chart(path, versions)
            if chart is not None:
                report.charts.append(chart)
    return report


def _plot_files(project: Project) -> list[str]:
    from .dag import norm

    seen: dict[str, None] = {}
    for stage in project.config.stages.values():
        for path in stage.plots:
            seen.setdefault(norm(path), None)
    return list(seen)
