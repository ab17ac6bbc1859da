"""Helpers for the serve, monitor and loop tests: a weather project with registered versions."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

from ._models import CONFIG, make_project

FEATURES = ["precipitation", "temp_max", "temp_min", "wind"]

SERVE_CONFIG = (
    CONFIG.split("gates:")[0]
    + "monitor:\n  drift: {method: psi, threshold: 0.2, min_window: 50}\n  performance: {metric: accuracy, min: 0.5}\n  min_rows: 50\n"
)


def config(deploy: str = "deploy:\n  canary: {weight: 0.3, min_requests: 100}\n") -> str:
    return SERVE_CONFIG + deploy


REGRESSION_FEATURES = ["precipitation", "temp_min", "wind"]


def regression_config(monitor: str = "monitor:\n  min_rows: 50\n", deploy: str = "deploy: {}\n") -> str:
    """The weather project predicting temp_max (a float the checks declare) from the other numbers."""
    model = CONFIG.split("gates:")[0]
    model = model.replace("  target: weather\n", "  target: temp_max\n")
    model = model.replace(
        "features: [precipitation, temp_max, temp_min, wind]", "features: [precipitation, temp_min, wind]"
    )
    return model + monitor + deploy


def regressor_artifacts(csv_path: Path, directory: Path) -> dict[str, Path]:
    """Regressors of temp_max, fitted once, as skops files with their holdout metrics: good (a random forest),
    same (that forest with another n_jobs: other bytes, the same predictions) and bad (the training mean)."""
    from flowtide.formats import save_sklearn

    from ._models import fit_regressor

    out = {}
    for kind in ("good", "same", "bad"):
        model, metrics = fit_regressor(csv_path, "bad" if kind == "bad" else "good")
        if kind == "same":
            model.set_params(n_jobs=1)
        save_sklearn(model, directory / f"reg-{kind}.skops")
        (directory / f"reg-{kind}.json").write_text(json.dumps(metrics))
        out[kind] = directory / f"reg-{kind}.skops"
    return out


def artifacts(csv_path: Path, directory: Path) -> dict[str, Path]:
    """A good (random forest) and a bad (majority class) model, fitted once, as skops files."""
    from flowtide.formats import save_sklearn

    from ._models import fit

    out = {}
    for kind in ("good", "bad"):
        model, metrics = fit(csv_path, kind)
        save_sklearn(model, directory / f"{kind}.skops")
        (directory / f"{kind}.json").write_text(json.dumps(metrics))
        out[kind] = directory / f"{kind}.skops"
    return out


def install(root: Path, artifact: Path) -> None:
    (root / "models").mkdir(exist_ok=True)
    shutil.copyfile(artifact, root / "models" / "model.skops")
    shutil.copyfile(artifact.with_suffix(".json"), root / "metrics.json")


def served_project(
    root: Path,
    csv_path: Path,
    models: dict[str, Path],
    *,
    deploy: str | None = None,
    canary: str = "bad",
    production: str = "good",
    text: str | None = None,
):
    """v1 (``production``) in production, v2 (``canary``) in staging; returns the Project.

    ``text`` is the whole flowtide.yaml (default: :func:`config` with ``deploy``)."""
    from flowtide import registry
    from flowtide.project import Project

    root.mkdir(parents=True, exist_ok=True)
    make_project(root, csv_path, text or (config(deploy) if deploy is not None else config()))
    project = Project.load(root)
    install(root, models[production])
    registry.register(project)
    registry.promote(project, "weather", 1, "staging")
    registry.promote(project, "weather", 1, "production")
    install(root, models[canary])
    registry.register(project)
    registry.promote(project, "weather", 2, "staging")
    return project


def weather_rows(csv_path: Path) -> list[dict]:
    """Every day of the CSV as a dict: the features as floats plus date and weather."""
    with open(csv_path, newline="") as handle:
        rows = []
        for record in csv.DictReader(handle):
            row = {f: float(record[f]) for f in FEATURES}
            row["date"] = record["date"]
            row["weather"] = record["weather"]
            rows.append(row)
    return rows


def inputs(row: dict, features: list[str] = FEATURES) -> dict:
    return {f: row[f] for f in features}


def replay(
    project,
    rows: list[dict],
    *,
    shift: dict | None = None,
    feedback: bool = True,
    key_prefix: str = "u",
    target: str = "weather",
    features: list[str] = FEATURES,
) -> list[dict]:
    """Send ``rows`` through a real server (one caller per row) with their true label as feedback; returns the answers."""
    import httpx

    from flowtide.serve.app import create_app
    from flowtide.serve.server import ServerThread

    answers = []
    with ServerThread(create_app(project, interval=0)) as server, httpx.Client(base_url=server.url) as client:
        labels = []
        for i, row in enumerate(rows):
            payload = inputs(row, features)
            for column, delta in (shift or {}).items():
                payload[column] = round(payload[column] + delta, 2)
            answer = client.post("/predict/weather", json=payload, headers={"x-request-key": f"{key_prefix}{i}"}).json()
            answers.append(answer)
            labels.append({"request_id": answer["request_id"], "label": row[target]})
        if feedback:
            assert client.post("/feedback/weather", json={"feedback": labels}).json() == {"accepted": len(labels)}
    return answers
