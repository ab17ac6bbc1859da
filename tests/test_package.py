from __future__ import annotations

import json
from importlib import metadata

import pytest

from flowtide.formats import load_model
from flowtide.hashing import hash_file
from flowtide.project import Project
from flowtide.registry import Registry

from ._models import make_project, train
from .conftest import run_cli

ROW = {"precipitation": 0.0, "temp_max": 25.0, "temp_min": 14.0, "wind": 2.0}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, weather_csv):
    root = make_project(tmp_path_factory.mktemp("project"), weather_csv)
    train(root, weather_csv)
    assert run_cli("gate", cwd=root).code == 0
    assert run_cli("register", cwd=root).code == 0
    assert run_cli("promote", "weather", "1", "--to", "staging", cwd=root).code == 0
    out = tmp_path_factory.mktemp("bundle") / "weather-v1"
    result = run_cli("package", "weather", "v1", "-o", out, "--json", cwd=root)
    assert result.code == 0, result.err
    return root, out, json.loads(result.out)


def test_bundle_files(bundle):
    _root, out, info = bundle
    assert info["files"] == [
        ".dockerignore",
        "Dockerfile",
        "MODEL_CARD.md",
        "flowtide.registry",
        "flowtide.yaml",
        "input_schema.json",
        "models/model.skops",
        "requirements.txt",
    ]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == info["files"]


def test_bundle_artifact_matches_and_loads(bundle):
    root, out, info = bundle
    source = Registry.load(Project.load(root)).get("weather", 1)
    assert hash_file(out / "models" / "model.skops")[0] == source.hash == info["hash"]
    project = Project.load(out)
    version = Registry.load(project).in_stage("weather", "production")
    assert (version.version, version.hash) == (1, source.hash)
    assert (
        version.history[1]["reason"] == "bundle written by `flowtide package` (stage in the source registry: staging)"
    )
    loaded = load_model(project, version)
    assert loaded.features == ["precipitation", "temp_max", "temp_min", "wind"]
    assert loaded.predict([ROW]) == load_model(Project.load(root), source).predict([ROW])


def test_bundle_input_schema_and_card(bundle):
    _root, out, _info = bundle
    schema = json.loads((out / "input_schema.json").read_text())
    assert schema["wind"] == {"in": None, "max": 30, "min": 0, "not_null": False, "type": "float"}
    from flowtide.formats import input_schema

    assert input_schema(Project.load(out)) == schema
    card = (out / "MODEL_CARD.md").read_text()
    assert card.startswith("# Model card: weather v1\n") and "Tests only." in card


def test_dockerfile_and_pinned_requirements(bundle):
    _root, out, _info = bundle
    lines = (out / "Dockerfile").read_text().splitlines()
    instructions = [line.split()[0] for line in lines if line and not line.startswith("#")]
    assert instructions == ["FROM", "ENV", "WORKDIR", "COPY", "RUN", "COPY", "RUN", "USER", "EXPOSE", "CMD"]
    assert "FROM python:3.11-slim" in lines
    assert "RUN pip install --no-cache-dir -r requirements.txt" in lines
    cmd = json.loads(lines[-1].removeprefix("CMD "))
    assert cmd == ["flowtide", "serve", "-C", "/srv/model", "--host", "0.0.0.0", "--port", "8000", "--interval", "0"]
    pins = dict(line.split("==") for line in (out / "requirements.txt").read_text().splitlines())
    assert pins["scikit-learn"] == metadata.version("scikit-learn")
    assert pins["skops"] == metadata.version("skops")
    assert pins["flowtide"] == metadata.version("flowtide")
    assert pins["starlette"] == metadata.version("starlette") and pins["uvicorn"] == metadata.version("uvicorn")
    # the image serves a skops model: nothing for training, tracking, other formats, S3, Ray or the examples
    for absent in ("mlflow", "pytest", "ray", "s3fs", "skl2onnx", "onnxruntime", "vega_datasets", "pyarrow", "typer"):
        assert absent not in pins, absent


def test_serving_requirements_follow_the_model_format():
    from flowtide.package import requirements

    onnx = dict(line.split("==") for line in requirements("onnx"))
    assert onnx["onnxruntime"] == metadata.version("onnxruntime") and "starlette" in onnx
    assert "scikit-learn" not in onnx and "skops" not in onnx and "skl2onnx" not in onnx
    python = dict(line.split("==") for line in requirements("python"))
    assert {"flowtide", "starlette", "uvicorn", "prometheus-client", "polars"} <= set(python)
    assert "scikit-learn" not in python and "onnxruntime" not in python


def test_tampered_store_blob_is_repaired_from_the_working_copy_or_refused(tmp_path, weather_csv):
    import os

    from flowtide.hashing import hash_bytes

    root = make_project(tmp_path / "p", weather_csv)
    train(root, weather_csv)
    version = json.loads(run_cli("register", "--json", cwd=root).out)
    store = Project.load(root).store
    blob = store.path_of(version["hash"])
    os.chmod(blob, 0o644)
    blob.write_bytes(b"not a model")
    # the working copy still holds the registered bytes: it replaces the corrupt blob, which is kept aside
    result = run_cli("package", "weather", "1", cwd=root)
    assert result.code == 0, result.err
    assert result.out.startswith(
        "the stored artifact was corrupt: quarantined and replaced from models/model.skops\npackaged weather v1"
    )
    assert hash_file(blob)[0] == version["hash"] == hash_file(root / "dist/weather-v1/models/model.skops")[0]
    assert [p.read_bytes() for p in store.quarantine_dir.iterdir()] == [b"not a model"]

    # no good copy anywhere: refused, naming the blob and the repair command; nothing is written
    os.chmod(blob, 0o644)
    blob.write_bytes(b"not a model")
    (root / "models" / "model.skops").write_bytes(b"retrained since")
    result = run_cli("package", "weather", "1", "-o", tmp_path / "bundle", cwd=root)
    assert result.code == 1
    assert result.err.startswith(
        f"error: blob {version['hash'][:12]} (weather v1 artifact) in {store.root} is corrupt: its bytes hash to "
        f"{hash_bytes(b'not a model')[:12]}; moved to {store.quarantine_dir}/{version['hash']}."
    )
    assert "No good copy was found in the working tree and no remote store is configured\n" in result.err
    assert "Run `flowtide fsck --repair`" in result.err
    assert not (tmp_path / "bundle").exists()


@pytest.mark.filterwarnings("ignore:Using `httpx` with")
def test_serve_answers_from_the_bundle(bundle):
    pytest.importorskip("flowtide.serve.app", reason="the serving area has not landed")
    from starlette.testclient import TestClient

    from flowtide.serve.app import create_app

    _root, out, _info = bundle
    app = create_app(Project.load(out), interval=0, log_dir=str(out / ".flowtide" / "predictions"))
    with TestClient(app) as client:
        response = client.post("/predict/weather", json=ROW)
        assert response.status_code == 200, response.text
        assert "sun" in response.text or "rain" in response.text or "fog" in response.text
