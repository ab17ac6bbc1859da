"""Shared fixtures: real temp projects, real git repos, the flowtide CLI in-process and as a process."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from flowtide.cli import main

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(*args: str, cwd: str | os.PathLike[str] | None = None) -> Result:
    """Run ``flowtide ARGS`` in this process (fast) and capture its output."""
    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:  # argparse usage errors
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        os.chdir(old)
    return Result(code, out.getvalue(), err.getvalue())


def run_process(*args: str, cwd=None, env=None, timeout: float = 300, check: bool = False) -> Result:
    """Run ``python -m flowtide ARGS`` as a real process."""
    full_env = {**os.environ, **GIT_ENV, **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "flowtide", *map(str, args)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    result = Result(proc.returncode, proc.stdout, proc.stderr)
    if check and proc.returncode != 0:
        raise AssertionError(f"flowtide {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return result


def git(*args: str, cwd) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, capture_output=True, text=True, check=True
    )
    return proc.stdout.strip()


@pytest.fixture(autouse=True)
def _git_identity(monkeypatch):
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """An empty git repository (branch main) in a temp dir."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    return repo


@pytest.fixture(scope="session")
def weather_csv() -> Path:
    """The Seattle weather CSV shipped by vega_datasets (1,461 days, 2012–2015)."""
    import vega_datasets

    return Path(vega_datasets.__file__).parent / "_data" / "seattle-weather.csv"
