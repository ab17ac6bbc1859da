"""`flowtide diff`: metrics and params deltas between git revisions, Markdown for PRs, HTML plots."""

from __future__ import annotations

import json

from flowtide.pipeline import diff

from .conftest import git, run_cli
from .test_pipeline import CONFIG, PARAMS, load, make_project

PLOT_STAGE = """\
  curve:
    cmd: python curve.py
    deps: [curve.py, params.yaml]
    plots: [curve.csv]
"""
CURVE = """\
lr = float(open("params.yaml").read().split("lr:")[1].split()[0])
with open("curve.csv", "w") as out:
    out.write("epoch,loss\\n")
    for epoch in range(5):
        out.write(f"{epoch},{1 / (1 + epoch * lr):.4f}\\n")
"""


def two_commits(tmp_path):
    root = make_project(tmp_path / "p", config=CONFIG + PLOT_STAGE)
    (root / "curve.py").write_text(CURVE)
    git("init", "-q", "-b", "main", cwd=root)
    from flowtide.pipeline import run

    run(load(root))
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", "lr 0.1", cwd=root)
    (root / "params.yaml").write_text(PARAMS.replace("lr: 0.1", "lr: 0.5"))
    run(load(root))
    return root


def test_diff_md_shows_metric_deltas_between_commits(tmp_path):
    root = two_commits(tmp_path)
    git("commit", "-q", "-am", "lr 0.5", cwd=root)
    result = run_cli("diff", "HEAD~1", "HEAD", "--md", cwd=root)
    assert result.code == 0
    # lr has no direction (no gate, no metrics: key): shown, but the diff judged nothing, and says why
    assert result.out.startswith(
        "## ❔ Metrics and params: HEAD~1 → HEAD: not judged\n\n_no metric has a known direction: add a gate"
    )
    assert "| file | metric | HEAD~1 | HEAD | change | judged |" in result.out
    assert "| metrics.json | lr | 0.1 | 0.5 | +0.4 (+400.0%) |  |" in result.out
    assert "| train.lr | 0.1 | 0.5 | +0.4 (+400.0%) |" in result.out
    assert "other.x" not in result.out  # unchanged params are listed only with --all
    assert "other.x" in run_cli("diff", "HEAD~1", "HEAD", "--md", "--all", cwd=root).out


def test_diff_defaults_to_head_vs_working_tree(tmp_path, monkeypatch):
    root = two_commits(tmp_path)  # lr 0.5 is in the working tree, HEAD has 0.1
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = run_cli("diff", "--md", cwd=root)
    assert "| metrics.json | lr | 0.1 | 0.5 | +0.4 (+400.0%) |  |" in result.out
    assert "| file | metric | HEAD | workspace | change | judged |" in result.out
    assert summary.read_text().strip() == result.out.strip()
    report = diff(load(root))
    assert report.kind == "diff" and report.summary["metrics changed"] == 1
    data = json.loads(run_cli("diff", "--json", cwd=root).out)
    assert data["tables"][0]["rows"][1] == ["metrics.json", "lr", 0.1, 0.5, "+0.4 (+400.0%)", ""]
    assert run_cli("diff", "main", cwd=root).code == 0


def test_plots_diff_html_overlays_both_revisions(tmp_path):
    root = two_commits(tmp_path)
    page = tmp_path / "plots.html"
    result = run_cli("diff", "--html", str(page), cwd=root)
    assert result.code == 0
    html = page.read_text()
    assert "<svg" in html and "curve.csv" in html and "<script" not in html
    # Vega-Lite drawn to SVG: one line mark per series (HEAD and the working tree), both in the legend
    assert html.count("mark-line role-mark") == 2
    assert ">HEAD</text>" in html and ">workspace</text>" in html


def test_unknown_revision_is_a_usage_error(tmp_path):
    root = two_commits(tmp_path)
    result = run_cli("diff", "nosuchbranch", cwd=root)
    assert result.code == 2 and "unknown git revision 'nosuchbranch'" in result.err


