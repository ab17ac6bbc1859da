"""skops artifacts are input: exact trusted type names only, no code run by a crafted file, sane trees.

The crafted files are built here, from a real fitted estimator whose skops schema
is edited the way an attacker would (skops files are a zip of schema.json + .npy).
"""

from __future__ import annotations

import inspect
import io
import json
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from flowtide import registry
from flowtide.errors import ServeError
from flowtide.formats import ModelSpec, load_model, load_path, model_format
from flowtide.project import Project
from flowtide.skops_trust import TRUSTED_CLASSES, builtin_trusted

from ._models import CONFIG, FEATURES, load_xy, make_project, train
from ._serving import SERVE_CONFIG

RUNSTRING = "numpy.testing._private.utils.runstring"
REFUSED = (
    "weather v{v} (models/model.skops) contains types flowtide does not trust: "
    "numpy.testing._private.utils.runstring; refusing to load it "
    "(loading imports and calls each type, which can run any code)\n"
    "If you built this artifact yourself and reviewed these types, list them by exact name in flowtide.yaml "
    "under `model: {{trusted_types: [numpy.testing._private.utils.runstring]}}`."
)


def _rewrite(data: bytes, edit) -> bytes:
    """The skops file ``data`` with ``edit(schema)`` applied to its schema.json."""
    source = zipfile.ZipFile(io.BytesIO(data))
    schema = json.loads(source.read("schema.json"))
    edit(schema)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            target.writestr(info, json.dumps(schema) if info.filename == "schema.json" else source.read(info))
    return out.getvalue()


def runstring_artifact(csv: Path, marker: Path) -> bytes:
    """A fitted weather classifier with one extra attribute built by ``runstring(code, None)``, i.e. exec."""
    import skops.io
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_xy(csv)
    model = DecisionTreeClassifier(max_depth=3).fit(X, y)
    model.extra = (f"open({str(marker)!r}, 'w').write('ran')", None)  # skops stores it as a tuple node

    def edit(schema):
        attrs = schema["content"]["content"]
        attrs["extra"] = {
            "__class__": "runstring",
            "__module__": "numpy.testing._private.utils",
            "__loader__": "ConstructorFromReduceNode",
            "content": attrs["extra"],
        }

    return _rewrite(skops.io.dumps(model), edit)


@pytest.fixture
def hostile(tmp_path, weather_csv):
    """A project whose v1 (production) is a good model and v2 the crafted one; and the marker path."""
    root = make_project(tmp_path / "p", weather_csv, SERVE_CONFIG)  # no gates: promotion needs no verdict
    project = Project.load(root)
    train(root, weather_csv)
    registry.register(project)
    registry.promote(project, "weather", 1, "staging")
    registry.promote(project, "weather", 1, "production")
    marker = tmp_path / "ran-code"
    (root / "models" / "model.skops").write_bytes(runstring_artifact(weather_csv, marker))
    registry.register(project)
    return project, marker


def test_a_crafted_reduce_of_runstring_is_refused_and_runs_nothing(hostile):
    project, marker = hostile
    version = registry.Registry.load(project).get("weather", 2)
    with pytest.raises(ServeError) as info:
        load_model(project, version)
    assert str(info.value) == REFUSED.format(v=2)
    assert info.value.exit_code == 1
    with pytest.raises(ServeError, match=r"^models/model.skops contains types flowtide does not trust: " + RUNSTRING):
        load_path(project)  # what gates and model tests load
    assert not marker.exists()


def test_serve_hot_reload_refuses_the_crafted_version_and_keeps_serving(hostile):
    import httpx

    from flowtide.serve.app import create_app
    from flowtide.serve.server import ServerThread

    project, marker = hostile
    app = create_app(project, interval=0)
    registry.promote(project, "weather", 2, "staging")
    registry.promote(project, "weather", 2, "production")
    with ServerThread(app) as server, httpx.Client(base_url=server.url) as client:
        app.reload()  # refused: the server degrades and keeps v1 (issue 11: a failed reload never stops serving)
        health = client.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "degraded"
        assert health.json()["models"] == {"weather": 1}
        assert re.search(r"contains types flowtide does not trust: " + RUNSTRING, json.dumps(health.json()["problems"]))
        row = dict(zip(FEATURES, [0.0, 25.0, 14.0, 2.0], strict=True))
        assert client.post("/predict/weather", json=row).status_code == 200
    assert not marker.exists()


