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

import itertools
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from ..report import Chart, Finding, Report, Table

if TYPE_CHECKING:
    from ..project import Project
    from ..registry import Registry, Version

MIN_LABELLED_FOR_VERDICT = 30
TIME_BUCKETS = 12


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
class CanaryVerdict:
    model: str
    production: int | None
    canary: int | None
    verdict: str  # promote | rollback | wait
    reason: str
    requests: int = 0
    labelled: dict[str, int] = field(default_factory=dict)
    scores: dict[str, float | None] = field(default_factory=dict)
    """Per role (canary, production): accuracy, or mean absolute error for a regressor, on labelled rows."""
    comparison: Comparison | None = None
    """The test behind a promote / rollback / wait after enough requests and feedback."""


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


# --- statistics -----------------------------------------------------------------


@dataclass
class Comparison:
    """How much worse the canary is than production, with one-sided (1 - alpha) confidence bounds.

    ``worse_by`` is production - canary accuracy for a classifier and canary -
    production mean absolute error for a regressor: positive means the canary is
    worse. ``lower`` and ``upper`` are one-sided (1 - alpha) bounds of it (together
    a two-sided 1 - 2 alpha interval); ``margin`` is absolute, in the same unit.
    """

    metric: str  # "accuracy" or "mean absolute error"
    canary: float
    production: float
    worse_by: float
    lower: float
    upper: float
    margin: float
    alpha: float
    method: str

    @property
    def verdict(self) -> str:
        """rollback when the canary is significantly worse; promote when it is shown not worse by more than the
        margin; wait otherwise. Significantly worse wins: a canary is never promoted on evidence that it is worse."""
        if self.lower > 0:
            return "rollback"
        if self.upper < self.margin:
            return "promote"
        return "wait"


def _wilson(successes: int, n: int, z: float) -> tuple[float, float]:
    """Wilson score interval of a proportion (the building block of Newcombe's interval)."""
    p = successes / n
    denominator = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, center - half), min(1.0, center + half)


def accuracy_bounds(
    correct_production: int, n_production: int, correct_canary: int, n_canary: int, alpha: float
) -> tuple[float, float]:
    """One-sided (1 - alpha) lower and upper bounds of production - canary accuracy.

    Newcombe's hybrid score interval for a difference of independent proportions
    (Newcombe 1998, method 10; statsmodels ``confint_proportions_2indep(method="newcomb")``)
    with z = z(1 - alpha) on each side. Unlike the Wald interval it keeps its
    coverage near 0 and 1 and for unequal sample sizes.
    """
    from statistics import NormalDist

    z = NormalDist().inv_cdf(1 - alpha)
    p1, p2 = correct_production / n_production, correct_canary / n_canary
    l1, u1 = _wilson(correct_production, n_production, z)
    l2, u2 = _wilson(correct_canary, n_canary, z)
    difference = p1 - p2
    lower = difference - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    upper = difference + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return lower, upper


def compare_accuracy(
    correct_production: int, n_production: int, correct_canary: int, n_canary: int, *, margin: float, alpha: float
) -> Comparison:
    lower, upper = accuracy_bounds(correct_production, n_production, correct_canary, n_canary, alpha)
    production, canary = correct_production / n_production, correct_canary / n_canary
    return Comparison(
        "accuracy", canary, production, production - canary, lower, upper, margin, alpha, "Newcombe hybrid score"
    )


def compare_errors(
    production_errors: list[float], canary_errors: list[float], *, margin: float, alpha: float
) -> Comparison:
    """Canary - production mean absolute error with Welch's t bounds; ``margin`` is a fraction of production's MAE."""
    from scipy import stats

    def moments(values: list[float]) -> tuple[float, float]:
        mean = math.fsum(values) / len(values)
        return mean, math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)

    (mp, vp), (mc, vc) = moments(production_errors), moments(canary_errors)
    n_p, n_c = len(production_errors), len(canary_errors)
    se2 = vp / n_p + vc / n_c
    worse_by = mc - mp
    if se2 > 0:
        df = se2**2 / ((vp / n_p) ** 2 / (n_p - 1) + (vc / n_c) ** 2 / (n_c - 1))  # Welch-Satterthwaite
        half = float(stats.t.ppf(1 - alpha, df)) * math.sqrt(se2)
    else:
        half = 0.0
    return Comparison(
        "mean absolute error", mc, mp, worse_by, worse_by - half, worse_by + half, margin * mp, alpha, "Welch t"
    )


