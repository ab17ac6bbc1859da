"""Every rule of flowtide.yaml that a type cannot say, checked once when the file loads.

Names, paths, cron schedules, durations, gate rules and the CI settings: a mistake in
any of them is a ConfigError at its ``file:line:col`` from every command, not a
surprise in CI after training.
"""

from __future__ import annotations

import re
from typing import Any

from .. import plugins
from ..validators import ESCAPE_HINT, NAME, path_problem
from .rules import SYNTAX, RuleSyntaxError, parse_rule
from .schema import DEFAULT_METRIC, MONITOR_METRICS, Config

_CALL = re.compile(r"^[\w.]+:[\w.]+$")
SECRET_NAME = re.compile(r"^(?!GITHUB_)[A-Za-z_][A-Za-z0-9_]*$", re.I)
BRANCH = re.compile(r"^(?!/)(?!.*//)(?!.*\.\.)[A-Za-z0-9._/-]+(?<!/)$")


def check_relative_path(value: str, what: str, config: Config, *loc: str | int) -> None:
    """A project path must be relative and stay inside the project (the rule of flowtide.validators)."""
    problem = path_problem(value)
    if problem:
        hint = ESCAPE_HINT if "escapes" in problem else None
        raise config.error(f"{what} {value!r} {problem}", *loc, hint=hint)


def check_semantics(config: Config) -> None:
    """Raise the ConfigError of the first rule ``config`` breaks, in the order of the file's sections."""
    _check_sources(config)
    _check_stages(config)
    _check_model(config)
    _check_checks(config)
    check_relative_path(config.params, "params file", config, "params")
    _check_gates(config)
    _check_metric_directions(config)
    _check_deploy(config)
    _check_monitor(config)
    check_relative_path(config.store.path, "store path", config, "store", "path")
    _check_ci(config)
    _check_registered(config, plugins.EXECUTORS, config.executor, "executor")


def _check_name(config: Config, what: str, name: str, *loc: str) -> None:
    if not NAME.match(name):
        raise config.error(f"{what} name {name!r} must start with a letter and use letters, digits, _ . -", *loc)


def _check_sources(config: Config) -> None:
    for name, source in config.sources.items():
        _check_name(config, "source", name, "sources", name)
        check_relative_path(source.path, "source path", config, "sources", name, "path")
        if source.schedule:
            _check_cron(config, source.schedule, "sources", name, "schedule")


def _check_stages(config: Config) -> None:
    for name, stage in config.stages.items():
        _check_name(config, "stage", name, "stages", name)
        if bool(stage.cmd) == bool(stage.call):
            raise config.error(f"stage {name!r} needs exactly one of `cmd:` or `call:`", "stages", name)
        if stage.call and not _CALL.match(stage.call):
            raise config.error(
                f"stage {name!r}: call {stage.call!r} must look like module:function", "stages", name, "call"
            )
        for kind in ("deps", "outs", "metrics", "plots"):
            for index, value in enumerate(getattr(stage, kind)):
                check_relative_path(value, f"stage {name!r} {kind[:-1]}", config, "stages", name, kind, index)


def _check_model(config: Config) -> None:
    model = config.model
    if not model:
        return
    _check_name(config, "model", model.name, "model", "name")
    check_relative_path(model.path, "model path", config, "model", "path")
    if model.reference and model.reference not in config.sources:
        check_relative_path(model.reference, "model reference", config, "model", "reference")
    for index, test in enumerate(model.tests):
        check_relative_path(test, "model test path", config, "model", "tests", index)
    _check_registered(config, plugins.FORMATS, model.format, "model", "format")
    if model.format == "python" and not model.loader:
        raise config.error("model format python needs `loader: module:Class`", "model", "format")
    suite = config.checks.get(model.reference) if model.reference else None
    rules = suite.columns.get(model.target) if suite and model.target else None
    if (
        model.task == "regression"
        and rules is not None
        and (rules.in_ or rules.type in ("str", "bool", "date", "datetime"))
    ):
        kind = "a list of classes (`in:`)" if rules.in_ else f"type {rules.type}"
        raise config.error(
            f"model.task is regression, but the target column {model.target!r} is declared with {kind} in "
            f"checks.{model.reference}",
            "model",
            "task",
            hint="A regression target is a number: declare it as `type: float` (or int), or set `task: classification`.",
        )


