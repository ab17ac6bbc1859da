"""Regression as a first-class task: a served regressor of temp_max is judged on rmse, its canary on absolute errors,
its feedback must be numbers; its task is inferred from the model and stated in every report."""

from __future__ import annotations

import json
import random

import httpx
import pytest

from flowtide.monitor.performance import metric
from flowtide.registry import Registry
from flowtide.serve.app import create_app
from flowtide.serve.feedback import LabelRule, label_rule
from flowtide.serve.server import ServerThread

from ._serving import REGRESSION_FEATURES, regression_config, regressor_artifacts, replay, served_project, weather_rows
from .conftest import run_cli

CEILING = "monitor:\n  performance: {metric: rmse, max: 4.0}\n  min_rows: 50\n"


@pytest.fixture(scope="module")
def regressors(weather_csv, tmp_path_factory):
    return regressor_artifacts(weather_csv, tmp_path_factory.mktemp("regressors"))


@pytest.fixture(scope="module")
def days(weather_csv):
    return weather_rows(weather_csv)


@pytest.fixture(scope="module")
def sample(days):
    return random.Random(7).sample(days, 300)


def serve_regressor(root, weather_csv, regressors, *, monitor: str = CEILING, deploy: str = "deploy: {}\n", **kw):
    return served_project(root, weather_csv, regressors, text=regression_config(monitor, deploy), **kw)


def send(project, rows, **kw):
    return replay(project, rows, target="temp_max", features=REGRESSION_FEATURES, **kw)


def live(report: dict, rule: str) -> list[dict]:
    return [f for f in report["findings"] if f["rule"] == rule]


def test_an_rmse_ceiling_passes_a_good_regressor_and_fails_a_bad_one(tmp_path, weather_csv, regressors, sample):
    good = serve_regressor(tmp_path / "good", weather_csv, regressors)
    answers = send(good, sample)
    assert all(isinstance(a["prediction"], float) for a in answers), answers[0]
    result = run_cli("monitor", "-C", good.root, "--json")
    report = json.loads(result.out)
    assert result.code == 0, report["findings"]
    assert report["summary"]["task"] == "regression (from the model weather v1)"
    (finding,) = live(report, "live rmse")
    expected = metric("rmse", [a["prediction"] for a in answers], [d["temp_max"] for d in sample])
    assert finding["status"] == "pass"
    assert finding["value"] == pytest.approx(expected, abs=1e-4)
    assert 1.0 < finding["value"] < 4.0
    assert not live(report, "live accuracy")

    bad = serve_regressor(tmp_path / "bad", weather_csv, regressors, production="bad", canary="good")
    send(bad, sample)
    result = run_cli("monitor", "-C", bad.root, "--json")
    report = json.loads(result.out)
    assert result.code == 1
    assert report["title"] == "Monitor: performance drop"
    (finding,) = live(report, "live rmse")
    assert (finding["status"], finding["bound"]) == ("fail", 4.0)
    assert finding["value"] > 6.0
    assert finding["message"].endswith(" on 300 labelled predictions, above monitor.performance.max 4")
    assert report["needs_retraining"] is True


def test_max_increase_is_relative_to_the_registered_rmse(tmp_path, weather_csv, regressors, sample):
    """A version registered with the good model's holdout rmse that serves like the mean has degraded."""
    import shutil

    claims = dict(regressors)
    claims["claims_good"] = regressors["bad"].with_name("reg-claims_good.skops")
    shutil.copyfile(regressors["bad"], claims["claims_good"])
    shutil.copyfile(regressors["good"].with_suffix(".json"), claims["claims_good"].with_suffix(".json"))
    monitor = "monitor:\n  performance: {max_increase: 1.0}\n  min_rows: 50\n"
    honest = serve_regressor(tmp_path / "h", weather_csv, claims, monitor=monitor)
    send(honest, sample)
    report = json.loads(run_cli("monitor", "-C", honest.root, "--json").out)
    (finding,) = live(report, "live rmse")  # rmse: the default metric of a regressor
    assert finding["status"] == "pass"
    degraded = serve_regressor(
        tmp_path / "d", weather_csv, claims, monitor=monitor, production="claims_good", canary="good"
    )
    send(degraded, sample)
    result = run_cli("monitor", "-C", degraded.root, "--json")
    report = json.loads(result.out)
    assert result.code == 1
    (finding,) = live(report, "live rmse")
    registered = json.loads(regressors["good"].with_suffix(".json").read_text())["rmse"]
    assert (finding["status"], finding["bound"]) == ("fail", pytest.approx(registered + 1.0))
    assert finding["message"].endswith(f"more than 1 above its registered {registered:.4g}")


