"""MLflow export against a real `mlflow server` (SQLite backend) on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowtide import __version__
from flowtide.formats import load_model
from flowtide.project import Project
from flowtide.registry import Registry

from ._models import CONFIG, make_project, train
from ._seaweedfs import free_ports
from .conftest import fast_python_env, run_cli, run_process

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    if not Path(sys.executable).with_name("mlflow").exists():
        pytest.skip("mlflow is not installed (extra `mlflow`)")
    workdir = tmp_path_factory.mktemp("mlflow")
    (port,) = free_ports(1)
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
            "PYTHONPYCACHEPREFIX": fast_python_env(tmp_path_factory)["PYTHONPYCACHEPREFIX"],
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


class Rest:
    """MLflow's REST API, read with httpx so the test process never imports mlflow (seconds per import)."""

    def __init__(self, url: str) -> None:
        import httpx

        self.client = httpx.Client(base_url=f"{url}/api/2.0/mlflow/", timeout=30)

    def get(self, endpoint: str, **params):
        response = self.client.get(endpoint, params=params)
        response.raise_for_status()
        return response.json()

    def post(self, endpoint: str, body: dict):
        response = self.client.post(endpoint, json=body)
        response.raise_for_status()
        return response.json()


def _tags(entity: dict) -> dict[str, str]:
    return {t["key"]: t["value"] for t in entity.get("tags", [])}


def _export(root, url: str, env: dict) -> dict:
    # a real process with cached bytecode: mlflow compiles once per machine, not once per test
    env = {**env, "PYTHONDONTWRITEBYTECODE": ""}  # run_process merges os.environ; empty means unset
    result = run_process("export", "mlflow", "--tracking-uri", url, "--json", cwd=root, env=env)
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_export_runs_versions_and_aliases(mlflow_server, git_repo, weather_csv, tmp_path_factory):
    env = fast_python_env(tmp_path_factory)
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
    from .conftest import git

    git("add", "-A", cwd=root)
    git("commit", "-qm", "two versions", cwd=root)

    result = _export(root, mlflow_server, env)
    # everything MLflow needed was written in a temporary directory: the project has nothing new
    assert _git_status(root) == ""
    assert sorted(result["runs_created"]) == run_ids
    assert result["versions_created"] == ["weather@v1", "weather@v2"]
    assert result["aliases"] == {"weather": {"production": 2}}

    rest = Rest(mlflow_server)
    experiment = rest.get("experiments/get-by-name", experiment_name="weather")["experiment"]
    found = rest.post(
        "runs/search",
        {"experiment_ids": [experiment["experiment_id"]], "filter": "tags.`flowtide.run_id` != ''"},
    )["runs"]
    by_id = {_tags(r["data"])["flowtide.run_id"]: r for r in found}
    assert sorted(by_id) == run_ids
    run = by_id[run_ids[1]]
    assert {p["key"]: p["value"] for p in run["data"]["params"]}["train.seed"] == "2"
    assert {m["key"]: m["value"] for m in run["data"]["metrics"]}["accuracy"] == pytest.approx(metrics["accuracy"])
    assert run["info"]["status"] == "FINISHED"
    assert _tags(run["data"])["mlflow.source.git.commit"] == "0" * 40

    versions = sorted(
        rest.get("model-versions/search", filter="name='weather'")["model_versions"], key=lambda mv: int(mv["version"])
    )
    assert [_tags(mv)["flowtide.version"] for mv in versions] == ["weather@v1", "weather@v2"]
    assert [_tags(mv)["flowtide.stage"] for mv in versions] == ["archived", "production"]
    production = rest.get("registered-models/alias", name="weather", alias="production")["model_version"]
    assert _tags(production)["flowtide.version"] == "weather@v2"
    artifacts = rest.get("artifacts/list", run_id=versions[0]["run_id"], path="model")["files"]
    assert {"model/MLmodel", "model/data", "model/requirements.txt"} <= {a["path"] for a in artifacts}
    data = rest.get("artifacts/list", run_id=versions[0]["run_id"], path="model/data/flowtide")["files"]
    assert sorted(a["path"].rsplit("/", 1)[1] for a in data) == ["flowtide-model.json", "model.skops"]

    # MLflow loads the production version by alias and predicts what flowtide predicts, on the same rows
    rows = _rows(weather_csv, 300)
    mlflow_says = _mlflow_predict(mlflow_server, "models:/weather@production", rows, tmp_path_factory)
    assert mlflow_says["predictions"] == load_model(project, Registry.load(project).get("weather", 2)).predict(rows)
    assert f"flowtide[sklearn]=={__version__}" in mlflow_says["requirements"]
    assert mlflow_says["inputs"] == [
        {"name": name, "type": "double", "required": True} for name in ("precipitation", "temp_max", "temp_min", "wind")
    ]
    staging_says = _mlflow_predict(mlflow_server, "models:/weather/1", rows[:50], tmp_path_factory)
    assert staging_says["predictions"] == load_model(project, Registry.load(project).get("weather", 1)).predict(
        rows[:50]
    )

    # staging v1 again, then export again: nothing is duplicated, the aliases follow the registry
    assert run_cli("promote", "weather", "1", "--to", "staging", cwd=root).code == 0
    git("commit", "-qam", "v1 to staging", cwd=root)
    again = _export(root, mlflow_server, env)
    assert (again["runs_created"], again["versions_created"]) == ([], [])
    assert sorted(again["runs_skipped"]) == run_ids
    assert again["aliases"] == {"weather": {"staging": 1, "production": 2}}
    assert len(rest.get("model-versions/search", filter="name='weather'")["model_versions"]) == 2
    staging = rest.get("registered-models/alias", name="weather", alias="staging")["model_version"]
    assert _tags(staging)["flowtide.version"] == "weather@v1"
    assert _git_status(root) == ""


