"""Running the checks of a target: rules (one pass), then drift against the reference, as one Report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..config import CheckSuite, DriftCheck
from ..errors import UsageError
from ..report import Chart, Finding, Report, Table
from . import _read
from . import reference as _reference
from .drift import DriftResult, compare


def resolve_target(project, target: str) -> tuple[str, CheckSuite, str]:
    """(name, suite, path relative to the project) for a source name, a checks key or a data path."""
    config = project.config
    if target in config.checks:
        source = config.sources.get(target)
        return target, config.checks[target], source.path if source else target
    if target in config.sources:
        return target, CheckSuite(), config.sources[target].path
    norm = Path(target).as_posix().removeprefix("./")
    for name, source in config.sources.items():
        if source.path == norm:
            return name, config.checks.get(name, CheckSuite()), norm
    if norm in config.checks:
        return norm, config.checks[norm], norm
    if (project.root / norm).is_file():
        return norm, CheckSuite(), norm
    known = sorted({*config.checks, *config.sources})
    raise UsageError(
        f"unknown check target {target!r}",
        hint=f"Use a source name, a `checks:` key or a data file path. Known: {', '.join(known) or '(none)'}.",
    )


def _known_suffix(path: Path) -> bool:
    return any(s.lower() in _read._EXTENSIONS for s in path.suffixes)


def _format(suite: CheckSuite, path: Path, target_path: str) -> str:
    if suite.format:
        return suite.format
    for candidate in (path, Path(target_path)):
        if _known_suffix(candidate):
            return _read.detect_format(candidate)
    return "csv"


def check_file(
    project, target: str, path: str | Path | None = None, *, reference=None, fail_on_drift: bool | None = None
) -> Report:
    """Check the file at ``path`` (default: the target's own path) against the target's suite.

    Rule failures are "fail"; drift is "warn" unless ``drift.block`` (or ``fail_on_drift``).
    """
    started = time.perf_counter()
    name, suite, target_path = resolve_target(project, target)
    path = Path(path) if path is not None else project.root / target_path
    report = Report(kind="check", title=f"Data checks: {name}")
    report.summary["target"] = name
    report.summary["file"] = target_path
    if not path.is_file():
        # a stage output not produced yet (CI checks before it runs the pipeline) is a warning;
        # a missing source file is a failure
        produced = name not in project.config.sources and _is_stage_output(project, target_path)
        hint = "Run `flowtide pull` (sources) or `flowtide run` (stage outputs), or `flowtide fetch`."
        if produced:
            message = f"{target_path} does not exist (a stage output not produced yet; `flowtide run` makes it)"
        elif name in project.config.sources:
            message = f"{target_path} does not exist; run `flowtide pull {name}` (or `flowtide fetch`)"
        else:
            message = f"{target_path} does not exist"
        report.findings.append(Finding("warn" if produced else "fail", name, "exists", message, details={"hint": hint}))
        return report
    fmt = _format(suite, path, target_path)
    from .engine import evaluate

    evaluation = evaluate(suite, path, name, fmt)
    report.findings.extend(evaluation.findings)
    if evaluation.rows is not None:
        report.summary["rows"] = evaluation.rows
    report.summary["format"] = fmt
    drift_spec = suite.drift
    if drift_spec is None and reference is not None:
        drift_spec = DriftCheck()
    if drift_spec is not None and evaluation.lazy is not None:
        block = drift_spec.block if fail_on_drift is None else fail_on_drift
        _run_drift(project, report, name, suite, drift_spec, path, target_path, fmt, reference, block)
    report.summary["seconds"] = round(time.perf_counter() - started, 3)
    return report


def _is_stage_output(project, rel: str) -> bool:
    outs = [out for stage in project.config.stages.values() for out in stage.outs]
    return any(rel == out or rel.startswith(out.rstrip("/") + "/") for out in outs)


def drift_columns(suite: CheckSuite, spec: DriftCheck, names: list[str]) -> dict[str, str | None]:
    """Columns to test and their declared types; by default the typed, non-temporal, non-unique ones."""
    if spec.columns:
        return {c: (suite.columns[c].type if c in suite.columns else None) for c in spec.columns}
    chosen = {
        c: s.type
        for c, s in suite.columns.items()
        if s.type and s.type not in ("date", "datetime") and not s.unique and c in names
    }
    return chosen or dict.fromkeys(names)


def _run_drift(project, report, name, suite, spec, path, target_path, fmt, reference, block) -> None:
    ref = _reference.resolve(project, name, target_path, reference, spec.reference)
    if ref is None:
        report.findings.append(
            Finding(
                "info",
                name,
                "drift",
                "no drift check: no reference (no drift.reference, no trained model data, no previous version in the lock)",
            )
        )
        return
    report.summary["reference"] = ref.origin
    names = _read.scan(path, fmt, lenient=fmt == "csv").collect_schema().names()
    columns = drift_columns(suite, spec, names)
    absent = [c for c in columns if c not in names]
    for column in absent:
        report.findings.append(
            Finding("fail", name, "drift", f"drift column {column!r} is not in the data", column=column)
        )
    columns = {c: t for c, t in columns.items() if c in names}
    if not columns:
        return
    import polars as pl

    try:
        # a store blob has no extension: it is read in the target's format
        ref_fmt = _read.detect_format(ref.path) if _known_suffix(ref.path) else fmt
        prof = _reference.cached_profile(project, ref, ref_fmt, columns, suite.null_values)
        wanted = {c: t for c, t in columns.items() if c in prof["columns"]}
        kinds = {c: prof["columns"][c]["kind"] for c in wanted}

        def judge(column: str, values) -> DriftResult:
            ref_profile = prof["columns"][column]
            method = spec.method
            if method in ("ks", "wasserstein") and ref_profile["kind"] == "categorical":
                method = None
            threshold = spec.thresholds.get(column, spec.threshold if method == spec.method else None)
            return compare(ref_profile, values, method, threshold, column=column, bins=spec.bins)

        # one column read while the previous one is compared
        results = _reference.map_columns(judge, _reference.iter_columns(path, fmt, wanted, suite.null_values, kinds))
    except (pl.exceptions.PolarsError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        report.findings.append(
            Finding("fail" if block else "warn", name, "drift", f"cannot compare with the reference: {first}")
        )
        return
    for column in columns:
        if column not in prof["columns"]:
            report.findings.append(
                Finding("warn", name, "drift", f"{column!r} is not in the reference data", column=column)
            )
    for column in prof["columns"]:
        result = results.get(column)
        if result is None:  # typed away by a lenient CSV read: reported as missing by the checks above
            continue
        report.findings.append(drift_finding(name, result, block))
        report.charts.append(drift_chart(name, result, block))
    rows = [
        [
            f.column,
            f.details.get("method"),
            f.details.get("statistic"),
            f.details.get("threshold"),
            f.details.get("verdict"),
        ]
        for f in report.findings
        if f.rule == "drift" and f.details.get("method")
    ]
    if rows:
        report.tables.append(Table("Drift", ["column", "method", "statistic", "threshold", "verdict"], rows))


def drift_finding(target: str, result: DriftResult, block: bool = False) -> Finding:
    status = ("fail" if block else "warn") if result.drifted else "pass"
    return Finding(
        status,
        target,
        "drift",
        result.describe(),
        column=result.column,
        value=round(result.statistic, 6) if result.statistic == result.statistic else None,
        bound=result.threshold,
        details={
            "method": result.method,
            "statistic": result.statistic,
            "threshold": result.threshold,
            "kind": result.kind,
            "verdict": result.verdict,
            "n_reference": result.n_reference,
            "n_current": result.n_current,
        },
    )


def drift_chart(target: str, result: DriftResult, block: bool = False) -> Chart:
    chart = result.chart
    if "edges" in chart:
        edges = chart["edges"]
        x: list[Any] = [(edges[i] + edges[i + 1]) / 2 for i in range(len(edges) - 1)]
    else:
        x = list(chart.get("categories", []))
    subtitle = result.describe()
    outside, rows = chart.get("outside_reference"), chart.get("rows")
    if outside and rows:
        subtitle += f" · {outside} of {rows} current values outside the reference range"
    if "edges" in chart:
        subtitle += f" · chart: {len(x)} equal-width bins"
    return Chart(
        title=f"{result.column} ({target})",
        kind="histogram",
        x=x,
        series={"reference": chart.get("reference", []), "current": chart.get("current", [])},
        x_label=result.column,
        y_label="share of rows",
        y_format=".0%",
        status=("fail" if block else "warn") if result.drifted else "pass",
        subtitle=subtitle,
    )


def drift_against(
    profile: dict,
    path,
    columns,
    method: str | None = None,
    threshold: float | None = None,
    *,
    target: str = "data",
    fmt: str | None = None,
    block: bool = False,
    null_values: list[str] | tuple[str, ...] = _read.NULL_VALUES,
) -> list[Finding]:
    """Drift findings for ``columns`` of the file at ``path`` against a stored ``profile``."""
    path = Path(path)
    fmt = _read.detect_format(path, fmt)
    profiles = profile.get("columns", profile)
    if not isinstance(columns, dict):
        columns = dict.fromkeys(columns or profiles)
    wanted = {c: t for c, t in columns.items() if c in profiles}
    kinds = {c: profiles[c]["kind"] for c in wanted}
    found = _reference.map_columns(  # one column read while the previous one is compared
        lambda column, values: drift_finding(
            target, compare(profiles[column], values, method, threshold, column=column), block
        ),
        _reference.iter_columns(path, fmt, wanted, null_values, kinds),
    )
    missing = "column {!r} missing from the data or the profile"
    return [
        found.get(column) or Finding("fail", target, "drift", missing.format(column), column=column)
        for column in columns
    ]


def run_checks(
    project, targets: list[str] | None = None, *, reference=None, fail_on_drift: bool | None = None
) -> Report:
    """Check every target (default: every key under `checks:`) into one report."""
    targets = list(targets or project.config.checks)
    if not targets:
        raise UsageError(
            "no checks configured",
            hint="Add a `checks:` section to flowtide.yaml (try `flowtide check --infer TARGET`).",
        )
    if len(targets) == 1:
        report = check_file(project, targets[0], reference=reference, fail_on_drift=fail_on_drift)
        report.title = f"Data checks: {report.summary.get('target', targets[0])}"
        return report
    report = Report(kind="check", title="Data checks")
    started = time.perf_counter()
    for target in targets:
        part = check_file(project, target, reference=reference, fail_on_drift=fail_on_drift)
        report.findings.extend(part.findings)
        report.charts.extend(part.charts)
        for table in part.tables:
            report.tables.append(Table(f"{table.title}: {part.summary.get('target')}", table.columns, table.rows))
    report.summary["targets"] = len(targets)
    report.summary["seconds"] = round(time.perf_counter() - started, 3)
    return report
