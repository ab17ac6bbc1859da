"""`pip install flowtide` is the light core: a wheel built from this checkout, installed alone in a fresh venv.

The core runs the loop (init, pull, check, run, status, gate, register, promote, ci, doctor) on a
project whose stage is plain Python; serving, model formats, S3, MLflow, Ray and the examples are
extras, and a command that needs one says the exact `pip install 'flowtide[...]'` line (exit 2).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

import pytest

from .conftest import fresh_venv, git

# what the core must not bring: the extras' libraries, the unused ones, and the project's own test runner
NOT_IN_CORE = (
    "scikit-learn",
    "skops",
    "starlette",
    "uvicorn",
    "prometheus-client",
    "onnxruntime",
    "skl2onnx",
    "s3fs",
    "mlflow",
    "ray",
    "vega-datasets",
    "palmerpenguins",
    "pandas",
    "pyarrow",
    "typer",
    "click",
    "pytest",
)


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory, wheel):
    """A venv with only `flowtide` (no extras) from a wheel of this checkout."""
    return fresh_venv(tmp_path_factory.mktemp("core") / "venv", str(wheel))


def _installed(venv: Path) -> set[str]:
    code = "import importlib.metadata as m, json; print(json.dumps([d.metadata['Name'] for d in m.distributions()]))"
    out = subprocess.run([str(venv / "bin/python"), "-c", code], capture_output=True, text=True, check=True).stdout
    return {name.lower().replace("_", "-") for name in json.loads(out)}


def _flowtide(venv: Path, root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTEST_ADDOPTS")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"  # the stage's `python` is the venv's
    env["VIRTUAL_ENV"] = str(venv)
    return subprocess.run(
        [str(venv / "bin" / "flowtide"), *args], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )


def _project(root: Path) -> None:
    """Readings labelled warm above 12 degrees; a stage that scores the rule in plain Python; a python model."""
    (root / "incoming").mkdir(parents=True)
    (root / "src").mkdir()
    rng = random.Random(0)
    lines = ["day,temp,wind,label"]
    for day in range(200):
        temp, wind = round(rng.uniform(-5, 30), 1), round(rng.uniform(0, 10), 1)
        lines.append(f"{day},{temp},{wind},{'warm' if temp > 12 else 'cold'}")
    (root / "incoming/readings.csv").write_text("\n".join(lines) + "\n")
    (root / "src/score.py").write_text(
        "import csv, json, os\n"
        "with open('data/raw/readings.csv') as f:\n"
        "    rows = list(csv.DictReader(f))\n"
        "right = sum((float(r['temp']) > 12) == (r['label'] == 'warm') for r in rows)\n"
        "os.makedirs('models', exist_ok=True)\n"
        "with open('models/threshold.json', 'w') as f:\n"
        "    json.dump({'threshold': 12}, f)\n"
        "with open('metrics.json', 'w') as f:\n"
        "    json.dump({'accuracy': right / len(rows), 'rows': len(rows)}, f)\n"
    )
    (root / "src/threshold_model.py").write_text(
        "import json\n\n\nclass Model:\n"
        "    def __init__(self, path):\n"
        "        with open(path) as f:\n"
        "            self.threshold = json.load(f)['threshold']\n\n"
        "    def predict(self, rows):\n"
        "        return ['warm' if row['temp'] > self.threshold else 'cold' for row in rows]\n"
    )
    config = root / "flowtide.yaml"
    config.write_text(
        "project: readings\n"
        "sources:\n"
        "  readings: {url: incoming/readings.csv, path: data/raw/readings.csv}\n"
        "checks:\n"
        "  readings:\n"
        "    rows: {min: 100}\n"
        "    columns:\n"
        "      day: {type: int, unique: true, not_null: true}\n"
        "      temp: {type: float, min: -40, max: 50}\n"
        "      label: {type: str, in: [warm, cold]}\n"
        "    drift: {columns: [temp, wind], method: psi, threshold: 0.2}\n"
        "stages:\n"
        "  score:\n"
        "    cmd: python src/score.py\n"
        "    deps: [src/score.py, data/raw/readings.csv]\n"
        "    outs: [models/threshold.json]\n"
        "    metrics: [metrics.json]\n"
        "model: {name: readings, path: models/threshold.json, format: python, loader: 'threshold_model:Model',\n"
        "        reference: readings, target: label, storage: git}\n"
        'gates: ["accuracy >= 0.9"]\n'
    )


@pytest.mark.slow
def test_the_core_install_runs_the_loop_and_names_the_extras(core_venv, tmp_path):
    installed = _installed(core_venv)
    assert "flowtide" in installed and {"polars", "pydantic", "numpy", "scipy"} <= installed
    assert sorted(installed & set(NOT_IN_CORE)) == []

    root = tmp_path / "p"
    root.mkdir()
    git("init", "-q", cwd=root)
    init = _flowtide(core_venv, root, "init")
    assert init.returncode == 0, init.stderr
    assert (root / "requirements.txt").read_text().count("pytest==") == 1
    _project(root)

    for step in (("pull",), ("check",), ("run",), ("status",), ("gate",)):
        proc = _flowtide(core_venv, root, *step)
        assert proc.returncode == 0, f"flowtide {' '.join(step)}: {proc.stdout}\n{proc.stderr}"
    assert "readings" in (root / "flowtide.lock").read_text()
    assert json.loads((root / "metrics.json").read_text()) == {"accuracy": 1.0, "rows": 200}
    gate = json.loads(_flowtide(core_venv, root, "gate", "--json").stdout)
    assert gate["ok"] is True, gate

    git("add", "-A", cwd=root)
    git("commit", "-qm", "readings", cwd=root)
    for step in (("register",), ("promote", "readings", "1", "--to", "staging")):
        proc = _flowtide(core_venv, root, *step)
        assert proc.returncode == 0, f"flowtide {' '.join(step)}: {proc.stdout}\n{proc.stderr}"
    proc = _flowtide(core_venv, root, "promote", "readings", "1", "--to", "production")
    assert proc.returncode == 0, proc.stderr
    (version,) = json.loads(_flowtide(core_venv, root, "models", "readings", "--json").stdout)["readings"]
    assert (version["version"], version["stage"], version["format"]) == (1, "production", "python")
    for step in (("ci", "generate"), ("doctor",)):
        proc = _flowtide(core_venv, root, *step)
        assert proc.returncode in (0, 1), f"flowtide {' '.join(step)}: {proc.stdout}\n{proc.stderr}"
        assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr

    # an extra that is not installed: the exact line, exit 2, no traceback
    serve = _flowtide(core_venv, root, "serve", "--port", "0")
    assert serve.returncode == 2
    assert serve.stderr == (
        "error: flowtide serve needs starlette, uvicorn, prometheus-client, which are not installed\n"
        "Install it with: pip install 'flowtide[serve]'\n"
    )
    example = _flowtide(core_venv, tmp_path, "init", "--example", "weather", str(tmp_path / "weather"))
    assert example.returncode == 0, example.stderr
    assert (
        "note     the example trains and serves with scikit-learn, skops, starlette, uvicorn, prometheus-client: "
        "pip install 'flowtide[examples]'\n"
    ) in example.stdout
    export = _flowtide(core_venv, root, "export", "mlflow", "--tracking-uri", "http://127.0.0.1:9")
    assert (export.returncode, export.stderr) == (
        2,
        "error: flowtide export mlflow needs mlflow, which is not installed\n"
        "Install it with: pip install 'flowtide[mlflow]'\n",
    )


@pytest.mark.slow
def test_model_tests_without_pytest_say_how_to_install_it(core_venv, tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    git("init", "-q", cwd=root)
    assert _flowtide(core_venv, root, "init").returncode == 0
    _project(root)
    (root / "tests/test_model.py").write_text(
        "import pytest\n\n\n@pytest.mark.model\ndef test_warm():\n    assert True\n"
    )
    config = root / "flowtide.yaml"
    config.write_text(config.read_text().replace("storage: git}", "storage: git, tests: [tests/test_model.py]}"))
    for step in ("pull", "run"):
        assert _flowtide(core_venv, root, step).returncode == 0
    gate = _flowtide(core_venv, root, "gate")
    assert gate.returncode == 2, gate.stdout + gate.stderr
    assert gate.stderr == (
        "error: model.tests in flowtide.yaml are pytest files, and pytest is not installed in this environment "
        f"({core_venv / 'bin' / 'python'}); the gate did not run and its previous verdict is unchanged\n"
        "Install it with: pip install -r requirements.txt (it pins pytest==9.2.0); or run `flowtide gate "
        "--no-tests` (a verdict without the model tests is not registrable).\n"
    )
    assert not (root / ".flowtide" / "gate.json").exists()
