"""Model tests: behaviour the model must keep, run by `flowtide gate` (pytest -m model).

They load the freshly trained artifact (models/model.skops) and the hold-out
days written by the prepare stage; they skip until the pipeline has run.
"""

import csv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEST_DATA = ROOT / "data" / "prepared" / "test.csv"


@pytest.fixture(scope="module")
def model():
    if not (ROOT / "models" / "model.skops").exists() or not TEST_DATA.exists():
        pytest.skip("no trained model yet: run `flowtide run` first")
    from flowtide.formats import load_path
    from flowtide.project import Project

    return load_path(Project.load(ROOT))


@pytest.fixture(scope="module")
def holdout(model):
    with open(TEST_DATA, newline="") as handle:
        rows = list(csv.DictReader(handle))
    features = [{name: float(row[name]) for name in model.features} for row in rows]
    return features, [row["weather"] for row in rows]


@pytest.mark.model
def test_recall_of_sunny_days(model, holdout):
    rows, labels = holdout
    predicted = model.predict(rows)
    sunny = [p for p, actual in zip(predicted, labels) if actual == "sun"]
    recall = sum(p == "sun" for p in sunny) / len(sunny)
    assert recall >= 0.8, f"recall of sun is {recall:.2f} on {len(sunny)} days"


@pytest.mark.model
def test_invariant_to_a_tiny_temperature_change(model, holdout):
    rows, _ = holdout
    nudged = [{**row, "temp_max": row["temp_max"] + 0.01, "temp_min": row["temp_min"] + 0.01} for row in rows]
    before, after = model.predict(rows), model.predict(nudged)
    changed = sum(a != b for a, b in zip(before, after))
    assert changed <= 0.02 * len(rows), f"{changed} of {len(rows)} predictions changed for a 0.01 °C nudge"


@pytest.mark.model
def test_heavy_rain_is_never_called_sun(model):
    assert model.predict([{"precipitation": 30.0, "temp_max": 10.0, "temp_min": 6.0, "wind": 5.0}]) != ["sun"]
