"""Run records: every pipeline run (and sweep point) in ``.flowtide/runs.db`` (SQLite, WAL).

One row per run with its git commit, params, metrics, stage timings and the
data lock it read, so "which data and params produced this model" stays answerable.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UsageError

if TYPE_CHECKING:
    from ..project import Project

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    started REAL NOT NULL,
    finished REAL,
    status TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'run',
    sweep TEXT,
    git_commit TEXT,
    git_dirty INTEGER,
    executor TEXT,
    params TEXT NOT NULL,
    metrics TEXT NOT NULL,
    stages TEXT NOT NULL,
    data TEXT NOT NULL,
    message TEXT
);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started);
"""


@dataclass
class RunRecord:
    id: str
    started: float
    finished: float | None = None
    status: str = "running"
    """ok, failed, or running (a run that was killed)."""
    kind: str = "run"
    """run, or sweep for a point of a parameter sweep."""
    sweep: str | None = None
    git_commit: str | None = None
    git_dirty: bool | None = None
    executor: str = "local"
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    """name → {"status": ran|restored|skipped|failed|not run, "seconds", "reasons"}."""
    data: dict[str, str] = field(default_factory=dict)
    """source name → content hash from the lock."""
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["started_iso"] = _iso(self.started)
        data["finished_iso"] = _iso(self.finished) if self.finished else None
        return data


def new_id() -> str:
    """Sortable by time, unique enough for one repository: ``yyyymmdd-hhmmss-xxxx``."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + os.urandom(2).hex()


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def git_state(root: str | os.PathLike[str]) -> tuple[str | None, bool | None]:
    """(HEAD commit, whether tracked files differ from it); (None, None) outside git or before a commit."""
    return GitProbe(root).result()


class GitProbe:
    """``git_state`` started in the background (one git process), so it costs nothing while stages run."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        try:
            self._proc: subprocess.Popen | None = subprocess.Popen(
                ["git", "status", "--porcelain=v2", "--branch", "--untracked-files=no"],
                cwd=root,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
        except OSError:
            self._proc = None

    def result(self) -> tuple[str | None, bool | None]:
        if self._proc is None:
            return None, None
        try:
            out, _ = self._proc.communicate(timeout=30)
        except subprocess.SubprocessError:
            self._proc.kill()
            return None, None
        if self._proc.returncode != 0:
            return None, None
        commit = None
        dirty = False
        for line in out.splitlines():
            if line.startswith("# branch.oid "):
                oid = line.split()[-1]
                commit = None if oid == "(initial)" else oid
            elif line and not line.startswith("#"):
                dirty = True
        return (commit, dirty) if commit else (None, None)


def db_path(project: Project) -> Path:
    return project.state_dir / "runs.db"


def _connect(path: Path):
    import sqlite3

    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(_SCHEMA)
    return conn


def save(project: Project, record: RunRecord, *, path: Path | None = None) -> None:
    """Insert or replace a run record."""
    conn = _connect(path or db_path(project))
    try:
        conn.execute(
            "INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                record.id,
                record.started,
                record.finished,
                record.status,
                record.kind,
                record.sweep,
                record.git_commit,
                None if record.git_dirty is None else int(record.git_dirty),
                record.executor,
                json.dumps(record.params, sort_keys=True, default=str),
                json.dumps(record.metrics, sort_keys=True, default=str),
                json.dumps(record.stages, default=str),  # unsorted: keeps the DAG order
                json.dumps(record.data, sort_keys=True),
                record.message,
            ),
        )
    finally:
        conn.close()


def _row(row) -> RunRecord:
    return RunRecord(
        id=row[0],
        started=row[1],
        finished=row[2],
        status=row[3],
        kind=row[4],
        sweep=row[5],
        git_commit=row[6],
        git_dirty=None if row[7] is None else bool(row[7]),
        executor=row[8],
        params=json.loads(row[9]),
        metrics=json.loads(row[10]),
        stages=json.loads(row[11]),
        data=json.loads(row[12]),
        message=row[13],
    )


def list_runs(project: Project, limit: int | None = 20, *, sweep: str | None = None) -> list[RunRecord]:
    """Most recent first."""
    path = db_path(project)
    if not path.exists():
        return []
    conn = _connect(path)
    try:
        sql = "SELECT * FROM runs"
        args: list[Any] = []
        if sweep:
            sql += " WHERE sweep = ?"
            args.append(sweep)
        sql += " ORDER BY started DESC, id DESC"
        if limit:
            sql += " LIMIT ?"
            args.append(limit)
        return [_row(r) for r in conn.execute(sql, args)]
    finally:
        conn.close()


def get_run(project: Project, run_id: str) -> RunRecord:
    """A run by id or unique id prefix (``latest`` for the newest)."""
    path = db_path(project)
    rows = []
    if path.exists():
        conn = _connect(path)
        try:
            if run_id == "latest":
                rows = conn.execute("SELECT * FROM runs ORDER BY started DESC, id DESC LIMIT 1").fetchall()
            else:
                rows = conn.execute("SELECT * FROM runs WHERE id LIKE ? LIMIT 2", (run_id + "%",)).fetchall()
        finally:
            conn.close()
    if not rows:
        raise UsageError(f"no run {run_id!r} in {path}", hint="`flowtide runs` lists the recorded runs.")
    if len(rows) > 1:
        raise UsageError(f"run id prefix {run_id!r} is ambiguous", hint="Give more characters of the id.")
    return _row(rows[0])
