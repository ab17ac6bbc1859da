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


# --- runs.db and its rows are input too -------------------------------------------------------


def test_a_runs_db_that_is_not_a_database_is_moved_aside_and_the_run_recorded(tmp_path):
    root = make_project(tmp_path / "p")
    state = root / ".flowtide"
    state.mkdir()
    garbage = bytes(range(256)) * 20
    (state / "runs.db").write_bytes(garbage)
    (state / "runs.db-wal").write_bytes(b"not a write-ahead log")
    said: list[str] = []
    result = run(load(root), log=said.append)
    assert result.ran == ["prepare", "train", "report"] and result.run_id
    (aside,) = state.glob("runs.db.corrupt-*[0-9a-f]")
    assert aside.read_bytes() == garbage  # kept as it was, for whoever wants to look
    assert any(f"moved to {aside.name}, a new one started" in line and "not a database" in line for line in said)
    assert [r.id for r in list_runs(load(root))] == [result.run_id]
    assert run_cli("runs", cwd=root).code == 0
    # the next command finds a good runs.db: nothing more is moved
    assert len(list(state.glob("runs.db.corrupt-*"))) == len(list(state.glob("runs.db.corrupt-*[0-9a-f]")))
    second = run(load(root), force=True)
    assert [r.id for r in list_runs(load(root))] == [second.run_id, result.run_id]
    assert len(list(state.glob("runs.db.corrupt-*[0-9a-f]"))) == 1


def test_a_runs_db_that_cannot_be_opened_is_a_clear_error_and_the_lock_is_kept(tmp_path):
    root = make_project(tmp_path / "p")
    (root / ".flowtide" / "runs.db").mkdir(parents=True)  # not a file at all
    result = run_cli("run", cwd=root)
    assert result.code == 1 and "cannot use" in result.err and "runs.db" in result.err
    assert "internal error" not in result.err and "Traceback" not in result.err
    assert set(load(root).read_lock().stages) == {"prepare", "train", "report"}  # the stages' work is kept
    listed = run_cli("runs", cwd=root)
    assert listed.code == 1 and "cannot use" in listed.err and "internal error" not in listed.err


def test_rows_of_runs_db_are_checked_and_control_characters_never_shown(tmp_path):
    import sqlite3

    root = make_project(tmp_path / "p")
    good = run(load(root))
    conn = sqlite3.connect(root / ".flowtide" / "runs.db")
    conn.execute(
        "INSERT INTO runs VALUES ('20250101-000000-abcd', 1.0, 2.0, 'ok', 'run', NULL, NULL, NULL, 'local', "
        "'not json', '{}', '{}', '{}', NULL, NULL)"
    )
    conn.execute(
        "INSERT INTO runs VALUES ('20250101-000001-abcd', 1.5, 2.0, 'ok', 'run', NULL, NULL, NULL, 'local', "
        "'{}', '{\"acc\": 0.5}', ?, '{}', ?, NULL)",
        (json.dumps({"train": {"status": "ran", "stdout_tail": "\x1b[31mred\x1b[0m\rdone"}}), "bad\x1b]0;title\x07"),
    )
    conn.commit()
    conn.close()
    warnings: list[str] = []
    records = list_runs(load(root), warnings=warnings)
    assert [r.id for r in records] == [good.run_id, "20250101-000001-abcd"]
    assert records[1].stages["train"]["stdout_tail"] == "[31mred[0mdone" and records[1].message == "bad]0;title"
    assert len(warnings) == 1 and "'20250101-000000-abcd' is not a run record" in warnings[0]
    listed = run_cli("runs", cwd=root)
    assert listed.code == 0 and "\x1b" not in listed.out and "is not a run record" in listed.err
    shown = run_cli("runs", "show", "20250101-000000", cwd=root)
    assert shown.code == 1 and "is not a run record" in shown.err and "internal error" not in shown.err


COLOURED = """\
project: colours
stages:
  train:
    cmd: python paint.py
    deps: [paint.py]
    outs: [model.txt]
"""
PAINT = "import sys\nprint('\\x1b[32mepoch 1\\x1b[0m\\r', flush=True)\nopen('model.txt', 'w').write('m')\n"


def test_a_record_made_in_ci_keeps_no_control_characters_so_every_clone_reads_it(tmp_path):
    from flowtide.pipeline.runs import read_record

    root = make_project(tmp_path / "p", config=COLOURED)
    (root / "paint.py").write_text(PAINT)
    made = run(load(root, **CI_ENV))
    assert "\x1b[32m" in made.stages["train"]["stdout_tail"]  # the run's own result keeps what was printed
    record = read_record(root / RUNS_DIR / f"{made.run_id}.json")  # (it refuses control characters)
    assert record.stages["train"]["stdout_tail"].startswith("[32mepoch 1[0m")


def test_the_git_probe_leaves_the_index_alone(tmp_path):
    """A background `git status` refreshes (rewrites) a stale index under .git/index.lock unless told not to:
    a user's `git commit` during a run would then fail on that lock."""
    import os

    from flowtide.pipeline.runs import git_state

    root = make_project(tmp_path / "p")
    git("init", "-q", "-b", "main", cwd=root)
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", "init", cwd=root)
    head = git("rev-parse", "HEAD", cwd=root)
    stamp = (root / "stage.py").stat()
    os.utime(root / "stage.py", ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 5_000_000_000))  # same bytes, new stat
    index = root / ".git" / "index"
    before = (index.read_bytes(), index.stat().st_mtime_ns)
    assert git_state(root) == (head, False)
    assert (index.read_bytes(), index.stat().st_mtime_ns) == before
    git("status", "--porcelain", cwd=root)  # what it would have done: git itself refreshes the index
    assert index.read_bytes() != before[0]
