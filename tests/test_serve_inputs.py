"""flowtide serve takes its inputs from the model when flowtide.yaml does not list them (model.features).

A model fitted on a DataFrame of engineered columns knows them (``feature_names_in_``);
the checks of model.reference only know the raw columns. A real server on port 0.
"""

from __future__ import annotations

import math

import httpx
import pytest

from flowtide import registry
from flowtide.project import Project
from flowtide.serve.app import create_app
from flowtide.serve.server import ServerThread

from ._models import CONFIG, make_project

ENGINEERED = ["precipitation", "wind", "temp_range", "doy_sin"]
FEATURES_LINE = "  features: [precipitation, temp_max, temp_min, wind]\n"
SERVED = CONFIG.split("gates:")[0]  # promoted by hand here: no gates to run first
NO_FEATURES = SERVED.replace(FEATURES_LINE, "")


def engineered(csv_path):
    """The weather CSV as the DataFrame a training script builds: two engineered columns, the label."""
    import pandas as pd

    raw = pd.read_csv(csv_path, parse_dates=["date"])
    frame = pd.DataFrame(
        {
            "precipitation": raw["precipitation"],
            "wind": raw["wind"],
            "temp_range": raw["temp_max"] - raw["temp_min"],
            "doy_sin": (2 * math.pi * raw["date"].dt.day_of_year / 365.25).map(math.sin),
        }
    )
    return frame, raw["weather"]


@pytest.fixture(scope="module")
def fitted(weather_csv):
    from sklearn.tree import DecisionTreeClassifier

    X, y = engineered(weather_csv)
    model = DecisionTreeClassifier(max_depth=5, random_state=0).fit(X, y)
    assert list(model.feature_names_in_) == ENGINEERED
    return model, X


def served(root, weather_csv, model, config: str = NO_FEATURES) -> Project:
    from flowtide.formats import save_sklearn

    make_project(root, weather_csv, config)
    (root / "models").mkdir(exist_ok=True)
    save_sklearn(model, root / "models" / "model.skops")
    (root / "metrics.json").write_text('{"accuracy": 0.8, "f1_macro": 0.5}')
    project = Project.load(root)
    registry.register(project)
    registry.promote(project, "weather", 1, "staging")
    registry.promote(project, "weather", 1, "production")
    return project


@pytest.fixture
def server(tmp_path, weather_csv, fitted):
    project = served(tmp_path / "p", weather_csv, fitted[0])
    with ServerThread(create_app(project, interval=0)) as running, httpx.Client(base_url=running.url) as client:
        yield client


def test_requests_with_the_engineered_columns_are_served_as_the_model_predicts(server, fitted):
    model, X = fitted
    rows = X.iloc[:20].to_dict(orient="records")
    answer = server.post("/predict/weather", json={"rows": rows})
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == list(model.predict(X.iloc[:20]))
    one = server.post("/predict/weather", json=rows[3])
    assert one.status_code == 200, one.text
    assert one.json()["prediction"] == model.predict(X.iloc[3:4])[0]


def test_an_unknown_field_is_refused_with_the_inputs_and_what_declares_them(server, fitted):
    row = {**fitted[1].iloc[0].to_dict(), "t": 1.0}
    answer = server.post("/predict/weather", json=row)
    assert answer.status_code == 422
    assert answer.json() == {
        "error": "invalid request",
        "detail": [
            {
                "field": "t",
                "reason": "is not an input of this model; its inputs are precipitation, wind, temp_range, doy_sin "
                "(declared by the model's feature_names_in_)",
            }
        ],
        "inputs": ENGINEERED,
        "inputs_declared_by": "the model's feature_names_in_",
    }


def test_raw_columns_the_model_was_not_fitted_on_are_not_inputs(server):
    raw = {"precipitation": 0.0, "temp_max": 12.0, "temp_min": 5.0, "wind": 3.0}
    answer = server.post("/predict/weather", json=raw)
    assert answer.status_code == 422
    fields = {p["field"]: p["reason"] for p in answer.json()["detail"]}
    assert fields["temp_range"] == "is required" and fields["doy_sin"] == "is required"
    assert fields["temp_max"].startswith("is not an input of this model; its inputs are precipitation, wind,")


def test_types_and_bounds_come_from_the_checks_when_the_names_match(server, fitted):
    row = fitted[1].iloc[0].to_dict()
    answer = server.post("/predict/weather", json={**row, "precipitation": -1.0, "temp_range": "wide"})
    assert answer.status_code == 422
    assert answer.json()["detail"] == [
        {"field": "precipitation", "reason": "must be >= 0, got -1"},  # checks: precipitation {min: 0}
        {"field": "temp_range", "reason": "must be a number, got 'wide'"},  # not in the checks: a float
    ]
    assert "inputs" not in answer.json()


