from __future__ import annotations

import json

import pytest

from flowtide.config import parse_config
from flowtide.config.rules import parse_rule
from flowtide.errors import ConfigError

from ._models import CONFIG, make_project, train
from .conftest import run_cli

GOOD_RULES = {
    "accuracy >= 0.8": ("accuracy", ">=", 0.8, False, None),
    "loss<0.25": ("loss", "<", 0.25, False, None),
    "delta > -1e-3": ("delta", ">", -0.001, False, None),
    "f1_macro >= production - 0.02": ("f1_macro", ">=", -0.02, True, None),
    "eval.auc > production+.5": ("eval.auc", ">", 0.5, True, None),
    "rmse <= production": ("rmse", "<=", 0.0, True, None),
    "n == 3": ("n", "==", 3.0, False, None),
    "f1_macro >= baseline_f1_macro + 0.05": ("f1_macro", ">=", 0.05, False, "baseline_f1_macro"),
    "rmse < baseline.rmse": ("rmse", "<", 0.0, False, "baseline.rmse"),
    "accuracy >= baseline - 1": ("accuracy", ">=", -1.0, False, "baseline"),
}


@pytest.mark.parametrize("text", sorted(GOOD_RULES))
def test_parse_rules(text):
    parse_config(f"project: p\ngates: [{json.dumps(text)}]\n")  # valid at load
    rule = parse_rule(text, 0)
    assert (rule.metric, rule.op, rule.number, rule.relative, rule.against) == GOOD_RULES[text]


BAD_RULES = {
    "accuracy => 0.8": "gate 'accuracy => 0.8': unexpected character '=' at column 10",
    "accuracy + 0.8": "gate 'accuracy + 0.8': expected a comparison (>=, >, <=, <, ==) after 'accuracy', got '+'",
    "accuracy >= ": "gate 'accuracy >= ': expected a metric name, a comparison and a bound",
    "accuracy >= baseline - x": "gate 'accuracy >= baseline - x': after `baseline` expected `+ NUMBER` or `- NUMBER`",
    "accuracy >= accuracy + 0.1": "gate 'accuracy >= accuracy + 0.1': 'accuracy' is compared with itself: the bound must be a number or another metric",
    "accuracy >= -baseline": "gate 'accuracy >= -baseline': the right side must be a number, `production [+|- NUMBER]` or `METRIC [+|- NUMBER]`",
    "accuracy >= production * 2": "gate 'accuracy >= production * 2': unexpected character '*' at column 24",
    "accuracy >= production - x": "gate 'accuracy >= production - x': after `production` expected `+ NUMBER` or `- NUMBER`",
    "0.8 <= accuracy": "gate '0.8 <= accuracy': expected a metric name, a comparison and a bound",
}


@pytest.mark.parametrize("text", sorted(BAD_RULES))
def test_syntax_errors_name_the_rule_and_line(text):
    with pytest.raises(ConfigError) as info:  # at load: every command refuses the file, not only `flowtide gate`
        parse_config(f"project: p\ngates:\n  - accuracy > 0\n  - {json.dumps(text)}\n")
    assert str(info.value).splitlines()[0] == f"flowtide.yaml:4:5: {BAD_RULES[text]}"
    assert info.value.exit_code == 2


GATE_LINE = CONFIG.splitlines().index('  - "accuracy >= 0.3"') + 1


@pytest.fixture
def project(git_repo, weather_csv):
    return make_project(git_repo, weather_csv)


def test_gate_cli_syntax_error_exits_2(project, weather_csv):
    train(project, weather_csv)
    (project / "flowtide.yaml").write_text(CONFIG.replace('"accuracy >= 0.3"', '"accuracy >== 0.3"'))
    result = run_cli("gate", cwd=project)
    assert result.code == 2
    assert result.err.startswith(
        f"error: flowtide.yaml:{GATE_LINE}:5: gate 'accuracy >== 0.3': unexpected character '=' at column 12\n"
    )


def test_unknown_metric_is_a_config_error(project, weather_csv):
    train(project, weather_csv)
    (project / "flowtide.yaml").write_text(CONFIG.replace('"accuracy >= 0.3"', '"precision >= 0.3"'))
    result = run_cli("gate", cwd=project)
    assert result.code == 2
    assert result.err == (
        f"error: flowtide.yaml:{GATE_LINE}:5: gate 'precision >= 0.3': unknown metric 'precision'\n"
        "The current metrics are: accuracy, f1_macro.\n"
    )


BASELINE_RULE = "f1_macro >= baseline_f1_macro + 0.05"


def _with_baseline(project, weather_csv, kind: str = "good") -> dict:
    """Train, then add what an evaluation with a naive baseline writes: the majority class's macro F1."""
    metrics = train(project, weather_csv, kind)
    metrics["baseline_f1_macro"] = 0.2
    (project / "metrics.json").write_text(json.dumps(metrics))
    (project / "flowtide.yaml").write_text(CONFIG.replace('"accuracy >= 0.3"', f'"{BASELINE_RULE}"'))
    return metrics


def test_a_rule_relative_to_another_metric_of_the_run(project, weather_csv):
    metrics = _with_baseline(project, weather_csv)
    result = run_cli("gate", "--json", cwd=project)
    assert result.code == 0, result.out + result.err
    finding = next(f for f in json.loads(result.out)["findings"] if f["rule"] == BASELINE_RULE)
    assert finding["status"] == "pass"
    assert finding["bound"] == pytest.approx(0.25) and finding["value"] == metrics["f1_macro"]
    assert finding["message"] == (f"f1_macro = {metrics['f1_macro']:.4g} satisfies >= 0.25 (baseline_f1_macro: 0.2)")
    assert finding["details"]["against"] == "baseline_f1_macro"


