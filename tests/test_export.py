"""MLflow export against a real `mlflow server` (SQLite backend) on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from flowtide.project import Project

from ._models import make_project, train
from .conftest import run_cli

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    pytest.importorskip("mlflow")
    workdir = tmp_path_factory.mktemp("mlflow")
    port = _free_port()
    binary = Path(sys.executable).with_name("mlflow")
    proc = subprocess.Popen(
        [
            str(binary),
            "server",
            "--backend-store-uri",
            f"sqlite:///{workdir}/m.db",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=workdir,
        stdout=open(workdir / "server.log", "w"),
        stderr=subprocess.STDOUT,
        # bytecode cached across sessions: compiling mlflow from source costs tens of seconds per start
        env={
            **{k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "MLFLOW_TRACKING_URI")},
            "PYTHONPYCACHEPREFIX": os.path.join(tempfile.gettempdir(), "flowtide-test-pycache"),
        },
    )
    url = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("mlflow server did not start:\n" + (workdir / "server.log").read_text()[-3000:])
        time.sleep(0.5)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def _record_runs(project: Project, metrics: dict) -> list[str]:
    runs = pytest.importorskip("flowtide.pipeline.runs", reason="the pipeline area has not landed")
    ids = []
    for index, seed in enumerate((1, 2)):
        record = runs.RunRecord(
            id=f"20260101-00000{index}-abcd",
            started=1767225600.0 + index,
            finished=1767225610.0 + index,
            status="ok",
            git_commit="0" * 40,
            params={"train": {"n_estimators": 15, "seed": seed}},
            metrics=metrics,
            data={"weather": "ab" * 32},
        )
        runs.save(project, record)
        ids.append(record.id)
    return ids


def test_export_runs_versions_and_aliases(mlflow_server, git_repo, weather_csv):
    from mlflow import MlflowClient

    root = make_project(git_repo, weather_csv)
    metrics = train(root, weather_csv)
    project = Project.load(root)
    run_ids = _record_runs(project, metrics)
    for step in (("gate",), ("register",), ("promote", "weather", "1", "--to", "staging")):
        assert run_cli(*step, cwd=root).code == 0
    train(root, weather_csv, seed=3)
    for step in (("gate",), ("register",)):
        assert run_cli(*step, cwd=root).code == 0
    for to in ("staging", "production"):
        assert run_cli("promote", "weather", "2", "--to", to, cwd=root).code == 0

    first = run_cli("export", "mlflow", "--tracking-uri", mlflow_server, "--json", cwd=root)
    assert first.code == 0, first.err
    result = json.loads(first.out)
    assert sorted(result["runs_created"]) == run_ids
    assert result["versions_created"] == ["weather@v1", "weather@v2"]
    assert result["aliases"] == {"weather": {"production": 2}}

    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    experiment = client.get_experiment_by_name("weather")
    runs = client.search_runs([experiment.experiment_id], filter_string="tags.`flowtide.run_id` != ''")
    assert sorted(r.data.tags["flowtide.run_id"] for r in runs) == run_ids
    run = next(r for r in runs if r.data.tags["flowtide.run_id"] == run_ids[1])
    assert run.data.params["train.seed"] == "2"
    assert run.data.metrics["accuracy"] == pytest.approx(metrics["accuracy"])
    assert run.info.status == "FINISHED"
    versions = sorted(client.search_model_versions("name='weather'"), key=lambda mv: int(mv.version))
    assert [mv.tags["flowtide.version"] for mv in versions] == ["weather@v1", "weather@v2"]
    assert [mv.tags["flowtide.stage"] for mv in versions] == ["archived", "production"]
    assert client.get_model_version_by_alias("weather", "production").tags["flowtide.version"] == "weather@v2"
    artifacts = [a.path for a in client.list_artifacts(versions[0].run_id, "model")]
    assert artifacts == ["model/model.skops"]

    # staging v1 again, then export twice more: nothing is duplicated, the aliases follow the registry
    assert run_cli("promote", "weather", "1", "--to", "staging", cwd=root).code == 0
    again = json.loads(run_cli("export", "mlflow", "--tracking-uri", mlflow_server, "--json", cwd=root).out)
    assert (again["runs_created"], again["versions_created"]) == ([], [])
    assert sorted(again["runs_skipped"]) == run_ids
    assert again["aliases"] == {"weather": {"staging": 1, "production": 2}}
    assert len(client.search_model_versions("name='weather'")) == 2
    assert client.get_model_version_by_alias("weather", "staging").tags["flowtide.version"] == "weather@v1"


def test_export_without_a_server_is_a_usage_error(git_repo, weather_csv, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root = make_project(git_repo, weather_csv)
    result = run_cli("export", "mlflow", cwd=root)
    assert result.code == 2
    assert result.err == "error: no MLflow tracking server: pass --tracking-uri URI or set MLFLOW_TRACKING_URI\n"