def test_openapi_lists_the_models_inputs(server):
    spec = server.get("/openapi.json").json()
    body = spec["paths"]["/predict/weather"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    row = body["anyOf"][0]
    assert list(row["properties"]) == ENGINEERED
    assert row["required"] == ENGINEERED
    assert row["additionalProperties"] is False
    assert row["properties"]["precipitation"]["minimum"] == 0
    assert row["properties"]["precipitation"]["maximum"] == 100
    assert row["properties"]["temp_range"]["type"] == "number"
    assert row["description"] == "One row of the model's inputs, declared by the model's feature_names_in_."


def test_model_features_in_flowtide_yaml_still_decide(tmp_path, weather_csv, fitted):
    # listed in another order than the model was fitted with: the configured order is the one used
    config = SERVED.replace(FEATURES_LINE, "  features: [doy_sin, temp_range, wind, precipitation]\n")
    model, X = fitted
    project = served(tmp_path / "p", weather_csv, model, config)
    with ServerThread(create_app(project, interval=0)) as running, httpx.Client(base_url=running.url) as client:
        spec = client.get("/openapi.json").json()
        row = spec["paths"]["/predict/weather"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert list(row["anyOf"][0]["properties"]) == ["doy_sin", "temp_range", "wind", "precipitation"]
        # the rows are dicts: each value reaches the column the model was fitted with, not the listed position
        rows = X.iloc[:50].to_dict(orient="records")
        served_predictions = client.post("/predict/weather", json=rows).json()["predictions"]
        assert served_predictions == list(model.predict(X.iloc[:50]))
        answer = client.post("/predict/weather", json={**X.iloc[0].to_dict(), "t": 1})
        assert answer.status_code == 422
        assert answer.json()["inputs_declared_by"] == "model.features in flowtide.yaml"
        assert answer.json()["detail"][0]["reason"].endswith(
            "its inputs are doy_sin, temp_range, wind, precipitation (declared by model.features in flowtide.yaml)"
        )


def test_an_onnx_model_with_one_input_per_column_declares_its_inputs(tmp_path, weather_csv):
    import numpy as np
    from skl2onnx import to_onnx
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    X, y = engineered(weather_csv)
    X = X.astype(np.float32)
    model = make_pipeline(
        ColumnTransformer([("scale", StandardScaler(), ENGINEERED)]),
        DecisionTreeClassifier(max_depth=4, random_state=0),
    ).fit(X, y)
    root = tmp_path / "p"
    config = NO_FEATURES.replace("models/model.skops", "models/model.onnx").replace("format: skops", "format: onnx")
    make_project(root, weather_csv, config)
    (root / "models").mkdir()
    (root / "models/model.onnx").write_bytes(to_onnx(model, X[:1], options={"zipmap": False}).SerializeToString())
    project = Project.load(root)
    registry.register(project)
    registry.promote(project, "weather", 1, "staging")
    registry.promote(project, "weather", 1, "production")
    with ServerThread(create_app(project, interval=0)) as running, httpx.Client(base_url=running.url) as client:
        rows = X.iloc[:30].to_dict(orient="records")
        answer = client.post("/predict/weather", json=rows)
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == list(model.predict(X.iloc[:30]))
        refused = client.post("/predict/weather", json={**rows[0], "temp_max": 3.0}).json()
        assert refused["inputs"] == ENGINEERED
        assert refused["inputs_declared_by"] == "the ONNX model's input names"


def test_a_pipeline_that_picks_columns_by_name_gets_a_table_with_text_and_missing_values(tmp_path, weather_csv):
    """A ColumnTransformer (impute, one-hot per named column) cannot read a matrix: it is given a DataFrame,
    text and nulls included, and answers what it answers in the training script."""
    import polars as pl
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = pl.read_csv(weather_csv).with_columns(
        season=pl.when(pl.col("date").str.slice(5, 2).is_in(["12", "01", "02"]))
        .then(pl.lit("winter"))
        .otherwise(pl.lit("other"))
    )
    X = frame.select("wind", "season")
    columns = ColumnTransformer(
        [
            ("numbers", SimpleImputer(strategy="median"), ["wind"]),
            (
                "kinds",
                make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")),
                ["season"],
            ),
        ]
    )
    model = make_pipeline(columns, Ridge()).fit(X, frame["temp_max"].to_numpy())
    config = NO_FEATURES.replace("target: weather", "target: temp_max")
    project = served(tmp_path / "p", weather_csv, model, config)
    rows = [{"wind": 3.0, "season": "winter"}, {"wind": None, "season": "other"}, {"wind": 5.5, "season": None}]
    expected = model.predict(pl.DataFrame(rows, schema={"wind": pl.Float64, "season": pl.String})).tolist()
    with ServerThread(create_app(project, interval=0)) as running, httpx.Client(base_url=running.url) as client:
        answer = client.post("/predict/weather", json={"rows": rows})
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == pytest.approx(expected)
        spec = client.get("/openapi.json").text
        assert '"season"' in spec and '"temp_min"' not in spec