def test_a_model_no_better_than_its_baseline_fails(project, weather_csv):
    metrics = _with_baseline(project, weather_csv, kind="bad")  # always the majority class
    assert metrics["f1_macro"] < 0.25
    result = run_cli("gate", "--json", cwd=project)
    assert result.code == 1
    finding = next(f for f in json.loads(result.out)["findings"] if f["rule"] == BASELINE_RULE)
    assert finding["status"] == "fail"
    assert finding["message"] == f"f1_macro = {metrics['f1_macro']:.4g} violates >= 0.25 (baseline_f1_macro: 0.2)"


def test_an_unknown_baseline_metric_is_a_config_error(project, weather_csv):
    train(project, weather_csv)
    (project / "flowtide.yaml").write_text(CONFIG.replace('"accuracy >= 0.3"', '"accuracy >= baseline_accuracy"'))
    result = run_cli("gate", cwd=project)
    assert result.code == 2
    assert result.err == (
        f"error: flowtide.yaml:{GATE_LINE}:5: gate 'accuracy >= baseline_accuracy': unknown metric 'baseline_accuracy'\n"
        "The current metrics are: accuracy, f1_macro.\n"
    )


def test_no_metrics_yet(project):
    result = run_cli("gate", cwd=project)
    assert result.code == 2
    assert result.err.startswith("error: no metrics to judge: none of the stages' metrics files exist (metrics.json)\n")


def test_relative_rule_passes_without_production_and_saves_the_verdict(project, weather_csv):
    metrics = train(project, weather_csv)
    result = run_cli("gate", "--json", cwd=project)
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["kind"] == "gate" and report["ok"] is True
    relative = next(f for f in report["findings"] if f["rule"] == "f1_macro >= production - 0.02")
    assert (relative["status"], relative["message"]) == ("pass", "no production version yet: relative rule passes")
    absolute = next(f for f in report["findings"] if f["rule"] == "accuracy >= 0.3")
    assert (absolute["value"], absolute["bound"]) == (metrics["accuracy"], 0.3)
    saved = json.loads((project / ".flowtide" / "gate.json").read_text())
    (entry,) = saved.values()
    assert entry["passed"] is True and entry["metrics"] == metrics


def test_absolute_failure_markdown_and_step_summary(project, weather_csv, tmp_path, monkeypatch):
    train(project, weather_csv)
    (project / "flowtide.yaml").write_text(CONFIG.replace('"accuracy >= 0.3"', '"accuracy >= 0.99"'))
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = run_cli("gate", "--md", cwd=project)
    assert result.code == 1
    assert result.out.startswith("## ❌ Gate for model weather: failed\n")
    assert "| ❌ | weather | accuracy >= 0.99 |" in result.out
    assert "### Metrics vs production" in result.out
    assert summary.read_text() == result.out + "\n"


MODEL_TESTS = """\
import pytest

from flowtide.formats import load_path
from flowtide.project import Project


@pytest.mark.model
def test_predicts_sun_on_a_dry_hot_day():
    model = load_path(Project.load())
    row = {"precipitation": 0.0, "temp_max": 30.0, "temp_min": 16.0, "wind": 2.0}
    assert model.predict([row]) == ["sun"]


@pytest.mark.model
def test_always_fails():
    assert False, "deliberately"


def test_not_a_model_test():
    assert False
"""


def test_model_tests_run_in_the_gate(project, weather_csv, monkeypatch, tmp_path_factory):
    from .conftest import fast_python_env

    # the model-test process inherits this environment: let it reuse compiled bytecode
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    monkeypatch.setenv("PYTHONPYCACHEPREFIX", fast_python_env(tmp_path_factory)["PYTHONPYCACHEPREFIX"])
    train(project, weather_csv)
    (project / "tests").mkdir()
    (project / "tests" / "test_model.py").write_text(MODEL_TESTS)
    config = CONFIG.replace("  intended_use:", "  tests: [tests/test_model.py]\n  intended_use:")
    (project / "flowtide.yaml").write_text(config)
    result = run_cli("gate", "--json", cwd=project)
    assert result.code == 1
    (finding,) = [f for f in json.loads(result.out)["findings"] if f["target"] == "model tests"]
    assert finding["status"] == "fail"
    assert finding["message"] == "1 model test(s) failed: tests.test_model::test_always_fails"
    assert finding["details"]["passed"] == ["tests.test_model::test_predicts_sun_on_a_dry_hot_day"]

    skipped = run_cli("gate", "--json", "--no-tests", cwd=project)
    assert skipped.code == 0
    assert json.loads(skipped.out)["summary"]["model tests"] == "skipped"
    # a verdict without the model tests is not a pass the registry accepts
    version = json.loads(run_cli("register", "--json", cwd=project).out)
    assert version["gates"]["passed"] is False
    assert "model tests were skipped" in version["gates"]["message"]


def test_gate_html_report(project, weather_csv, tmp_path):
    train(project, weather_csv)
    result = run_cli("gate", "--html", tmp_path / "gate.html", cwd=project)
    assert result.code == 0
    html = (tmp_path / "gate.html").read_text()
    assert html.startswith("<!doctype html>") and "f1_macro &gt;= production - 0.02" in html
    assert (
        (project / ".flowtide" / "reports" / "gate.md").read_text().startswith("## ✅ Gate for model weather: passed")
    )