def _metric(name: str, outputs: list, labels: list) -> float | None:
    if not labels:
        return None
    if name in ("accuracy", "error_rate"):
        correct = sum(1 for o, y in zip(outputs, labels, strict=True) if o == y) / len(labels)
        return correct if name == "accuracy" else 1 - correct
    if name in ("f1_macro", "f1"):
        from sklearn.metrics import f1_score

        return float(f1_score([str(y) for y in labels], [str(o) for o in outputs], average="macro"))
    if name in ("mae", "rmse"):
        errors = [float(o) - float(y) for o, y in zip(outputs, labels, strict=True)]
        if name == "mae":
            return sum(abs(e) for e in errors) / len(errors)
        return math.sqrt(sum(e * e for e in errors) / len(errors))
    raise UsageError(
        f"monitor.performance.metric {name!r} is not supported: use accuracy, error_rate, f1_macro, mae or rmse"
    )


_LOWER_IS_BETTER = {"error_rate", "mae", "rmse"}


# --- references -------------------------------------------------------------------


def _reference_path(project: Project, version: Version | None) -> tuple[Path, str | None, str] | None:
    """The data ``version`` was trained on (from its lineage in the store), else the current reference file."""
    model = project.config.model
    if model is None or not model.reference:
        return None
    source = project.config.sources.get(model.reference)
    rel = source.path if source else model.reference
    digest = (version.data or {}).get(rel) if version is not None else None
    if digest and project.store.has(digest):
        return project.store.path_of(digest), digest, f"training data of v{version.version} ({rel})"
    path = project.root / rel
    if path.is_file():
        return path, None, f"current {rel}"
    return None


class References:
    """Profiles of the reference data (inputs and the model's predictions on it), cached per version."""

    def __init__(self, project: Project, columns: dict[str, str | None]) -> None:
        self.project = project
        self.columns = columns
        self._cache: dict[Any, dict | None] = {}

    def of(self, version: Version | None) -> dict | None:
        key = getattr(version, "hash", None)
        if key not in self._cache:
            self._cache[key] = self._build(version)
        return self._cache[key]

    def _build(self, version: Version | None) -> dict | None:
        from ..checks._read import detect_format
        from ..checks.drift import profile_values
        from ..checks.reference import Reference, cached_profile, load_columns

        found = _reference_path(self.project, version)
        if found is None:
            return None
        path, digest, origin = found
        fmt = detect_format(path)
        profile = cached_profile(self.project, Reference(path, digest, origin), fmt, self.columns)
        out = {"origin": origin, "columns": profile["columns"], "predictions": None}
        if version is not None:
            try:
                from ..formats import load_model

                loaded = load_model(self.project, version)
                frame = load_columns(path, fmt, dict.fromkeys(loaded.features))
                rows = frame.drop_nulls().to_dicts()
                if rows:
                    out["predictions"] = profile_values([str(p) for p in loaded.predict(rows)], "categorical")
            except Exception as exc:  # no artifact here: fall back to the label distribution
                out["note"] = f"no reference predictions ({exc})"
        if out["predictions"] is None:
            target = self.project.config.model.target if self.project.config.model else None
            if target and target in profile["columns"]:
                out["predictions"] = profile["columns"][target]
        return out


# --- the analysis ------------------------------------------------------------------------


