"""Run records: every pipeline run (and sweep point) in ``.flowtide/runs.db`` (SQLite, WAL).

One row per run with its git commit, params, metrics, stage timings and the
data lock it read, so "which data and params produced this model" stays answerable.

A run made in CI (GitHub Actions: ``GITHUB_RUN_ID`` is set) also writes
``flowtide.runs/<id>.json`` with its workflow run URL, and train.yml commits it
with the bot commit, so the record outlives the runner. One file per run never
conflicts when two branches add runs; any clone merges the committed records
into its local runs.db when it lists them (runs.db stays a local index).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import FlowtideError, UsageError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..project import Project

RUNS_DIR = "flowtide.runs"
"""Committed run records (one JSON file per run made in CI), relative to the project root."""
_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{4}$")
_MAX_RECORD = 1 << 20  # a run record is a few KB; a bigger file is not one
_URL = re.compile(r"^https?://[A-Za-z0-9.:-]+/[A-Za-z0-9._~%/-]+/actions/runs/\d+$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # what a terminal acts on (escapes), newlines and tabs apart

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
    message TEXT,
    url TEXT
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
    url: str | None = None
    """The CI workflow run that made it (GITHUB_SERVER_URL/GITHUB_REPOSITORY/actions/runs/GITHUB_RUN_ID)."""

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
    """``git_state`` started in the background (one git process), so it costs nothing while stages run.

    ``GIT_OPTIONAL_LOCKS=0``: git does not refresh the index on the side (which takes
    ``.git/index.lock``), as editors' background status calls do, so a ``git commit`` made
    while a run is under way never fails on a lock this probe holds.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        try:
            self._proc: subprocess.Popen | None = subprocess.Popen(
                ["git", "status", "--porcelain=v2", "--branch", "--untracked-files=no"],
                cwd=root,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
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
            self._proc.wait()
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


def ci_run_url(env: Mapping[str, str]) -> str | None:
    """The URL of the GitHub Actions workflow run this process is part of; None outside CI."""
    run_id, repository = env.get("GITHUB_RUN_ID", ""), env.get("GITHUB_REPOSITORY", "")
    if env.get("FORGEJO_ACTIONS") == "true":  # Forgejo numbers its run pages per repository
        run_id = env.get("GITHUB_RUN_NUMBER", "")
    server = (env.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
    if env.get("GITHUB_ACTIONS") != "true" or not run_id.isdigit():
        return None
    # (nektos/act says the path of a local origin as the repository: kept as it is, so its runs are recorded too)
    url = f"{server}/{repository}/actions/runs/{run_id}"
    return url if _URL.match(url) else None


def db_path(project: Project) -> Path:
    return project.state_dir / "runs.db"


_COLUMNS = "id, started, finished, status, kind, sweep, git_commit, git_dirty, executor, params, metrics, stages, data, message, url"


_COLUMN_NAMES = tuple(name.strip() for name in _COLUMNS.split(","))
_UNREADABLE = ("SQLITE_NOTADB", "SQLITE_CORRUPT")  # what moving the file aside mends; "locked", "readonly"… are not


def _connect(path: Path, warnings: list[str] | None = None):
    """runs.db, open (made when missing). One that is not a readable SQLite database is moved aside
    (``runs.db.corrupt-<time>``, with its -wal and -shm) and a new one started: it is this clone's
    index of its runs, the records CI committed come back from flowtide.runs/. ``warnings`` hears of it."""
    import sqlite3

    try:
        return _open_db(path)
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorname", None) not in _UNREADABLE:
            raise _db_error(path, exc) from None
        reason = str(exc)
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{os.urandom(2).hex()}")
    try:
        for suffix in ("-wal", "-shm", ""):  # the WAL first: one left beside a new runs.db would be replayed into it
            with contextlib.suppress(FileNotFoundError):  # (or another command moved it a moment ago)
                os.replace(f"{path}{suffix}", f"{aside}{suffix}")
        conn = _open_db(path)
    except (OSError, sqlite3.Error) as exc:
        raise _db_error(path, exc) from None
    if warnings is not None:
        warnings.append(
            f"{path} was not a readable SQLite database ({reason}): moved to {aside.name}, a new one started"
        )
    return conn


def _open_db(path: Path):
    import sqlite3

    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SCHEMA)
        if "url" not in {row[1] for row in conn.execute("PRAGMA table_info(runs)")}:  # a runs.db from before urls
            conn.execute("ALTER TABLE runs ADD COLUMN url TEXT")
    except BaseException:  # (not a database, locked past the timeout, Ctrl-C): no handle left open
        conn.close()
        raise
    return conn


def _db_error(path: Path, exc: Exception) -> FlowtideError:
    return FlowtideError(
        f"cannot use {path}: {exc}",
        hint="It is this clone's index of its runs (those CI committed are in flowtide.runs/). If another flowtide "
        "command is writing it, wait and try again; if it is damaged, move it aside: flowtide starts a new one.",
    )


@contextlib.contextmanager
def _db(path: Path, warnings: list[str] | None):
    """runs.db open for one use (:func:`_connect`), closed after it; a SQLite error on the way (a damaged
    page found only now, a lock held past the timeout) is a FlowtideError naming the file."""
    import sqlite3

    conn = _connect(path, warnings)
    try:
        yield conn
    except sqlite3.Error as exc:
        raise _db_error(path, exc) from None
    finally:
        conn.close()


def save(project: Project, record: RunRecord, *, path: Path | None = None, warnings: list[str] | None = None) -> None:
    """Insert or replace a run record; in CI also write it to flowtide.runs/ for the bot commit."""
    if record.url is None:
        record.url = ci_run_url(project.env)
    with _db(path or db_path(project), warnings) as conn:
        _insert(conn, record, "INSERT OR REPLACE")
    if record.url and path is None:
        from ..atomic import atomic_write

        target = project.root / RUNS_DIR / f"{record.id}.json"
        # a stage's stderr and stdout may carry colour codes and \r: readers refuse control characters
        shared = _clean(asdict(record))
        # unsorted keys: the stages keep the DAG order
        atomic_write(target, json.dumps(shared, indent=1, default=str) + "\n")


def _insert(conn, record: RunRecord, verb: str) -> None:
    conn.execute(
        f"{verb} INTO runs ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
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
            record.url,
        ),
    )


