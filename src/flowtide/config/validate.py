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
from .schema import Config

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


def _check_gates(config: Config) -> None:
    for index, text in enumerate(config.gates):
        try:
            parse_rule(text, index)
        except RuleSyntaxError as exc:
            raise config.error(f"gate {text!r}: {exc}", "gates", index, hint=SYNTAX + ".") from None


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
    drift = config.monitor.drift
    if drift is not None:
        _check_drift(config, drift)


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
    from croniter import croniter

    if not croniter.is_valid(expr):
        raise config.error(f"schedule {expr!r} is not a valid cron expression", *loc)


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
