"""``diff``: metrics, params and plots of two git revisions (or a revision and the working tree).

Builds a Report of kind "diff" whose tables render as a PR-comment-ready
Markdown table, and whose charts (plots of both revisions overlaid) render as
inline SVG in the HTML page.
"""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from ..report import Report, Table
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
    before, after = metrics_mod.collect(project, rev_a), metrics_mod.collect(project, rev_b)
    rows = []
    changed_metrics = 0
    for path in dict.fromkeys([*before, *after]):
        values_a, values_b = before.get(path, {}), after.get(path, {})
        for key in dict.fromkeys([*values_a, *values_b]):
            a, b = values_a.get(key), values_b.get(key)
            changed_metrics += a != b
            rows.append([path, key, a, b, _delta(a, b)])
    params_a, params_b = _params_at(project, rev_a), _params_at(project, rev_b)
    param_rows = []
    for key in dict.fromkeys([*params_a, *params_b]):
        a, b = params_a.get(key), params_b.get(key)
        if all_params or a != b:
            param_rows.append([key, a, b, _delta(a, b)])
    report = Report(
        kind="diff",
        title=f"Metrics and params: {label_a} → {label_b.strip()}",
        tables=[Table("Metrics", ["file", "metric", label_a, label_b, "change"], rows)],
        summary={
            "a": label_a,
            "b": label_b.strip(),
            "metrics changed": changed_metrics,
            "params changed": sum(1 for r in param_rows if r[1] != r[2]),
        },
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
