"""The local orchestrator: the generated workflows' triggers, run by one process on one machine.

Each source's cron fires pull → (bytes changed) run → gate → register → staging;
the monitor's cron fires monitor → retrain / promote / roll back (whoever runs the
loop approves the promotions it makes; the reason says so). Cycles run one
at a time under ``project.mutex("loop")``; each is logged as JSON lines in
``.flowtide/loop.log`` and marked done in ``.flowtide/loop-state.json`` only
after it completes, so a crashed loop resumes without repeating finished work
(and a source whose new bytes were pulled but not yet trained is trained).
``clock`` compresses time: with 3600, an hourly schedule fires every second.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .atomic import atomic_write
from .errors import FlowtideError, UsageError

if TYPE_CHECKING:
    from .project import Project

STATE_FILE = "loop-state.json"
LOG_FILE = "loop.log"
LOOP_APPROVER = "the person running `flowtide loop`"


@dataclass(frozen=True)
class Trigger:
    name: str
    schedule: str
    kind: str  # "source" | "monitor"
    source: str | None = None


@dataclass
class LoopResult:
    cycles: list[dict[str, Any]] = field(default_factory=list)
    stopped_by: str = ""

    @property
    def ok(self) -> bool:
        return all(c.get("status") == "ok" for c in self.cycles)

    def to_dict(self) -> dict[str, Any]:
        return {"cycles": self.cycles, "stopped_by": self.stopped_by, "ok": self.ok}


def triggers(project: Project) -> list[Trigger]:
    out = [
        Trigger(f"source:{name}", source.schedule, "source", name)
        for name, source in project.config.sources.items()
        if source.schedule
    ]
    if project.config.model is not None:
        out.append(Trigger("monitor", project.config.monitor.schedule, "monitor"))
    return out


class Clock:
    """Virtual time: starts at ``start`` and runs ``factor`` times faster than the wall clock."""

    def __init__(self, factor: float = 1.0, start: float | None = None) -> None:
        if factor <= 0:
            raise UsageError("--clock must be a positive factor")
        self.factor = factor
        self._real0 = time.time()
        self._virtual0 = start if start is not None else self._real0

    def now(self) -> float:
        return self._virtual0 + (time.time() - self._real0) * self.factor

    def real_seconds_until(self, virtual: float) -> float:
        return max(0.0, (virtual - self.now()) / self.factor)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class _State:
    def __init__(self, project: Project) -> None:
        self.path = project.state_dir / STATE_FILE
        try:
            self.data = json.loads(self.path.read_bytes())
        except (FileNotFoundError, ValueError):
            self.data = {}
        self.data.setdefault("triggers", {})
        self.data.setdefault("seen", {})

    def last(self, trigger: str) -> float | None:
        entry = self.data["triggers"].get(trigger)
        return entry["tick"] if entry else None

    def done(self, trigger: str, tick: float) -> None:
        self.data["triggers"][trigger] = {"tick": tick, "tick_iso": _iso(tick), "done_at": _iso(time.time())}
        self.save()

    def save(self) -> None:
        atomic_write(self.path, json.dumps(self.data, indent=2, sort_keys=True))


def _next_due(trigger: Trigger, last: float | None, now: float) -> float:
    """When the trigger is next due; never fired before: now (a new loop starts by catching up)."""
    from croniter import croniter

    if last is None:
        return now
    return float(croniter(trigger.schedule, last).get_next(float))


def _latest_tick(trigger: Trigger, now: float) -> float:
    """The most recent scheduled time at or before ``now`` (missed ticks collapse into one)."""
    from croniter import croniter

    return float(croniter(trigger.schedule, now + 1e-6).get_prev(float))


class _Log:
    def __init__(self, project: Project, echo: Callable[[dict], None] | None) -> None:
        self.path = project.state_dir / LOG_FILE
        self.echo = echo

    def write(self, **event: Any) -> None:
        event = {"at": _iso(time.time()), **event}
        line = (json.dumps(event, sort_keys=True, default=str) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)  # one write on an O_APPEND file: a whole line or nothing
            os.fsync(fd)
        finally:
            os.close(fd)
        if self.echo:
            self.echo(event)


def _source_cycle(project: Project, trigger: Trigger, state: _State, say) -> dict[str, Any]:
    from .data.pull import pull
    from .monitor.reactions import retrain

    pulled = pull(project, [trigger.source])
    result = pulled.results[0]
    outcome: dict[str, Any] = {"pull": result.status, "hash": result.hash}
    if result.status not in ("changed", "unchanged"):
        outcome["message"] = result.message
        return outcome
    entry = project.read_lock().sources.get(trigger.source) or {}
    digest = entry.get("hash")
    # train when the locked bytes differ from the last bytes a finished cycle trained on
    # (not only when this pull changed them: a crash after the pull must still train)
    if digest and digest != state.data["seen"].get(trigger.source):
        trained = retrain(project, pull=False, log=say)
        outcome["retrain"] = trained.to_dict()
        state.data["seen"][trigger.source] = digest
    else:
        outcome["retrain"] = None
    return outcome


def _monitor_cycle(project: Project, trigger: Trigger, state: _State, say, now: float) -> dict[str, Any]:
    from .monitor import monitor

    # the person running the loop is the approver: a canary judged not worse goes to production
    # (in CI, monitor.yml hands a promote verdict to deploy.yml's approved production job instead)
    result = monitor(project, trigger=True, act=True, approve=LOOP_APPROVER, progress=say)
    return {
        "ok": result.ok,
        "drifted": result.drifted,
        "verdicts": [f"{v.model} v{v.canary}: {v.verdict}" for v in result.verdicts],
        "actions": result.actions,
        "retrained": result.retrained,
    }


def run_loop(
    project: Project,
    *,
    clock: float = 1.0,
    once: bool = False,
    max_cycles: int | None = None,
    stop: threading.Event | None = None,
    echo: Callable[[dict], None] | None = None,
    handle_signals: bool = True,
) -> LoopResult:
    """Fire due triggers one at a time until stopped (SIGTERM/SIGINT, ``stop``, ``once``, ``max_cycles``)."""
    plan = triggers(project)
    if not plan:
        raise UsageError(
            "nothing to loop over: no source has a `schedule:` and there is no `model:` to monitor",
            hint='Add e.g. `schedule: "0 6 * * *"` to a source in flowtide.yaml.',
        )
    stop = stop or threading.Event()
    result = LoopResult()
    previous: dict[int, Any] = {}
    if handle_signals and threading.current_thread() is threading.main_thread():

        def _graceful(signum, frame):  # finish the current cycle, then leave
            result.stopped_by = signal.Signals(signum).name
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, _graceful)
    try:
        with project.mutex("loop", timeout=0):
            _loop(project, plan, clock, once, max_cycles, stop, echo, result)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return result


def _loop(project, plan, factor, once, max_cycles, stop, echo, result) -> None:
    state = _State(project)
    log = _Log(project, echo)
    ticks = [state.last(t.name) for t in plan]
    # resume the virtual clock where the last finished cycle left it, never behind the wall clock
    clock = Clock(factor, start=max([time.time(), *[t for t in ticks if t is not None]]))
    log.write(event="start", triggers=[t.name for t in plan], clock=factor, pid=os.getpid())
    cycles = 0
    fired_once: set[str] = set()
    while not stop.is_set():
        now = clock.now()
        due = sorted(
            ((_next_due(t, state.last(t.name), now), t) for t in plan if not (once and t.name in fired_once)),
            key=lambda pair: (pair[0], pair[1].name),
        )
        if not due:
            result.stopped_by = result.stopped_by or "once"
            break
        when, trigger = due[0]
        if when > now:
            if once:
                result.stopped_by = result.stopped_by or "once"
                break
            stop.wait(min(clock.real_seconds_until(when), 1.0))
            continue
        tick = now if state.last(trigger.name) is None else _latest_tick(trigger, now)
        cycles += 1
        fired_once.add(trigger.name)
        log.write(event="cycle", cycle=cycles, trigger=trigger.name, tick=_iso(tick))
        started = time.perf_counter()
        entry: dict[str, Any] = {"cycle": cycles, "trigger": trigger.name, "tick": _iso(tick)}
        try:
            with project.mutex("loop-cycle", timeout=None):
                say = lambda line, name=trigger.name: log.write(event="step", trigger=name, message=line)  # noqa: E731
                if trigger.kind == "source":
                    entry["outcome"] = _source_cycle(project, trigger, state, say)
                else:
                    entry["outcome"] = _monitor_cycle(project, trigger, state, say, tick)
            entry["status"] = "ok"
        except FlowtideError as exc:
            entry["status"] = "error"
            entry["error"] = exc.message
        except Exception as exc:  # a bug or a broken stage must not end the loop: log it, go on
            entry["status"] = "error"
            entry["error"] = f"{type(exc).__name__}: {exc}"
            entry["traceback"] = traceback.format_exc(limit=5)
        entry["seconds"] = round(time.perf_counter() - started, 3)
        state.done(trigger.name, tick)  # only now: a crash before this line repeats the cycle
        log.write(event="done", **entry)
        result.cycles.append(entry)
        if max_cycles is not None and cycles >= max_cycles:
            result.stopped_by = result.stopped_by or "max-cycles"
            break
    log.write(event="stop", reason=result.stopped_by or "stopped", cycles=cycles)