def _check_checks(config: Config) -> None:
    for target, suite in config.checks.items():
        if target not in config.sources:
            check_relative_path(target, "check target", config, "checks", target)
        for column, rules in suite.columns.items():
            for key, option in rules.plugins.items():
                _check_plugin_check(config, key, option, "checks", target, "columns", column, key)
        reference = suite.drift.reference if suite.drift else None
        if reference and reference not in config.sources:
            check_relative_path(reference, "drift reference", config, "checks", target, "drift", "reference")
        _check_null_values(config, target, suite)


_NOT_TEXT = (".parquet", ".pq", ".jsonl", ".ndjson", ".json")


def _check_null_values(config: Config, target: str, suite: Any) -> None:
    """`null_values:` are short one-line tokens of a CSV suite (parquet and JSON lines have real nulls)."""
    loc = ("checks", target, "null_values")
    if loc not in config.positions:
        return  # the default list
    for index, token in enumerate(suite.null_values):
        if any(ch in token for ch in "\r\n") or len(token) > 100:
            raise config.error(
                f"checks of {target!r}: null_values item {index} {token[:40]!r} must be one line of at most 100 characters",
                *loc,
                index,
            )
    source = config.sources.get(target)
    path = (source.path if source else target).lower()
    fmt = suite.format or ("csv" if not path.endswith(_NOT_TEXT) else "not csv")
    if fmt != "csv":
        raise config.error(
            f"checks of {target!r}: null_values applies to CSV files only; {source.path if source else target} "
            f"is read as {suite.format or 'parquet or JSON lines'}, whose nulls are real nulls",
            *loc,
            hint="Remove `null_values:` from this suite.",
        )


def _check_gates(config: Config) -> None:
    for index, text in enumerate(config.gates):
        try:
            parse_rule(text, index)
        except RuleSyntaxError as exc:
            raise config.error(f"gate {text!r}: {exc}", "gates", index, hint=SYNTAX + ".") from None


def _check_metric_directions(config: Config) -> None:
    """A gate that contradicts ``metrics:`` (``loss >= 0.9`` with ``loss: {higher_is_better: false}``) is a mistake."""
    for index, text in enumerate(config.gates):
        rule = parse_rule(text, index)
        spec = config.metrics.get(rule.metric)
        if spec is None or rule.op not in (">=", ">", "<=", "<"):
            continue
        gate_higher = rule.op in (">=", ">")
        if gate_higher != spec.higher_is_better:
            raise config.error(
                f"metrics.{rule.metric}.higher_is_better is {str(spec.higher_is_better).lower()}, "
                f"but gate {text!r} asks for {'a minimum' if gate_higher else 'a maximum'}",
                "metrics",
                rule.metric,
                "higher_is_better",
                hint="Make the gate and the metric's direction agree.",
            )


def metric_directions(config: Config) -> dict[str, bool]:
    """metric -> higher is better, from ``metrics:``, then the gates, then the live metrics' well-known names."""
    out = {name: not lower for name, (_task, lower) in MONITOR_METRICS.items()}
    for index, text in enumerate(config.gates):
        try:
            rule = parse_rule(text, index)
        except RuleSyntaxError:
            continue
        if rule.op in (">=", ">", "<=", "<"):
            out[rule.metric] = rule.op in (">=", ">")
    out.update({name: spec.higher_is_better for name, spec in config.metrics.items()})
    return out


def _check_deploy(config: Config) -> None:
    deploy = config.deploy
    if deploy.canary:
        if not 0.0 <= deploy.canary.weight <= 1.0:
            raise config.error("deploy.canary.weight must be between 0 and 1", "deploy", "canary", "weight")
        if not 0 < deploy.canary.alpha < 0.5:
            raise config.error(
                f"deploy.canary.alpha {deploy.canary.alpha} must be between 0 and 0.5", "deploy", "canary", "alpha"
            )
        if not 0 <= deploy.canary.margin < 1:
            raise config.error(
                f"deploy.canary.margin {deploy.canary.margin} must be at least 0 and below 1",
                "deploy",
                "canary",
                "margin",
            )
    if not deploy.body_timeout > 0:
        raise config.error("deploy.body_timeout must be a positive number of seconds", "deploy", "body_timeout")
    for key in ("feedback_window", "log_segment"):
        _check_positive(config, "deploy", key)


