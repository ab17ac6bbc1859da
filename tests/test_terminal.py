"""Every table flowtide prints, at 80 columns: nothing a user copies is cut, no number is cut, no empty column,
long messages under their row, one dirty marker."""

from __future__ import annotations

import io
import json

from rich.console import Console

from flowtide.report import Finding, Report, Table
from flowtide.report.layout import render

from .conftest import git, run_cli
from .test_pipeline import PARAMS, load, make_project


def lines_fit(text: str, width: int = 80) -> list[str]:
    lines = text.splitlines()
    too_long = [line for line in lines if len(line) > width]
    assert not too_long, too_long
    return lines


def test_layout_keeps_ids_and_numbers_whole_and_wraps_text():
    columns = ["run", "status", "stages run", "accuracy", "note"]
    rows = [["20261202-055308-1a2b3c", "ok", "prepare, train, evaluate, report, package", "0.912345", ""]]
    text = render(columns, rows, 56, keep=["run"])
    lines = lines_fit(text, 56)
    assert "20261202-055308-1a2b3c" in text and "0.912345" in text  # never cut
    assert "note" not in lines[0]  # empty in every row: dropped
    # the text column wrapped at words onto continuation lines, beside nothing
    assert [line.strip() for line in lines[2:]] == ["train,", "evaluate,", "report,", "package"]


def _report_text(report: Report) -> str:
    out = io.StringIO()
    report.render_terminal(Console(file=out, width=80, highlight=False))
    return out.getvalue()


def test_gate_report_messages_go_under_the_row_and_no_empty_column_shows():
    long = (
        "production v1 not re-scored on the candidate's evaluation data: stage 'train' writes the model and its "
        "metrics together: production cannot be re-scored without retraining it"
    )
    report = Report(
        "gate",
        "Gate for model weather",
        findings=[
            Finding("warn", "weather", "same data", long),
            Finding(
                "pass", "weather", "accuracy >= 0.3", "accuracy = 0.6339 satisfies >= 0.3", value=0.633912, bound=0.3
            ),
        ],
        tables=[
            Table(
                "Metrics vs production",
                ["metric", "candidate", "production", "delta"],
                [["f1_macro", 0.336712, 0.324901, 0.011811]],
            )
        ],
    )
    lines = lines_fit(_report_text(report))
    header = next(line for line in lines if line.lstrip().startswith("rule"))
    assert "column" not in header and "target" not in header and "message" not in header
    assert any(line.startswith("warn  same data") for line in lines)
    start = next(i for i, line in enumerate(lines) if line.startswith("warn  same data"))
    end = next(i for i, line in enumerate(lines) if line.startswith("pass  accuracy"))
    under = lines[start + 1 : end]
    assert all(line.startswith("    ") for line in under)
    assert " ".join(u.strip() for u in under).startswith(long[:200])  # the whole message, under its row
    assert "0.6339" in _report_text(report) and "0.3367" in _report_text(report)


def test_monitor_versions_table_fits_and_keeps_numbers():
    columns = [
        "version",
        "role",
        "predictions",
        "labelled",
        "live accuracy",
        "registered accuracy",
        "p50 ms",
        "drifting columns",
    ]
    rows = [
        ["weather v1", "production", 29312, 29301, 0.6143, 0.612, 2.845, ""],
        ["weather v12", "canary, staging now", 30712, 307, 0.5541, 0.6012, 0.259, "temp_max, temp_min, precipitation"],
    ]
    report = Report("monitor", "Monitor", findings=[Finding("pass", "x", "rows", "ok")])
    report.tables.append(Table("Served versions", columns, rows, under=["drifting columns"], keep=["version"]))
    text = _report_text(report)
    lines = lines_fit(text)
    for cell in ("weather v12", "29312", "30712", "0.5541", "0.6012", "0.259", "registered"):
        assert cell in text
    assert any(line.strip() == "temp_max, temp_min, precipitation" for line in lines)


def test_runs_and_models_at_80_columns_keep_ids_hashes_and_one_dirty_marker(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    from flowtide.pipeline import run

    root = make_project(tmp_path / "p")
    git("init", "-q", "-b", "main", cwd=root)
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", "init", cwd=root)
    head = git("rev-parse", "HEAD", cwd=root)
    first = run(load(root))
    (root / "params.yaml").write_text(PARAMS.replace("lr: 0.1", "lr: 0.2"))
    second = run(load(root))  # with params.yaml changed: a dirty commit
    listed = run_cli("runs", cwd=root)
    lines = lines_fit(listed.out)
    assert first.run_id in listed.out and second.run_id in listed.out
    assert f"{head[:10]}*" in listed.out and f"{head[:10]} " in listed.out
    assert lines[-1] == "* the working tree had uncommitted changes"
    shown = run_cli("runs", "show", second.run_id, cwd=root)
    lines_fit(shown.out)
    assert f"commit: {head[:10]}*" in shown.out and "param train.lr changed: 0.1 → 0.2" in shown.out

    registry = root / "flowtide.registry"
    (root / "flowtide.yaml").write_text(
        (root / "flowtide.yaml").read_text() + "model: {name: weather, path: m.skops}\n"
    )
    entries = []
    for v, dirty in ((1, False), (2, True)):
        entries.append(
            json.dumps(
                {
                    "event": "register",
                    "model": "weather",
                    "version": v,
                    "hash": f"{v:064x}",
                    "size": 10,
                    "format": "skops",
                    "path": "m.skops",
                    "commit": head,
                    "dirty": dirty,
                    "metrics": {"accuracy": 0.61234567, "f1_macro": 0.33671234, "log_loss": 0.91234567},
                    "gates": {"passed": True, "evaluated": True},
                    "at": "2026-01-01T00:00:00Z",
                    "tag": f"weather@v{v}",
                }
            )
        )
    registry.write_text("\n".join(entries) + "\n")
    models = run_cli("models", cwd=root)
    lines = lines_fit(models.out)
    assert f"{2:064x}"[:12] in models.out and f"{head[:10]}*" in models.out and f"{head[:10]}\n" in models.out
    assert any("accuracy=0.6123, f1_macro=0.3367, log_loss=0.9123" in line for line in lines)
    assert lines[-1] == "* the working tree had uncommitted changes"
    assert "+" not in models.out.replace("+00:00", "")  # one dirty marker: no other
