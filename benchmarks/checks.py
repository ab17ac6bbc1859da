"""Data checks side by side: flowtide vs a hand-written polars floor, pandera, Great Expectations, Evidently.

Run with the bench venv (peers live there): ``.venv-bench/bin/python -m benchmarks.checks``.
Each measurement runs in its own process, so its peak memory (ru_maxrss) is its
own; times exclude interpreter start-up and imports but include reading the file.
``--rows 200000`` shrinks everything for a quick look.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NUMERIC = [f"num{i}" for i in range(10)]
CATEGORICAL = [f"cat{i}" for i in range(5)]
LABELS = [[f"c{i}_{k}" for k in range(4 + i)] for i in range(5)]


# --- data ---------------------------------------------------------------------


def make_frame(rows: int, seed: int = 0, shift: float = 0.0):
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    data = {"id": np.arange(rows, dtype=np.int64)}
    for i, name in enumerate(NUMERIC):
        data[name] = rng.normal(10 * i + shift, 1 + i, rows)
    for i, name in enumerate(CATEGORICAL):
        weights = np.arange(1, len(LABELS[i]) + 1, dtype=float)
        data[name] = np.asarray(LABELS[i])[rng.choice(len(LABELS[i]), rows, p=weights / weights.sum())]
    return pl.DataFrame(data)


def write_table(rows: int, seed: int, *paths: Path) -> None:
    """Write the seeded table to each path (format from the suffix) in a child process.

    The parent must stay small: Linux carries a process's peak RSS across fork+exec into
    the child's ru_maxrss, so a parent holding the table would inflate every measurement.
    """
    subprocess.run(
        [sys.executable, "-m", "benchmarks.checks", "--make", str(rows), str(seed), *map(str, paths)],
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )


def _make(rows: str, seed: str, *paths: str) -> None:
    frame = make_frame(int(rows), seed=int(seed))
    for path in paths:
        frame.write_parquet(path) if path.endswith(".parquet") else frame.write_csv(path)


def suite() -> dict:
    """The suite every tool runs: id unique/not null, ranges and not-null on numbers, sets on categories, a mean."""
    columns: dict = {"id": {"type": "int", "unique": True, "not_null": True, "min": 0}}
    for i, name in enumerate(NUMERIC):
        columns[name] = {"type": "float", "not_null": True, "min": 10 * i - 20 * (1 + i), "max": 10 * i + 20 * (1 + i)}
    columns["num0"]["mean"] = {"min": -1, "max": 1}
    for i, name in enumerate(CATEGORICAL):
        columns[name] = {"type": "str", "not_null": True, "in": LABELS[i]}
    return {"rows": {"min": 1}, "columns": columns}


def _project_yaml(data_path: str) -> str:
    return json.dumps({"project": "bench", "checks": {data_path: suite()}})  # JSON is YAML


# --- one measurement per process ---------------------------------------------


def _flowtide(path: str) -> None:
    from flowtide.checks import check_file
    from flowtide.project import Project

    root = Path(path).parent
    project = Project.load(root)
    report = check_file(project, Path(path).name)
    return {"failed": sorted({f.column for f in report.findings if f.status == "fail" and f.column})}


def _polars_floor(path: str) -> dict:
    import polars as pl

    lf = pl.scan_parquet(path) if path.endswith(".parquet") else pl.scan_csv(path)
    spec = suite()["columns"]
    exprs = [pl.len().alias("rows")]
    for name, rule in spec.items():
        col = pl.col(name)
        exprs.append(col.null_count().alias(f"{name}_nulls"))
        if "min" in rule:
            exprs.append((col < rule["min"]).sum().alias(f"{name}_min"))
        if "max" in rule:
            exprs.append((col > rule["max"]).sum().alias(f"{name}_max"))
        if "in" in rule:
            exprs.append((~col.is_in(rule["in"])).sum().alias(f"{name}_in"))
        if rule.get("unique"):  # the fastest expression we know (is_duplicated().sum() is ~2.5x slower)
            exprs.append((pl.len() - col.n_unique()).alias(f"{name}_dups"))
        if "mean" in rule:
            exprs.append(col.mean().alias(f"{name}_mean"))
    row = lf.select(exprs).collect(engine="streaming").row(0, named=True)
    failed = set()
    for name, rule in spec.items():
        counts = [row[f"{name}_{k}"] for k in ("nulls", "min", "max", "in", "dups") if f"{name}_{k}" in row]
        mean = row.get(f"{name}_mean")
        if any(counts) or (mean is not None and not rule["mean"]["min"] <= mean <= rule["mean"]["max"]):
            failed.add(name)
    return {"failed": sorted(failed)}


def _read_pandas(path: str):
    import pandas as pd

    return pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path, engine="pyarrow")


def _pandera_pandas(path: str) -> dict:
    import pandera.pandas as pa

    spec = suite()["columns"]
    columns = {}
    for name, rule in spec.items():
        checks = []
        if "min" in rule and "max" in rule:
            checks.append(pa.Check.in_range(rule["min"], rule["max"]))
        elif "min" in rule:
            checks.append(pa.Check.ge(rule["min"]))
        if "in" in rule:
            checks.append(pa.Check.isin(rule["in"]))
        if "mean" in rule:
            lo, hi = rule["mean"]["min"], rule["mean"]["max"]
            checks.append(pa.Check(lambda s, lo=lo, hi=hi: lo <= s.mean() <= hi))
        columns[name] = pa.Column(nullable=False, unique=rule.get("unique", False), checks=checks)
    schema = pa.DataFrameSchema(columns, checks=[pa.Check(lambda df: len(df) >= 1)])
    try:
        schema.validate(_read_pandas(path), lazy=True)
    except pa.errors.SchemaErrors as exc:
        return {"failed": sorted({str(c) for c in exc.failure_cases["column"].dropna()})}
    return {"failed": []}


def _pandera_polars(path: str) -> dict:
    import pandera.polars as pa
    import polars as pl

    spec = suite()["columns"]
    columns = {}
    for name, rule in spec.items():
        checks = []
        if "min" in rule and "max" in rule:
            checks.append(pa.Check.in_range(rule["min"], rule["max"]))
        elif "min" in rule:
            checks.append(pa.Check.ge(rule["min"]))
        if "in" in rule:
            checks.append(pa.Check.isin(rule["in"]))
        columns[name] = pa.Column(nullable=False, unique=rule.get("unique", False), checks=checks)
        if "mean" in rule:
            lo, hi = rule["mean"]["min"], rule["mean"]["max"]
            checks.append(
                pa.Check(lambda data, lo=lo, hi=hi: data.lazyframe.select(pl.col(data.key).mean().is_between(lo, hi)))
            )
    schema = pa.DataFrameSchema(columns)
    lf = pl.scan_parquet(path) if path.endswith(".parquet") else pl.scan_csv(path)
    try:
        schema.validate(lf.collect(), lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        return {"failed": sorted({str(c) for c in cases["column"].to_list() if c is not None})}
    return {"failed": []}


def _great_expectations(path: str) -> dict:
    import great_expectations as gx

    df = _read_pandas(path)
    context = gx.get_context(mode="ephemeral")
    batch = (
        context.data_sources.add_pandas("bench")
        .add_dataframe_asset("frame")
        .add_batch_definition_whole_dataframe("all")
    )
    expectations = gx.ExpectationSuite(name="bench")
    E = gx.expectations
    expectations.add_expectation(E.ExpectTableRowCountToBeBetween(min_value=1))
    for name, rule in suite()["columns"].items():
        expectations.add_expectation(E.ExpectColumnValuesToNotBeNull(column=name))
        if "min" in rule:
            expectations.add_expectation(
                E.ExpectColumnValuesToBeBetween(column=name, min_value=rule["min"], max_value=rule.get("max"))
            )
        if "in" in rule:
            expectations.add_expectation(E.ExpectColumnValuesToBeInSet(column=name, value_set=rule["in"]))
        if rule.get("unique"):
            expectations.add_expectation(E.ExpectColumnValuesToBeUnique(column=name))
        if "mean" in rule:
            expectations.add_expectation(
                E.ExpectColumnMeanToBeBetween(column=name, min_value=rule["mean"]["min"], max_value=rule["mean"]["max"])
            )
    expectations = context.suites.add(expectations)
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(data=batch, suite=expectations, name="bench")
    )
    result = validation.run(batch_parameters={"dataframe": df})
    failed = {r.expectation_config.kwargs.get("column") for r in result.results if not r.success}
    return {"failed": sorted(c for c in failed if c)}


def _drift_columns() -> list[str]:
    return NUMERIC + CATEGORICAL


def _flowtide_profile(ref: str, cur: str) -> None:
    from flowtide.checks import profile

    out = profile(ref, {c: ("float" if c in NUMERIC else "str") for c in _drift_columns()})
    Path(ref + ".profile.json").write_text(json.dumps(out))


def _flowtide_drift(ref: str, cur: str) -> dict:
    from flowtide.checks import drift_against

    prof = json.loads(Path(ref + ".profile.json").read_text())  # computed once, at training time
    findings = drift_against(prof, cur, {c: ("float" if c in NUMERIC else "str") for c in _drift_columns()})
    return {"flagged": sum(f.details.get("verdict") == "drift" for f in findings), "columns": len(findings)}


def _flowtide_drift_tests(ref: str, cur: str) -> dict:
    """Profile and compare with the p-value tests: KS for numbers, chi-squared for categories (alpha 0.05)."""
    from flowtide.checks import drift_against, profile

    columns = {c: ("float" if c in NUMERIC else "str") for c in _drift_columns()}
    findings = drift_against(profile(ref, columns), cur, columns, "ks")
    return {"flagged": sum(f.details.get("verdict") == "drift" for f in findings), "columns": len(findings)}


def _flowtide_drift_full(ref: str, cur: str) -> dict:
    """Profile and compare (the first check against a new reference)."""
    _flowtide_profile(ref, cur)
    return _flowtide_drift(ref, cur)


def _evidently(ref: str, cur: str) -> dict:
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    reference = pd.read_parquet(ref, columns=_drift_columns())
    current = pd.read_parquet(cur, columns=_drift_columns())
    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    flagged = 0
    for metric in snapshot.dict()["metrics"]:
        if "ValueDrift" in str(metric.get("metric_name", "")) or "ValueDrift" in str(
            metric.get("config", {}).get("type", "")
        ):
            value = metric.get("value")
            threshold = (metric.get("config") or {}).get("threshold")
            method = (metric.get("config") or {}).get("method", "")
            if isinstance(value, (int, float)) and threshold is not None:
                p_value = "p_value" in str(method).lower() or "test" in str(method).lower()
                flagged += bool(value < threshold if p_value else value >= threshold)
    return {"flagged": int(flagged), "columns": len(_drift_columns())}


MEASURES = {
    "flowtide": _flowtide,
    "polars floor": _polars_floor,
    "pandera (pandas)": _pandera_pandas,
    "pandera (polars)": _pandera_polars,
    "great_expectations": _great_expectations,
    "flowtide drift": _flowtide_drift,
    "flowtide drift+profile": _flowtide_drift_full,
    "flowtide ks/chi2": _flowtide_drift_tests,
    "evidently": _evidently,
}


PREIMPORT = {
    "flowtide": ["polars", "flowtide.checks", "flowtide.checks.engine", "flowtide.project", "rich"],
    "polars floor": ["polars"],
    "pandera (pandas)": ["pandas", "pandera.pandas"],
    "pandera (polars)": ["polars", "pandera.polars"],
    "great_expectations": ["pandas", "great_expectations"],
    "flowtide drift": ["polars", "numpy", "scipy.special", "flowtide.checks"],
    "flowtide drift+profile": ["polars", "numpy", "scipy.special", "flowtide.checks"],
    "flowtide ks/chi2": ["polars", "numpy", "scipy.special", "flowtide.checks"],
    "evidently": ["pandas", "evidently", "evidently.presets"],
}


REPEAT = 3  # the drift figures: fresh process each, best kept


def _one(name: str, *paths: str) -> None:
    """Child process: run one measurement, print JSON with seconds, peak MB and any result.

    Imports happen before the clock starts (every tool pays its import once per process,
    which is not what this compares); reading the data is inside the measurement.
    """
    import importlib

    fn = MEASURES[name]
    try:
        for module in PREIMPORT.get(name, []):
            importlib.import_module(module)
        started = time.perf_counter()
        result = fn(*paths)
        seconds = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"seconds": seconds, "peak_mb": peak, "result": result}))
    except ImportError as exc:
        print(json.dumps({"skip": f"not importable: {exc.name or exc}"}))
    except Exception as exc:  # a peer's API differs: report it, keep benchmarking the others
        print(json.dumps({"error": f"{type(exc).__name__}: {str(exc)[:200]}"}))


def measure(name: str, *paths: str, timeout: float = 600) -> dict:
    """One run of one tool in a fresh process (the drift figures below still take the best of a few)."""
    best = _measure_once(name, *paths, timeout=timeout)
    for _ in range(2):
        if "seconds" not in best or best["seconds"] > 10:
            break
        again = _measure_once(name, *paths, timeout=timeout)
        if "seconds" in again and again["seconds"] < best["seconds"]:
            best = again
    return best


def _measure_once(name: str, *paths: str, timeout: float = 600) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.checks", "--one", name, *paths],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=Path(__file__).resolve().parent.parent,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1][:200]}
    return json.loads(lines[-1])


# --- the run ----------------------------------------------------------------


def _row(name: str, result: dict, base: dict | None, label: str) -> str:
    if "seconds" not in result:
        return f"  {name:<24} {'—':>9} {'':>9} {'':>9}  {result.get('skip') or result.get('error')}"
    ratio = ""
    if base and "seconds" in base:
        ratio = f"{result['seconds'] / base['seconds']:.1f}x"
    return f"  {name:<24} {result['seconds']:>8.2f}s {result['peak_mb']:>7.0f}MB {ratio:>9}  {label}"


PEERS = ("polars floor", "pandera (polars)", "pandera (pandas)", "great_expectations")


def _planted(tmp: Path, tools: list[str]) -> bool:
    """Every tool on a table with one planted error per rule kind: do they name the same failing columns?"""
    import polars as pl

    path = tmp / "planted.parquet"
    frame = make_frame(20_000, seed=7).with_row_index("_i")
    frame = frame.with_columns(
        id=pl.when(pl.col("_i") == 5).then(4).otherwise(pl.col("id")),  # a duplicate id
        num3=pl.when(pl.col("_i") == 9).then(None).otherwise(pl.col("num3")),  # a null
        num5=pl.when(pl.col("_i") == 11).then(10_000.0).otherwise(pl.col("num5")),  # out of range
        cat2=pl.when(pl.col("_i") == 13).then(pl.lit("nope")).otherwise(pl.col("cat2")),  # not in the set
        num0=pl.col("num0") + 5,  # the mean leaves [-1, 1]
    ).drop("_i")
    frame.write_parquet(path)
    (tmp / "flowtide.yaml").write_text(_project_yaml(path.name))
    planted = ["cat2", "id", "num0", "num3", "num5"]
    print(f"planted errors in {', '.join(planted)} (20,000 rows): the failing columns each tool names")
    agree = True
    for tool in tools:
        result = _measure_once(tool, str(path))
        failed = (result.get("result") or {}).get("failed")
        if failed is None:
            print(f"  {tool:<24} {result.get('skip') or result.get('error')}")
            continue
        same = failed == planted
        agree &= same or tool != "flowtide"
        print(f"  {tool:<24} {', '.join(failed) or 'none'}{'' if same else '   <- differs'}")
    return agree


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.checks", description=__doc__)
    parser.add_argument(
        "--rows", type=int, nargs="*", default=[1_000_000, 5_000_000], help="table sizes (default 1M and 5M)"
    )
    parser.add_argument("--drift-rows", type=int, default=1_000_000, help="drift vs Evidently at this size")
    parser.add_argument(
        "--drift-big-rows", type=int, default=10_000_000, help="drift of flowtide alone at this size (0: skip)"
    )
    parser.add_argument("--drift-only", action="store_true", help="only the drift figures")
    parser.add_argument("--pairs", type=int, default=10, help="same-distribution pairs for the false-positive rate")
    parser.add_argument(
        "--fp-rows",
        type=int,
        default=1_000,
        help="rows per sample for the false-positive rate (Evidently tests up to 1000)",
    )
    parser.add_argument("--skip", nargs="*", default=[], help="measurements to skip, e.g. great_expectations")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per figure (medians reported)")
    parser.add_argument("--one", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--make", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        _one(*args.one)
        return 0
    if args.make:
        _make(*args.make)
        return 0
    from ._alternate import alternate, table

    tools = ["flowtide", *(peer for peer in PEERS if peer not in args.skip)]
    with tempfile.TemporaryDirectory(prefix="flowtide-bench-checks-") as tmp:
        tmp = Path(tmp)
        if args.drift_only:
            _drift(tmp, args)
            return 0
        (tmp / ".flowtide").mkdir(exist_ok=True)
        agree = _planted(tmp, tools)
        print("\ndata checks: one suite (1 id, 10 numeric, 5 categorical columns; 47 rules), read + validate;")
        print("each run a fresh process, imports before the clock; the polars floor is the fastest expression per rule")
        comparisons = []
        peaks: dict[str, list[float]] = {}
        for rows in args.rows:
            write_table(rows, 0, tmp / f"table_{rows}.parquet", tmp / f"table_{rows}.csv")
            for fmt in ("parquet", "csv"):
                path = tmp / f"table_{rows}.{fmt}"
                (tmp / "flowtide.yaml").write_text(_project_yaml(path.name))
                _measure_once("flowtide", str(path))  # caches the parsed flowtide.yaml, as any second run has

                def run(tool: str, path: Path = path):
                    def once() -> float | None:
                        result = _measure_once(tool, str(path))
                        if "seconds" not in result or (result.get("result") or {}).get("failed"):
                            return None  # could not run, or judged the clean table wrongly: no figure
                        peaks.setdefault(tool, []).append(result["peak_mb"])
                        return result["seconds"]

                    return once

                label = f"{rows:,} rows, {fmt} ({path.stat().st_size / 1e6:.0f} MB)"
                comparison = alternate(label, {tool: run(tool) for tool in tools}, args.rounds, warmup=False)
                comparisons.append(comparison)
                print(table([comparison]), flush=True)
            for fmt in ("parquet", "csv"):
                (tmp / f"table_{rows}.{fmt}").unlink()
        print("\n" + table(comparisons, title="data checks, all sizes (peer ÷ flowtide > 1: flowtide is faster)"))
        print("  peak memory (median MB): " + ", ".join(f"{t} {sorted(v)[len(v) // 2]:.0f}" for t, v in peaks.items()))
        _drift(tmp, args)
    return 0 if agree else 1


def _drift_figure(label: str, tools: list[str], ref: Path, cur: Path, rounds: int, timeout: float):
    """One drift figure, the tools alternating round by round, each run a fresh process (peak RSS its own)."""
    from ._alternate import alternate

    peaks: dict[str, list[float]] = {}
    flagged: dict[str, int] = {}

    def run(tool: str):
        def once() -> float | None:
            result = _measure_once(tool, str(ref), str(cur), timeout=timeout)
            if "seconds" not in result:
                print(f"  {tool}: {result.get('skip') or result.get('error')}", flush=True)
                return None
            peaks.setdefault(tool, []).append(result["peak_mb"])
            flagged[tool] = result["result"]["flagged"]
            return result["seconds"]

        return once

    comparison = alternate(label, {tool: run(tool) for tool in tools}, rounds, warmup=False)
    for tool in tools:
        if tool in peaks:
            comparison.notes[tool] = (
                f"peak {sorted(peaks[tool])[len(peaks[tool]) // 2]:,.0f} MB, flagged {flagged[tool]}/15"
            )
    return comparison


def _drift(tmp: Path, args) -> None:
    from ._alternate import table

    n = args.drift_rows
    ref, cur = tmp / "ref.parquet", tmp / "cur.parquet"
    write_table(n, 1, ref)
    write_table(n, 2, cur)
    _measure_once("flowtide drift+profile", str(ref), str(cur))  # stores the reference profile
    tools = ["flowtide drift", "flowtide drift+profile"]
    if "evidently" not in args.skip:
        tools.append("evidently")
    print(f"\ndrift: 15 columns, {n:,} reference rows vs {n:,} current rows (same distribution)", flush=True)
    comparisons = [_drift_figure(f"drift {n:,} rows x 15", tools, ref, cur, args.rounds, 1800)]
    print(table(comparisons, ours="flowtide drift"), flush=True)
    print("  " + "; ".join(f"{tool}: {note}" for tool, note in comparisons[0].notes.items()), flush=True)
    for path in (ref, cur):
        path.unlink()
    big = args.drift_big_rows
    if big:
        # Evidently needs ~85 s and several GB at 1M rows (pandas frames of both tables): at 10M it
        # would take a quarter of an hour and more memory than this machine has, so only flowtide runs here
        ref, cur = tmp / "ref_big.parquet", tmp / "cur_big.parquet"
        write_table(big, 1, ref)
        write_table(big, 2, cur)
        _measure_once("flowtide drift+profile", str(ref), str(cur))
        print(f"\ndrift: 15 columns, {big:,} vs {big:,} rows (target: <= 5 s and <= 1 GB with the profile stored)")
        comparisons.append(
            _drift_figure(
                f"drift {big:,} rows x 15", ["flowtide drift", "flowtide drift+profile"], ref, cur, args.rounds, 1800
            )
        )
        print(table(comparisons[-1:], ours="flowtide drift"), flush=True)
        print("  " + "; ".join(f"{tool}: {note}" for tool, note in comparisons[-1].notes.items()), flush=True)
        for path in (ref, cur):
            path.unlink()
    print(
        f"\nfalse-positive rate: {args.pairs} pairs of same-distribution samples, {args.fp_rows:,} rows each, 15 columns"
        " (nominal 5% for p-value tests at alpha 0.05)"
    )
    totals = {"flowtide drift+profile": 0, "flowtide ks/chi2": 0, "evidently": 0}
    seen = {k: 0 for k in totals}
    for pair in range(args.pairs):
        a, b = tmp / f"fp_a{pair}.parquet", tmp / f"fp_b{pair}.parquet"
        write_table(args.fp_rows, 100 + 2 * pair, a)
        write_table(args.fp_rows, 101 + 2 * pair, b)
        for name in totals:
            if name == "evidently" and "evidently" in args.skip:
                continue
            result = _measure_once(name, str(a), str(b))  # counts, not times: one run is enough
            if "result" in result:
                totals[name] += result["result"]["flagged"]
                seen[name] += result["result"]["columns"]
    for name, flagged in totals.items():
        label = {"flowtide drift+profile": "flowtide (psi/chi2)"}.get(name, name)
        if seen[name]:
            print(f"  {label:<24} {flagged}/{seen[name]} columns flagged = {flagged / seen[name]:.1%}")
        else:
            print(f"  {label:<24} not measured")


if __name__ == "__main__":
    sys.exit(main())
