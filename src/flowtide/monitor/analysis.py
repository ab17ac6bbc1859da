"""Monitoring analysis: what the logged predictions and feedback say about each served version.

Per model version and role in a time window: input drift against the data the
version was trained on (the data checks' drift statistics on a stored profile),
prediction drift against the model's own predictions on that data, live
performance on labelled rows, and the canary verdict (a non-inferiority test of
canary vs production with a stated margin, after ``min_requests``). Only the
versions in production or staging now can trigger retraining; rows of versions
archived since are history. A served version that cannot be judged (no or too
few predictions, nothing to judge it by) is reported *not judged*, never passed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from ..report import Finding, Report, Table
from .canary import CanaryVerdict, canary_verdict, verdict_finding
from .charts import drift_over_time, time_charts
from .decision import DISTANCE_METHODS, Policy
from .drift import judge_drift
from .performance import judge_performance, metric, numeric_pairs
from .references import References
from .task import Task, infer_task

if TYPE_CHECKING:
    from ..project import Project


@dataclass
class Group:
    """The predictions one version made in one role."""

    model: str
    version: int | None
    role: str
    rows: list[dict] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.model} v{self.version} ({self.role})"


@dataclass
class Analysis:
    report: Report
    drifted: dict[str, list[str]] = field(default_factory=dict)
    """group label -> drifting input columns."""
    degraded: dict[str, float] = field(default_factory=dict)
    """group label -> live metric below the thresholds."""
    verdicts: list[CanaryVerdict] = field(default_factory=list)
    history: dict[str, list[str]] = field(default_factory=dict)
    """group label of a version not in production or staging now -> what it showed (it triggers nothing)."""

    @property
    def needs_retraining(self) -> bool:
        return bool(self.drifted or self.degraded)


@dataclass
class _Settings:
    """What ``monitor:`` (and the model's checks) say about how to judge, resolved once per analysis."""

    policy: Policy
    drift_status: str
    perf: Any
    min_rows: int
    drift_columns: list[str]
    references: References

    @classmethod
    def of(cls, project: Project) -> _Settings:
        from ..formats import input_schema

        config = project.config
        mon = config.monitor
        drift_cfg = mon.drift
        model_cfg = config.model
        suite = config.checks.get(model_cfg.reference) if model_cfg and model_cfg.reference else None
        declared = {name: rule.type for name, rule in (suite.columns if suite else {}).items()}
        schema = input_schema(project)
        drift_columns = list(drift_cfg.columns) if drift_cfg and drift_cfg.columns else list(schema)
        profile_columns = {c: declared.get(c) for c in drift_columns}
        if model_cfg and model_cfg.target:
            profile_columns[model_cfg.target] = declared.get(model_cfg.target)
        return cls(
            policy=Policy.of(drift_cfg, mon.schedule),
            drift_status="fail" if drift_cfg else "warn",
            perf=mon.performance,
            min_rows=mon.min_rows,
            drift_columns=drift_columns,
            references=References(project, profile_columns),
        )


@dataclass
class _Judging:
    """How one model's live performance is measured: its task and the metric that suits it."""

    task: Task
    metric_name: str

    @classmethod
    def of(cls, project: Project, registry: Any, model: str, groups: dict, feedback: dict) -> _Judging:
        from ..config.validate import check_performance

        pairs = [
            (r["output"], feedback[r["request_id"]])
            for (m, _v, _r), g in groups.items()
            if m == model
            for r in g.rows
            if r["request_id"] in feedback
        ]
        task = infer_task(project, registry, model, pairs)
        # a metric or bound that does not suit the inferred task is the config error it would be at load
        name = check_performance(project.config, task.name, why=task.source)
        return cls(task, name or "accuracy")

    def pairs(self, rows: list[dict], feedback: dict) -> list[tuple[Any, Any]]:
        """(output, label) of the rows that got feedback; for a regressor only finite numbers count."""
        pairs = [(r["output"], feedback[r["request_id"]]) for r in rows if r["request_id"] in feedback]
        return list(numeric_pairs(pairs)) if self.task.regression else pairs


# --- the analysis ------------------------------------------------------------------------


def analyse(project: Project, data: Any, *, since: float, until: float) -> Analysis:
    """Judge every version that served in the window: drift, live performance, canary verdicts; one report."""
    from ..registry import Registry

    settings = _Settings.of(project)
    registry = Registry.load(project)
    groups = _group(data.predictions)
    models = sorted(
        {g.model for g in groups.values()} | ({project.config.model.name} if project.config.model else set())
    )
    judging = {m: _Judging.of(project, registry, m, groups, data.feedback) for m in models}
    settings.references.regressors = {m for m, j in judging.items() if j.task.regression}
    report = Report(kind="monitor", title="Monitor")
    analysis = Analysis(report)
    judged: list[tuple[Group, dict]] = []  # groups with a reference: their drift is charted over time
    judged_versions: set[tuple[str, int | None]] = set()  # a drift or performance rule was evaluated for them
    version_rows = []
    labelled_total = 0
    for key in sorted(groups, key=lambda k: (k[0], k[1] or 0, k[2])):
        row, labelled = _judge_group(
            groups[key], data.feedback, registry, settings, judging[key[0]], analysis, judged, judged_versions
        )
        version_rows.append(row)
        labelled_total += labelled
    metric_names = {j.metric_name for m, j in judging.items() if any(g.model == m for g in groups.values())}
    shown_metric = metric_names.pop() if len(metric_names) == 1 else "metric"
    report.tables.append(_versions_table(version_rows, shown_metric))
    for model in sorted({g.model for g in groups.values()}):
        verdict = canary_verdict(project, model, groups, data.feedback, registry, judging[model].task.regression)
        if verdict is not None:
            analysis.verdicts.append(verdict)
            finding = verdict_finding(verdict)
            finding.lead = True  # a canary's verdict is the decision the report is read for
            report.findings.append(finding)
    _not_judged(project, registry, groups, judged_versions, report)
    report.charts[:0] = time_charts(groups, data.feedback, judging, since, until, settings.perf)
    distance = settings.policy.method in DISTANCE_METHODS
    method = settings.policy.method if distance else "psi"  # under the tests PSI is shown as an effect size
    threshold = (settings.policy.threshold or _default_threshold(method)) if distance else None
    drift_chart = drift_over_time(judged, settings.drift_columns, method, threshold)
    if drift_chart is not None:
        report.charts.insert(2, drift_chart)
    _summarise(project, analysis, data, labelled_total, since, until)
    _state_tasks(report, judging)
    return analysis


def _state_tasks(report: Report, judging: dict[str, _Judging]) -> None:
    """Every rendering says which task each model was judged as, and how that is known (first in the summary)."""
    if not judging:
        return
    if len(judging) == 1:
        (judge,) = judging.values()
        stated = str(judge.task)
    else:
        stated = "; ".join(f"{m}: {j.task}" for m, j in judging.items())
    report.summary = {"task": stated, **report.summary}


def _group(predictions: list[dict]) -> dict[tuple, Group]:
    """The logged predictions by (model, version, role)."""
    groups: dict[tuple, Group] = {}
    for row in predictions:
        key = (row["model"], row["version"], row["role"])
        group = groups.get(key)
        if group is None:
            group = groups[key] = Group(*key)
        group.rows.append(row)
    return groups


def _judge_group(
    group: Group,
    feedback: dict,
    registry: Any,
    settings: _Settings,
    judging: _Judging,
    analysis: Analysis,
    judged: list,
    judged_versions: set,
) -> tuple[list, int]:
    """Drift and live performance of one version in one role: findings into the report; (its table row, labelled)."""
    report = analysis.report
    first_finding = len(report.findings)
    try:
        version = registry.get(group.model, group.version) if group.version is not None else None
    except UsageError:
        version = None
    labels_of = judging.pairs(group.rows, feedback)
    metric_name = judging.metric_name
    left_out = sum(1 for r in group.rows if r["request_id"] in feedback) - len(labels_of)
    if left_out:
        report.findings.append(
            Finding(
                "warn",
                group.label,
                "labels",
                f"{left_out} labelled predictions have a label or output that is not a finite number; "
                f"left out of the live {metric_name} of this {judging.task.name} model",
                value=left_out,
            )
        )
    live = metric(metric_name, [o for o, _ in labels_of], [y for _, y in labels_of])
    registered = (version.metrics or {}).get(metric_name) if version is not None else None
    if not isinstance(registered, (int, float)) or isinstance(registered, bool):
        registered = None
    enough = len(group.rows) >= settings.min_rows
    drifting: list[str] = []
    reference = settings.references.of(version) if enough else None
    if reference is not None:
        judged.append((group, reference))
    if not enough:
        report.findings.append(
            Finding(
                "info",
                group.label,
                "rows",
                f"{len(group.rows)} predictions in the window, fewer than monitor.min_rows {settings.min_rows}: not judged",
                value=len(group.rows),
                bound=settings.min_rows,
            )
        )
    elif reference is None:
        report.findings.append(
            Finding("warn", group.label, "input drift", "no reference data: set model.reference to a source or path")
        )
    else:
        drifting, drift_judged = judge_drift(
            group, reference, settings.drift_columns, settings.policy, settings.drift_status, report, feedback
        )
        if drift_judged:
            judged_versions.add((group.model, group.version))
    if drifting:
        analysis.drifted[group.label] = drifting
    if live is not None:  # live performance on rows that got feedback
        finding = judge_performance(
            group.label, live, len(labels_of), registered, metric_name, settings.perf, settings.min_rows
        )
        if finding.status in ("pass", "fail") and settings.perf is not None:
            judged_versions.add((group.model, group.version))
        if finding.status == "fail":
            analysis.degraded[group.label] = live
        report.findings.append(finding)
    if version is None or version.stage not in _CURRENT_STAGES:
        _as_history(analysis, group, version, report.findings[first_finding:])
    latencies = sorted(r["latency_ms"] for r in group.rows if r["latency_ms"] is not None)
    stage = version.stage if version is not None else "not in the registry"
    row = [
        f"{group.model} v{group.version}",
        group.role if stage == group.role else f"{group.role}, {stage} now",
        len(group.rows),
        len(labels_of),
        round(live, 4) if live is not None else None,
        registered,
        latencies[len(latencies) // 2] if latencies else None,
        ", ".join(drifting),
    ]
    return row, len(labels_of)


def _versions_table(rows: list[list], metric_name: str) -> Table:
    return Table(
        "Served versions in the window",
        [
            "version",
            "role",
            "predictions",
            "labelled",
            f"live {metric_name}",
            f"registered {metric_name}",
            "p50 ms",
            "drifting columns",
        ],
        rows,
        under=["drifting columns"],
        keep=["version"],
    )


def _summarise(
    project: Project, analysis: Analysis, data: Any, labelled_total: int, since: float, until: float
) -> None:
    """The report's summary and title: what drifted, dropped or could not be judged, at a glance."""
    report = analysis.report
    drifted_columns = sorted({c for cols in analysis.drifted.values() for c in cols})
    report.summary = {
        "window": f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(since))} – {time.strftime('%Y-%m-%d %H:%M', time.gmtime(until))} UTC",
        "predictions": len(data.predictions),
        "labelled": labelled_total,
        "drifting columns": ", ".join(drifted_columns) or "none",
    }
    if analysis.verdicts:
        report.summary["canary"] = ", ".join(f"{v.model} v{v.canary}: {v.verdict}" for v in analysis.verdicts)
    if analysis.history:
        report.summary["history (triggers nothing)"] = "; ".join(
            f"{label}: {', '.join(what)}" for label, what in analysis.history.items()
        )
    if not data.predictions:
        report.findings.append(
            Finding("info", project.config.project, "predictions", "no predictions logged in the window")
        )
    unjudged = [f for f in report.findings if f.status == "unjudged"]
    if drifted_columns:
        report.title = "Monitor: drift in " + ", ".join(drifted_columns)
    elif analysis.degraded:
        report.title = "Monitor: performance drop"
    elif unjudged:
        report.title = "Monitor: " + "; ".join(f"{f.details['short']} for {f.target}" for f in unjudged[:3])
        if len(unjudged) > 3:
            report.title += f" and {len(unjudged) - 3} more"
    elif not report.judged:  # nothing passed, warned or failed: a report that judged nothing never passes
        report.title = "Monitor: nothing judged"
        report.unjudged_reason = (
            f"{len(data.predictions)} predictions in the window and no version that could be judged on them"
            + ("" if project.config.model else " (flowtide.yaml has no model:)")
        )
    else:
        report.title = "Monitor: no drift"


