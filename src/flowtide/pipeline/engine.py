"""``run`` and ``status``: decide which stages are stale, run them in DAG order, record the result.

A stage is skipped when its fingerprint (command + dep hashes + params + env)
equals the one in flowtide.lock and its outs still hold the recorded bytes; it
is restored from the store when an earlier run recorded that fingerprint; it
runs otherwise.

The lock is written once, when the run ends, however it ends: after the last
stage, after a stage failed (the stages that finished before it keep their new
entries, the failed one keeps its old), and on Ctrl-C or any other exception
(in a ``finally``). It is fsynced with its directory then, once. What a crash of
the machine (or ``kill -9``) in the middle of a run leaves is the lock of the
previous run, durable: the stages that finished in the crashed run look stale
and run again (or are restored from the store, whose blobs are durable): the
safe direction, more work and never a lock that names outputs that are not
there. Writing (and syncing) it after every stage cost a rewrite and three
fsyncs per stage, which on a slow disk was most of what a rerun adds to the
stages' own time.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..atomic import atomic_write
from ..errors import FlowtideError, StageError
from ..gitignore import OUTPUTS_COMMENT, ignore, stage_outputs
from ..validators import escapes
from . import dag, snapshot
from .fingerprint import StageState, current, flatten, outs_differ, path_state, read_params, why

if TYPE_CHECKING:
    from ..lock import StageEntry
    from ..project import Project
    from .runs import RunRecord

Log = Callable[[str], None]
_DONE = ("ran", "skipped", "restored", "would run")
_WAKE = 0.2  # seconds between the waiting main thread's checks for a signal (see _Run._wait)


@dataclass
class StaleStage:
    name: str
    reasons: list[str]
    restorable: bool = False
    """Outputs for the current fingerprint are in the store: `run` restores them without running."""


@dataclass
class RunResult:
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    would_run: list[str] = field(default_factory=list)
    run_id: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    record: RunRecord | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ran": self.ran,
            "skipped": self.skipped,
            "restored": self.restored,
            "failed": self.failed,
            "would_run": self.would_run,
            "run_id": self.run_id,
            "metrics": self.metrics,
            "stages": self.stages,
        }


# --- status ------------------------------------------------------------------


def status(project: Project) -> list[StaleStage]:
    """Stages whose fingerprint or outs differ from the lock, with the reasons."""
    graph = dag.build(project.config)
    before = _snapshot(project, graph)
    lock = project.read_lock()
    params = read_params(project) if _uses_params(graph) else {}
    stale = []
    for name, stage in graph.stages.items():
        state = current(project, name, stage, params)
        entry = lock.stages.get(name)
        reasons = why(state, entry, _produced(graph, stage)) or outs_differ(project, entry)
        if reasons:
            cached = [c for c in (entry, _index_get(project, state.fingerprint)) if c]
            restorable = any(c.get("fingerprint") == state.fingerprint and _blobs_present(project, c) for c in cached)
            stale.append(StaleStage(name, reasons, restorable))
    project.stat_cache.save()
    if not stale:
        snapshot.save(project.root, before, graph.order)
    return stale


def _recheck(project: Project) -> None:
    status(project)  # (a module-level name: `status` is a local variable where this is called)


def _produced(graph: dag.Graph, stage) -> frozenset[str]:
    return frozenset(
        dag.norm(dep) for dep in stage.deps if any(dag.overlaps(dag.norm(dep), out) for out in graph.producer)
    )


def _snapshot(project: Project, graph: dag.Graph) -> dict:
    """Stats of everything a no-op check depends on, taken before the check (see snapshot.py)."""
    from ..config import CONFIG_FILE, LOCK_FILE
    from .fingerprint import stage_env

    paths = [CONFIG_FILE, project.config.params, LOCK_FILE]
    env: dict[str, str | None] = {}
    for stage in graph.stages.values():
        paths += [dag.norm(dep) for dep in stage.deps] + dag.outputs(stage)
        env.update(stage_env(project, stage))
    if not (project.root / project.config.params).exists():
        paths.remove(project.config.params)
    return snapshot.take(project.root, paths, env)


def _uses_params(graph: dag.Graph) -> bool:
    return any(stage.params for stage in graph.stages.values())


# --- the stage index: fingerprint -> lock entry, for restoring from the store ---


def index_dir(project: Project) -> Path:
    return Path(project.__dict__.get("pipeline_index") or project.state_dir / "pipeline" / "index")


def _index_get(project: Project, fingerprint: str) -> dict[str, Any] | None:
    """The recorded stage entry for ``fingerprint``; a cache, so a malformed or crafted entry is just a miss."""
    from ..lock import stage_entry_problem

    try:
        entry = json.loads((index_dir(project) / fingerprint[:2] / f"{fingerprint[2:]}.json").read_bytes())
    except (OSError, ValueError):
        return None
    if (
        not isinstance(entry, dict)
        or entry.get("fingerprint") != fingerprint
        or not isinstance(entry.get("outs"), dict)
    ):
        return None
    return None if stage_entry_problem(entry, "index") else entry


def _index_put(project: Project, entry: dict[str, Any]) -> None:
    fingerprint = entry["fingerprint"]
    atomic_write(
        index_dir(project) / fingerprint[:2] / f"{fingerprint[2:]}.json",
        json.dumps(entry, sort_keys=True),
        fsync=False,
    )


def _out_digests(entry: dict[str, Any]) -> list[str]:
    digests = []
    for out in (entry.get("outs") or {}).values():
        files = out.get("files")
        digests += [f["hash"] for f in files.values()] if files is not None else [out["hash"]]
    return digests


def _blobs_present(project: Project, entry: dict[str, Any]) -> bool:
    return all(project.store.has(d) for d in _out_digests(entry))


def _fetch_blobs(project: Project, entry: dict[str, Any], say: Log) -> bool:
    """Make an entry's outputs usable: quarantine corrupt blobs, download missing ones from the remote
    store (a fresh clone in CI, or a replacement for a corrupt blob); say if all are here and intact."""
    cfg = project.config.store
    store = project.store
    for digest, actual in store.corrupt(_out_digests(entry)).items():
        moved = store.quarantine(digest)
        say(f"  (blob {digest[:12]} in the store is corrupt, its bytes hash to {actual[:12]}: moved to {moved})")
    missing = [d for d in _out_digests(entry) if not store.has(d)]
    if not missing or not cfg.remote:
        return not missing
    from ..remote import Remote, download_many

    try:
        got = download_many(Remote.from_project(project), store, missing, jobs=cfg.jobs)
    except FlowtideError as exc:
        say(f"  (could not fetch the cached outputs from {cfg.remote}: {exc.message})")
        return False
    store.mark_verified(got.transferred)  # each download was hashed while it streamed in
    return _blobs_present(project, entry)


# --- run ---------------------------------------------------------------------


def run(
    project: Project,
    stages: list[str] | None = None,
    *,
    force: bool = False,
    dry: bool = False,
    jobs: int = 1,
    executor: str | None = None,
    wait: float | None = None,
    log: Log | None = None,
    record: bool = True,
    heartbeat: float | None = None,
) -> RunResult:
    """Run the stale stages among ``stages`` (and their upstream) in topological order.

    ``wait``: seconds to wait for another run in this project (None: as long as it takes).
    ``log`` receives one line per decision ("train: ran in 1.2 s (param train.lr changed: …)") and,
    live, each line a stage prints ("train 0:12 | epoch 3"), when the executor can pass them on.
    ``heartbeat``: every so many seconds a stage runs without ending, a "still running" line.
    """
    say = log or (lambda line: None)
    args = (project, stages, force, dry, jobs, executor, say, record)
    try:
        with project.mutex("run", timeout=0), project.repository("run"):
            return _Run(*args, live=log is not None, heartbeat=heartbeat).go()
    except FlowtideError as exc:
        if not exc.message.startswith("run is busy") or wait == 0:
            raise
    say("waiting for another flowtide run in this project to finish…")
    with project.mutex("run", timeout=wait), project.repository("run"):
        return _Run(*args, live=log is not None, heartbeat=heartbeat).go()


def clock(seconds: float) -> str:
    """Elapsed time as people read it on a log line: 0:07, 12:30, 1:02:03."""
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def stage_task(
    project: Project, name: str, stage, state: StageState, *, root: Path | None = None, log: Path | None = None
):
    """The StageTask that runs ``stage`` from ``root`` (the project root; the gate's re-score uses a scratch copy)."""
    from .executors import StageTask

    env = dict(project.env)
    # `python` in a stage means the interpreter flowtide runs on (its virtualenv), as users expect
    bindir = os.path.dirname(sys.executable)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", os.defpath)
    return StageTask(
        name=name,
        root=str(root or project.root),
        cmd=stage.cmd,
        call=stage.call,
        env=env,
        params=state.params,
        deps=list(state.deps),
        outs=state.outs,
        log=str(log or project.state_dir / "logs" / f"{name}.log"),
    )


class _Run:
    def __init__(self, project, stages, force, dry, jobs, executor, say, record, *, live=False, heartbeat=None) -> None:
        self.project = project
        self.graph = dag.build(project.config)
        self.selected = self.graph.select(stages)
        self.force = force
        self.forced = set(stages or self.selected) if force else set()
        self.dry = dry
        self.jobs = max(1, jobs)
        self.executor_kind = executor or project.config.executor
        self.executor = None
        self.say = say
        self.record_run = record and not dry
        self.lock = project.read_lock()
        self.lock_changes: dict[str, StageEntry] = {}  # written to flowtide.lock once, when the run ends
        self.params = read_params(project) if _uses_params(self.graph) else {}
        self.result = RunResult()
        self.new_blobs: set[str] = set()
        self.failure: tuple[str, Any] | None = None
        self.started = time.time()
        self.before = _snapshot(project, self.graph) if not (stages or force or dry) else None
        self.git = None  # a GitProbe, started with the first stage that acts
        self.finished: queue.SimpleQueue = queue.SimpleQueue()  # futures of stages that ended
        self.live = live
        self.heartbeat = heartbeat
        self.stage_started: dict[str, float] = {}
        self.streamed: set[str] = set()  # stages whose lines were shown as they were printed
        self.say_lock = threading.Lock()  # lines come from the stages' reader threads too

    def _output(self, name: str, line: str) -> None:
        self.streamed.add(name)
        elapsed = time.perf_counter() - self.stage_started.get(name, time.perf_counter())
        with self.say_lock:
            self.say(f"{name} {clock(elapsed)} | {line}")

    def _wait(self, running: dict) -> Any:
        """The next stage that ends; meanwhile a "still running" line every ``heartbeat`` seconds.

        The wait wakes every ``_WAKE`` seconds whatever happens: a Ctrl-C that the kernel hands
        to another of this process's threads (runs.db's opener, an output pump) only sets
        Python's flag, and the main thread, asleep in a lock, would act on it at its next
        wake-up alone (after the heartbeat: 30 s).
        """
        next_beat = time.perf_counter() + self.heartbeat if self.heartbeat else None
        while True:
            try:
                return self.finished.get(timeout=_WAKE)
            except queue.Empty:
                now = time.perf_counter()
                if next_beat is None or now < next_beat:
                    continue
                next_beat = now + self.heartbeat
                with self.say_lock:
                    for name, *_rest, started in running.values():
                        self.say(f"{name}: still running ({clock(now - started)})")

    def _acting(self) -> None:
        if self.git is None and self.record_run:
            from .runs import GitProbe

            self.git = GitProbe(self.project.root)

    # -- scheduling -----------------------------------------------------------

    def go(self) -> RunResult:
        status: dict[str, str] = {}
        pending = list(self.selected)
        running: dict[Any, tuple[str, StageState, list[str], float]] = {}
        try:
            while pending or running:
                for name in list(pending):
                    ups = [u for u in self.graph.upstream[name] if u in self.selected]
                    if self.failure or any(status.get(u) in ("failed", "not run") for u in ups):
                        status[name] = "not run"
                        pending.remove(name)
                        continue
                    if not all(status.get(u) in _DONE for u in ups):
                        continue
                    if len(running) >= self.jobs:
                        break
                    pending.remove(name)
                    outcome = self._decide(name, status)
                    if isinstance(outcome, tuple):
                        running[self._submit(name, outcome[0])] = (name, *outcome, time.perf_counter())
                    else:
                        status[name] = outcome
                if running:
                    future = self._wait(running)
                    name, state, reasons, _ = running.pop(future)
                    status[name] = self._finish(name, state, reasons, future)
                elif pending and not any(
                    all(status.get(u) in _DONE for u in self.graph.upstream[n] if u in self.selected) for n in pending
                ):
                    break  # nothing can make progress (should not happen in a DAG)
        except BaseException:  # Ctrl-C or a bug: the stages' process groups end with this run, not after it
            if self.executor is not None and hasattr(self.executor, "cancel"):
                self.executor.cancel()
            raise
        finally:
            if self.executor is not None:
                self.executor.close()
            try:
                self._commit_lock()  # also on a failure or Ctrl-C: the stages that finished are kept
            finally:
                self.project.stat_cache.save()
        if self.before is not None and all(status.get(n) == "skipped" for n in self.selected):
            snapshot.save(self.project.root, self.before, self.graph.order)
        elif self.before is not None and not self.failure:
            # stages ran: check once more (hashes are in the stat cache now, so it costs stats) and, if
            # everything is up to date, arm the snapshot so the next `status` needs no config
            with contextlib.suppress(FlowtideError, OSError):
                _recheck(self.project)
        r = self.result
        buckets = {
            "ran": r.ran,
            "skipped": r.skipped,
            "restored": r.restored,
            "failed": r.failed,
            "would run": r.would_run,
        }
        for name in self.selected:
            state = status.get(name, "not run")
            r.stages.setdefault(name, {})["status"] = state
            if state in buckets:
                buckets[state].append(name)
        if r.ran or r.restored:
            # as `dvc repro` does: what a stage wrote lives in the store, git never sees it
            made = [self.graph.stages[name] for name in self.selected if name in (*r.ran, *r.restored)]
            ignore(self.project.root, stage_outputs(made), OUTPUTS_COMMENT, tmp_dir=self.project.tmp_dir)
        return self._conclude()

    def _decide(self, name: str, status: dict[str, str]):
        stage = self.graph.stages[name]
        state = current(self.project, name, stage, self.params)
        entry = self.lock.stages.get(name)
        info = self.result.stages.setdefault(name, {})
        if name in self.forced:
            reasons = ["forced"]
        else:
            reasons = why(state, entry, _produced(self.graph, stage))
            if not reasons:
                changed = outs_differ(self.project, entry)
                if not changed:
                    self.say(f"{name}: up to date")
                    return "skipped"
                reasons = changed
        info["reasons"] = reasons
        if not self.dry:
            self._acting()
        missing = [path for path, dep in state.deps.items() if dep is None]
        if missing and not self.dry:
            self.failure = (
                name,
                StageError(
                    name,
                    f"cannot run: dep {missing[0]} does not exist",
                    hint="Create it, `flowtide pull` the source that writes it, or add the stage that produces it.",
                ),
            )
            self.say(f"{name}: FAILED (dep {missing[0]} does not exist)")
            return "failed"
        if self.dry:
            self.say(f"{name}: would run ({'; '.join(reasons)})")
            return "would run"
        if name not in self.forced:
            for cached in (entry, _index_get(self.project, state.fingerprint)):
                if (
                    cached
                    and cached.get("fingerprint") == state.fingerprint
                    and sorted(cached.get("outs") or {}) == sorted(state.outs)  # only what the stage declares
                    and _fetch_blobs(self.project, cached, self.say)
                ):
                    started = time.perf_counter()
                    self._restore(name, state, cached)
                    info["seconds"] = round(time.perf_counter() - started, 3)
                    self.say(f"{name}: restored from cache ({'; '.join(reasons)})")
                    return "restored"
        self.say(f"{name}: running ({'; '.join(reasons)})")
        return state, reasons

    def _submit(self, name: str, state: StageState):
        from .executors import make_executor

        if self.executor is None:
            self.executor = make_executor(self.executor_kind, self.jobs)
            if self.live and hasattr(self.executor, "on_output"):
                self.executor.on_output = self._output
        self.stage_started[name] = time.perf_counter()
        task = stage_task(self.project, name, self.graph.stages[name], state)
        future = self.executor.submit(task)
        future.add_done_callback(self.finished.put)
        return future

    # -- after a stage ----------------------------------------------------------

    def _finish(self, name: str, state: StageState, reasons: list[str], future) -> str:
        info = self.result.stages[name]
        try:
            outcome = future.result()
        except Exception as exc:  # the executor itself failed (e.g. a Ray worker died)
            self.failure = (name, StageError(name, f"could not be executed: {type(exc).__name__}: {exc}"))
            self.say(f"{name}: FAILED ({exc})")
            return "failed"
        info["seconds"] = round(outcome.seconds, 3)
        info["where"] = outcome.where
        if outcome.stdout:
            info["stdout_tail"] = outcome.stdout[-2000:]
        if not outcome.ok:
            self.failure = (
                name,
                StageError(
                    name,
                    f"failed with exit code {outcome.returncode} after {outcome.seconds:.1f} s",
                    stderr_tail=outcome.stderr_tail,
                    hint=f"Outputs of the stages before it are kept and flowtide.lock still holds the last good state; "
                    f"full log: {self.project.state_dir / 'logs' / (name + '.log')}. Fix it and run `flowtide run` again.",
                ),
            )
            self.say(f"{name}: FAILED with exit code {outcome.returncode}")
            return "failed"
        outs: dict[str, dict[str, Any]] = {}
        missing = []
        for path in state.outs:
            now = path_state(self.project, path, with_files=True)
            if now is None:
                missing.append(path)
                continue
            self._save(path, now)
            outs[path] = now
        if missing:
            self.failure = (
                name,
                StageError(
                    name,
                    f"finished but did not write {', '.join(missing)}",
                    hint="Make the command write every path listed under outs/metrics/plots, or remove it from the list.",
                ),
            )
            self.say(f"{name}: FAILED (missing outputs: {', '.join(missing)})")
            return "failed"
        entry = state.lock_entry(outs)
        self._write_lock(name, entry)
        _index_put(self.project, entry)
        self.say(f"{name}: ran in {outcome.seconds:.2f} s")
        if outcome.stdout.strip() and name not in self.streamed:
            self.say("\n".join("  | " + line for line in outcome.stdout.rstrip().splitlines()[-20:]))
        return "ran"

    def _save(self, path: str, now: dict[str, Any]) -> None:
        store = self.project.store
        if "files" in now:
            # (add_files finds the blobs already present by listing their prefix directories, not a stat each)
            base = os.path.join(self.project.root, path)
            files = [(os.path.join(base, rel), child["hash"]) for rel, child in now["files"].items()]
            self.new_blobs.update(store.add_files(files))
        elif not store.has(now["hash"]):
            store.add_file(self.project.root / path, now["hash"])
            self.new_blobs.add(now["hash"])

    def _restore(self, name: str, state: StageState, cached: dict[str, Any]) -> None:
        store = self.project.store
        for path, out in cached["outs"].items():
            now = path_state(self.project, path)
            if now is not None and now["hash"] == out["hash"]:
                continue
            target = self.project.resolve(path, f"out of stage {name!r}")
            if "files" in out:
                if target.exists() and not target.is_dir():
                    target.unlink()
                wanted = set(out["files"])
                if target.is_dir():
                    for existing in [p for p in target.rglob("*") if p.is_file() or p.is_symlink()]:
                        if existing.relative_to(target).as_posix() not in wanted:
                            existing.unlink()
                safe: set[Path] = set()  # directories proven to stay inside the project
                for rel, child in out["files"].items():
                    dest = target / rel
                    if dest.parent not in safe:
                        outside = escapes(self.project.root, dest.parent)
                        if outside is not None:  # a symlink in the output directory leads out
                            raise StageError(
                                name,
                                f"cannot restore {path}/{rel}: its directory resolves to {outside}, outside the project",
                                hint=f"Remove the symlink under {path}, or run `flowtide run --force {name}`.",
                            )
                        safe.add(dest.parent)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    store.materialize(child["hash"], dest)
            else:
                if target.is_dir():
                    import shutil

                    shutil.rmtree(target)
                target.parent.mkdir(parents=True, exist_ok=True)
                store.materialize(out["hash"], target)
                self.project.stat_cache.remember(target, out["hash"], key=path)
        self._write_lock(name, state.lock_entry(cached["outs"]))

    def _write_lock(self, name: str, entry: StageEntry) -> None:
        """Record a stage's new entry; :meth:`_commit_lock` writes them all when the run ends."""
        self.lock.stages[name] = entry
        self.lock_changes[name] = entry

    def _commit_lock(self) -> None:
        if not self.lock_changes:
            return
        changes, self.lock_changes = self.lock_changes, {}
        # a concurrent `flowtide pull` owns `sources`: change only these stages' entries of a fresh copy
        self.project.update_lock(lambda fresh: fresh.stages.update(changes))

    # -- the record -------------------------------------------------------------

    def _conclude(self) -> RunResult:
        from . import metrics as metrics_mod

        result = self.result
        per_file = metrics_mod.collect(self.project)
        result.metrics = metrics_mod.merged(per_file)
        acted = result.ran or result.restored or result.failed
        if self.record_run and acted:
            from .runs import RunRecord, new_id, save

            commit, dirty = self.git.result() if self.git else (None, None)
            lock = self.project.read_lock()
            record = RunRecord(
                id=new_id(),
                started=self.started,
                finished=time.time(),
                status="failed" if self.failure else "ok",
                git_commit=commit,
                git_dirty=dirty,
                executor=self.executor_kind,
                params=flatten(self.params),
                metrics=result.metrics,
                stages=result.stages,
                data={name: entry.get("hash") for name, entry in lock.sources.items()},
                message=str(self.failure[1].message) if self.failure else None,
            )
            notes: list[str] = []
            save(self.project, record, warnings=notes)
            for note in notes:
                self.say(f"({note})")
            result.run_id = record.id
            result.record = record
        if self.new_blobs and self.project.config.store.remote:  # (importing remote costs more than a no-op run)
            from ..remote import auto_push

            auto_push(self.project, sorted(self.new_blobs))
        if self.failure:
            error = self.failure[1]
            error.result = result
            raise error
        return result