def _git_status(root) -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--ignored=no"], cwd=root, capture_output=True, text=True, check=True
    ).stdout


def _rows(csv, n: int) -> list[dict]:
    lines = csv.read_text().splitlines()[1 : n + 1]
    names = ("precipitation", "temp_max", "temp_min", "wind")
    return [dict(zip(names, map(float, line.split(",")[1:5]), strict=True)) for line in lines]


_LOAD = """
import json, sys
import mlflow.pyfunc, pandas as pd
from mlflow.tracking.artifact_utils import _download_artifact_from_uri

uri, rows = sys.argv[1], json.loads(sys.stdin.read())
model = mlflow.pyfunc.load_model(uri)
# the columns in another order than flowtide's: the signature puts them right
frame = pd.DataFrame(rows)[["wind", "temp_min", "temp_max", "precipitation"]]
out = {
    "predictions": [str(p) for p in model.predict(frame)],
    "inputs": [dict(c) for c in model.metadata.get_input_schema().to_dict()],
    "requirements": open(mlflow.pyfunc.get_model_dependencies(uri)).read().split(),
}
print(json.dumps(out))
"""


def _mlflow_predict(url: str, uri: str, rows: list[dict], tmp_path_factory) -> dict:
    """``mlflow.pyfunc.load_model(uri).predict`` in a fresh process, as an MLflow user would call it."""
    # no MLFLOW_ALLOW_PICKLE_DESERIALIZATION: flowtide's loader unpickles nothing
    env = {k: v for k, v in fast_python_env(tmp_path_factory).items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = url
    proc = subprocess.run(
        [sys.executable, "-c", _LOAD, uri],
        input=json.dumps(rows),
        cwd=tmp_path_factory.mktemp("mlflow-user"),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_version_whose_artifact_is_gone_is_not_sent(mlflow_server, tmp_path, weather_csv, tmp_path_factory):
    from .conftest import git

    root = tmp_path / "gone"
    root.mkdir()
    git("init", "-q", cwd=root)
    # its own experiment and registered model: the server is shared with the other tests
    root = make_project(
        root, weather_csv, CONFIG.replace("project: weather", "project: gone").replace("name: weather", "name: gone")
    )
    train(root, weather_csv)
    for step in (("gate",), ("register",)):
        assert run_cli(*step, cwd=root).code == 0
    project = Project.load(root)
    version = Registry.load(project).get("gone", 1)
    blob = project.store.path_of(version.hash)
    os.chmod(blob, 0o644)
    blob.unlink()
    (root / "models/model.skops").unlink()
    result = _export(root, mlflow_server, fast_python_env(tmp_path_factory))
    assert (result["versions_created"], result["versions_missing"]) == ([], ["gone@v1"])
    assert result["aliases"] == {"gone": {}}
    # nothing half-sent: no run for the version in the project's experiment
    rest = Rest(mlflow_server)
    experiment = rest.get("experiments/get-by-name", experiment_name="gone")["experiment"]
    runs = rest.post("runs/search", {"experiment_ids": [experiment["experiment_id"]]}).get("runs", [])
    assert [_tags(r["data"]).get("flowtide.version") for r in runs if "flowtide.version" in _tags(r["data"])] == []


def test_export_without_a_server_is_a_usage_error(git_repo, weather_csv, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root = make_project(git_repo, weather_csv)
    result = run_cli("export", "mlflow", cwd=root)
    assert result.code == 2
    assert result.err == "error: no MLflow tracking server: pass --tracking-uri URI or set MLFLOW_TRACKING_URI\n"
