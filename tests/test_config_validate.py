"""Every rule of flowtide.yaml is checked at load: the same exit-2 message, with file:line:col, from every command."""

from __future__ import annotations

import pytest

from .conftest import run_cli

BASE = """\
project: p
sources:
  weather:
    url: data/in.csv
    path: data/raw/weather.csv
    schedule: "0 6 * * *"
stages:
  train:
    cmd: python train.py
    deps: [data/raw/weather.csv]
    outs: [models/model.skops]
    metrics: [metrics.json]
model: {name: weather, path: models/model.skops, tests: [tests/model]}
gates: ["accuracy >= 0.8"]
monitor: {cooldown: 6h, window: 7d}
store: {path: .flowtide/cache, remote: s3://bucket/prefix}
ci: {secrets: [AWS_ACCESS_KEY_ID]}
"""

ESCAPE = "Use a path below the project root, without '..'."
GATE_HINT = (
    "Write a gate as METRIC OP NUMBER, METRIC OP production [+|- NUMBER] or METRIC OP OTHER_METRIC [+|- NUMBER], "
    "with OP one of >=, >, <=, <, ==."
)

MODEL_TO_MONITOR = 'tests: [tests/model]}\ngates: ["accuracy >= 0.8"]\nmonitor: {cooldown: 6h, window: 7d}'

