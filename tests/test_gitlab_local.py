"""The loop on GitLab CI, run by gitlab-ci-local (shell executor, no Docker), as test_github_loop.py runs GitHub's.

A repository made by `flowtide init --example weather`, switched to `ci.provider: gitlab`, with
`ci.install` naming a wheel of this checkout (committed, as the pipeline installs it) and a bare git
remote as `origin`. A scheduled data pipeline (`FLOWTIDE_SCHEDULE=data`) runs pull → train → staging:
every job makes its own virtualenv and installs flowtide from the wheel, the bot commits go to the
remote with `[skip ci]`. The production job is manual; here it is played (`--manual production`,
the approval), so it promotes the version staging handed on and records who approved it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flowtide.project import Project
from flowtide.workflows.gitlab.local import binary
from flowtide.workflows.provider import run, simulate

from .conftest import git, run_cli

pytestmark = pytest.mark.slow

BOT = "flowtide[bot] <flowtide-bot@noreply.gitlab.com>"  # gitlab-ci-local's CI_SERVER_HOST is gitlab.com


def _clean_path() -> str:
    """PATH without any directory that holds a flowtide: the jobs must install their own."""
    keep = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and not (Path(d) / "flowtide").exists()]
    return os.pathsep.join(keep)


def _cache_dirs() -> dict[str, str]:
    """The machine's download caches (what a runner's cache gives a job)."""
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or "uv"
    uv_cache = subprocess.run([uv, "cache", "dir"], capture_output=True, text=True).stdout.strip()
    pip_cache = subprocess.run(
        [sys.executable, "-m", "pip", "cache", "dir"], capture_output=True, text=True
    ).stdout.strip()
    return {k: v for k, v in (("UV_CACHE_DIR", uv_cache), ("PIP_CACHE_DIR", pip_cache)) if v}


def _remote_log(remote: Path) -> list[str]:
    return git("log", "--format=%an <%ae>|%s", "main", cwd=remote).splitlines()


@pytest.fixture(scope="module")
def source():
    from flowtide.examples.datasource import DataSource

    server = DataSource(port=0, as_of="2012-03").start()
    yield server
    server.stop()


@pytest.mark.timeout(600)
def test_the_data_pipeline_pulls_trains_and_deploys_to_staging(tmp_path, wheel, source, monkeypatch):
    assert binary(Path.cwd()), "make tools installs gitlab-ci-local"
    root, remote = tmp_path / "weather", tmp_path / "remote.git"
    assert run_cli("init", "--example", "weather", root).code == 0
    assert (root / ".github/workflows/data.yml").is_file()  # init writes GitHub's; switching removes them
    (root / "wheels").mkdir()
    shutil.copy(wheel, root / "wheels" / wheel.name)
    config = root / "flowtide.yaml"
    text = config.read_text().replace("http://127.0.0.1:8765/seattle-weather.csv", source.url)
    assert source.url in text and '"accuracy >= 0.6"' in text  # the example's real gates
    config.write_text(text + f"ci:\n  provider: gitlab\n  install: wheels/{wheel.name}[sklearn]\n")
    generated = run_cli("-C", root, "ci", "generate")
    assert generated.code == 0, generated.err
    assert "wrote .gitlab-ci.yml" in generated.out
    assert "removed .github/workflows/data.yml" in generated.out
    assert not (root / ".github/workflows/train.yml").exists()
    pipeline = (root / ".gitlab-ci.yml").read_text()
    assert f"python -m uv pip install --python python './wheels/{wheel.name}[sklearn]'" in pipeline
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", "weather example on GitLab CI", cwd=root)
    assert run_cli("-C", root, "ci", "check").code == 0
    git("clone", "-q", "--bare", str(root), str(remote), cwd=tmp_path)
    git("remote", "add", "origin", str(remote), cwd=root)
    human = _remote_log(remote)

    # what a schedule with FLOWTIDE_SCHEDULE=data creates, said before it runs
    listed = run_cli("-C", root, "ci", "simulate", "schedule", "--workflow", "data")
    assert listed.code == 0, listed.err
    assert ".gitlab-ci.yml (schedule, FLOWTIDE_SCHEDULE=data): fires" in listed.out
    assert "  job train (after pull)" in listed.out and "  job production (after staging) if manual" in listed.out
    assert "  job train-records (after train) if on_failure" in listed.out
    assert "job test" not in listed.out and "job monitor" not in listed.out

    project = Project.load(root)
    plan = simulate(project, "schedule", workflow="data")
    env = {"PATH": _clean_path(), "XDG_CACHE_HOME": str(tmp_path / "cache"), **_cache_dirs()}
    # a runner writes bytecode: each job's stages import scikit-learn compiled once, not from source each time
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    # the data source listens on this namespace's 127.0.0.1: no network namespace
    run(project, plan, env=env, isolate=False, manual=["production"], timeout=500)
    (record,) = plan.runs
    output = record["output"]
    (tmp_path / "gitlab-ci-local.log").write_text(output)
    assert record["returncode"] == 0, output[-6000:]
    for job in ("pull", "train", "staging", "production"):
        assert f"PASS  {job}" in output, output[-6000:]
    assert "train-records" not in output  # on failure only
    assert "registered weather v1" in output
    assert "no version of weather is in production yet: v1 goes on to the production job (approval)" in output

    # the bot's commits on the remote, each with [skip ci], on top of the human's
    log = _remote_log(remote)
    assert log[len(log) - len(human) :] == human
    assert log[: len(log) - len(human)] == [
        f"{BOT}|deploy: weather v1 to production [skip ci]",
        f"{BOT}|deploy: weather v1 to staging [skip ci]",
        f"{BOT}|train: register weather [skip ci]",
        f"{BOT}|data: update flowtide.lock [skip ci]",
    ]
    # the lock came back with the data's hash, and the model is registered and in staging
    git("pull", "-q", "--ff-only", "origin", "main", cwd=root)
    lock = (root / "flowtide.lock").read_text()
    assert "weather" in lock and source.url in lock
    assert (root / "data/raw/weather.csv").is_file()
    models = json.loads(run_cli("-C", root, "models", "weather", "--json").out)
    assert [(v["version"], v["stage"]) for v in models["weather"]] == [(1, "production")]
    registry = (root / "flowtide.registry").read_text()
    assert "approved by maintainers in pipeline" in registry  # gitlab-ci-local's GITLAB_USER_LOGIN