def test_plot_chart_joins_text_columns_and_overlays_revisions():
    from flowtide.pipeline.plots import chart, parse

    head = parse(b"actual,predicted,count\nrain,rain,5\nrain,sun,1\nsun,sun,9\n", "confusion.csv")
    work = parse(
        b'[{"actual": "rain", "predicted": "rain", "count": 6}, {"actual": "sun", "predicted": "sun", "count": 9}]',
        "c.json",
    )
    result = chart("confusion.csv", {"HEAD": head, "workspace": work})
    # a confusion matrix in long format is a heatmap: rows actual, columns predicted, a panel per revision
    assert result.kind == "heatmap" and result.y == ["rain", "sun"] and result.x == ["rain", "sun"]
    assert result.series == {"HEAD": [5.0, 1.0, None, 9.0], "workspace": [6.0, None, None, 9.0]}
    cells = {(v["series"], v["y"], v["x"]): v["value"] for v in result.spec()["data"]["values"]}
    assert cells == {
        ("HEAD", "rain", "rain"): 5.0,
        ("HEAD", "rain", "sun"): 1.0,
        ("HEAD", "sun", "sun"): 9.0,
        ("workspace", "rain", "rain"): 6.0,
        ("workspace", "sun", "sun"): 9.0,
    }  # no cell invented for a pair that has no row
    line = chart("curve.json", {"a": parse(b'{"epoch": [0, 1, 2], "loss": [1.0, 0.5, 0.25]}', "curve.json")})
    assert line.kind == "line" and line.x == [0, 1, 2] and line.series == {"a": [1.0, 0.5, 0.25]}


DIRECTED = """\
project: d
stages:
  train:
    cmd: python -c "pass"
    metrics: [metrics.json]
gates: ["accuracy >= 0.5"]
metrics:
  loss: {higher_is_better: false}
"""


def directed(tmp_path, before: dict, after: dict):
    root = tmp_path / "d"
    root.mkdir()
    (root / "flowtide.yaml").write_text(DIRECTED)
    (root / "metrics.json").write_text(json.dumps(before))
    git("init", "-q", "-b", "main", cwd=root)
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", "before", cwd=root)
    (root / "metrics.json").write_text(json.dumps(after))
    return root


def test_diff_knows_directions_and_marks_regressions(tmp_path):
    root = directed(
        tmp_path,
        {"accuracy": 0.91, "loss": 0.30, "rmse": 2.0, "epochs": 5},
        {"accuracy": 0.46, "loss": 0.20, "rmse": 2.0, "epochs": 7},
    )
    report = diff(load(root))
    assert (report.verdict, report.status) == ("warning", "warn")
    by_rule = {f.rule: f for f in report.findings}
    # accuracy's direction comes from the gate, loss's from metrics:, rmse's from its well-known name
    assert by_rule["accuracy"].status == "warn" and by_rule["accuracy"].message.startswith(
        "accuracy regressed: 0.91 → 0.46 (-0.45 (-49.5%)); higher is better"
    )
    assert by_rule["loss"].status == "pass" and "improved" in by_rule["loss"].message
    assert by_rule["rmse"].status == "pass" and by_rule["rmse"].message == "rmse unchanged at 2.0"
    assert by_rule["epochs"].status == "info" and "direction unknown" in by_rule["epochs"].message
    rows = {r[1]: r[5] for r in report.tables[0].rows}
    assert rows == {"accuracy": "worse", "loss": "better", "rmse": "same", "epochs": ""}
    md = run_cli("diff", "--md", cwd=root).out
    assert md.startswith("## ⚠️ Metrics and params: HEAD → workspace: warning\n")
    assert "✅" not in md.splitlines()[0]
    page = tmp_path / "d.html"
    run_cli("diff", "--html", str(page), cwd=root)
    assert "<tr class='warn'><td>metrics.json</td><td>accuracy</td>" in page.read_text()  # the regression's row
    assert "<header class='warn'>" in page.read_text() and "✓" not in page.read_text().split("</header>")[0]


def test_diff_better_everywhere_passes(tmp_path):
    root = directed(tmp_path, {"accuracy": 0.8}, {"accuracy": 0.9})
    report = diff(load(root))
    assert report.verdict == "passed" and report.findings[0].message.startswith("accuracy improved")


def test_metric_direction_contradicting_a_gate_is_a_config_error(tmp_path):
    root = directed(tmp_path, {"accuracy": 0.8}, {"accuracy": 0.9})
    (root / "flowtide.yaml").write_text(DIRECTED.replace("loss:", "accuracy:"))
    result = run_cli("diff", cwd=root)
    assert result.code == 2
    assert "metrics.accuracy.higher_is_better is false, but gate 'accuracy >= 0.5' asks for a minimum" in result.err
    assert "flowtide.yaml:8:" in result.err
    (root / "flowtide.yaml").write_text(DIRECTED.replace("{higher_is_better: false}", "{higher_is_better: maybe}"))
    assert run_cli("diff", cwd=root).code == 2
