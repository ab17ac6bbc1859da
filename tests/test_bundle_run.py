"""The bundle `flowtide package` writes, run the way its Dockerfile runs it — without Docker.

This machine has no Docker engine, so this is the nearest it gets to `docker build && docker run`:
the bundle's requirements.txt is installed into a fresh virtualenv (flowtide itself from a wheel
built from this checkout, as the image would get it from the index), the Dockerfile's own `CMD` is
run from the bundle's directory (its WORKDIR) as a separate process, and a prediction is asked for
over HTTP. The Dockerfile is linted with hadolint.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ._models import make_project, train
from .conftest import fresh_venv, run_cli

ROW = {"precipitation": 0.0, "temp_max": 25.0, "temp_min": 14.0, "wind": 2.0}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, weather_csv):
    root = make_project(tmp_path_factory.mktemp("project"), weather_csv)
    train(root, weather_csv)
    for args in (("gate",), ("register",), ("promote", "weather", "1", "--to", "staging")):
        result = run_cli(*args, cwd=root)
        assert result.code == 0, result.err
    out = tmp_path_factory.mktemp("bundle") / "weather-v1"
    result = run_cli("package", "weather", "v1", "-o", out, "--json", cwd=root)
    assert result.code == 0, result.err
    return out


def test_the_dockerfile_passes_hadolint(bundle):
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run([hadolint, str(bundle / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    text = (bundle / "Dockerfile").read_text()
    assert re.search(r"^USER \d+$", text, re.M)  # not root, and a numeric id the host can resolve


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_bundle_serves_from_its_own_requirements_and_command(bundle, tmp_path, wheel):
    # the image installs requirements.txt from the index; flowtide==VERSION is not published yet, so its
    # wheel goes first and the pin is satisfied by it (everything else comes exactly as pinned)
    requirements = (bundle / "requirements.txt").read_text()
    assert re.search(r"^flowtide==", requirements, re.M) and "starlette==" in requirements
    venv = fresh_venv(tmp_path / "venv", str(wheel), f"-r {bundle / 'requirements.txt'}")

    # the Dockerfile's CMD, exactly, with its WORKDIR mapped to the bundle and its port to a free one
    text = (bundle / "Dockerfile").read_text()
    workdir = re.search(r"^WORKDIR (\S+)$", text, re.M)[1]
    command = json.loads(re.search(r"^CMD (\[.*\])$", text, re.M)[1])
    port = _free_port()
    argv = [str(bundle) if arg == workdir else arg for arg in command]
    argv[argv.index("--port") + 1] = str(port)
    argv[argv.index("--host") + 1] = "127.0.0.1"
    assert argv[0] == "flowtide"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", PYTHONDONTWRITEBYTECODE="1")
    server = subprocess.Popen(
        [str(venv / "bin" / argv[0]), *argv[1:]], cwd=bundle, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 90
        answer = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                answer = httpx.post(f"http://127.0.0.1:{port}/predict/weather", json=ROW, timeout=5)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert answer is not None, server.stderr.read().decode() if server.poll() is not None else "no answer"
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["model"] == "weather" and body["version"] == 1 and isinstance(body["prediction"], str)
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json()["status"] == "ok"
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