def _rows(rows, warnings: list[str] | None) -> list[RunRecord]:
    """Records from runs.db rows, each checked as a committed record is; a row that is not one is skipped."""
    records = []
    for row in rows:
        try:
            records.append(_row(row))
        except RecordError as exc:
            if warnings is not None:
                warnings.append(f"runs.db: row {str(row[0])[:40]!r} is not a run record ({exc}); skipped")
    return records


def _row(row) -> RunRecord:
    data = dict(zip(_COLUMN_NAMES, row, strict=True))
    try:
        for name in ("params", "metrics", "stages", "data"):
            data[name] = json.loads(data[name]) if isinstance(data[name], (str, bytes)) else data[name]
    except ValueError as exc:
        raise RecordError(f"{name} is not JSON ({exc})") from None
    if isinstance(data["git_dirty"], int):
        data["git_dirty"] = bool(data["git_dirty"])
    return _from_dict(_clean(data))  # (this clone's own stages' output, colour codes and all)


def _clean(value: Any) -> Any:
    """``value`` without control characters in any text (what a terminal would act on)."""
    if isinstance(value, str):
        return _CONTROL.sub("", value)
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


# --- records committed by CI ----------------------------------------------------------------


class RecordError(ValueError):
    """A file in flowtide.runs/ that is not a run record flowtide wrote."""


