"""Helpers for the registry, gate, formats and package tests: a tiny weather project and its models."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import git

FEATURES = ["precipitation", "temp_max", "temp_min", "wind"]

CONFIG = """\
project: weather
sources:
  weather:
    url: data/weather.csv
    path: data/weather.csv
checks:
  weather:
    columns:
      date: {type: date, unique: true}
      precipitation: {type: float, min: 0, max: 100}
      temp_max: {type: float, min: -30, max: 50}
      temp_min: {type: float, min: -30, max: 50}
      wind: {type: float, min: 0, max: 30}
      weather: {type: str, in: [drizzle, rain, sun, snow, fog]}
stages:
  train:
    cmd: python train.py
    deps: [data/weather.csv]
    params: [train]
    outs: [models/model.skops]
    metrics: [metrics.json]
model:
  name: weather
  path: models/model.skops
  format: skops
  target: weather
  reference: weather
  features: [precipitation, temp_max, temp_min, wind]
  intended_use: Tests only.
gates:
  - "accuracy >= 0.3"
  - "f1_macro >= production - 0.02"
"""


def load_xy(csv: Path):
    import numpy as np

    rows = [line.split(",") for line in csv.read_text().splitlines()[1:]]
    X = np.array([[float(r[1]), float(r[2]), float(r[3]), float(r[4])] for r in rows])
    y = np.array([r[5] for r in rows])
    return X, y


def fit(csv: Path, kind: str = "good", seed: int = 0):
    """A fitted classifier and its holdout metrics. kind: good (random forest) or bad (majority class)."""
    from sklearn.dummy import DummyClassifier
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import accuracy_score, f1_score

    X, y = load_xy(csv)
    split = int(len(X) * 0.75)
    if kind == "good":
        model = RandomForestClassifier(n_estimators=15, max_depth=6, random_state=seed)
    else:
        model = DummyClassifier(strategy="most_frequent")
    model.fit(X[:split], y[:split])
    predicted = model.predict(X[split:])
    metrics = {
        "accuracy": round(float(accuracy_score(y[split:], predicted)), 6),
        "f1_macro": round(float(f1_score(y[split:], predicted, average="macro")), 6),
    }
    return model, metrics


def fit_regressor(csv: Path, kind: str = "good", seed: int = 0):
    """A fitted regressor of temp_max from precipitation, temp_min and wind, and its holdout rmse and mae.
    kind: good (random forest) or bad (the training mean)."""
    import numpy as np
    from sklearn.dummy import DummyRegressor
    from sklearn.ensemble import RandomForestRegressor

    rows = [line.split(",") for line in csv.read_text().splitlines()[1:]]
    X = np.array([[float(r[1]), float(r[3]), float(r[4])] for r in rows])
    y = np.array([float(r[2]) for r in rows])
    split = int(len(X) * 0.75)
    if kind == "good":
        model = RandomForestRegressor(n_estimators=15, max_depth=6, random_state=seed)
    else:
        model = DummyRegressor(strategy="mean")
    model.fit(X[:split], y[:split])
    errors = model.predict(X[split:]) - y[split:]
    metrics = {
        "rmse": round(float(np.sqrt(np.mean(errors**2))), 6),
        "mae": round(float(np.mean(np.abs(errors))), 6),
    }
    return model, metrics


def make_project(root: Path, csv: Path, config: str = CONFIG, commit: bool = True) -> Path:
    """A project directory (a git repo when ``root`` is one) with the weather CSV as its source."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "data" / "weather.csv").write_bytes(csv.read_bytes())
    (root / "flowtide.yaml").write_text(config)
    (root / "params.yaml").write_text("train:\n  n_estimators: 15\n")
    (root / ".gitignore").write_text(".flowtide/\nmodels/\nmetrics.json\n")
    (root / ".flowtide").mkdir(exist_ok=True)
    if commit and (root / ".git").exists():
        git("add", "-A", cwd=root)
        git("commit", "-q", "-m", "project", cwd=root)
    return root


def train(root: Path, csv: Path, kind: str = "good", seed: int = 0) -> dict:
    """Train and write models/model.skops + metrics.json the way a pipeline stage would."""
    from flowtide.formats import save_sklearn

    model, metrics = fit(csv, kind, seed)
    (root / "models").mkdir(exist_ok=True)
    save_sklearn(model, root / "models" / "model.skops")
    (root / "metrics.json").write_text(json.dumps(metrics))
    return metrics


def events(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "flowtide.registry").read_text().splitlines()]
