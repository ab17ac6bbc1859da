"""Stage processes die with the runner: kill -9, SIGTERM and Ctrl-C of a real `flowtide run`.

Each test runs a real runner process whose stage is a shell with a grandchild,
records the stage's pids, ends the runner and then looks in /proc for any
survivor of the stage's process group (zombies waiting for init count as gone).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowtide.pipeline.executors import StageTask, run_command

from .conftest import GIT_ENV, run_cli

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc to find survivors")

# the stage: a grandchild (sleep 60), its own pids on record, then its output a few seconds later
STAGE = """\
echo $$ > pids
sleep 60 &
echo $! >> pids
sleep {delay}
echo late > out.txt
wait
"""


def stage_project(root: Path, *, delay: float = 4, script: str = STAGE) -> Path:
    root.mkdir()
    (root / "stage.sh").write_text(script.format(delay=delay))
    (root / "flowtide.yaml").write_text(
        "project: p\nstages:\n  slow:\n    cmd: sh stage.sh\n    deps: [stage.sh]\n    outs: [out.txt]\n"
    )
    return root


def live(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rpartition(b")")[2].split()[0]
    except OSError:
        return False
    return state != b"Z"


def group_members(pgid: int) -> list[int]:
    """Live processes of process group ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_bytes().rpartition(b")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != b"Z":
            members.append(int(entry.name))
    return members


def start_runner(root: Path) -> tuple[subprocess.Popen, list[int]]:
    """`flowtide run` as a real process; returns once the stage wrote its pids (leader, grandchild)."""
    runner = subprocess.Popen(
        [sys.executable, "-m", "flowtide", "run"],
        cwd=root,
        env={**os.environ, **GIT_ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    pids: list[int] = []
    while time.monotonic() < deadline and runner.poll() is None:
        try:
            pids = [int(line) for line in (root / "pids").read_text().split()]
        except (OSError, ValueError):
            pids = []
        if len(pids) == 2:
            break
        time.sleep(0.02)
    else:
        runner.kill()
        pytest.fail(f"the stage never started: {runner.communicate()[0]}")
    return runner, pids


def wait_until_gone(pgid: int, pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = sorted(set(group_members(pgid)) | {p for p in pids if live(p)})
        if not left:
            return []
        time.sleep(0.05)
    return left


def reap(pids: list[int]) -> None:
    for pid in pids:  # leave nothing behind when the test fails
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_runner_takes_its_stage_and_grandchildren_along(tmp_path, sig):
    root = stage_project(tmp_path / "p")
    runner, pids = start_runner(root)
    leader = pids[0]
    started = time.monotonic()
    groups = [os.getpgid(pid) for pid in pids]
    try:
        os.kill(runner.pid, sig)
        runner.communicate(timeout=30)
        left = wait_until_gone(leader, pids, seconds=4)
        assert left == [], f"stage processes survived the runner: {left}"
        assert groups == [leader, leader]  # the stage led its own process group, its grandchild in it
        # the stage would have written its output 4 s after it started: it never does
        time.sleep(max(0.0, started + 5.5 - time.monotonic()))
        assert not (root / "out.txt").exists() and not (root / "flowtide.lock").exists()
    finally:
        reap(group_members(leader) + pids)


def test_ctrl_c_ends_the_stage_at_once_and_exits_130(tmp_path):
    root = stage_project(tmp_path / "p")
    runner, pids = start_runner(root)
    try:
        interrupted = time.monotonic()
        runner.send_signal(signal.SIGINT)
        out, _ = runner.communicate(timeout=30)
        assert runner.returncode == 130, out
        assert out.endswith("interrupted\n")
        assert wait_until_gone(pids[0], pids, seconds=0.5) == []
        assert time.monotonic() - interrupted < 3.0  # a SIGTERM ends `sh`: no need to wait for the grace
        time.sleep(4.5)
        assert not (root / "out.txt").exists()
    finally:
        reap(group_members(pids[0]) + pids)


def test_a_grandchild_that_left_the_group_is_found_by_its_token(tmp_path):
    """setsid puts a process in a new session and group; the watchdog still finds it by its environment."""
    script = "echo $$ > pids\nsetsid sleep 60 &\necho $! >> pids\nsleep {delay}\necho late > out.txt\nwait\n"
    root = stage_project(tmp_path / "p", script=script)
    runner, pids = start_runner(root)
    try:
        deadline = time.monotonic() + 10
        while os.getpgid(pids[1]) == pids[0] and time.monotonic() < deadline:
            time.sleep(0.01)  # (setsid runs in the forked child: wait until it has)
        assert os.getpgid(pids[1]) != pids[0]
        os.kill(runner.pid, signal.SIGKILL)
        runner.communicate(timeout=30)
        assert wait_until_gone(pids[0], pids, seconds=4) == []
    finally:
        reap(pids)


def test_stragglers_of_a_finished_stage_are_ended(tmp_path):
    """A process that let go of the stage's output would otherwise write it after it was hashed."""
    root = tmp_path / "p"
    root.mkdir()
    (root / "stage.sh").write_text(
        "sh -c 'echo $$ > straggler; sleep 3; echo late >> out.txt' </dev/null >/dev/null 2>&1 &\n"
        "while [ ! -s straggler ]; do sleep 0.01; done\n"
        "echo done > out.txt\n"
    )
    (root / "flowtide.yaml").write_text("project: p\nstages:\n  s:\n    cmd: sh stage.sh\n    outs: [out.txt]\n")
    result = run_cli("run", cwd=root)
    assert result.code == 0, result.err
    straggler = int((root / "straggler").read_text())
    try:
        assert not live(straggler)
        time.sleep(3.5)
        assert (root / "out.txt").read_text() == "done\n"
        assert run_cli("status", cwd=root).code == 0
    finally:
        reap([straggler])


def test_a_watchdog_that_was_killed_is_replaced(tmp_path):
    from flowtide.pipeline import processes

    task = StageTask(name="t", root=str(tmp_path), cmd="true", env=dict(os.environ))
    assert run_command(task).ok
    watchdog = processes._STAGES.watchdog
    assert watchdog is not None and watchdog.proc.poll() is None
    watchdog.proc.kill()
    watchdog.proc.wait()
    assert run_command(task).ok
    assert processes._STAGES.watchdog is not watchdog and processes._STAGES.watchdog.proc.poll() is None


def test_the_stage_environment_names_its_runner(tmp_path):
    task = StageTask(name="t", root=str(tmp_path), cmd="sh -c 'echo $FLOWTIDE_RUNNER'", env=dict(os.environ))
    result = run_command(task)
    assert result.ok and len(result.stdout.strip()) == 16
