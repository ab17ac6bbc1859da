"""Run records in .flowtide/runs.db: written by `flowtide run`, listed and shown by `flowtide runs`."""

from __future__ import annotations

import json

import pytest

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


# --- run records made in CI, committed, seen from any clone -----------------------------------

CI_ENV = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_SERVER_URL": "https://github.example.org",
    "GITHUB_REPOSITORY": "acme/weather",
    "GITHUB_RUN_ID": "4242",
}
CI_URL = "https://github.example.org/acme/weather/actions/runs/4242"


@pytest.fixture(autouse=True)
def _not_in_ci(monkeypatch):
    """These tests say when a run is made in CI; a test process that itself runs in GitHub Actions must not."""
    for name in CI_ENV:
        monkeypatch.delenv(name, raising=False)


def _repo_with_origin(tmp_path):
    root = make_project(tmp_path / "runner")
    git("init", "-q", "-b", "main", cwd=root)
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", "init", cwd=root)
    origin = tmp_path / "origin.git"
    git("clone", "-q", "--bare", str(root), str(origin), cwd=tmp_path)
    git("remote", "add", "origin", str(origin), cwd=root)
    return root, origin


RUNS_DIR = "flowtide.runs"  # the committed records (a documented path, spelled out here on purpose)


def test_runs_made_in_ci_are_committed_and_listed_in_a_fresh_clone(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    runner, origin = _repo_with_origin(tmp_path)
    local = run(load(runner))  # outside CI: only this clone's runs.db knows it
    assert not (runner / RUNS_DIR).exists()
    (runner / "params.yaml").write_text(PARAMS.replace("lr: 0.1", "lr: 0.3"))
    made_in_ci = run(load(runner, **CI_ENV))
    record_file = runner / RUNS_DIR / f"{made_in_ci.run_id}.json"
    assert json.loads(record_file.read_text())["url"] == CI_URL
    assert sorted(p.name for p in (runner / RUNS_DIR).iterdir()) == [record_file.name]
    # what train.yml's bot commit does
    git("add", "-A", "--", RUNS_DIR, "params.yaml", cwd=runner)
    git("commit", "-q", "-m", "train: register [skip ci]", cwd=runner)
    git("push", "-q", "origin", "HEAD:main", cwd=runner)

    clone = tmp_path / "clone"
    git("clone", "-q", str(origin), str(clone), cwd=tmp_path)
    listed = run_cli("runs", "--json", cwd=clone)
    assert listed.code == 0, listed.err
    (only,) = json.loads(listed.out)
    assert (only["id"], only["url"], only["status"]) == (made_in_ci.run_id, CI_URL, "ok")
    assert only["params"]["train.lr"] == 0.3 and only["metrics"] == made_in_ci.metrics
    assert local.run_id not in listed.out  # a laptop's run stays on the laptop
    text = run_cli("runs", cwd=clone).out
    assert made_in_ci.run_id in text and CI_URL in text
    shown = run_cli("runs", "show", made_in_ci.run_id[:-1], cwd=clone)
    assert shown.code == 0 and f"CI run: {CI_URL}" in shown.out
    assert json.loads(run_cli("runs", "show", "latest", "--json", cwd=clone).out)["url"] == CI_URL
    # the clone's own runs join them, newest first, and the committed ones are indexed once
    mine = run(load(clone), force=True)
    ids = [r["id"] for r in json.loads(run_cli("runs", "--json", cwd=clone).out)]
    assert ids == [mine.run_id, made_in_ci.run_id]
    assert "(local)" in run_cli("runs", cwd=clone).out


def test_two_branches_adding_runs_merge_without_conflict(tmp_path):
    root, _ = _repo_with_origin(tmp_path)
    git("checkout", "-q", "-b", "other", cwd=root)
    first = run(load(root, **CI_ENV))
    git("add", "-A", "--", RUNS_DIR, cwd=root)
    git("commit", "-q", "-m", "run on other", cwd=root)
    git("checkout", "-q", "main", cwd=root)
    (root / "params.yaml").write_text(PARAMS.replace("lr: 0.1", "lr: 0.5"))
    second = run(load(root, **{**CI_ENV, "GITHUB_RUN_ID": "4243"}))
    git("add", "-A", "--", RUNS_DIR, "params.yaml", cwd=root)
    git("commit", "-q", "-m", "run on main", cwd=root)
    git("merge", "-q", "--no-edit", "other", cwd=root)  # raises on a conflict
    clone = tmp_path / "merged"
    git("clone", "-q", str(root), str(clone), cwd=tmp_path)
    listed = {r["id"]: r["url"] for r in json.loads(run_cli("runs", "--json", cwd=clone).out)}
    assert listed == {first.run_id: CI_URL, second.run_id: CI_URL.replace("4242", "4243")}


def test_committed_records_are_validated_as_input(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    root = make_project(tmp_path / "p")
    good = run(load(root, **CI_ENV))
    records = root / RUNS_DIR
    valid = json.loads((records / f"{good.run_id}.json").read_text())
    (records / "20260101-000000-abcd.json").write_text(
        json.dumps({**valid, "id": "20260101-000000-abcd", "url": "javascript:alert(1)"})
    )
    (records / "20260101-000001-abcd.json").write_text(json.dumps({**valid, "id": "../../etc/passwd"}))
    (records / "20260101-000002-abcd.json").write_text("<<<<<<< HEAD\n")
    (records / "notes.json").write_text("{}")
    escape = {**valid, "id": "20260101-000003-abcd", "metrics": {"acc\x1b]8;;https://evil\x07": 1.0}}
    (records / "20260101-000003-abcd.json").write_text(json.dumps(escape))
    markup = {**valid, "id": "20200101-000000-abcd", "stages": {"[link=https://evil]x[/link]": {"status": "ran"}}}
    (records / "20200101-000000-abcd.json").write_text(json.dumps(markup))
    (root / ".flowtide" / "runs.db").unlink()  # as in a fresh clone
    result = run_cli("runs", "--json", cwd=root)
    assert result.code == 0
    assert [r["id"] for r in json.loads(result.out)] == [good.run_id, "20200101-000000-abcd"]
    assert result.err.splitlines() == [
        "warning: flowtide.runs/20260101-000000-abcd.json: not a run record "
        "(url 'javascript:alert(1)' is not a workflow run URL); skipped",
        "warning: flowtide.runs/20260101-000001-abcd.json: not a run record "
        "(its id '../../etc/passwd' is not its file name); skipped",
        "warning: flowtide.runs/20260101-000002-abcd.json: not a run record "
        "(not readable as JSON (Expecting value: line 1 column 1 (char 0))); skipped",
        "warning: flowtide.runs/20260101-000003-abcd.json: not a run record "
        "(a text holds control characters (terminal escapes are not shown)); skipped",
        "warning: flowtide.runs/notes.json: not a run record (the file name is not RUN_ID.json "
        "(yyyymmdd-hhmmss-xxxx)); skipped",
    ]
    # a stage name from someone's commit is text, not terminal markup
    assert "[link=https://evil]x[/link]" in run_cli("runs", cwd=root).out


def test_a_runs_db_from_before_urls_is_migrated(tmp_path):
    import sqlite3

    root = make_project(tmp_path / "p")
    (root / ".flowtide").mkdir()
    conn = sqlite3.connect(root / ".flowtide" / "runs.db")
    conn.execute(
        "CREATE TABLE runs (id TEXT PRIMARY KEY, started REAL NOT NULL, finished REAL, status TEXT NOT NULL, "
        "kind TEXT NOT NULL DEFAULT 'run', sweep TEXT, git_commit TEXT, git_dirty INTEGER, executor TEXT, "
        "params TEXT NOT NULL, metrics TEXT NOT NULL, stages TEXT NOT NULL, data TEXT NOT NULL, message TEXT)"
    )
    conn.execute(
        "INSERT INTO runs VALUES ('20250101-000000-abcd', 1.0, 2.0, 'ok', 'run', NULL, NULL, NULL, 'local', "
        "'{}', '{\"acc\": 0.5}', '{}', '{}', NULL)"
    )
    conn.commit()
    conn.close()
    newer = run(load(root))
    records = list_runs(load(root))
    assert [(r.id, r.url) for r in records] == [(newer.run_id, None), ("20250101-000000-abcd", None)]
    assert records[1].metrics == {"acc": 0.5}


def test_the_ci_run_url_comes_from_the_github_environment():
    from flowtide.pipeline.runs import ci_run_url

    assert ci_run_url(CI_ENV) == CI_URL
    assert ci_run_url({**CI_ENV, "GITHUB_SERVER_URL": ""}) == "https://github.com/acme/weather/actions/runs/4242"
    assert ci_run_url({k: v for k, v in CI_ENV.items() if k != "GITHUB_ACTIONS"}) is None  # not in Actions
    assert ci_run_url({**CI_ENV, "GITHUB_RUN_ID": "x"}) is None
    # nektos/act names a local origin by its path: still a run in CI, recorded and committed
    act = {**CI_ENV, "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "/tmp/w/remote.git"}
    assert ci_run_url(act) == "https://github.com//tmp/w/remote.git/actions/runs/4242"
    assert ci_run_url({**CI_ENV, "GITHUB_REPOSITORY": "a b/[x]"}) is None