def _check_monitor(config: Config) -> None:
    _check_cron(config, config.monitor.schedule, "monitor", "schedule")
    _check_positive(config, "monitor", "window")  # monitor.cooldown may be zero: retrain on every finding
    check_performance(config, config.model.task if config.model else None)
    drift = config.monitor.drift
    if drift is not None:
        _check_drift(config, drift)


_HIGHER_KEYS = ("min", "max_drop")  # bounds of a higher-is-better metric (accuracy)
_LOWER_KEYS = ("max", "max_increase")  # bounds of a lower-is-better metric (an error such as rmse)


def check_performance(config: Config, task: str | None, why: str = "model.task") -> str | None:
    """The metric monitor.performance judges (None: not known before the task is); a ConfigError at the key
    that does not suit it: a metric of the other task, or a floor for an error / a ceiling for a score.

    Called when flowtide.yaml loads (with ``model.task``) and again by `flowtide monitor` once the task is
    inferred (``why`` says how), so the same mistake gets the same message and ``file:line``.
    """
    perf = config.monitor.performance
    if perf is None:
        return DEFAULT_METRIC[task] if task else None
    loc = ("monitor", "performance")
    for key in ("max_drop", "max_increase"):
        value = getattr(perf, key)
        if value is not None and value < 0:
            raise config.error(f"monitor.performance.{key} {value:g} must be at least 0", *loc, key)
    given = [k for k in (*_HIGHER_KEYS, *_LOWER_KEYS) if getattr(perf, k) is not None]
    name = perf.metric or (DEFAULT_METRIC[task] if task else None)
    if name is None:
        higher = [k for k in given if k in _HIGHER_KEYS]
        lower = [k for k in given if k in _LOWER_KEYS]
        if higher and lower:
            raise config.error(
                f"monitor.performance sets {higher[0]} (a bound of a higher-is-better metric) and {lower[0]} (a "
                "bound of a lower-is-better one), but names no metric",
                *loc,
                lower[0],
                hint="Set monitor.performance.metric (accuracy, error_rate, f1_macro, rmse, mae or mape) or model.task.",
            )
        return None
    metric_task, lower_is_better = MONITOR_METRICS[name]
    if perf.metric and task and metric_task != task:
        choices = ", ".join(m for m, (t, _) in MONITOR_METRICS.items() if t == task)
        raise config.error(
            f"monitor.performance.metric {name} is a {metric_task} metric, but the model is a {task} model ({why})",
            *loc,
            "metric",
            hint=f"Use one of {choices}" + (", or set model.task." if why != "model.task" else "."),
        )
    named = f"{name} (the default for {task}, {why})" if not perf.metric else name
    for key in given:
        if lower_is_better and key in _HIGHER_KEYS:
            raise config.error(
                f"monitor.performance.{key} is a bound of a higher-is-better metric, but {named} is lower is better",
                *loc,
                key,
                hint=f"For {name} use `max:` (a ceiling) or `max_increase:` (above the registered value).",
            )
        if not lower_is_better and key in _LOWER_KEYS:
            raise config.error(
                f"monitor.performance.{key} is a bound of a lower-is-better metric, but {named} is higher is better",
                *loc,
                key,
                hint=f"For {name} use `min:` (a floor) or `max_drop:` (below the registered value).",
            )
    return name


_DISTANCES = ("psi", "wasserstein", "js")


def _check_drift(config: Config, drift) -> None:
    """monitor.drift: a p-value method never reads a distance threshold; the error rate and windows make sense."""
    loc = ("monitor", "drift")
    if drift.threshold is not None and drift.method in ("tests", "adwin"):
        raise config.error(
            f"monitor.drift.threshold is for the distances (psi, wasserstein, js), not method {drift.method!r}",
            *loc,
            "threshold",
            hint="Remove threshold: the tests are decided by monitor.drift.alpha (per monitor.drift.period) "
            "and monitor.drift.correction; or pick a distance method.",
        )
    if drift.threshold is not None and drift.method in ("ks", "chi2") and not 0 < drift.threshold < 0.5:
        raise config.error(
            f"monitor.drift.threshold {drift.threshold} is a p-value bound for {drift.method}: between 0 and 0.5",
            *loc,
            "threshold",
            hint="Better: remove it; monitor.drift.alpha then bounds the false alarms per period.",
        )
    if drift.threshold is not None and not drift.threshold > 0:
        raise config.error(f"monitor.drift.threshold {drift.threshold} must be above 0", *loc, "threshold")
    if not 0 < drift.alpha < 0.5:
        raise config.error(f"monitor.drift.alpha {drift.alpha} must be between 0 and 0.5", *loc, "alpha")
    if drift.period.seconds <= 0:
        raise config.error(f"monitor.drift.period {drift.period.text!r} must be longer than zero", *loc, "period")
    if drift.min_window < 30:
        raise config.error(
            f"monitor.drift.min_window {drift.min_window} is below 30 rows: no test judges that few",
            *loc,
            "min_window",
        )
    if drift.max_window < drift.min_window:
        raise config.error(
            f"monitor.drift.max_window {drift.max_window} is below min_window {drift.min_window}",
            *loc,
            "max_window",
        )