# family -> (text replaced in BASE, its replacement, the exact error every command prints)
MISTAKES = {
    "gate rule": (
        '"accuracy >= 0.8"',
        '"accuracy => 0.8"',
        f"flowtide.yaml:14:9: gate 'accuracy => 0.8': unexpected character '=' at column 10\n{GATE_HINT}",
    ),
    "gate bound": (
        '"accuracy >= 0.8"',
        '"accuracy >= baseline * 2"',
        f"flowtide.yaml:14:9: gate 'accuracy >= baseline * 2': unexpected character '*' at column 22\n{GATE_HINT}",
    ),
    "cron": (
        '"0 6 * * *"',
        '"0 25 * * *"',
        "flowtide.yaml:6:5: schedule '0 25 * * *' is not a valid cron expression",
    ),
    "monitor cron": (
        "cooldown: 6h,",
        'schedule: "@hourly", cooldown: 6h,',
        "flowtide.yaml:15:11: schedule '@hourly' must have 5 cron fields (minute hour day month weekday)",
    ),
    "duration": (
        "cooldown: 6h",
        "cooldown: 6 hours",
        "flowtide.yaml:15:11: monitor.cooldown '6 hours' must look like 90 (seconds), 90s, 30m, 1.5h, 7d or 2w",
    ),
    "negative duration": (
        "cooldown: 6h",
        "cooldown: -60",
        "flowtide.yaml:15:11: monitor.cooldown -60 must be a positive number of seconds or look like "
        "90 (seconds), 90s, 30m, 1.5h, 7d or 2w",
    ),
    "zero window": (
        "window: 7d",
        "window: 0h",
        "flowtide.yaml:15:25: monitor.window '0h' must be longer than zero",
    ),
    "p-value method with a distance threshold": (
        "monitor: {cooldown: 6h,",
        "monitor: {drift: {method: tests, threshold: 0.2}, cooldown: 6h,",
        "flowtide.yaml:15:34: monitor.drift.threshold is for the distances (psi, wasserstein, js), not method 'tests'\n"
        "Remove threshold: the tests are decided by monitor.drift.alpha (per monitor.drift.period) and "
        "monitor.drift.correction; or pick a distance method.",
    ),
    "p-value bound": (
        "monitor: {cooldown: 6h,",
        "monitor: {drift: {method: ks, threshold: 0.7}, cooldown: 6h,",
        "flowtide.yaml:15:31: monitor.drift.threshold 0.7 is a p-value bound for ks: between 0 and 0.5\n"
        "Better: remove it; monitor.drift.alpha then bounds the false alarms per period.",
    ),
    "drift alpha": (
        "monitor: {cooldown: 6h,",
        "monitor: {drift: {alpha: 0.7}, cooldown: 6h,",
        "flowtide.yaml:15:19: monitor.drift.alpha 0.7 must be between 0 and 0.5",
    ),
    "drift windows": (
        "monitor: {cooldown: 6h,",
        "monitor: {drift: {min_window: 800, max_window: 600}, cooldown: 6h,",
        "flowtide.yaml:15:36: monitor.drift.max_window 600 is below min_window 800",
    ),
    "path": (
        "tests: [tests/model]",
        "tests: [../shared/tests]",
        f"flowtide.yaml:13:58: model test path '../shared/tests' escapes the project directory\n{ESCAPE}",
    ),
    "absolute path": (
        "path: .flowtide/cache",
        "path: /var/cache/flowtide",
        "flowtide.yaml:16:9: store path '/var/cache/flowtide' must be a relative path inside the project",
    ),
    "name": (
        "  train:\n",
        "  train model:\n",
        "flowtide.yaml:8:3: stage name 'train model' must start with a letter and use letters, digits, _ . -",
    ),
    "floor on an error metric": (
        "window: 7d}",
        "window: 7d, performance: {metric: rmse, min: 4.0}}",
        "flowtide.yaml:15:65: monitor.performance.min is a bound of a higher-is-better metric, but rmse is lower "
        "is better\nFor rmse use `max:` (a ceiling) or `max_increase:` (above the registered value).",
    ),
    "ceiling on accuracy": (
        "window: 7d}",
        "window: 7d, performance: {metric: accuracy, max: 0.9}}",
        "flowtide.yaml:15:69: monitor.performance.max is a bound of a lower-is-better metric, but accuracy is "
        "higher is better\nFor accuracy use `min:` (a floor) or `max_drop:` (below the registered value).",
    ),
    "default metric of the task": (
        MODEL_TO_MONITOR,
        MODEL_TO_MONITOR.replace("]}", "], task: regression}").replace("7d}", "7d, performance: {max_drop: 0.1}}"),
        "flowtide.yaml:15:51: monitor.performance.max_drop is a bound of a higher-is-better metric, but rmse (the "
        "default for regression, model.task) is lower is better\nFor rmse use `max:` (a ceiling) or "
        "`max_increase:` (above the registered value).",
    ),
    "metric of the other task": (
        MODEL_TO_MONITOR,
        MODEL_TO_MONITOR.replace("]}", "], task: classification}").replace(
            "7d}", "7d, performance: {metric: mape, max: 0.2}}"
        ),
        "flowtide.yaml:15:51: monitor.performance.metric mape is a regression metric, but the model is a "
        "classification model (model.task)\nUse one of accuracy, error_rate, f1_macro.",
    ),
    "secret name": (
        "secrets: [AWS_ACCESS_KEY_ID]",
        "secrets: [GITHUB_TOKEN]",
        "flowtide.yaml:17:16: ci.secrets: 'GITHUB_TOKEN' is not a valid GitHub secret name (letters, digits and _, "
        "not starting with a digit or GITHUB_)",
    ),
}


def test_the_base_project_is_valid(tmp_path):
    (tmp_path / "flowtide.yaml").write_text(BASE)
    status = run_cli("status", cwd=tmp_path)
    assert (status.code, status.err) == (1, "")  # loads; the pipeline has never run
    assert status.out.startswith("train:\n    never run\n")
    generate = run_cli("ci", "generate", cwd=tmp_path)
    assert (generate.code, generate.err) == (0, "")
    assert (tmp_path / ".github" / "workflows" / "monitor.yml").is_file()


@pytest.mark.parametrize("family", sorted(MISTAKES))
def test_every_command_refuses_the_same_mistake_at_load(tmp_path, family):
    old, new, message = MISTAKES[family]
    assert BASE.count(old) == 1
    (tmp_path / ".flowtide").mkdir()  # memos on: a refused file must never be memoised
    (tmp_path / "flowtide.yaml").write_text(BASE.replace(old, new))
    for command in (["status"], ["gate"], ["ci", "generate"], ["status"]):
        result = run_cli(*command, cwd=tmp_path)
        assert (result.code, result.err) == (2, f"error: {message}\n"), command
    assert not (tmp_path / ".github").exists()
