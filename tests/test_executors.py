"""Executors: one contract (submit a stage task, get a result), run by every implementation.

The Ray tests start a real local Ray instance once per session (slow).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from flowtide.pipeline import LocalExecutor, run, sweep
from flowtide.pipeline.executors import StageTask

from .test_pipeline import load, make_project


@pytest.fixture(scope="session")
def ray_local(tmp_path_factory):
    ray = pytest.importorskip("ray")
    pycache = str(tmp_path_factory.getbasetemp().parent / "pycache")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        runtime_env={"env_vars": {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": pycache}},
    )
    yield ray
    ray.shutdown()


@pytest.fixture(params=["local", pytest.param("ray", marks=pytest.mark.slow)])
def executor(request):
    if request.param == "local":
        ex = LocalExecutor(jobs=2)
    else:
        request.getfixturevalue("ray_local")
        from flowtide.pipeline import RayExecutor

        ex = RayExecutor(jobs=2)
    yield ex
    ex.close()


def _task(root: Path, name: str, **kw) -> StageTask:
    return StageTask(
        name=name,
        root=str(root),
        env={**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]},
        **kw,
    )


def test_executor_conformance(executor, tmp_path):
    (tmp_path / "mod.py").write_text("def make(ctx):\n    open(ctx.outs[0], 'w').write(ctx.name)\n")
    ok = executor.submit(_task(tmp_path, "shell", cmd="echo hi > out.txt && echo done")).result(timeout=120)
    assert ok.ok and ok.returncode == 0 and ok.stdout == "done\n"
    assert (tmp_path / "out.txt").read_text() == "hi\n"
    called = executor.submit(_task(tmp_path, "called", call="mod:make", outs=["called.txt"])).result(timeout=120)
    assert called.ok and (tmp_path / "called.txt").read_text() == "called"
    bad = executor.submit(_task(tmp_path, "bad", cmd="echo oops >&2; exit 4")).result(timeout=120)
    assert (bad.ok, bad.returncode, bad.stderr_tail) == (False, 4, "oops")
    if executor.name == "ray":
        assert ok.where.startswith("ray:")


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
