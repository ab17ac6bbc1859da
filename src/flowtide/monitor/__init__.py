"""Monitoring: drift, live performance and canary verdicts from the prediction log, and what to do about them.

``monitor(project)`` reads every replica's prediction log segments (the local
directory plus, with a remote store, ``<remote>/predictions/``), analyses the
window and returns a :class:`MonitorResult` whose ``report`` renders like every
other flowtide report. ``trigger`` retrains (respecting ``monitor.cooldown``),
``act`` promotes or rolls back canaries by their verdict.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import FlowtideError
from ..report import Finding

if TYPE_CHECKING:
    from ..project import Project
    from ..report import Report

__all__ = ["NOT_JUDGED", "MonitorResult", "monitor", "retrain"]

log = logging.getLogger("flowtide.monitor")


@dataclass
class MonitorResult:
    report: Report
    drifted: dict[str, list[str]] = field(default_factory=dict)
    verdicts: list[Any] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    retrained: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """Nothing failed (no drift or drop in a version served now, no failed retraining)."""
        return self.report.ok

    @property
    def judged(self) -> bool:
        """Every version served now was judged (enough predictions, something to judge them by)."""
        return self.report.judged

    @property
    def exit_code(self) -> int:
        """1 drift, a drop or a failed retraining; 3 nothing failed but a served version was not judged; 0 passed."""
        if not self.ok:
            return 1
        return 0 if self.judged else NOT_JUDGED


NOT_JUDGED = 3
"""Exit status of `flowtide monitor` when nothing failed but a served version could not be judged."""


def log_dirs(project: Project, extra: list[str | Path] | None = None) -> list[Path]:
    """The local prediction log directory, given ones, and the replicas' segments from the remote store."""
    dirs = [project.state_dir / "predictions", *(Path(p) for p in extra or [])]
    remote = project.config.store.remote
    if remote:
        try:
            dirs.append(_fetch_remote_segments(project, remote))
        except Exception as exc:  # the local log is still analysed; say what is missing
            log.warning("could not read prediction logs from %s: %s", remote, exc)
    return dirs


def _fetch_remote_segments(project: Project, remote: str) -> Path:
    import fsspec

    endpoint = project.config.store.endpoint_url
    options = {"client_kwargs": {"endpoint_url": endpoint}} if endpoint and remote.startswith("s3") else {}
    fs, root = fsspec.core.url_to_fs(remote.rstrip("/"), **options)
    target = project.state_dir / "predictions-remote"
    base = f"{root}/predictions"
    if not fs.exists(base):
        return target
    for path in fs.find(base):
        if not path.endswith(".db"):
            continue
        local = target / Path(path).relative_to(base)
        if local.exists():  # closed segments never change
            continue
        local.parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(path, str(local))
    return target


def monitor(
    project: Project,
    *,
    window: str | None = None,
    now: float | None = None,
    logs: list[str | Path] | None = None,
    trigger: bool = False,
    act: bool = False,
    progress=None,
) -> MonitorResult:
    """Analyse the window ending ``now``; optionally retrain and act on canary verdicts."""
    from ..serve.predlog import read_log
    from . import actions
    from .analysis import analyse, parse_window

    started = time.perf_counter()
    until = now if now is not None else time.time()
    seconds = parse_window(window or project.config.monitor.window)
    since = until - seconds
    data = read_log(log_dirs(project, logs), since=since, until=until + 1e-6)
    analysis = analyse(project, data, since=since, until=until)
    result = MonitorResult(analysis.report, analysis.drifted, analysis.verdicts)
    report = analysis.report
    if act and analysis.verdicts:
        result.actions = actions.act(project, analysis.verdicts)
        for line in result.actions:
            report.findings.append(Finding("info", project.config.project, "act", line))
    if trigger and analysis.needs_retraining:
        cooldown = parse_window(project.config.monitor.cooldown)
        left = actions.cooldown_left(project, cooldown, until)
        if left > 0:
            report.findings.append(
                Finding(
                    "info",
                    project.config.project,
                    "trigger",
                    f"retraining not started: monitor.cooldown has {left:.0f} s left",
                )
            )
        else:
            actions.record_trigger(project, until)
            try:
                outcome = actions.retrain(project, log=progress)
            except FlowtideError as exc:  # the analysis stands; say why retraining did not happen
                result.retrained = {"error": exc.message}
                actions.record_trigger(project, until, result.retrained)
                report.findings.append(
                    Finding("fail", project.config.project, "trigger", f"retraining failed: {exc.message}")
                )
            else:
                result.retrained = outcome.to_dict()
                actions.record_trigger(project, until, outcome.to_dict())
                report.findings.append(
                    Finding("info", project.config.project, "trigger", f"retraining: {outcome.message}")
                )
    report.summary["seconds"] = round(time.perf_counter() - started, 3)
    return result


def retrain(project: Project, **kwargs: Any):
    from .actions import retrain as _retrain

    return _retrain(project, **kwargs)
