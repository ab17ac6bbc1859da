"""Monitoring: drift, live performance and canary verdicts from the prediction log, and what to do about them.

``monitor(project)`` reads every replica's prediction log segments (the local
directory plus, with a remote store, ``<remote>/predictions/``), analyses the
window and returns a :class:`MonitorResult` whose ``report`` renders like every
other flowtide report. ``trigger`` retrains (respecting ``monitor.cooldown``),
``act`` promotes or rolls back canaries by their verdict.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import FlowtideError
from ..report import Finding

if TYPE_CHECKING:
    from ..project import Project
    from ..report import Report
    from .canary import CanaryVerdict

__all__ = ["NOT_JUDGED", "MonitorResult", "monitor", "retrain"]

log = logging.getLogger("flowtide.monitor")


@dataclass
class MonitorResult:
    report: Report
    drifted: dict[str, list[str]] = field(default_factory=dict)
    verdicts: list[CanaryVerdict] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    retrained: dict[str, Any] | None = None
    needs_retraining: bool = False
    """Drift or a performance drop: what starts retraining (here with ``trigger``, in CI monitor.yml's retrain job)."""

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

    def verdict_dicts(self) -> list[dict[str, Any]]:
        """The canary verdicts as plain data (model, production, canary, verdict, reason, ...) for --json."""
        from dataclasses import asdict

        return [asdict(v) for v in self.verdicts]


NOT_JUDGED = 3
"""Exit status of `flowtide monitor` when nothing failed but a served version could not be judged."""


def log_dirs(project: Project, extra: list[str | Path] | None = None, *, strict: bool = False) -> list[Path]:
    """The local prediction log directory, given ones, and the replicas' segments from the remote store.

    A remote that cannot be read is a warning (the local log is still analysed),
    or with ``strict`` a StoreError: a training set must not silently miss rows.
    """
    dirs = [project.state_dir / "predictions", *(Path(p) for p in extra or [])]
    if project.config.store.remote:
        try:
            dirs.append(fetch_remote_segments(project))
        except FlowtideError as exc:
            if strict:
                raise
            log.warning("could not read prediction logs from the remote store: %s", exc.message)
    return dirs


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def fetch_remote_segments(project: Project) -> Path:
    """Copy the closed segments every replica shipped to ``<remote>/predictions/<replica>/`` to this machine.

    The listing is input: only ``<replica>/<name>.db`` with plain names is
    taken, each lands under ``.flowtide/predictions-remote/`` through a temp
    file and a rename, and a local copy of the listed size is not fetched again.
    """
    from ..remote import Remote

    remote = Remote.from_project(project)
    target = project.state_dir / "predictions-remote"
    where = f"{remote.url}/predictions"
    listing = remote.files(
        "predictions",
        what="listing the prediction log segments",
        hint="Check store.remote and its credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).",
    )
    for relative, size in sorted(listing.items()):
        replica, _, name = relative.partition("/")
        if not (_NAME.match(replica) and _NAME.match(name) and name.endswith(".db")):
            log.warning("ignoring %s/%s in the remote store: not <replica>/<segment>.db", where, relative)
            continue
        local = target / replica / name
        if local.is_file() and (size is None or local.stat().st_size == size):
            continue  # closed segments never change
        remote.get(f"predictions/{relative}", local, hint="Re-run; segments already copied are kept.")
    return target


def monitor(
    project: Project,
    *,
    window: str | None = None,
    now: float | None = None,
    logs: list[str | Path] | None = None,
    trigger: bool = False,
    act: bool = False,
    approve: str | None = None,
    progress=None,
) -> MonitorResult:
    """Analyse the window ending ``now``; optionally retrain and act on canary verdicts.

    ``act`` archives a canary whose verdict is *rollback*. A *promote* verdict moves
    the canary to production only with ``approve`` (who approves, recorded in the
    promotion's reason): production is reached through an approval, and in CI that
    approval is deploy.yml's production job, never monitor itself.
    """
    from ..config import Duration
    from ..serve.predlog import read_log
    from . import reactions
    from .analysis import analyse

    started = time.perf_counter()
    until = now if now is not None else time.time()
    seconds = Duration.parse(window or project.config.monitor.window, what="window").seconds
    since = until - seconds
    data = read_log(log_dirs(project, logs), since=since, until=until + 1e-6)
    analysis = analyse(project, data, since=since, until=until)
    result = MonitorResult(
        analysis.report, analysis.drifted, analysis.verdicts, needs_retraining=analysis.needs_retraining
    )
    report = analysis.report
    if act and analysis.verdicts:
        result.actions = reactions.act(project, analysis.verdicts, approve=approve)
        for line in result.actions:
            report.findings.append(Finding("info", project.config.project, "act", line))
    if trigger and analysis.needs_retraining:
        cooldown = project.config.monitor.cooldown.seconds
        left = reactions.cooldown_left(project, cooldown, until)
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
            reactions.record_trigger(project, until)
            try:
                outcome = reactions.retrain(project, log=progress)
            except FlowtideError as exc:  # the analysis stands; say why retraining did not happen
                result.retrained = {"error": exc.message}
                reactions.record_trigger(project, until, result.retrained)
                report.findings.append(
                    Finding("fail", project.config.project, "trigger", f"retraining failed: {exc.message}")
                )
            else:
                result.retrained = outcome.to_dict()
                reactions.record_trigger(project, until, outcome.to_dict())
                report.findings.append(
                    Finding("info", project.config.project, "trigger", f"retraining: {outcome.message}")
                )
    report.summary["seconds"] = round(time.perf_counter() - started, 3)
    from . import history

    with contextlib.suppress(OSError):  # the history is for the dashboard: its failure fails no monitor run
        history.append(project, history.record(result, since=since, until=until))
    return result


def retrain(project: Project, **kwargs: Any):
    from .reactions import retrain as _retrain

    return _retrain(project, **kwargs)
