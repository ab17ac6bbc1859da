"""The prediction log: every prediction and every feedback label, append-only, in SQLite segments.

The request path only appends a tuple to an in-memory buffer (bounded: past
``max_buffer`` rows new ones are dropped and counted); a background thread
writes the buffer every ``flush_interval`` seconds in one transaction to a WAL
database, so a ``kill -9`` loses at most the last interval. Each server process
(replica) writes its own segment files ``<replica>.<n>.db`` under the log
directory; a closed segment is shipped to ``<remote>/predictions/<replica>/``
when a remote store is configured. :func:`read_log` reads every segment.

Feedback is written only after the server accepted it (see ``serve/feedback.py``):
for a request id some replica logged for that model, and only the first label
of an id counts, here and in :func:`read_log` (first label wins, by time).
:meth:`PredictionLog.issued` and :meth:`PredictionLog.labels` answer those
questions from this replica's buffer and every segment in the (possibly
shared) log directory.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("flowtide.serve")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    request_id TEXT NOT NULL,
    time REAL NOT NULL,
    model TEXT NOT NULL,
    version INTEGER,
    role TEXT NOT NULL,
    inputs TEXT NOT NULL,
    output TEXT,
    latency_ms REAL
);
CREATE TABLE IF NOT EXISTS feedback (
    request_id TEXT NOT NULL,
    time REAL NOT NULL,
    model TEXT NOT NULL,
    label TEXT
);
CREATE INDEX IF NOT EXISTS predictions_by_id ON predictions (request_id);
CREATE INDEX IF NOT EXISTS feedback_by_id ON feedback (request_id);
"""
_IN_BATCH = 500  # request ids per `IN (...)` query (SQLite allows 32,766 parameters; smaller batches stay fast)


def replica_id() -> str:
    """A name unique to this server process: host, pid, start time and a random tag."""
    host = socket.gethostname().split(".")[0] or "host"
    return f"{host}-{os.getpid()}-{int(time.time())}-{os.urandom(2).hex()}"


