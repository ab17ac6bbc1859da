"""The lock is written once, when a run ends, however it ends: what finished is kept, what failed is not.

(See the engine's docstring for why once, and what a crash of the machine leaves.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flowtide.errors import StageError
from flowtide.hashing import hash_file
from flowtide.pipeline import run

from .conftest import GIT_ENV, run_process
from .test_pipeline import executions, load, make_project

# a stage that sends SIGINT (Ctrl-C) to the `flowtide run` above it, then waits to be ended
INTERRUPT = """\
import os, signal, time
pid = os.getppid()
while pid > 1:
    with open(f"/proc/{pid}/cmdline", "rb") as handle:
        if b"flowtide\\x00run" in handle.read():
            break
    with open(f"/proc/{pid}/stat", "rb") as handle:
        pid = int(handle.read().rpartition(b")")[2].split()[1])
os.kill(pid, signal.SIGINT)
time.sleep(60)
"""

INTERRUPTED = """\
project: demo
stages:
  prepare:
    cmd: python stage.py prepare data/raw.txt data/prepared.txt
    deps: [stage.py, data/raw.txt]
    outs: [data/prepared.txt]
  interrupt:
    cmd: python interrupt.py
    deps: [data/prepared.txt, interrupt.py]
    outs: [never.txt]
"""


def lock_of(root: Path) -> dict:
    return json.loads((root / "flowtide.lock").read_text())


def test_a_failure_after_a_successful_stage_keeps_the_successful_stage_in_the_lock(tmp_path):
    root = make_project(tmp_path / "proj")
    with pytest.raises(StageError) as info:
        run(load(root, FAIL_STAGE="train"))
    assert "stage 'train' failed with exit code 3" in str(info.value)
    assert info.value.result.ran == ["prepare"] and info.value.result.failed == ["train"]
    stages = lock_of(root)["stages"]
    assert sorted(stages) == ["prepare"]  # the failed stage has no entry (nor report: a failure stops the run)
    assert stages["prepare"]["outs"]["data/prepared.txt"]["hash"] == hash_file(root / "data" / "prepared.txt")[0]
    # what the lock says holds: a second run does not run prepare again, only the stage that failed
    again = run(load(root))
    assert again.skipped == ["prepare"] and again.ran == ["train", "report"]
    assert executions(root).count("prepare") == 1


def test_a_failure_keeps_the_old_entry_of_the_failed_stage_and_the_new_ones_before_it(tmp_path):
    root = make_project(tmp_path / "proj")
    run(load(root))
    before = lock_of(root)["stages"]
    (root / "data" / "raw.txt").write_text("new data\n")
    with pytest.raises(StageError):
        run(load(root, FAIL_STAGE="train"))
    after = lock_of(root)["stages"]
    assert after["prepare"] != before["prepare"]  # ran again on the new data: its new entry is kept
    assert after["prepare"]["deps"]["data/raw.txt"]["hash"] == hash_file(root / "data" / "raw.txt")[0]
    assert after["train"] == before["train"]  # the last good state


def test_an_interrupted_run_keeps_the_stages_that_finished(tmp_path):
    root = make_project(tmp_path / "proj", config=INTERRUPTED)
    (root / "interrupt.py").write_text(INTERRUPT)
    env = {**os.environ, **GIT_ENV}
    proc = subprocess.run(
        [sys.executable, "-m", "flowtide", "run"], cwd=root, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 130, proc.stdout + proc.stderr
    assert "prepare: ran in" in proc.stdout
    stages = lock_of(root)["stages"]
    assert sorted(stages) == ["prepare"]
    assert stages["prepare"]["outs"]["data/prepared.txt"]["hash"] == hash_file(root / "data" / "prepared.txt")[0]
    status = run_process("status", cwd=root)
    assert status.code == 1
    assert "interrupt:" in status.out and "prepare:" not in status.out


def test_one_lock_write_per_run(tmp_path, monkeypatch):
    """Three stages ran: the lock is written (and synced) once, not after each stage."""
    from flowtide.lock import Lock

    root = make_project(tmp_path / "proj")
    saves = []
    original = Lock.save
    monkeypatch.setattr(
        Lock, "save", lambda self, *a, **kw: saves.append(sorted(self.stages)) or original(self, *a, **kw)
    )
    result = run(load(root))
    assert result.ran == ["prepare", "train", "report"]
    assert saves == [["prepare", "report", "train"]]


RERUN_IMPORTS = """\
import sys
from flowtide.cli import main
code = main(["run"])
heavy = sorted(name for name in ("pydantic", "polars", "numpy", "pandas", "yaml", "rich") if name in sys.modules)
print("HEAVY", heavy)
print("CTYPES", "ctypes" in sys.modules)  # small outputs need no sync_file_range
sys.exit(code)
"""


def test_a_rerun_loads_no_heavy_library(tmp_path):
    root = make_project(tmp_path / "proj")
    env = {**os.environ, **GIT_ENV}
    subprocess.run([sys.executable, "-m", "flowtide", "run"], cwd=root, env=env, check=True, capture_output=True)
    assert (root / ".flowtide" / "tmp" / "config.json").exists()  # the first run of a fresh project memoises it
    (root / "params.yaml").write_text("train:\n  lr: 0.2\nother:\n  x: 1\n")  # train reruns
    proc = subprocess.run(
        [sys.executable, "-c", RERUN_IMPORTS], cwd=root, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "train: ran in" in proc.stdout
    assert "HEAVY []" in proc.stdout
    assert "CTYPES False" in proc.stdout


MODELS_IMPORTS = """\
import sys
from flowtide.cli import main
code = main(["models"])
print("HEAVY", sorted(name for name in ("pydantic", "ruamel.yaml") if name in sys.modules))
sys.exit(code)
"""


def test_a_read_only_command_of_a_fresh_clone_memoises_the_config_for_the_next(tmp_path):
    """No .flowtide/ yet (a fresh clone): the first command makes it, git does not see it, the second parses nothing."""
    root = make_project(tmp_path / "proj")
    assert not (root / ".flowtide").exists()
    env = {**os.environ, **GIT_ENV}
    first = subprocess.run(
        [sys.executable, "-c", MODELS_IMPORTS], cwd=root, env=env, capture_output=True, text=True, timeout=60
    )
    # the first parses the file: plain YAML (no ruamel.yaml) whose values all have their fields' types (no pydantic)
    assert "HEAVY []" in first.stdout, first.stdout + first.stderr
    assert (root / ".flowtide" / "tmp" / "config.json").exists()
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    untracked = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=root, capture_output=True, text=True
    ).stdout
    assert ".flowtide" not in untracked
    second = subprocess.run(
        [sys.executable, "-c", MODELS_IMPORTS], cwd=root, env=env, capture_output=True, text=True, timeout=60
    )
    assert second.returncode == first.returncode == 0, second.stdout + second.stderr
    assert "HEAVY []" in second.stdout