_CURRENT_STAGES = ("production", "staging")  # versions that can be served now, so can trigger retraining


def _as_history(analysis: Analysis, group: Group, version: Any, findings: list[Finding]) -> None:
    """A version archived (or never promoted) since it served: what its rows show is history, not a trigger."""
    stage = version.stage if version is not None else "not in the registry"
    what = list(analysis.drifted.pop(group.label, []))
    if analysis.degraded.pop(group.label, None) is not None:
        what.append("performance drop")
    for finding in findings:
        if finding.status in ("fail", "warn"):
            finding.status = "info"
            finding.message += f" (history: v{group.version} is {stage} now; this triggers nothing)"
    if what:
        analysis.history[f"{group.label}, {stage} now"] = what


def served_now(project: Project, registry: Any) -> dict[tuple[str, int], str]:
    """(model, version) -> role for what a server of this project serves now: production, and staging as
    canary or shadow (when ``deploy`` has one and its bytes differ from production's)."""
    deploy = project.config.deploy
    names = set(registry.models()) | ({project.config.model.name} if project.config.model else set())
    out: dict[tuple[str, int], str] = {}
    for model in sorted(names):
        production = registry.in_stage(model, "production")
        if production is None:
            continue
        out[(model, production.version)] = "production"
        staging = registry.in_stage(model, "staging")
        if staging is not None and staging.hash != production.hash and (deploy.canary is not None or deploy.shadow):
            out[(model, staging.version)] = "canary" if deploy.canary is not None else "shadow"
    return out


