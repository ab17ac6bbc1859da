"""The OpenAPI document says what the server does: schemathesis fuzzes a real `flowtide serve` from it.

Every check (no 5xx, documented status codes and content types, response schemas,
schema-violating requests refused, schema-valid ones accepted, auth enforced) over
a fixed number of examples and a fixed seed, once with the admin token (admin
endpoints exercised, /feedback open) and once with the feedback token (admin off).
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ._serving import artifacts, served_project
from .conftest import GIT_ENV, fast_python_env


@pytest.fixture(scope="module")
def models(weather_csv, tmp_path_factory):
    return artifacts(weather_csv, tmp_path_factory.mktemp("models"))


def schemathesis() -> str:
    found = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
    if not Path(found).exists():
        raise AssertionError("schemathesis is not installed: it is in the dev extra (pip install -e '.[dev]')")
    return found


@pytest.mark.parametrize(
    ("tokens", "header"),
    [
        ({"FLOWTIDE_ADMIN_TOKEN": "admin-token"}, "admin-token"),
        ({"FLOWTIDE_FEEDBACK_TOKEN": "feedback-token"}, "feedback-token"),
    ],
    ids=["admin", "feedback-token"],
)
def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    tmp_path, tmp_path_factory, weather_csv, models, tokens, header
):
    project = served_project(tmp_path / "p", weather_csv, models)
    env = {**fast_python_env(tmp_path_factory), **GIT_ENV, **tokens}
    errors = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowtide", "serve", "-C", str(project.root), "--port", "0", "--interval", "0"],
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("flowtide serve: http://"), (line, (tmp_path / "serve.log").read_text())
        url = line.split()[2]
        httpx.get(f"{url}/health", timeout=30).raise_for_status()
        started = time.monotonic()
        options = ["--checks", "all", "--max-examples", "25", "--seed", "20260101", "--workers", "1", "--no-color"]
        run = subprocess.run(
            [schemathesis(), "run", f"{url}/openapi.json", *options, "-H", f"Authorization: Bearer {header}"],
            cwd=tmp_path,  # its .hypothesis cache lands here
            capture_output=True,
            text=True,
            timeout=300,
        )
        seconds = time.monotonic() - started
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        errors.close()
    report = run.stdout[-4000:]
    assert run.returncode == 0, report
    summary = [line for line in run.stdout.splitlines() if line.startswith("=====")][-1]
    assert "failure" not in summary and "error" not in summary, report  # "N warnings" only: admin off
    assert re.search(r"(\d+) generated, \1 passed", run.stdout), report
    assert seconds < 60, f"schemathesis took {seconds:.0f} s"
    assert "Traceback" not in (tmp_path / "serve.log").read_text()