def test_a_regressor_without_monitor_performance_reports_rmse_not_accuracy(tmp_path, weather_csv, regressors, sample):
    monitor = "monitor:\n  drift: {method: psi, threshold: 0.2, min_window: 50}\n  min_rows: 50\n"
    project = serve_regressor(tmp_path / "p", weather_csv, regressors, monitor=monitor)
    send(project, sample)
    result = run_cli("monitor", "-C", project.root, "--json")
    report = json.loads(result.out)
    assert result.code == 0, report["findings"]
    rules = {f["rule"] for f in report["findings"]}
    assert "live rmse" in rules
    assert not [r for r in rules if "accuracy" in r]
    (table,) = report["tables"]
    assert "live rmse" in table["columns"] and "registered rmse" in table["columns"]
    assert not [c for c in table["columns"] if "accuracy" in c]
    (row,) = table["rows"]
    registered = json.loads(regressors["good"].with_suffix(".json").read_text())["rmse"]
    assert row[table["columns"].index("registered rmse")] == registered
    terminal = run_cli("monitor", "-C", project.root)
    assert "task: regression (from the model weather v1)" in terminal.out
    assert "accuracy" not in terminal.out
    markdown = run_cli("monitor", "-C", project.root, "--md").out
    assert 'title "Live rmse over time"' in markdown
    assert "accuracy" not in markdown
    assert "regression (from the model weather v1)" in (project.root / ".flowtide/reports/monitor.html").read_text()


def test_a_floor_on_an_inferred_rmse_is_a_config_error_naming_the_line(tmp_path, weather_csv, regressors, sample):
    """No metric named, no model.task: only the model says it is a regressor, so monitor says what `min` means."""
    monitor = "monitor:\n  performance: {min: 0.75}\n  min_rows: 50\n"
    project = serve_regressor(tmp_path / "p", weather_csv, regressors, monitor=monitor)
    send(project, sample[:60])
    line = regression_config(monitor).splitlines().index("  performance: {min: 0.75}") + 1
    result = run_cli("monitor", "-C", project.root)
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        f"error: flowtide.yaml:{line}:17: monitor.performance.min is a bound of a higher-is-better metric, but rmse "
        "(the default for regression, from the model weather v1) is lower is better\n"
        "For rmse use `max:` (a ceiling) or `max_increase:` (above the registered value).\n"
    )
    accuracy = regression_config("monitor:\n  performance: {metric: accuracy, min: 0.75}\n")
    (project.root / "flowtide.yaml").write_text(accuracy)
    result = run_cli("monitor", "-C", project.root)
    assert result.code == 2
    assert result.err.startswith(
        f"error: flowtide.yaml:{line}:17: monitor.performance.metric accuracy is a classification metric, but the "
        "model is a regression model (from the model weather v1)\nUse one of rmse, mae, mape, or set model.task."
    )


