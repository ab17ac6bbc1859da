"""The executor contract, run by every executor registered in ``flowtide.executors`` and by an installed plugin.

Submit a shell stage, a ``call:`` stage and a failing stage; each future gives
a TaskResult (a failed stage is a result, not an exception). Ray starts a real
local instance once per session (slow).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from flowtide.pipeline.executors import StageTask, make_executor

from .conftest import implementations


@pytest.fixture
def executor(component, request):
    if component == "ray":
        request.getfixturevalue("ray_local")
    ex = make_executor(component, 2)
    yield ex
    ex.close()


def _task(root: Path, name: str, **kw) -> StageTask:
    return StageTask(
        name=name,
        root=str(root),
        env={**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]},
        **kw,
    )


@pytest.mark.parametrize("component", implementations("executors", {"ray": pytest.mark.slow}), indirect=True)
def test_executor_contract(component, executor, tmp_path):
    assert executor.name == component
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