def read_record(path: Path) -> RunRecord:
    """A committed run record, validated field by field (it is input: any clone's commit can carry it)."""
    if not _ID.match(path.stem) or path.suffix != ".json":
        raise RecordError("the file name is not RUN_ID.json (yyyymmdd-hhmmss-xxxx)")
    try:
        if path.stat().st_size > _MAX_RECORD:
            raise RecordError(f"larger than {_MAX_RECORD} bytes")
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise RecordError(f"not readable as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise RecordError("not a JSON object")
    if data.get("id") != path.stem:
        raise RecordError(f"its id {data.get('id')!r} is not its file name")
    return _from_dict(data)


def _from_dict(data: dict[str, Any]) -> RunRecord:
    """A run record from its fields, each checked (committed files and runs.db rows alike are input)."""

    def field_(name: str, kinds: tuple, *, optional: bool = False) -> Any:
        value = data.get(name)
        if value is None and optional:
            return None
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            raise RecordError(
                f"field {name!r} is {type(value).__name__}, expected {' or '.join(k.__name__ for k in kinds)}"
            )
        return value

    record = RunRecord(
        id=field_("id", (str,)),
        started=field_("started", (int, float)),
        finished=field_("finished", (int, float), optional=True),
        status=field_("status", (str,)),
        kind=field_("kind", (str,)),
        sweep=field_("sweep", (str,), optional=True),
        git_commit=field_("git_commit", (str,), optional=True),
        git_dirty=field_("git_dirty", (bool,), optional=True),
        executor=field_("executor", (str,)),
        params=field_("params", (dict,)),
        metrics=field_("metrics", (dict,)),
        stages=field_("stages", (dict,)),
        data=field_("data", (dict,)),
        message=field_("message", (str,), optional=True),
        url=field_("url", (str,), optional=True),
    )
    if not _ID.match(record.id):
        raise RecordError(f"id {record.id!r} is not a run id")
    if record.status not in ("ok", "failed", "running") or record.kind not in ("run", "sweep"):
        raise RecordError(f"unknown status {record.status!r} or kind {record.kind!r}")
    if record.git_commit is not None and not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", record.git_commit):
        raise RecordError(f"git_commit {record.git_commit!r} is not a commit hash")
    if record.sweep is not None and not _ID.match(record.sweep):
        raise RecordError(f"sweep {record.sweep!r} is not a sweep id")
    if not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", record.executor):
        raise RecordError(f"executor {record.executor!r} is not an executor name")
    if record.url is not None and not _URL.match(record.url):
        raise RecordError(f"url {record.url!r} is not a workflow run URL")
    if _has_control(data):
        raise RecordError("a text holds control characters (terminal escapes are not shown)")
    if not all(isinstance(info, dict) for info in record.stages.values()):
        raise RecordError("stages must map stage names to objects")
    if not all(isinstance(v, str) or v is None for v in record.data.values()):
        raise RecordError("data must map sources to hashes")
    return record


def _has_control(value: Any) -> bool:
    if isinstance(value, str):
        return bool(_CONTROL.search(value))
    if isinstance(value, dict):
        return any(_has_control(k) or _has_control(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_control(v) for v in value)
    return False


def _sync(project: Project, conn, warnings: list[str] | None) -> None:
    """Index the committed records this clone's runs.db has not seen yet (a listdir when it has them all)."""
    directory = project.root / RUNS_DIR
    try:
        names = {entry.name[:-5]: entry for entry in os.scandir(directory) if entry.name.endswith(".json")}
    except (FileNotFoundError, NotADirectoryError):
        return
    if not names:
        return
    known = {row[0] for row in conn.execute("SELECT id FROM runs")}
    new = sorted(set(names) - known)
    if not new:
        return
    conn.execute("BEGIN")  # one transaction: a fresh clone indexes hundreds of records at once
    try:
        _index(conn, [Path(names[stem].path) for stem in new], warnings)
    finally:
        conn.execute("COMMIT")


def _index(conn, paths: list[Path], warnings: list[str] | None) -> None:
    for path in paths:
        try:
            record = read_record(path)
        except RecordError as exc:
            if warnings is not None:
                warnings.append(f"{RUNS_DIR}/{path.name}: not a run record ({exc}); skipped")
            continue
        _insert(conn, record, "INSERT OR IGNORE")


@contextlib.contextmanager
def _indexed(project: Project, warnings: list[str] | None):
    """runs.db with the committed records merged in, open for one use (see :func:`_db`); None when there is neither."""
    if not (project.root / ".flowtide" / "runs.db").exists() and not (project.root / RUNS_DIR).is_dir():
        yield None
        return
    with _db(db_path(project), warnings) as conn:
        _sync(project, conn, warnings)
        yield conn


def list_runs(
    project: Project, limit: int | None = 20, *, sweep: str | None = None, warnings: list[str] | None = None
) -> list[RunRecord]:
    """Most recent first: this clone's runs and the ones CI committed to flowtide.runs/."""
    with _indexed(project, warnings) as conn:
        if conn is None:
            return []
        sql = f"SELECT {_COLUMNS} FROM runs"
        args: list[Any] = []
        if sweep:
            sql += " WHERE sweep = ?"
            args.append(sweep)
        sql += " ORDER BY started DESC, id DESC"
        if limit:
            sql += " LIMIT ?"
            args.append(limit)
        return _rows(conn.execute(sql, args), warnings)


def get_run(project: Project, run_id: str, *, warnings: list[str] | None = None) -> RunRecord:
    """A run by id or unique id prefix (``latest`` for the newest)."""
    rows = []
    with _indexed(project, warnings) as conn:
        if conn is not None:
            if run_id == "latest":
                rows = conn.execute(f"SELECT {_COLUMNS} FROM runs ORDER BY started DESC, id DESC LIMIT 1").fetchall()
            else:
                prefix = run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM runs WHERE id LIKE ? ESCAPE '\\' LIMIT 2", (prefix + "%",)
                ).fetchall()
    if not rows:
        raise UsageError(
            f"no run {run_id!r} in {db_path(project)} or {RUNS_DIR}/", hint="`flowtide runs` lists the recorded runs."
        )
    if len(rows) > 1:
        raise UsageError(f"run id prefix {run_id!r} is ambiguous", hint="Give more characters of the id.")
    try:
        return _row(rows[0])
    except RecordError as exc:
        raise FlowtideError(
            f"run {rows[0][0]!r} in {db_path(project)} is not a run record: {exc}",
            hint="runs.db is this clone's index of its runs: move it aside and flowtide starts a new one.",
        ) from None