def _check_positive(config: Config, section: str, key: str) -> None:
    duration = getattr(getattr(config, section), key)
    if duration.seconds <= 0:
        raise config.error(f"{section}.{key} {duration.text!r} must be longer than zero", section, key)


def _check_cron(config: Config, expr: str, *loc: str) -> None:
    fields = expr.split()
    if len(fields) != 5:
        raise config.error(f"schedule {expr!r} must have 5 cron fields (minute hour day month weekday)", *loc)
    if _plain_cron(fields):
        return
    from croniter import croniter

    if not croniter.is_valid(expr):
        raise config.error(f"schedule {expr!r} is not a valid cron expression", *loc)


_CRON_MAX = (59, 23, 31, 12, 6)  # minute hour day month weekday
_CRON_MIN = (0, 0, 1, 1, 0)


def _plain_cron(fields: list[str]) -> bool:
    """True when every field is ``*``, ``*/step`` or a list of numbers and ``a-b`` ranges within bounds.

    Such an expression is valid to croniter without importing it: the schedules
    people write ("0 6 * * *", "*/15 * * * *", "30 5 * * 1-5"). Anything else
    (names, steps on ranges, 7 for Sunday) is left to croniter.
    """
    for text, low, high in zip(fields, _CRON_MIN, _CRON_MAX, strict=False):
        if text == "*":
            continue
        if text.startswith("*/"):
            if not (_number(text[2:]) and 1 <= int(text[2:]) <= high):
                return False
            continue
        for item in text.split(","):
            first, dash, last = item.partition("-")
            if not (_number(first) and (not dash or _number(last))):
                return False
            if not low <= int(first) <= (int(last) if dash else int(first)) <= high:
                return False
    return True


def _number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 2


def _check_ci(config: Config) -> None:
    ci = config.ci
    for index, name in enumerate(ci.secrets):
        if not SECRET_NAME.match(name):
            raise config.error(
                f"ci.secrets: {name!r} is not a valid GitHub secret name (letters, digits and _, not starting "
                "with a digit or GITHUB_)",
                "ci",
                "secrets",
                index,
            )
    if not BRANCH.match(ci.default_branch):
        raise config.error(f"ci.default_branch {ci.default_branch!r} is not a branch name", "ci", "default_branch")
    if not ci.dependency_files:
        raise config.error(
            "ci.dependency_files needs at least one file glob (the pip cache key)", "ci", "dependency_files"
        )


def _check_registered(config: Config, group: str, name: str, *loc: str) -> None:
    """A component named in flowtide.yaml must be installed: said at load, from every command."""
    from ..errors import PluginError

    try:
        entry = plugins.entries(group).get(name)
        if entry is not None and entry.value.startswith("flowtide."):
            return  # one of flowtide's own: registered is enough, the command that uses it imports it
        plugins.load(group, name)
    except PluginError as exc:
        raise config.error(f"{'.'.join(loc)}: {exc.message}", *loc, hint=exc.hint) from None


def _check_plugin_check(config: Config, key: str, option: Any, *loc: str) -> None:
    """An installed check named under a column must load and accept its option (its constructor decides)."""
    where = ".".join(loc)
    _check_registered(config, plugins.CHECKS, key, *loc)
    if option is None or option is False:
        return
    try:
        plugins.load(plugins.CHECKS, key)(option)
    except (TypeError, ValueError) as exc:
        raise config.error(
            f"{where}: {exc}",
            *loc,
            hint=f"See the documentation of the check {key!r} ({plugins.distribution(plugins.CHECKS, key)}).",
        ) from None