def test_a_worse_regressor_canary_is_rolled_back_and_an_equal_one_promoted(tmp_path, weather_csv, regressors, days):
    deploy = "deploy:\n  canary: {weight: 0.5, min_requests: 300, margin: 0.2}\n"
    worse = serve_regressor(tmp_path / "w", weather_csv, regressors, deploy=deploy, canary="bad")
    answers = send(worse, days[:600])
    assert {a["role"] for a in answers} == {"production", "canary"}
    report = json.loads(run_cli("monitor", "-C", worse.root, "--json", "--act").out)
    (verdict,) = live(report, "canary verdict")
    assert verdict["message"].startswith("rollback: canary mean absolute error ")
    test = verdict["details"]["test"]
    assert (test["metric"], test["method"], test["alpha"]) == ("mean absolute error", "Welch t", 0.05)
    assert test["canary"] > 2 * test["production"]
    assert report["actions"] == ["rolled back the canary weather v2 (archived)"]
    assert Registry.load(worse).get("weather", 2).stage == "archived"

    # the same predictions under other bytes; its callers see other days than production's, so a routing can
    # make it look worse by chance (at rate alpha: test_an_identical_canary_is_rarely_rolled_back); not this one
    equal = serve_regressor(tmp_path / "e", weather_csv, regressors, deploy=deploy, canary="same")
    send(equal, days, key_prefix="caller-")
    report = json.loads(run_cli("monitor", "-C", equal.root, "--json", "--act").out)
    (verdict,) = live(report, "canary verdict")
    assert verdict["details"]["verdict"] == "promote", verdict["message"]
    assert verdict["message"].startswith("promote: canary mean absolute error ")
    assert "not worse by more than the margin" in verdict["message"]
    test = verdict["details"]["test"]
    assert abs(test["canary"] - test["production"]) < 0.2
    assert test["upper"] < test["margin"] == pytest.approx(0.2 * test["production"], abs=1e-3)
    assert report["actions"][0].startswith("weather v2: the canary verdict is promote; production needs an approval")


def test_an_identical_canary_is_rarely_rolled_back(weather_csv):
    """Over 200 routings of every day (the server's sticky hash of 200 key prefixes), a canary with production's
    own absolute errors is rolled back about alpha of the time, and promoted at margin 0.2 almost always."""
    import numpy as np

    from flowtide.monitor.stats import compare_errors
    from flowtide.serve.router import sticky_fraction

    from ._models import fit_regressor

    model, _ = fit_regressor(weather_csv)
    rows = [line.split(",") for line in weather_csv.read_text().splitlines()[1:]]
    X = np.array([[float(r[1]), float(r[3]), float(r[4])] for r in rows])
    errors = np.abs(model.predict(X) - np.array([float(r[2]) for r in rows])).tolist()
    verdicts = []
    for prefix in range(200):
        canary = [sticky_fraction(f"{prefix}-{i}") < 0.5 for i in range(len(errors))]
        verdicts.append(
            compare_errors(
                [e for e, c in zip(errors, canary, strict=True) if not c],
                [e for e, c in zip(errors, canary, strict=True) if c],
                margin=0.2,
                alpha=0.05,
            ).verdict
        )
    assert verdicts.count("rollback") <= 0.08 * len(verdicts)
    assert verdicts.count("promote") >= 0.9 * len(verdicts)


def test_numeric_feedback_is_accepted_and_anything_else_refused(tmp_path, weather_csv, regressors):
    project = serve_regressor(tmp_path / "p", weather_csv, regressors)
    features = {"precipitation": 0.0, "temp_min": 5.0, "wind": 3.0}
    with ServerThread(create_app(project, interval=0)) as server, httpx.Client(base_url=server.url) as client:
        ids = [client.post("/predict/weather", json=features).json()["request_id"] for _ in range(3)]
        ok = client.post(
            "/feedback/weather", json=[{"request_id": ids[0], "label": 12.5}, {"request_id": ids[1], "label": 9}]
        )
        assert (ok.status_code, ok.json()) == (200, {"accepted": 2})
        for label, reason in (
            ("warm", "must be a finite number"),
            ("12.5", "must be a finite number"),
            (True, "must be a finite number"),
            (None, "must be a finite number"),
            (99.0, "must be <= 50"),  # the checks declare temp_max: {type: float, min: -30, max: 50}
        ):
            refused = client.post("/feedback/weather", json={"request_id": ids[2], "label": label})
            assert refused.status_code == 422, refused.text
            assert refused.json()["detail"] == [{"field": "label", "reason": reason}], label
        nan = client.post(
            "/feedback/weather",
            content=b'{"request_id": "%s", "label": NaN}' % ids[2].encode(),
            headers={"content-type": "application/json"},
        )
        assert nan.status_code == 422
    assert Registry.load(project).get("weather", 1).stage == "production"


