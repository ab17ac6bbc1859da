"""flowtide check: rules in one pass, broken files, reports, references, --infer (real files, real CLI)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from flowtide.checks import check_file, profile, run_checks
from flowtide.config import parse_config
from flowtide.project import Project

from .conftest import run_cli

WEATHER_CHECKS = """\
project: weather
sources:
  weather:
    url: http://127.0.0.1:1/seattle-weather.csv
    path: data/weather.csv
checks:
  weather:
    rows: {min: 100}
    columns:
      date: {type: date, unique: true, not_null: true}
      precipitation: {type: float, min: 0, max: 100, not_null: true}
      temp_max: {type: float, not_null: true}
      wind: {type: float}
      weather: {type: str, in: [drizzle, rain, sun, snow, fog]}
    drift: {columns: [precipitation, temp_max, wind, weather]}
"""


def make_project(root: Path, config: str, files: dict[str, bytes | str | Path] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "flowtide.yaml").write_text(config)
    (root / ".flowtide").mkdir(exist_ok=True)
    for rel, content in (files or {}).items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, target)
        elif isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    return root


@pytest.fixture
def weather_project(tmp_path, weather_csv) -> Path:
    return make_project(tmp_path / "proj", WEATHER_CHECKS, {"data/weather.csv": weather_csv})


def broken_weather(weather_csv: Path) -> bytes:
    """The first 200 days of the weather CSV with one problem of each kind (data row numbers in comments)."""
    lines = weather_csv.read_bytes().split(b"\n")
    header, rows = lines[0], [r for r in lines[1:] if r][:200]
    fmt = rows[0].split(b",")[0]  # keep the file's own date spelling
    sep = b"/" if b"/" in fmt else b"-"

    def day(d: int, month: int = 1) -> bytes:
        return sep.join([b"2012", b"%02d" % month, b"%02d" % d])

    rows[4] = day(5) + b",,8.9,2.8,6.1,rain"  # row 5: null precipitation
    rows[9] = day(10) + b",-3.5,6.1,0.6,5.1,rain"  # row 10: out of range
    rows[14] = day(15) + b",0.0,3.3,-2.8,2.8,hail"  # row 15: unknown category
    rows[19] = day(19) + b",0.0,9.4,2.8,5.1,sun"  # row 20: duplicates row 19's date
    rows[24] = day(25) + b",lots,8.9,2.8,6.1,rain"  # row 25: wrong type
    rows[29] = day(30) + b",0.0,8.9,2.8,6.1,r\xe9in"  # row 30: not UTF-8
    return header + b"\n" + b"\n".join(rows) + b"\n" + day(19, 7) + b",0.0,2"  # row 201: truncated


def by_rule(report: dict) -> dict[tuple[str, str | None], dict]:
    return {(f["rule"], f["column"]): f for f in report["findings"] if f["status"] == "fail"}


# --- the acceptance case -------------------------------------------------------


def test_schema_violating_csv_fails_naming_every_problem_with_rows(weather_project, weather_csv):
    (weather_project / "data/weather.csv").write_bytes(broken_weather(weather_csv))
    result = run_cli("check", "weather", "--json", cwd=weather_project)
    assert result.code == 1, result.err
    report = json.loads(result.out)
    fails = by_rule(report)
    assert fails[("not_null", "precipitation")]["details"]["rows"] == [5]
    assert fails[("min", "precipitation")]["details"] == {"failed": 1, "rows": [10], "values": ["-3.5"]}
    assert fails[("in", "weather")]["details"]["rows"] == [15, 30]
    assert fails[("in", "weather")]["details"]["values"][0] == "hail"
    assert fails[("unique", "date")]["details"]["rows"] == [19, 20]
    assert fails[("type", "precipitation")]["details"] == {"failed": 1, "rows": [25], "values": ["lots"]}
    encoding = fails[("encoding", None)]
    assert encoding["details"]["rows"] == [30] and encoding["details"]["line"] == 31
    assert "not valid UTF-8 at byte offset" in encoding["message"]
    ragged = fails[("ragged_row", None)]
    assert ragged["details"]["rows"] == [201]
    assert ragged["message"].startswith("the last line (line 202, data row 201) has 3 of 6 fields")
    assert fails[("min", "precipitation")]["message"] == "1 row failed min (>= 0); first: row 10 (-3.5)"
    # the same content renders in every format
    md = run_cli("check", "weather", "--md", cwd=weather_project).out
    assert "row 10 (-3.5)" in md and "❌" in md


def test_healthy_weather_passes_and_writes_reports(weather_project):
    result = run_cli("check", cwd=weather_project)
    assert result.code == 0, result.out + result.err
    assert "Data checks: weather: passed" in result.out
    reports = weather_project / ".flowtide" / "reports"
    assert json.loads((reports / "check.json").read_text())["ok"] is True
    assert (reports / "check.md").read_text().startswith("## ✅ Data checks: weather: passed")
    assert (reports / "check.html").read_text().startswith("<!doctype html>")


def test_missing_file_is_a_failure_not_a_traceback(weather_project):
    (weather_project / "data/weather.csv").unlink()
    result = run_cli("check", "weather", "--json", cwd=weather_project)
    assert result.code == 1
    finding = json.loads(result.out)["findings"][0]
    assert (finding["rule"], finding["message"]) == (
        "exists",
        "data/weather.csv does not exist; run `flowtide pull weather` (or `flowtide fetch`)",
    )


def test_unknown_target_is_a_usage_error(weather_project):
    result = run_cli("check", "nope", cwd=weather_project)
    assert result.code == 2
    assert "unknown check target 'nope'" in result.err


def test_md_is_appended_to_the_github_step_summary(weather_project, monkeypatch, tmp_path):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = run_cli("check", "--md", cwd=weather_project)
    assert result.code == 0
    assert summary.read_text() == "earlier step\n" + result.out + "\n"


# --- one passing and one failing case per rule ---------------------------------

TABLE = "id,x,name,flag,day,stamp\n1,1.5,ann,true,2024-01-01,2024-01-01 10:00:00\n2,2.5,bob,false,2024-01-02,2024-01-02 11:00:00\n3,,cy,true,2024-01-03,2024-01-03 12:00:00\n4,4.5,dee,false,2024-01-04,2024-01-04 13:00:00\n"

RULES = [
    # (suite yaml, passes?)
    ("rows: {min: 4, max: 4}", True),
    ("rows: {min: 5}", False),
    ("rows: {max: 3}", False),
    ("required: [id, x]", True),
    ("required: [id, zz]", False),
    ("{strict: true, columns: {id: {}, x: {}, name: {}, flag: {}, day: {}, stamp: {}}}", True),
    ("{strict: true, columns: {id: {}, x: {}}}", False),
    ("freshness: {column: day, max_age_days: 100000}", True),
    ("freshness: {column: day, max_age_days: 1}", False),
    ("columns: {id: {type: int}}", True),
    ("columns: {name: {type: int}}", False),
    ("columns: {x: {type: float}}", True),
    ("columns: {name: {type: float}}", False),
    ("columns: {name: {type: str}}", True),
    ("columns: {flag: {type: bool}}", True),
    ("columns: {name: {type: bool}}", False),
    ("columns: {day: {type: date}}", True),
    ("columns: {name: {type: date}}", False),
    ("columns: {stamp: {type: datetime}}", True),
    ("columns: {name: {type: datetime}}", False),
    ("columns: {id: {not_null: true}}", True),
    ("columns: {x: {not_null: true}}", False),
    ("columns: {id: {unique: true}}", True),
    ("columns: {flag: {unique: true}}", False),
    ("columns: {x: {type: float, min: 1, max: 5}}", True),
    ("columns: {x: {type: float, min: 2}}", False),
    ("columns: {x: {type: float, max: 4}}", False),
    ("columns: {day: {type: date, min: '2024-01-01', max: '2024-12-31'}}", True),
    ("columns: {day: {type: date, min: '2024-01-02'}}", False),
    ("columns: {name: {in: [ann, bob, cy, dee]}}", True),
    ("columns: {name: {in: [ann, bob]}}", False),
    ("columns: {name: {regex: '[a-z]{2,3}'}}", True),
    ("columns: {name: {regex: '[a-z]{3}'}}", False),
    ("columns: {x: {max_null_fraction: 0.25}}", True),
    ("columns: {x: {max_null_fraction: 0.2}}", False),
    ("columns: {x: {type: float, mean: {min: 2.8, max: 3.0}}}", True),
    ("columns: {x: {type: float, mean: {min: 3.5}}}", False),
    ("columns: {x: {type: float, std: {max: 2}}}", True),
    ("columns: {x: {type: float, std: {max: 1}}}", False),
]


@pytest.mark.parametrize(("rule", "passes"), RULES, ids=[f"{r}-{'pass' if p else 'fail'}" for r, p in RULES])
def test_each_rule(tmp_path, rule, passes):
    body = rule if rule.startswith("{") else "{" + rule + "}"
    root = make_project(tmp_path / "p", f"project: t\nchecks:\n  data/t.csv: {body}\n", {"data/t.csv": TABLE})
    report = check_file(Project.load(root), "data/t.csv")
    assert report.ok is passes, report.to_markdown()
    if not passes:
        assert report.failures[0].message


def test_failing_rows_are_one_based_data_rows(tmp_path):
    root = make_project(
        tmp_path / "p", "project: t\nchecks:\n  data/t.csv: {columns: {x: {not_null: true}}}\n", {"data/t.csv": TABLE}
    )
    (finding,) = check_file(Project.load(root), "data/t.csv").failures
    assert finding.message == "1 row failed not_null; first: row 3 (null)"


def test_typed_columns_in_parquet_and_jsonl(tmp_path):
    import polars as pl

    frame = pl.DataFrame({"id": [1, 2, 2], "x": [0.5, -1.0, 3.0], "label": ["a", "b", "z"]})
    suite = "{columns: {id: {type: int, unique: true}, x: {type: float, min: 0}, label: {type: str, in: [a, b]}}}"
    root = make_project(tmp_path / "p", f"project: t\nchecks:\n  t.parquet: {suite}\n  t.jsonl: {suite}\n")
    frame.write_parquet(root / "t.parquet")
    frame.write_ndjson(root / "t.jsonl")
    project = Project.load(root)
    for target in ("t.parquet", "t.jsonl"):
        report = check_file(project, target)
        fails = {(f.rule, f.column): f.details for f in report.failures}
        assert fails == {
            ("unique", "id"): {"failed": 1, "rows": [2, 3], "values": ["2", "2"]},
            ("min", "x"): {"failed": 1, "rows": [2], "values": ["-1.0"]},
            ("in", "label"): {"failed": 1, "rows": [3], "values": ["z"]},
        }, target
        assert report.summary["format"] == target.split(".")[1]


def test_string_column_declared_int_in_parquet_counts_bad_cells(tmp_path):
    import polars as pl

    root = make_project(tmp_path / "p", "project: t\nchecks:\n  t.parquet: {columns: {n: {type: int}}}\n")
    pl.DataFrame({"n": ["1", "2", "three"]}).write_parquet(root / "t.parquet")
    (finding,) = check_file(Project.load(root), "t.parquet").failures
    assert (finding.rule, finding.details["rows"], finding.details["values"]) == ("type", [3], ["three"])


def test_a_row_with_too_many_fields_is_located(tmp_path):
    data = "a,b\n1,2\n3,4,5\n6,7\n"
    root = make_project(tmp_path / "p", "project: t\nchecks:\n  t.csv: {columns: {a: {type: int}}}\n", {"t.csv": data})
    fails = {f.rule: f for f in check_file(Project.load(root), "t.csv").failures}
    assert fails["ragged_row"].details["rows"] == [2]


# --- drift inside check ---------------------------------------------------------


def shifted(weather_csv: Path, tmp_path: Path) -> Path:
    import polars as pl

    frame = pl.read_csv(weather_csv)
    out = tmp_path / "shifted.csv"
    frame.with_columns(pl.col("temp_max") + 8, pl.col("wind") * 1.6).write_csv(out)
    return out


def test_drift_against_explicit_reference_and_html_histogram(weather_project, weather_csv, tmp_path):
    current = shifted(weather_csv, tmp_path)
    shutil.copyfile(current, weather_project / "data/weather.csv")
    html = tmp_path / "report.html"
    result = run_cli(
        "check", "weather", "--json", "--reference", str(weather_csv), "--html", str(html), cwd=weather_project
    )
    assert result.code == 0, "drift alone is a warning"
    drift = {f["column"]: f for f in json.loads(result.out)["findings"] if f["rule"] == "drift"}
    assert drift["temp_max"]["status"] == "warn" and drift["wind"]["status"] == "warn"
    assert drift["precipitation"]["status"] == "pass" and drift["weather"]["status"] == "pass"
    assert drift["temp_max"]["details"]["verdict"] == "drift"
    assert drift["temp_max"]["details"]["method"] == "psi" and drift["temp_max"]["bound"] == 0.2
    text = html.read_text()
    caption = "<figure class='warn' aria-label='temp_max (weather)'><figcaption><span class='badge warn'>warn</span>"
    figure = text.split(caption, 1)[1].split("</figure>")[0]
    assert "<svg" in figure and ">reference</text>" in figure and ">current</text>" in figure
    assert figure.count("mark-rect role-mark") == 1  # one bar mark: both series grouped under each bin
    # the caption's counts are the data's: the bins drawn, and the rows outside the reference's range
    spec = next(c["spec"] for c in json.loads(result.out)["charts"] if c["title"] == "temp_max (weather)")
    bins = len({v["x"] for v in spec["data"]["values"]})
    assert f"chart: {bins} equal-width bins" in spec["title"]["subtitle"]
    assert text.index("temp_max (weather)") < text.index("precipitation (weather)")  # drifting columns first
    assert text.count("<svg") == 4 and "<script" not in text
    namespaces = ("http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink")  # names, never fetched
    assert "http" not in text.replace(namespaces[0], "").replace(namespaces[1], "")  # self-contained
    blocked = run_cli("check", "weather", "--reference", str(weather_csv), "--fail-on-drift", cwd=weather_project)
    assert blocked.code == 1


def test_drift_default_reference_is_the_previously_locked_version(weather_project, weather_csv, tmp_path):
    project = Project.load(weather_project)
    digest, size = project.store.add_file(weather_csv)
    lock = project.read_lock()
    lock.sources["weather"] = {"hash": digest, "size": size, "path": "data/weather.csv"}
    project.write_lock(lock)
    report = check_file(project, "weather", shifted(weather_csv, tmp_path))
    assert report.summary["reference"] == "previously locked version of the source"
    assert {f.column for f in report.findings if f.rule == "drift" and f.status == "warn"} == {"temp_max", "wind"}
    # the reference profile is stored once under its hash and reused
    stored = project.store.root / "profiles" / digest[:2] / f"{digest}.json"
    saved = json.loads(stored.read_text())
    assert set(saved["columns"]) == {"precipitation", "temp_max", "wind", "weather"}
    saved["columns"]["weather"]["counts"] = {"snow": 1000}
    stored.write_text(json.dumps(saved))
    again = check_file(project, "weather", weather_project / "data/weather.csv")
    assert [f.status for f in again.findings if f.column == "weather" and f.rule == "drift"] == ["warn"]


def test_drift_reference_from_the_last_trained_model(weather_project, weather_csv, tmp_path):
    """The model stage reads prepared data; the raw file it came from is found upstream in the lock."""
    config = WEATHER_CHECKS + (
        "stages:\n"
        "  prepare: {cmd: python prepare.py, deps: [data/weather.csv], outs: [data/prepared]}\n"
        "  train: {cmd: python train.py, deps: [data/prepared/train.csv], outs: [models/model.skops]}\n"
        "model: {name: weather, path: models/model.skops}\n"
    )
    (weather_project / "flowtide.yaml").write_text(config)
    project = Project.load(weather_project)
    digest, size = project.store.add_file(shifted(weather_csv, tmp_path))
    lock = project.read_lock()
    lock.stages["train"] = {"deps": {"data/prepared/train.csv": {"hash": "0" * 64, "size": 1}}}
    lock.stages["prepare"] = {"deps": {"data/weather.csv": {"hash": digest, "size": size}}}
    project.write_lock(lock)
    report = check_file(project, "weather")
    assert report.summary["reference"] == "data of the last trained model (stage 'prepare')"
    assert {f.column for f in report.findings if f.status == "warn"} == {"temp_max", "wind"}


def test_no_reference_gives_an_info_finding(weather_project):
    report = check_file(Project.load(weather_project), "weather")
    (info,) = [f for f in report.findings if f.rule == "drift"]
    assert info.status == "info" and info.message.startswith("no drift check: no reference")


def test_drift_block_true_makes_drift_fail(weather_project, weather_csv, tmp_path):
    text = WEATHER_CHECKS.replace("drift: {columns:", "drift: {block: true, reference: ref.csv, columns:")
    (weather_project / "flowtide.yaml").write_text(text)
    shutil.copyfile(weather_csv, weather_project / "ref.csv")
    shutil.copyfile(shifted(weather_csv, tmp_path), weather_project / "data/weather.csv")
    report = run_checks(Project.load(weather_project))
    assert not report.ok
    assert {f.column for f in report.failures} == {"temp_max", "wind"}


def test_profile_is_json_able(weather_csv):
    prof = profile(weather_csv, ["temp_max", "weather"])
    assert json.loads(json.dumps(prof)) == prof
    assert prof["columns"]["temp_max"]["kind"] == "numeric" and prof["columns"]["temp_max"]["n"] == 1461
    assert prof["columns"]["weather"]["counts"]["sun"] == 714


# --- --infer -------------------------------------------------------------------


def test_infer_proposes_a_section_that_parses_back_and_passes(weather_project):
    result = run_cli("check", "--infer", "weather", cwd=weather_project)
    assert result.code == 0, result.err
    assert "  weather: {type: str, not_null: true, in: [drizzle, fog, rain, snow, sun]}" in result.out
    assert "  date: {type: date, not_null: true, unique: true}" in result.out
    indented = "".join("    " + line + "\n" for line in result.out.splitlines())
    text = f"project: weather\nsources:\n  weather: {{url: x, path: data/weather.csv}}\nchecks:\n  weather:\n{indented}"
    config = parse_config(text)
    assert config.checks["weather"].columns["precipitation"].min == 0
    (weather_project / "flowtide.yaml").write_text(text)
    assert check_file(Project.load(weather_project), "weather").ok


# --- pull runs the checks before accepting bytes ----------------------------------


def test_broken_data_arriving_by_pull_leaves_the_lock_unchanged(tmp_path, weather_csv):
    pull_module = pytest.importorskip("flowtide.data.pull")
    incoming = tmp_path / "incoming.csv"
    shutil.copyfile(weather_csv, incoming)
    config = WEATHER_CHECKS.replace("url: http://127.0.0.1:1/seattle-weather.csv", f"url: {incoming}")
    root = make_project(tmp_path / "proj", config)
    project = Project.load(root)
    first = pull_module.pull(project)
    assert [r.status for r in first.results] == ["changed"], first.results[0].message
    lock_before = project.lock_path.read_bytes()
    incoming.write_bytes(broken_weather(weather_csv))
    second = pull_module.pull(Project.load(root))
    (result,) = second.results
    assert result.status == "quarantined"
    assert {(f.rule, f.column) for f in result.report.failures} >= {("min", "precipitation"), ("encoding", None)}
    assert project.lock_path.read_bytes() == lock_before
    assert (root / "data/weather.csv").read_bytes() == weather_csv.read_bytes()
    # shifted but valid data is accepted: drift against the locked version only warns
    shifted_csv = shifted(weather_csv, tmp_path)
    shutil.copyfile(shifted_csv, incoming)
    third = pull_module.pull(Project.load(root))
    assert third.results[0].status == "changed"
    warned = {f.column for f in third.results[0].report.findings if f.status == "warn"}
    assert warned == {"temp_max", "wind"}


def test_a_broken_json_line_is_located(tmp_path):
    data = '{"a": 1}\n{"a": 2}\n{"a": 3, oops\n{"a": 4}\n'
    root = make_project(
        tmp_path / "p", "project: t\nchecks:\n  t.jsonl: {columns: {a: {type: int}}}\n", {"t.jsonl": data}
    )
    (finding,) = check_file(Project.load(root), "t.jsonl").failures
    assert finding.rule == "read" and finding.details["rows"] == [3]
    assert finding.message.startswith("1 line(s) are not valid JSON objects (lines 3; first: ")


def test_a_stage_output_not_produced_yet_is_a_warning(tmp_path):
    config = (
        "project: t\nstages:\n  prep: {cmd: python p.py, outs: [data/prepared]}\n"
        "checks:\n  data/prepared/train.csv: {rows: {min: 1}}\n"
    )
    root = make_project(tmp_path / "p", config)
    report = check_file(Project.load(root), "data/prepared/train.csv")
    assert report.ok
    assert [(f.status, f.message) for f in report.findings] == [
        ("warn", "data/prepared/train.csv does not exist (a stage output not produced yet; `flowtide run` makes it)")
    ]


def test_reference_in_another_format(weather_project, weather_csv, tmp_path):
    import polars as pl

    reference = tmp_path / "reference.parquet"
    pl.read_csv(weather_csv).write_parquet(reference)
    shutil.copyfile(shifted(weather_csv, tmp_path), weather_project / "data/weather.csv")
    report = check_file(Project.load(weather_project), "weather", reference=reference)
    assert {f.column for f in report.findings if f.rule == "drift" and f.status == "warn"} == {"temp_max", "wind"}


def test_infer_on_parquet_with_ids_nulls_and_flags(tmp_path):
    import polars as pl

    from flowtide.checks.infer import infer_columns

    n = 200
    frame = pl.DataFrame(
        {
            "id": list(range(n)),
            "score": [float(i % 17) if i % 10 else None for i in range(n)],
            "kind": ["a", "b", "c", "d"] * (n // 4),
            "ok": [True, False] * (n // 2),
        }
    )
    frame.write_parquet(tmp_path / "t.parquet")
    rows, columns = infer_columns(tmp_path / "t.parquet")
    assert rows == n
    assert columns["id"] == {"type": "int", "not_null": True, "unique": True, "min": 0}
    assert columns["score"] == {"type": "float", "max_null_fraction": 0.2, "min": 0, "max": 18}
    assert columns["kind"] == {"type": "str", "not_null": True, "in": ["a", "b", "c", "d"]}
    assert columns["ok"] == {"type": "bool", "not_null": True}


@pytest.mark.parametrize(
    ("data", "suite", "rule", "start"),
    [
        ("", "{rows: {min: 1}}", "read", "t.csv is empty (0 bytes)"),
        ('a,b\n"unterminated,1\n2,3\n', "{columns: {a: {type: int}}}", "read", "cannot read t.csv even as text: "),
        ("a,b\nx,1\n", "{columns: {a: {min: 3}}}", "rules", "cannot evaluate the rules on t.csv: cannot compare"),
    ],
)
def test_unreadable_files_and_inapplicable_rules_are_findings(tmp_path, data, suite, rule, start):
    root = make_project(tmp_path / "p", f"project: t\nchecks:\n  t.csv: {suite}\n", {"t.csv": data})
    result = run_cli("check", "--json", cwd=root)
    assert result.code == 1, result.err
    (finding,) = json.loads(result.out)["findings"]
    assert finding["rule"] == rule and finding["message"].startswith(start)
