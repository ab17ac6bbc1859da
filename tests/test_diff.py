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
    assert result.out.startswith("## Metrics and params: HEAD~1 → HEAD\n")
    assert "| file | metric | HEAD~1 | HEAD | change |" in result.out
    assert "| metrics.json | lr | 0.1 | 0.5 | +0.4 (+400.0%) |" in result.out
    assert "| train.lr | 0.1 | 0.5 | +0.4 (+400.0%) |" in result.out
    assert "other.x" not in result.out  # unchanged params are listed only with --all
    assert "other.x" in run_cli("diff", "HEAD~1", "HEAD", "--md", "--all", cwd=root).out


def test_diff_defaults_to_head_vs_working_tree(tmp_path, monkeypatch):
    root = two_commits(tmp_path)  # lr 0.5 is in the working tree, HEAD has 0.1
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = run_cli("diff", "--md", cwd=root)
    assert "| metrics.json | lr | 0.1 | 0.5 | +0.4 (+400.0%) |" in result.out
    assert "| file | metric | HEAD | workspace | change |" in result.out
    assert summary.read_text().strip() == result.out.strip()
    report = diff(load(root))
    assert report.kind == "diff" and report.summary["metrics changed"] == 1
    data = json.loads(run_cli("diff", "--json", cwd=root).out)
    assert data["tables"][0]["rows"][1] == ["metrics.json", "lr", 0.1, 0.5, "+0.4 (+400.0%)"]
    assert run_cli("diff", "main", cwd=root).code == 0


def test_plots_diff_html_overlays_both_revisions(tmp_path):
    root = two_commits(tmp_path)
    page = tmp_path / "plots.html"
    result = run_cli("diff", "--html", str(page), cwd=root)
    assert result.code == 0
    html = page.read_text()
    assert "<svg" in html and "curve.csv" in html
    assert html.count("<polyline") == 2  # the series of HEAD and of the working tree
    assert "HEAD" in html and "workspace" in html


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
    assert result.kind == "bar" and result.x == ["rain/rain", "rain/sun", "sun/sun"]
    assert result.series == {"HEAD": [5.0, 1.0, 9.0], "workspace": [6.0, None, 9.0]}
    line = chart("curve.json", {"a": parse(b'{"epoch": [0, 1, 2], "loss": [1.0, 0.5, 0.25]}', "curve.json")})
    assert line.kind == "line" and line.x == [0, 1, 2] and line.series == {"a": [1.0, 0.5, 0.25]}