def _not_judged(project: Project, registry: Any, groups: dict, judged: set, report: Report) -> None:
    """An ``unjudged`` finding for each served version nothing was evaluated for, and for nothing served at all."""
    config = project.config
    served = served_now(project, registry)
    min_rows = config.monitor.min_rows
    min_window = Policy.of(config.monitor.drift, config.monitor.schedule).min_window
    no_remote = (
        ""
        if config.store.remote
        else " Without store.remote only this machine's .flowtide/predictions is read: a CI runner sees no server's log."
    )
    if not served and config.model is not None:
        report.findings.append(
            Finding(
                "unjudged",
                config.model.name,
                "served versions",
                f"no version of {config.model.name!r} is in production: nothing is served, so nothing can be judged",
                details={"short": "nothing served", "hint": "Promote a version to production, then serve it."},
            )
        )
    for (model, number), role in served.items():
        if (model, number) in judged:
            continue
        rows = sum(len(g.rows) for (m, v, _r), g in groups.items() if (m, v) == (model, number))
        if rows == 0:
            short, message = "no predictions", "no predictions in the window: drift and live performance not judged"
            hint = "Check that the server logs predictions where `flowtide monitor` reads them." + no_remote
        elif rows < min_rows:
            short = "too few predictions"
            message = (
                f"{rows} predictions in the window, fewer than monitor.min_rows {min_rows}: "
                "drift and live performance not judged"
            )
            hint = "Wait for more traffic, widen --window, or lower monitor.min_rows."
        elif rows < min_window:
            short = "too few predictions for drift"
            message = (
                f"{rows} predictions in the window, fewer than monitor.drift.min_window {min_window}: drift not "
                "judged, and no monitor.performance with enough labelled rows"
            )
            hint = "Wait for more traffic, widen --window, or lower monitor.drift.min_window (less power)."
        else:
            short = "nothing to judge by"
            message = (
                f"{rows} predictions but nothing to judge them by: no reference data for drift "
                "and no monitor.performance with enough labelled rows"
            )
            hint = "Set model.reference (drift) or monitor.performance and send feedback."
        report.findings.append(
            Finding(
                "unjudged",
                f"{model} v{number} ({role})",
                "judgement",
                f"{message}. {hint}",  # the hint in the message: the job summary shows messages only
                value=rows,
                bound=min_rows,
                details={"short": short},
            )
        )


def _default_threshold(method: str) -> float:
    from ..checks.drift import DEFAULT_THRESHOLDS

    return DEFAULT_THRESHOLDS[method]