def analyse(project: Project, data: Any, *, since: float, until: float) -> Analysis:
    from ..checks.drift import compare
    from ..registry import Registry

    config = project.config
    mon = config.monitor
    drift_cfg = mon.drift
    method = drift_cfg.method if drift_cfg else "psi"
    threshold = drift_cfg.threshold if drift_cfg else 0.2
    drift_status = "fail" if drift_cfg else "warn"
    perf = mon.performance
    metric_name = perf.metric if perf else "accuracy"
    registry = Registry.load(project)
    model_cfg = config.model
    suite = config.checks.get(model_cfg.reference) if model_cfg and model_cfg.reference else None
    declared = {name: rule.type for name, rule in (suite.columns if suite else {}).items()}
    from ..formats import input_schema

    schema = input_schema(project)
    drift_columns = list(drift_cfg.columns) if drift_cfg and drift_cfg.columns else list(schema)
    profile_columns = {c: declared.get(c) for c in drift_columns}
    if model_cfg and model_cfg.target:
        profile_columns[model_cfg.target] = declared.get(model_cfg.target)
    references = References(project, profile_columns)

    judged: list[tuple[Group, dict]] = []  # groups with a reference: their drift is charted over time
    groups: dict[tuple, Group] = {}
    for row in data.predictions:
        key = (row["model"], row["version"], row["role"])
        group = groups.get(key)
        if group is None:
            group = groups[key] = Group(*key)
        group.rows.append(row)

    report = Report(kind="monitor", title="Monitor")
    analysis = Analysis(report)
    labelled_total = 0
    version_rows = []
    judged_versions: set[tuple[str, int | None]] = set()  # a drift or performance rule was evaluated for them
    for key in sorted(groups, key=lambda k: (k[0], k[1] or 0, k[2])):
        group = groups[key]
        first_finding = len(report.findings)
        try:
            version = registry.get(group.model, group.version) if group.version is not None else None
        except UsageError:
            version = None
        outputs = [r["output"] for r in group.rows]
        labels_of = [
            (r["output"], data.feedback[r["request_id"]]) for r in group.rows if r["request_id"] in data.feedback
        ]
        labelled_total += len(labels_of)
        live = _metric(metric_name, [o for o, _ in labels_of], [y for _, y in labels_of])
        registered = (version.metrics or {}).get(metric_name) if version is not None else None
        enough = len(group.rows) >= mon.min_rows
        drifting: list[str] = []
        reference = references.of(version) if enough else None
        if reference is not None:
            judged.append((group, reference))
            judged_versions.add((group.model, group.version))
        if not enough:
            report.findings.append(
                Finding(
                    "info",
                    group.label,
                    "rows",
                    f"{len(group.rows)} predictions in the window, fewer than monitor.min_rows {mon.min_rows}: not judged",
                    value=len(group.rows),
                    bound=mon.min_rows,
                )
            )
        elif reference is None:
            report.findings.append(
                Finding(
                    "warn", group.label, "input drift", "no reference data: set model.reference to a source or path"
                )
            )
        else:
            for column in drift_columns:
                ref = reference["columns"].get(column)
                if ref is None:
                    continue
                values = [r["inputs"].get(column) for r in group.rows]
                values = (
                    [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
                    if ref["kind"] == "numeric"
                    else [str(v) for v in values if v is not None]
                )
                result = compare(ref, values, method, threshold, column=column)
                if result.drifted:
                    drifting.append(column)
                report.findings.append(
                    Finding(
                        drift_status if result.drifted else "pass",
                        group.label,
                        "input drift",
                        f"{result.describe()} against the {reference['origin']}",
                        column=column,
                        value=round(result.statistic, 4),
                        bound=result.threshold,
                        details={"method": result.method, "chart": result.chart},
                    )
                )
                if result.drifted and result.chart.get("edges"):
                    edges = result.chart["edges"]
                    centers = [round((a + b) / 2, 2) for a, b in itertools.pairwise(edges)]
                    report.charts.append(
                        Chart(
                            f"{column}: {group.label} vs reference",
                            "histogram",
                            centers,
                            {"reference": result.chart["reference"], "live": result.chart["current"]},
                            x_label=column,
                            y_label="share",
                        )
                    )
            if reference.get("predictions"):
                result = compare(
                    reference["predictions"], [str(o) for o in outputs], "psi", threshold, column="prediction"
                )
                report.findings.append(
                    Finding(
                        drift_status if result.drifted else "pass",
                        group.label,
                        "prediction drift",
                        f"{result.describe()}: predicted classes vs the model's predictions on its reference data",
                        column="prediction",
                        value=round(result.statistic, 4),
                        bound=result.threshold,
                    )
                )
        if drifting:
            analysis.drifted[group.label] = drifting
        # live performance on rows that got feedback
        if live is not None:
            status, bound, message = "pass", None, f"{metric_name} {live:.3f} on {len(labels_of)} labelled predictions"
            if perf is not None and len(labels_of) >= min(mon.min_rows, MIN_LABELLED_FOR_VERDICT):
                worse = (lambda a, b: a > b) if metric_name in _LOWER_IS_BETTER else (lambda a, b: a < b)
                if perf.min is not None and worse(live, perf.min):
                    status, bound = "fail", perf.min
                    message += f", below monitor.performance.min {perf.min}"
                elif perf.max_drop is not None and registered is not None:
                    limit = (
                        registered + perf.max_drop if metric_name in _LOWER_IS_BETTER else registered - perf.max_drop
                    )
                    if worse(live, limit):
                        status, bound = "fail", limit
                        message += f", more than {perf.max_drop} worse than its registered {registered:.3f}"
            elif perf is not None:
                status = "info"
                message += f" (fewer than {min(mon.min_rows, MIN_LABELLED_FOR_VERDICT)}: not judged)"
            if status in ("pass", "fail") and perf is not None:
                judged_versions.add((group.model, group.version))
            if status == "fail":
                analysis.degraded[group.label] = live
            report.findings.append(
                Finding(status, group.label, f"live {metric_name}", message, value=round(live, 4), bound=bound)
            )
        if version is None or version.stage not in _CURRENT_STAGES:
            _as_history(analysis, group, version, report.findings[first_finding:])
        latencies = sorted(r["latency_ms"] for r in group.rows if r["latency_ms"] is not None)
        version_rows.append(
            [
                group.model,
                group.version,
                group.role,
                version.stage if version is not None else "?",
                len(group.rows),
                len(labels_of),
                round(live, 4) if live is not None else None,
                registered,
                latencies[len(latencies) // 2] if latencies else None,
                ", ".join(drifting),
            ]
        )

    report.tables.append(
        Table(
            "Served versions in the window",
            [
                "model",
                "version",
                "role",
                "stage now",
                "predictions",
                "labelled",
                f"live {metric_name}",
                f"registered {metric_name}",
                "p50 ms",
                "drifting columns",
            ],
            version_rows,
        )
    )
    for model in sorted({g.model for g in groups.values()}):
        verdict = _canary_verdict(project, model, groups, data.feedback, registry, metric_name)
        if verdict is not None:
            analysis.verdicts.append(verdict)
            status = {"promote": "pass", "rollback": "warn", "wait": "info"}[verdict.verdict]
            test = verdict.comparison
            report.findings.append(
                Finding(
                    status,
                    f"{model} canary v{verdict.canary}",
                    "canary verdict",
                    f"{verdict.verdict}: {verdict.reason}",
                    value=round(test.upper, 4) if test else None,
                    bound=round(test.margin, 4) if test else None,
                    details={
                        "verdict": verdict.verdict,
                        "labelled": verdict.labelled,
                        **({"test": _test_details(test)} if test else {}),
                    },
                )
            )
    _not_judged(project, registry, groups, judged_versions, report)
    report.charts[:0] = _time_charts(groups, data.feedback, metric_name, since, until)
    drift_chart = _drift_over_time(judged, drift_columns, method, threshold)
    if drift_chart is not None:
        report.charts.insert(2, drift_chart)
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
        report.findings.append(Finding("info", config.project, "predictions", "no predictions logged in the window"))
    unjudged = [f for f in report.findings if f.status == "unjudged"]
    if drifted_columns:
        report.title = "Monitor: drift in " + ", ".join(drifted_columns)
    elif analysis.degraded:
        report.title = "Monitor: performance drop"
    elif unjudged:
        report.title = "Monitor: " + "; ".join(f"{f.details['short']} for {f.target}" for f in unjudged[:3])
        if len(unjudged) > 3:
            report.title += f" and {len(unjudged) - 3} more"
    else:
        report.title = "Monitor: no drift"
    return analysis


_CURRENT_STAGES = ("production", "staging")  # versions that can be served now, so can trigger retraining


def _as_history(analysis: Analysis, group: Group, version: Version | None, findings: list[Finding]) -> None:
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


def _test_details(test: Comparison) -> dict[str, Any]:
    return {
        "metric": test.metric,
        "canary": round(test.canary, 4),
        "production": round(test.production, 4),
        "worse_by": round(test.worse_by, 4),
        "lower": round(test.lower, 4),
        "upper": round(test.upper, 4),
        "margin": round(test.margin, 4),
        "alpha": test.alpha,
        "method": test.method,
    }


def _canary_verdict(
    project: Project, model: str, groups: dict, feedback: dict, registry: Registry, metric_name: str = "accuracy"
) -> CanaryVerdict | None:
    canary_cfg = project.config.deploy.canary
    canary_groups = [g for (m, _v, role), g in groups.items() if m == model and role == "canary"]
    staging = registry.in_stage(model, "staging")
    production = registry.in_stage(model, "production")
    if not canary_groups or staging is None or production is None:
        return None
    canary = next((g for g in canary_groups if g.version == staging.version), None)
    prod = groups.get((model, production.version, "production"))
    if canary is None:
        return None
    verdict = CanaryVerdict(model, production.version, staging.version, "wait", "", requests=len(canary.rows))
    min_requests = canary_cfg.min_requests if canary_cfg else 500
    alpha = canary_cfg.alpha if canary_cfg else 0.05
    margin = canary_cfg.margin if canary_cfg else 0.02
    if not 0 < alpha < 0.5:
        raise project.config.error(f"deploy.canary.alpha {alpha} must be between 0 and 0.5", "deploy", "canary")
    if not 0 <= margin < 1:
        raise project.config.error(f"deploy.canary.margin {margin} must be at least 0 and below 1", "deploy", "canary")
    # the same period for both: production rows from before the canary started saw other inputs
    canary_start = min(r["time"] for r in canary.rows)
    rows_of = {
        "canary": canary.rows,
        "production": [r for r in (prod.rows if prod else []) if r["time"] >= canary_start],
    }
    pairs = {
        role: [(r["output"], feedback[r["request_id"]]) for r in rows if r["request_id"] in feedback]
        for role, rows in rows_of.items()
    }
    regression = _is_regression(metric_name, [o for both in pairs.values() for o, _ in both])
    errors: dict[str, list[float]] = {}
    correct: dict[str, int] = {}
    for role, labelled in pairs.items():
        if regression:
            errors[role] = [abs(float(o) - float(y)) for o, y in labelled if _number(o) and _number(y)]
            verdict.labelled[role] = len(errors[role])
            verdict.scores[role] = round(math.fsum(errors[role]) / len(errors[role]), 4) if errors[role] else None
        else:
            correct[role] = sum(1 for o, y in labelled if o == y)
            verdict.labelled[role] = len(labelled)
            verdict.scores[role] = round(correct[role] / len(labelled), 4) if labelled else None
    if len(canary.rows) < min_requests:
        verdict.reason = f"the canary answered {len(canary.rows)} of deploy.canary.min_requests {min_requests} requests"
        return verdict
    if min(verdict.labelled.values()) < MIN_LABELLED_FOR_VERDICT:
        verdict.reason = f"not enough feedback yet ({verdict.labelled['canary']} canary, {verdict.labelled['production']} production labelled rows; need {MIN_LABELLED_FOR_VERDICT} each)"
        return verdict
    if regression:
        test = compare_errors(errors["production"], errors["canary"], margin=margin, alpha=alpha)
    else:
        n = verdict.labelled
        test = compare_accuracy(
            correct["production"], n["production"], correct["canary"], n["canary"], margin=margin, alpha=alpha
        )
    verdict.comparison = test
    verdict.verdict = test.verdict
    verdict.reason = _explain(test, verdict.labelled)
    return verdict


def _is_regression(metric_name: str, outputs: list) -> bool:
    """A numeric target: the monitored metric is an error, or the model answers non-integral numbers."""
    if metric_name in ("mae", "rmse"):
        return True
    return any(isinstance(o, float) and not o.is_integer() for o in outputs)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _explain(test: Comparison, labelled: dict[str, int]) -> str:
    """One sentence: the two scores, the bound that decided, and the rule."""
    conf = f"{1 - test.alpha:.0%}"
    if test.metric == "accuracy":
        scores = f"canary accuracy {test.canary:.3f} vs production {test.production:.3f}"
        diff = "production - canary accuracy"
        margin = f"the margin {test.margin:g}"
    else:
        scores = f"canary mean absolute error {test.canary:.4g} vs production {test.production:.4g}"
        diff = "canary - production mean absolute error"
        margin = (
            f"the margin {test.margin:.4g} ({test.margin / test.production:.0%} of production's)"
            if test.production
            else "the margin 0"
        )
    scores += f" on {labelled['canary']:,} and {labelled['production']:,} labelled rows"
    if test.verdict == "rollback":
        return f"{scores}: the canary is worse ({diff} >= {test.lower:.4f} > 0 with {conf} confidence, {test.method})"
    if test.verdict == "promote":
        return (
            f"{scores}: not worse by more than {margin} ({diff} <= {test.upper:.4f} with {conf} confidence, "
            f"{test.method})"
        )
    return (
        f"{scores}: not enough evidence yet ({diff} is between {test.lower:.4f} and {test.upper:.4f}; promotion "
        f"needs its {conf} upper bound below {margin}, rollback its lower bound above 0)"
    )


def _buckets(times: list[float]) -> tuple[float, float, list[str]]:
    start, end = min(times), max(times)
    span = max(end - start, 1e-9)
    fmt = "%H:%M:%S" if span < 3600 else ("%d %H:%M" if span < 7 * 86400 else "%m-%d")
    labels = [time.strftime(fmt, time.gmtime(start + span * (i + 0.5) / TIME_BUCKETS)) for i in range(TIME_BUCKETS)]
    return start, span, labels


def _drift_over_time(judged: list, columns: list[str], method: str, threshold: float) -> Chart | None:
    """The drift statistic of each column per time bucket, for the busiest judged groups."""
    from ..checks.drift import compare

    if not judged:
        return None
    start, span, labels = _buckets([r["time"] for g, _ in judged for r in g.rows])
    series: dict[str, list[float | None]] = {}
    for group, reference in sorted(judged, key=lambda item: -len(item[0].rows))[:2]:
        buckets: list[list[dict]] = [[] for _ in range(TIME_BUCKETS)]
        for r in group.rows:
            buckets[min(int((r["time"] - start) / span * TIME_BUCKETS), TIME_BUCKETS - 1)].append(r)
        for column in columns:
            ref = reference["columns"].get(column)
            if ref is None or ref["kind"] != "numeric":
                continue
            values: list[float | None] = []
            for bucket in buckets:
                xs = [r["inputs"].get(column) for r in bucket]
                xs = [x for x in xs if isinstance(x, (int, float)) and not isinstance(x, bool)]
                values.append(round(compare(ref, xs, method, threshold).statistic, 4) if len(xs) >= 20 else None)
            if any(v is not None for v in values):
                series[f"{column} v{group.version} {group.role}"] = values
    if not series:
        return None
    return Chart(f"Input drift ({method}) over time", "line", labels, series, x_label="time (UTC)", y_label=method)


def _time_charts(groups: dict, feedback: dict, metric_name: str, since: float, until: float) -> list[Chart]:
    times = [r["time"] for g in groups.values() for r in g.rows]
    if not times:
        return []
    start, end = min(times), max(times)
    span = max(end - start, 1e-9)
    n = TIME_BUCKETS
    fmt = "%H:%M:%S" if span < 3600 else ("%d %H:%M" if span < 7 * 86400 else "%m-%d")
    x = [time.strftime(fmt, time.gmtime(start + span * (i + 0.5) / n)) for i in range(n)]
    counts: dict[str, list[float]] = {}
    scores: dict[str, list[float | None]] = {}
    for group in groups.values():
        buckets: list[list[dict]] = [[] for _ in range(n)]
        for r in group.rows:
            buckets[min(int((r["time"] - start) / span * n), n - 1)].append(r)
        name = f"v{group.version} {group.role}"
        counts[name] = [float(len(b)) for b in buckets]
        values: list[float | None] = []
        for b in buckets:
            pairs = [(r["output"], feedback[r["request_id"]]) for r in b if r["request_id"] in feedback]
            values.append(
                round(_metric(metric_name, [o for o, _ in pairs], [y for _, y in pairs]), 4) if pairs else None
            )
        if any(v is not None for v in values):
            scores[name] = values
    charts = [Chart("Predictions over time", "line", x, counts, x_label="time (UTC)", y_label="predictions")]
    if scores:
        charts.append(
            Chart(f"Live {metric_name} over time", "line", x, scores, x_label="time (UTC)", y_label=metric_name)
        )
    return charts