def test_serve_start_refuses_the_crafted_production_version(hostile):
    project, marker = hostile
    registry.promote(project, "weather", 2, "staging")
    registry.promote(project, "weather", 2, "production")
    # the server starts with what it can serve (nothing here), says why, and never loads the crafted file
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowtide", "serve", "--port", "0"],
        cwd=project.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("flowtide serve: http://"), line + proc.stderr.read()
        url = line.split()[2]
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"{url}/health", timeout=10)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert health.status_code == 503 and health.json()["status"] == "no production model"
        assert REFUSED.format(v=2).split("\n")[0] in json.dumps(health.json()["problems"])
        row = dict(zip(FEATURES, [0.0, 25.0, 14.0, 2.0], strict=True))
        answer = httpx.post(f"{url}/predict/weather", json=row, timeout=10)
        assert answer.status_code in (404, 503) and "error" in answer.json()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "Traceback" not in err
    assert not marker.exists()


def _fitted(kind: str, csv: Path):
    """A fitted estimator on the weather CSV (as a DataFrame) and its input frame."""
    import numpy as np
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import (
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame = pd.read_csv(csv).head(400)
    frame["season"] = pd.to_datetime(frame["date"]).dt.month.map(
        lambda m: ["winter", "spring", "summer", "fall"][m % 12 // 3]
    )
    frame.loc[::17, "wind"] = np.nan
    X = frame[[*FEATURES, "season"]]
    prepare = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), FEATURES),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["season"]),
        ]
    )
    estimator = {
        "logistic_regression": LogisticRegression(max_iter=500),
        "random_forest_classifier": RandomForestClassifier(n_estimators=5, max_depth=5, random_state=0),
        "random_forest_regressor": RandomForestRegressor(n_estimators=5, max_depth=5, random_state=0),
        "hist_gradient_boosting_classifier": HistGradientBoostingClassifier(max_iter=10, random_state=0),
        "hist_gradient_boosting_regressor": HistGradientBoostingRegressor(max_iter=10, random_state=0),
    }[kind]
    y = frame["temp_max"] if kind.endswith("regressor") else frame["weather"]
    return make_pipeline(prepare, estimator).fit(X, y), X


@pytest.mark.parametrize(
    "kind",
    [
        "logistic_regression",
        "random_forest_classifier",
        "random_forest_regressor",
        "hist_gradient_boosting_classifier",
        "hist_gradient_boosting_regressor",
    ],
)
def test_common_pipelines_load_and_predict_like_the_original(kind, weather_csv):
    import skops.io

    pipeline, X = _fitted(kind, weather_csv)
    predictor = model_format("skops").load(
        skops.io.dumps(pipeline), Path("model.skops"), ModelSpec(features=list(X.columns))
    )
    assert predictor.estimator.predict(X).tolist() == pipeline.predict(X).tolist()


def test_the_weather_example_model_loads(trained_weather_project):
    loaded = load_path(Project.load(trained_weather_project))
    predictions = loaded.predict([dict(zip(FEATURES, [0.0, 25.0, 14.0, 2.0], strict=True))])
    assert predictions[0] in {"drizzle", "rain", "sun", "snow", "fog"}


def test_the_built_in_list_names_classes_only():
    import importlib

    names = builtin_trusted()
    assert "sklearn.ensemble._forest.RandomForestClassifier" in names
    assert set(TRUSTED_CLASSES) <= names
    assert RUNSTRING not in names
    for name in sorted(names):
        module, _, attr = name.rpartition(".")
        assert inspect.isclass(getattr(importlib.import_module(module), attr)), name
    assert not any(name.startswith("sklearn.metrics._dist_metrics.PyFunc") for name in names)