def test_the_label_rule_of_a_regressor_comes_from_the_model_or_model_task(tmp_path, weather_csv, regressors):
    from flowtide.formats import load_path
    from flowtide.project import Project

    project = serve_regressor(tmp_path / "p", weather_csv, regressors)
    loaded = load_path(Project.load(project.root), regressors["good"])
    assert loaded.task == "regression"  # scikit-learn >= 1.6 says so in its tags, not _estimator_type
    assert label_rule(None, [loaded]) == LabelRule(kind="number")
    assert label_rule({"task": "regression"}, []) == LabelRule(kind="number")
    assert label_rule(None, []) == LabelRule()  # nothing known: any scalar


def test_regression_metrics():
    outputs, labels = [1.0, 2.0, 4.0, 3.0], [1.0, 3.0, 2.0, 0.0]
    assert metric("mae", outputs, labels) == pytest.approx((0 + 1 + 2 + 3) / 4)
    assert metric("rmse", outputs, labels) == pytest.approx(((0 + 1 + 4 + 9) / 4) ** 0.5)
    assert metric("mape", outputs, labels) == pytest.approx((0 + 1 / 3 + 1) / 3)  # the row labelled 0 is left out
    assert metric("rmse", ["rain", 2.0], [1.0, 3.0]) == pytest.approx(1.0)  # only finite numbers count
    assert metric("mape", [1.0], [0.0]) is None


def test_without_the_artifact_the_task_comes_from_the_registered_metrics_then_the_labels(
    tmp_path, weather_csv, regressors, sample
):
    """A CI runner may have the registry but not the model: the registered metrics say regression, and
    without those the feedback does (numbers with fractions)."""
    import shutil

    unsaid = dict(regressors)
    unsaid["nothing"] = regressors["good"].with_name("reg-nothing.skops")
    shutil.copyfile(regressors["good"], unsaid["nothing"])
    unsaid["nothing"].with_suffix(".json").write_text("{}")
    unsaid["bad_nothing"] = regressors["bad"].with_name("reg-bad_nothing.skops")
    shutil.copyfile(regressors["bad"], unsaid["bad_nothing"])
    unsaid["bad_nothing"].with_suffix(".json").write_text("{}")
    for production, canary, expected in (
        ("good", "bad", "regression (from the registered metrics of weather v1)"),
        ("nothing", "bad_nothing", "regression (from the feedback: labels and outputs are numbers)"),
    ):
        project = serve_regressor(
            tmp_path / production,
            weather_csv,
            unsaid,
            monitor="monitor:\n  performance: {max: 4.0}\n  min_rows: 50\n",  # no metric: rmse once it is known
            production=production,
            canary=canary,
        )
        send(project, sample[:60])
        shutil.rmtree(project.root / ".flowtide" / "cache")
        (project.root / "models" / "model.skops").unlink()
        report = json.loads(run_cli("monitor", "-C", project.root, "--json").out)
        assert report["summary"]["task"] == expected
        assert [f["status"] for f in live(report, "live rmse")] == ["pass"]


def test_a_regression_task_with_a_class_list_target_is_a_config_error(tmp_path, weather_csv):
    from ._models import make_project

    text = regression_config().replace("  target: temp_max\n", "  target: weather\n  task: regression\n")
    make_project(tmp_path, weather_csv, text)
    line = text.splitlines().index("  task: regression") + 1
    result = run_cli("status", "-C", tmp_path)
    assert (result.code, result.err) == (
        2,
        f"error: flowtide.yaml:{line}:3: model.task is regression, but the target column 'weather' is declared "
        "with a list of classes (`in:`) in checks.weather\nA regression target is a number: declare it as "
        "`type: float` (or int), or set `task: classification`.\n",
    )
