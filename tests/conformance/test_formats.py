"""The model-format contract, run by every format registered in ``flowtide.formats`` and by an installed plugin.

Each format gets a project with one registered version in that format, then the
same tests: one known label per row, features, working copy, tampering, a lost blob.
"""

from __future__ import annotations

import json
import os

import pytest

from flowtide.errors import IntegrityError
from flowtide.formats import load_model, load_path, model_format, save_sklearn
from flowtide.project import Project
from flowtide.registry import register

from .._models import CONFIG, FEATURES, fit, make_project
from .conftest import implementations, plugin_installed

LABELS = {"drizzle", "rain", "sun", "snow", "fog"}
ROWS = [
    {"precipitation": 0.0, "temp_max": 25.0, "temp_min": 14.0, "wind": 2.0},
    {"precipitation": 12.5, "temp_max": 9.0, "temp_min": 4.0, "wind": 6.0},
    {"precipitation": 3.0, "temp_max": 1.0, "temp_min": -4.0, "wind": 4.0},
]

PYTHON_LOADER = '''
import json


class ThresholdModel:
    """A hand-written model: rain above a precipitation threshold read from the artifact."""

    features = ["precipitation"]

    def __init__(self, path):
        with open(path) as handle:
            self.threshold = json.load(handle)["threshold"]

    def predict(self, rows):
        return ["rain" if row["precipitation"] > self.threshold else "sun" for row in rows]
'''


def _artifact(kind: str, root, csv) -> str:
    """Write the model artifact for format ``kind``; return the `model:` YAML for it."""
    if kind == "python":
        (root / "src").mkdir(exist_ok=True)
        (root / "src" / "threshold_model.py").write_text(PYTHON_LOADER)
        (root / "models" / "model.json").write_text(json.dumps({"threshold": 1.0}))
        return "path: models/model.json\n  format: python\n  loader: threshold_model:ThresholdModel"
    if kind == "threshold":  # the installed plugin's format: a JSON rule
        rule = {"feature": "precipitation", "threshold": 1.0, "above": "rain", "below": "sun"}
        (root / "models" / "model.json").write_text(json.dumps(rule))
        return "path: models/model.json\n  format: threshold"
    assert kind in ("skops", "onnx"), f"the registered model format {kind!r} has no conformance case: add one"
    model, _ = fit(csv)
    suffix = model_format(kind).suffix
    save_sklearn(model, root / "models" / f"model{suffix}", format=kind)
    return f"path: models/model{suffix}\n  format: {kind}"


@pytest.fixture(params=implementations("formats"), scope="module")
def registered(request, tmp_path_factory, weather_csv, plugin_site):
    """A project with one registered version in each format."""
    with plugin_installed(plugin_site, request.param):
        yield _registered(request.param, tmp_path_factory, weather_csv)


def _registered(kind, tmp_path_factory, weather_csv):
    root = tmp_path_factory.mktemp(kind)
    (root / "models").mkdir()
    model_yaml = _artifact(kind, root, weather_csv)
    config = CONFIG.replace("path: models/model.skops\n  format: skops", model_yaml).replace(
        "outs: [models/model.skops]", "outs: [models]"
    )
    config = config.replace('gates:\n  - "accuracy >= 0.3"\n  - "f1_macro >= production - 0.02"\n', "")
    make_project(root, weather_csv, config)
    project = Project.load(root)
    version = register(project)
    return project, version


def test_load_predicts_one_known_label_per_row(registered):
    project, version = registered
    loaded = load_model(project, version)
    assert loaded.version is version
    predictions = loaded.predict(ROWS)
    assert len(predictions) == len(ROWS)
    assert set(predictions) <= LABELS
    assert all(isinstance(p, str) for p in predictions)
    assert loaded.predict(ROWS) == predictions  # deterministic
    assert loaded.predict([]) == []


def test_features_come_from_the_config_or_the_loader(registered):
    project, version = registered
    expected = ["precipitation"] if version.format == "python" else FEATURES
    assert load_model(project, version).features == expected


def test_working_copy_loads_like_the_registered_version(registered):
    project, version = registered
    assert load_path(project).predict(ROWS) == load_model(project, version).predict(ROWS)


def test_tampered_artifact_is_refused(registered, tmp_path):
    project, version = registered
    blob = project.store.path_of(version.hash)
    original = blob.read_bytes()
    os.chmod(blob, 0o644)
    try:
        blob.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
        with pytest.raises(IntegrityError) as info:
            load_model(project, version)
        from flowtide.hashing import hash_file

        actual, _ = hash_file(blob)
        assert str(info.value).startswith(
            f"weather v1: the artifact {blob} hashes to {actual} but the registry recorded {version.hash}; refusing to load it\n"
        )
    finally:
        blob.write_bytes(original)
        os.chmod(blob, 0o444)


def test_missing_blob_falls_back_to_identical_working_copy(registered):
    project, version = registered
    blob = project.store.path_of(version.hash)
    saved = blob.read_bytes()
    blob.unlink()
    try:
        assert len(load_model(project, version).predict(ROWS)) == 3
    finally:
        project.store.add_file(project.root / version.path)
    assert blob.read_bytes() == saved
