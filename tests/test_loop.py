"""flowtide loop: schedules fire pull → run on new bytes, with a compressed clock; crash and SIGTERM behaviour."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import GIT_ENV, run_cli

CONFIG = """\
project: looped
sources:
  numbers:
    url: incoming/numbers.csv
    path: data/numbers.csv
    schedule: "* * * * *"
stages:
  total:
    cmd: python stage.py
    deps: [stage.py, data/numbers.csv]
    outs: [out/total.txt]
"""

STAGE = """\
import os, pathlib, time
pathlib.Path("out").mkdir(exist_ok=True)
values = [int(x) for x in pathlib.Path("data/numbers.csv").read_text().split()[1:]]
with open("runs.txt", "a") as f:
    f.write(f"{sum(values)}\\n")
if os.path.exists("slow"):
    pathlib.Path("stage-started").write_text(str(os.getpid()))
    time.sleep(60)
pathlib.Path("out/total.txt").write_text(str(sum(values)))
"""


@pytest.fixture
def project(tmp_path) -> Path:
    root = tmp_path / "looped"
    (root / "incoming").mkdir(parents=True)
    (root / "flowtide.yaml").write_text(CONFIG)
    (root / "stage.py").write_text(STAGE)
    (root / "incoming" / "numbers.csv").write_text("n\n1\n2\n")
    (root / ".flowtide").mkdir()
    return root


def events(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / ".flowtide" / "loop.log").read_text().splitlines()]


def runs(root: Path) -> list[str]:
    path = root / "runs.txt"
    return path.read_text().split() if path.exists() else []


def test_new_bytes_fire_pull_then_run_and_unchanged_bytes_do_not(project):
    first = run_cli("loop", "-C", project, "--clock", "600", "--max-cycles", "1", "--json")
    assert first.code == 0, first.err
    cycle = json.loads(first.out)["cycles"][0]
    assert cycle["trigger"] == "source:numbers"
    assert cycle["outcome"]["pull"] == "changed"
    assert cycle["outcome"]["retrain"]["ran"] == ["total"]
    assert runs(project) == ["3"]
    assert (project / "out" / "total.txt").read_text() == "3"

    # same bytes at the next tick: pulled, nothing trained
    second = json.loads(run_cli("loop", "-C", project, "--clock", "600", "--max-cycles", "1", "--json").out)
    assert second["cycles"][0]["outcome"] == {"pull": "unchanged", "hash": cycle["outcome"]["hash"], "retrain": None}
    assert runs(project) == ["3"]

    (project / "incoming" / "numbers.csv").write_text("n\n1\n2\n4\n")
    third = json.loads(run_cli("loop", "-C", project, "--clock", "600", "--max-cycles", "1", "--json").out)
    assert third["cycles"][0]["outcome"]["pull"] == "changed"
    assert runs(project) == ["3", "7"]
    ticks = [e["tick"] for e in events(project) if e["event"] == "done"]
    assert len(ticks) == len(set(ticks)) == 3  # every cycle is a different scheduled time
    assert ticks == sorted(ticks)


def _loop_process(root: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "flowtide", "loop", "-C", str(root), "--clock", "600", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **GIT_ENV},
    )


def _wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def test_a_crashed_cycle_is_resumed_and_a_finished_one_is_not_repeated(project):
    assert run_cli("loop", "-C", project, "--clock", "600", "--max-cycles", "1").code == 0
    assert runs(project) == ["3"]
    state = json.loads((project / ".flowtide" / "loop-state.json").read_text())
    finished_tick = state["triggers"]["source:numbers"]["tick"]

    (project / "incoming" / "numbers.csv").write_text("n\n10\n20\n")
    (project / "slow").touch()
    proc = _loop_process(project)
    try:
        _wait_for(lambda: (project / "stage-started").exists())
    finally:
        proc.send_signal(signal.SIGKILL)  # a crash in the middle of training
        proc.wait(10)
        _wait_for(lambda: (project / "stage-started").read_text().strip() != "")
        os.kill(int((project / "stage-started").read_text()), signal.SIGKILL)  # and the orphaned stage
    assert runs(project) == ["3", "30"]
    state = json.loads((project / ".flowtide" / "loop-state.json").read_text())
    assert state["triggers"]["source:numbers"]["tick"] == finished_tick  # the killed cycle is not marked done

    (project / "slow").unlink()
    again = json.loads(run_cli("loop", "-C", project, "--clock", "600", "--max-cycles", "1", "--json").out)
    outcome = again["cycles"][0]["outcome"]
    assert outcome["pull"] == "unchanged"  # the bytes were pulled before the crash...
    assert outcome["retrain"]["ran"] == ["total"]  # ...and are trained now
    assert runs(project) == ["3", "30", "30"]
    assert (project / "out" / "total.txt").read_text() == "30"
    done = [e for e in events(project) if e["event"] == "done"]
    assert next(e["tick"] for e in done) == state["triggers"]["source:numbers"]["tick_iso"]
    assert len({e["tick"] for e in done}) == len(done) == 2


def test_sigterm_stops_cleanly_between_cycles(project):
    proc = _loop_process(project)
    try:
        _wait_for(
            lambda: (project / ".flowtide" / "loop.log").exists() and any(e["event"] == "done" for e in events(project))
        )
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "cycle 1: source:numbers" in out
    assert events(project)[-1]["event"] == "stop"
    assert events(project)[-1]["reason"] == "SIGTERM"


def test_a_second_loop_is_refused_and_bad_options(project):
    proc = _loop_process(project)
    try:
        _wait_for(lambda: (project / ".flowtide" / "loop.log").exists())
        busy = run_cli("loop", "-C", project, "--once")
        assert busy.code == 1
        assert busy.err.startswith("error: loop is busy: pid ")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert run_cli("loop", "-C", project, "--clock", "0").err == "error: --clock must be a positive factor\n"
    (project / "flowtide.yaml").write_text("project: empty\n")
    nothing = run_cli("loop", "-C", project, "--once")
    assert nothing.code == 2
    assert "nothing to loop over" in nothing.err


def test_with_a_model_the_monitor_fires_too_and_a_failing_cycle_does_not_end_the_loop(tmp_path, weather_csv):
    from ._models import make_project
    from ._serving import config

    root = tmp_path / "modelled"
    root.mkdir()
    text = config().replace(
        "    path: data/weather.csv\n", '    path: data/weather.csv\n    schedule: "0 6 * * *"\n', 1
    )
    make_project(root, weather_csv, text)
    (root / "train.py").write_text("raise SystemExit('the training script is broken')\n")
    result = run_cli("loop", "-C", root, "--once", "--json")
    assert result.code == 1  # a cycle failed
    cycles = {c["trigger"]: c for c in json.loads(result.out)["cycles"]}
    assert set(cycles) == {"source:weather", "monitor"}
    assert cycles["source:weather"]["status"] == "error"
    assert cycles["source:weather"]["error"].startswith("stage 'train' failed with exit code 1")
    assert cycles["monitor"]["status"] == "ok"
    assert cycles["monitor"]["outcome"]["verdicts"] == []
    # the failed tick is done (it is logged, not retried forever); the next run waits for the schedule
    again = json.loads(run_cli("loop", "-C", root, "--once", "--json").out)
    assert again["cycles"] == []


def test_the_person_running_the_loop_approves_a_canary_the_verdict_promotes(tmp_path, weather_csv):
    import random

    from flowtide.registry import Registry

    from ._models import events as registry_events
    from ._serving import artifacts, replay, served_project, weather_rows

    models = artifacts(weather_csv, tmp_path / "models")
    project = served_project(
        tmp_path / "canary",
        weather_csv,
        models,
        production="bad",
        canary="good",
        deploy="deploy:\n  canary: {weight: 0.5, min_requests: 80}\n",
    )
    replay(project, random.Random(7).sample(weather_rows(weather_csv), 300))
    result = json.loads(run_cli("loop", "-C", project.root, "--once", "--json").out)
    (cycle,) = result["cycles"]
    approver = "the person running `flowtide loop`"
    assert cycle["outcome"]["verdicts"] == ["weather v2: promote"]
    assert cycle["outcome"]["actions"] == [f"promoted weather v2 to production (approved by {approver})"]
    assert Registry.load(project).in_stage("weather", "production").version == 2
    assert registry_events(project.root)[-1]["reason"].endswith(f"; approved by {approver}")