class PredictionLog:
    """Buffered, append-only log of predictions and feedback for one replica."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        replica: str | None = None,
        flush_interval: float = 1.0,
        max_buffer: int = 100_000,
        segment_seconds: float = 3600.0,
        ship: Callable[[Path, str], None] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.replica = replica or replica_id()
        self.flush_interval = flush_interval
        self.max_buffer = max_buffer
        self.segment_seconds = segment_seconds
        self.ship = ship
        self.dropped = 0
        self.written = 0
        self._predictions: list[tuple] = []
        self._feedback: list[tuple] = []
        self._flushing: tuple[list[tuple], list[tuple]] = ([], [])  # taken from the buffer, not yet committed
        self._readers: dict[Path, sqlite3.Connection] = {}
        self._unshipped: list[Path] = []
        self._read_lock = threading.Lock()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._segment = 0
        self._segment_started = 0.0
        self._segment_rows = 0  # rows the open segment holds: an empty one is dropped, not shipped
        self.path: Path | None = None

    # -- the hot path (called from the event loop) ---------------------------

    def prediction(
        self, request_id: str, t: float, model: str, version: int | None, role: str, inputs: Any, output: Any, ms: float
    ) -> None:
        if len(self._predictions) >= self.max_buffer:
            self.dropped += 1
            return
        # list.append is atomic under the GIL; the flusher swaps the list under the lock
        self._predictions.append((request_id, t, model, version, role, inputs, output, ms))

    def feedback(self, request_id: str, t: float, model: str, label: Any) -> None:
        if len(self._feedback) >= self.max_buffer:
            self.dropped += 1
            return
        self._feedback.append((request_id, t, model, label))

    def can_take(self, feedback: int) -> bool:
        """Whether ``feedback`` more labels fit in the buffer (feedback is refused rather than dropped)."""
        return len(self._feedback) + feedback <= self.max_buffer

    # -- background -----------------------------------------------------------

    def start(self) -> PredictionLog:
        if self._thread is None:
            self._open()
            self._thread = threading.Thread(target=self._run, name="flowtide-predlog", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        """Flush what is buffered, close the segment (and ship it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        elif self._conn is None and (self._predictions or self._feedback):
            self._open()
        if self._conn is not None:
            self.flush()
            self._close_segment()
        with self._read_lock:
            for conn in self._readers.values():
                conn.close()
            self._readers.clear()

    def flush(self) -> int:
        """Write the buffer to the current segment; returns the rows written."""
        with self._lock:
            predictions, self._predictions = self._predictions, []
            feedback, self._feedback = self._feedback, []
            self._flushing = (predictions, feedback)
        if not predictions and not feedback:
            return 0
        try:
            if self._conn is None:
                self._open()
            dumps = json.dumps
            conn = self._conn
            assert conn is not None
            with conn:
                conn.executemany(
                    "INSERT INTO predictions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(r[0], r[1], r[2], r[3], r[4], dumps(r[5]), dumps(r[6]), r[7]) for r in predictions],
                )
                if feedback:
                    conn.executemany(
                        "INSERT INTO feedback VALUES (?, ?, ?, ?)",
                        [(r[0], r[1], r[2], dumps(r[3])) for r in feedback],
                    )
        finally:
            with self._lock:  # committed (readers see it in the segment) or failed (lost either way)
                self._flushing = ([], [])
        self.written += len(predictions)
        self._segment_rows += len(predictions) + len(feedback)
        return len(predictions) + len(feedback)

    def _run(self) -> None:
        while not self._stop.wait(self.flush_interval):
            try:
                self.flush()
                if time.time() - self._segment_started >= self.segment_seconds:
                    self._close_segment()
                    self._open()
            except Exception:  # the log must never take the server down
                log.exception("prediction log flush failed")

    def _open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._segment += 1
        self.path = self.directory / f"{self.replica}.{self._segment:05d}.db"
        # the schema is made under a name readers do not list, then renamed: a reader (another
        # replica's feedback check, monitor) never opens a segment without its tables
        fresh = self.path.with_name(self.path.name + ".new")
        fresh.unlink(missing_ok=True)
        setup = sqlite3.connect(fresh, isolation_level=None)
        try:
            setup.execute("PRAGMA journal_mode=WAL")  # kept in the file header
            setup.executescript(_SCHEMA)
        finally:
            setup.close()
        os.replace(fresh, self.path)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        # WAL + NORMAL: a committed flush survives kill -9 of the process (not a power cut)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.isolation_level = "DEFERRED"
        self._conn = conn
        self._segment_started = time.time()
        self._segment_rows = 0

    def _close_segment(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        path = self.path
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
        if not self._segment_rows and path is not None:  # nothing was logged: nothing to keep or ship
            for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                leftover.unlink(missing_ok=True)
            return
        if self.ship is not None and path is not None:
            self._unshipped.append(path)
            for pending in list(self._unshipped):
                try:
                    self.ship(pending, self.replica)
                except Exception as exc:  # the segment stays local; tried again when the next one closes
                    log.warning("could not ship prediction log segment %s (will retry): %s", pending, exc)
                else:
                    self._unshipped.remove(pending)

    # -- what was issued and labelled (feedback checks; called off the event loop) --

    def issued(self, model: str, request_ids: Iterable[str], since: float) -> set[str]:
        """The ids among ``request_ids`` that some replica logged a prediction for, of ``model``, at or after ``since``.

        Looks in this replica's buffer (not yet written) and in every segment of the
        log directory touched since ``since``, which includes other replicas' when
        they share the directory. A prediction another replica has not flushed yet
        (at most ``flush_interval`` old) is not found: its caller may retry.
        """
        wanted = set(request_ids)
        found: set[str] = set()
        with self._lock:
            buffers = (self._predictions, self._flushing[0])
        for buffer in buffers:
            for row in list(buffer):
                if row[0] in wanted and row[2] == model and row[1] >= since:
                    found.add(row[0])
        rest = wanted - found
        if rest:
            query = "SELECT DISTINCT request_id FROM predictions WHERE model = ? AND time >= ? AND request_id IN ({})"
            for rid, *_ in self._query(query, model, since, rest):
                found.add(rid)
        return found

    def labels(self, model: str, request_ids: Iterable[str], since: float) -> dict[str, Any]:
        """The first label given to each of ``request_ids`` (of ``model``, at or after ``since``), if any."""
        wanted = set(request_ids)
        first: dict[str, tuple[float, Any]] = {}

        def keep(rid: str, t: float, label: Any) -> None:
            if rid not in first or t < first[rid][0]:
                first[rid] = (t, label)

        query = "SELECT request_id, time, label FROM feedback WHERE model = ? AND time >= ? AND request_id IN ({})"
        for rid, t, label in self._query(query, model, since, wanted):
            keep(rid, t, json.loads(label) if label is not None else None)
        with self._lock:
            buffers = (self._feedback, self._flushing[1])
        for buffer in buffers:
            for row in list(buffer):
                if row[0] in wanted and row[2] == model and row[1] >= since:
                    keep(row[0], row[1], row[3])
        return {rid: label for rid, (_t, label) in first.items()}

    def _segments(self, since: float) -> list[Path]:
        """Segment files of the log directory written at or after ``since``, newest first."""
        out = []
        for path in self.directory.glob("*.db"):
            try:
                # WAL: recent rows may be only in the -wal file until a checkpoint
                stamps = [path.stat().st_mtime]
                wal = path.with_name(path.name + "-wal")
                if wal.exists():
                    stamps.append(wal.stat().st_mtime)
            except FileNotFoundError:
                continue
            if max(stamps) >= since - 1.0:
                out.append((max(stamps), path))
        return [path for _stamp, path in sorted(out, reverse=True)]

    def _query(self, query: str, model: str, since: float, ids: set[str]) -> list[tuple]:
        """Run ``query`` (with ``{}`` for the id placeholders) over the segments, in batches of ids."""
        if not ids:
            return []
        rows: list[tuple] = []
        batches = [sorted(ids)[i : i + _IN_BATCH] for i in range(0, len(ids), _IN_BATCH)]
        with self._read_lock:
            segments = self._segments(since)
            for stale in set(self._readers) - set(segments):
                self._readers.pop(stale).close()
            for path in segments:
                conn = self._readers.get(path)
                try:
                    if conn is None:
                        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
                        self._readers[path] = conn
                    for batch in batches:
                        sql = query.format(", ".join("?" * len(batch)))
                        rows += conn.execute(sql, [model, since, *batch]).fetchall()
                except sqlite3.Error as exc:  # a segment being created right now, or not ours: not evidence
                    log.warning("could not read prediction log %s: %s", path, exc)
                    if path in self._readers:
                        self._readers.pop(path).close()
        return rows


# --- reading -------------------------------------------------------------------


@dataclass
class LogData:
    """Predictions (and the feedback for them) read from every segment."""

    predictions: list[dict] = field(default_factory=list)
    feedback: dict[str, Any] = field(default_factory=dict)
    """request_id -> its first label (by time), for the predictions read, of the same model."""
    segments: list[str] = field(default_factory=list)


def segment_files(directories: Iterable[str | os.PathLike[str]]) -> list[Path]:
    out: list[Path] = []
    for directory in directories:
        root = Path(directory)
        if root.is_dir():
            out += sorted(p for p in root.rglob("*.db") if p.is_file())
    return out


def read_log(
    directories: Iterable[str | os.PathLike[str]],
    *,
    since: float | None = None,
    until: float | None = None,
    model: str | None = None,
) -> LogData:
    """Every prediction in [since, until) (optionally of one model) and the feedback labels for them.

    The first label given to a request id (earliest time, any segment) wins; feedback
    for an id the log holds no prediction of that model for is left out.
    """
    data = LogData()
    loads = json.loads
    names: set[str] = set()
    first: dict[tuple[str, str], tuple[float, Any]] = {}
    for path in segment_files(directories):
        if path.name in names:  # a shipped copy of a segment also read locally (names are unique per replica)
            continue
        names.add(path.name)
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        except sqlite3.Error:
            continue
        try:
            query = (
                "SELECT request_id, time, model, version, role, inputs, output, latency_ms FROM predictions WHERE 1=1"
            )
            params: list[Any] = []
            if since is not None:
                query += " AND time >= ?"
                params.append(since)
            if until is not None:
                query += " AND time < ?"
                params.append(until)
            if model is not None:
                query += " AND model = ?"
                params.append(model)
            for rid, t, m, version, role, inputs, output, ms in conn.execute(query, params):
                data.predictions.append(
                    {
                        "request_id": rid,
                        "time": t,
                        "model": m,
                        "version": version,
                        "role": role,
                        "inputs": loads(inputs),
                        "output": loads(output) if output is not None else None,
                        "latency_ms": ms,
                    }
                )
            for rid, t, m, label in conn.execute("SELECT request_id, time, model, label FROM feedback"):
                if model is not None and m != model:
                    continue
                key = (m, rid)
                if key not in first or t < first[key][0]:
                    first[key] = (t, loads(label) if label is not None else None)
            data.segments.append(str(path))
        except sqlite3.Error as exc:  # a segment being created right now, or not ours
            log.warning("skipping prediction log %s: %s", path, exc)
        finally:
            conn.close()
    data.predictions.sort(key=lambda r: r["time"])
    predicted = {(r["model"], r["request_id"]) for r in data.predictions}
    for (m, rid), (_t, label) in sorted(first.items(), key=lambda item: item[1][0]):
        if (m, rid) in predicted:
            data.feedback.setdefault(rid, label)
    return data
