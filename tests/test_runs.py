"""Run records in .flowtide/runs.db: written by `flowtide run`, listed and shown by `flowtide runs`."""

from __future__ import annotations

import json

from flowtide.errors import StageError
from flowtide.pipeline import get_run, list_runs, run

from .conftest import git, run_cli
from .test_pipeline import PARAMS, load, make_project


def test_runs_are_recorded_with_commit_params_metrics_and_stages(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps tables to the terminal width
    root = make_project(tmp_path / "p")
    git("init", "-q", "-b", "main", cwd=root)
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", "init", cwd=root)
    head = git("rev-parse", "HEAD", cwd=root)
    (root / "flowtide.lock").write_text(
        json.dumps(
            {"version": 1, "sources": {"raw": {"hash": "ab" * 32, "size": 1, "path": "data/raw.txt"}}, "stages": {}}
        )
    )
    first = run(load(root))
    record = get_run(load(root), first.run_id)
    assert record.status == "ok" and record.kind == "run"
    assert record.git_commit == head and record.git_dirty is False
    assert record.params == {"train.lr": 0.1, "other.x": 1}
    assert record.metrics == {"score": first.metrics["score"], "lr": 0.1}
    assert record.stages["train"]["status"] == "ran" and record.stages["train"]["reasons"] == ["never run"]
    assert record.data == {"raw": "ab" * 32}
    assert record.finished >= record.started

    (root / "params.yaml").write_text(PARAMS.replace("lr: 0.1", "lr: 0.2"))
    second = run(load(root))
    records = list_runs(load(root))
    assert [r.id for r in records] == [second.run_id, first.run_id]
    assert records[0].git_dirty is True

    listed = run_cli("runs", "--json", cwd=root)
    assert listed.code == 0
    assert [r["id"] for r in json.loads(listed.out)] == [second.run_id, first.run_id]
    assert run_cli("runs", "-n", "1", "--json", cwd=root).out.count('"id"') == 1
    shown = run_cli("runs", "show", second.run_id[:-2], "--json", cwd=root)
    assert json.loads(shown.out)["stages"]["train"]["reasons"] == ["param train.lr changed: 0.1 → 0.2"]
    text = run_cli("runs", cwd=root)
    assert second.run_id in text.out and "train" in text.out
    assert run_cli("runs", "show", "latest", cwd=root).code == 0


def test_failed_run_is_recorded_as_failed(tmp_path, monkeypatch):
    root = make_project(tmp_path / "p")
    try:
        run(load(root, FAIL_STAGE="train"))
    except StageError as exc:
        failed_id = exc.result.run_id
    record = get_run(load(root), failed_id)
    assert record.status == "failed"
    assert record.stages["train"]["status"] == "failed" and record.stages["prepare"]["status"] == "ran"
    assert "stage 'train' failed with exit code 3" in record.message


def test_unknown_run_id_and_empty_list(tmp_path):
    root = make_project(tmp_path / "p")
    result = run_cli("runs", cwd=root)
    assert (result.code, result.out) == (
        0,
        "No runs recorded yet; `flowtide run` records one each time a stage runs.\n",
    )
    result = run_cli("runs", "show", "nope", cwd=root)
    assert result.code == 2 and "no run 'nope'" in result.err