def test_user_trusted_types_match_exact_names_only(tmp_path, weather_csv):
    import numpy as np
    import skops.io
    from sklearn.preprocessing import FunctionTransformer

    data = skops.io.dumps(FunctionTransformer(func=np.mean).fit(np.ones((3, 2))))
    load = model_format("skops").load
    for trusted in ([], ["numpy"], ["numpy."], ["numpy.*"], ["numpy.mea"]):
        with pytest.raises(ServeError, match=r"^m contains types flowtide does not trust: numpy.mean;"):
            load(data, Path("m"), ModelSpec(features=[], trusted_types=trusted, label="m"))
    predictor = load(data, Path("m"), ModelSpec(features=[], trusted_types=["numpy.mean"], label="m"))
    assert predictor.estimator.func is np.mean


def _tree_artifact(csv: Path, kind: str) -> bytes:
    """A fitted forest (or HistGradientBoosting) whose first tree has a child index far out of range."""
    import skops.io
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    X, y = load_xy(csv)
    if kind == "forest":
        model = RandomForestClassifier(n_estimators=3, max_depth=4, random_state=0).fit(X, y)
        tree = model.estimators_[0].tree_
        state = tree.__getstate__()
        nodes = state["nodes"].copy()
        nodes["left_child"][0] = 1 << 40
        tree.__setstate__({**state, "nodes": nodes})
    else:
        model = HistGradientBoostingClassifier(max_iter=3, random_state=0).fit(X, y)
        model._predictors[0][0].nodes["right"][0] = 4_000_000_000
    return skops.io.dumps(model)


@pytest.mark.parametrize("kind", ["forest", "hist_gradient_boosting"])
def test_a_tree_with_out_of_range_children_is_refused_before_any_prediction(kind, weather_csv):
    data = _tree_artifact(weather_csv, kind)
    with pytest.raises(ServeError) as info:
        model_format("skops").load(
            data, Path("m"), ModelSpec(features=FEATURES, label="weather v7 (models/model.skops)")
        )
    what = (
        "sklearn.tree._tree.Tree node 0 of "
        if kind == "forest"
        else "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor node 0 of "
    )
    assert str(info.value).startswith(f"weather v7 (models/model.skops) is malformed: {what}")
    assert "refusing to load it (predicting with it could crash the server)\n" in str(info.value)


def test_onnx_artifacts_cannot_read_files_beside_them(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"\x01\x00\x00\x00" * 4)
    weights = TensorProto(name="W", data_type=TensorProto.INT32, dims=[4], data_location=TensorProto.EXTERNAL)
    for key, value in (("location", str(secret)), ("offset", "0"), ("length", "16")):
        weights.external_data.add(key=key, value=value)
    graph = helper.make_graph(
        [helper.make_node("Add", ["X", "W"], ["Y"])],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.INT32, [4])],
        [helper.make_tensor_value_info("Y", TensorProto.INT32, [4])],
        initializer=[weights],
    )
    for location in (str(secret), "secret.bin", "../secret.bin"):
        graph.initializer[0].external_data[0].value = location
        data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()
        assert onnx.load_from_string(data).graph.initializer[0].external_data[0].value == location
        with pytest.raises(ServeError, match=r"^could not load ONNX artifact m: "):
            model_format("onnx").load(data, tmp_path / "sub" / "model.onnx", ModelSpec(features=["x"], label="m"))


def test_config_example_in_the_refusal_is_valid(tmp_path, weather_csv):
    """The hint's `model: {trusted_types: [...]}` is what flowtide.yaml accepts."""
    config = CONFIG.replace(
        "  intended_use: Tests only.\n", f"  intended_use: Tests only.\n  trusted_types: [{RUNSTRING}]\n"
    )
    project = Project.load(make_project(tmp_path, weather_csv, config))
    assert project.config.model.trusted_types == [RUNSTRING]
