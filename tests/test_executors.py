"""Executors beyond the shared contract (tests/conformance/test_executors.py): parallel stages and sweeps on Ray.

The Ray tests start a real local Ray instance once per session (slow).
"""

from __future__ import annotations

import pytest

from flowtide.pipeline import LocalExecutor, run, sweep

from .conformance.test_executors import _task
from .test_pipeline import load, make_project

TWO = """\
project: two
stages:
  left:
    cmd: python -c "import os; open('left.txt','w').write(str(os.getpid()))"
    outs: [left.txt]
  right:
    cmd: python -c "import os; open('right.txt','w').write(str(os.getpid()))"
    outs: [right.txt]
"""


@pytest.mark.slow
def test_ray_runs_two_independent_stages(ray_local, tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    (root / "flowtide.yaml").write_text(TWO)
    result = run(load(root), executor="ray", jobs=2)
    assert sorted(result.ran) == ["left", "right"]
    assert all(result.stages[s]["where"].startswith("ray:") for s in ("left", "right"))
    assert run(load(root), executor="ray").ran == []


@pytest.mark.slow
def test_ray_sweep_of_two_points(ray_local, tmp_path):
    root = make_project(tmp_path / "p")
    result = sweep(load(root), ["train.lr=0.2,0.4"], executor="ray", metric="lr")
    assert sorted(p["metrics"]["lr"] for p in result.points) == [0.2, 0.4]
    assert all(p["status"] == "ok" for p in result.points)
    assert result.best["params"] == {"train.lr": 0.4}


def test_plain_command_without_shell_reports_a_missing_program(tmp_path):
    executor = LocalExecutor()
    try:
        missing = executor.submit(_task(tmp_path, "gone", cmd="no-such-program-xyz --flag")).result(timeout=60)
        assert (missing.ok, missing.returncode, missing.stderr_tail) == (
            False,
            127,
            "no-such-program-xyz: command not found",
        )
        args = executor.submit(_task(tmp_path, "argv", cmd="python -c pass")).result(timeout=60)
        assert args.ok  # quoted or not, arguments reach the program as a shell would pass them
    finally:
        executor.close()
