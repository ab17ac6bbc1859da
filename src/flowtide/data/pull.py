"""``pull``: fetch every source, check it, store its bytes and record them in the lock.

New bytes go into the content-addressed store first (hashed while streaming),
are checked, then materialised atomically at the source's ``path``; the lock is
rewritten only when some source's bytes changed. Any fault leaves the previous
data file and lock exactly as they were. HTTP validators (ETag, Last-Modified)
are kept in ``.flowtide/sources.json`` (local, uncommitted) so an unchanged
source costs one conditional request and leaves the lock byte-identical.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..atomic import atomic_write, owner, remove_leftovers, write_if_changed
from ..errors import FlowtideError, SourceError, UsageError
from .sources import ReadRequest, expand_headers, kind_of, reader_for

if TYPE_CHECKING:
    from ..config import Source
    from ..lock import SourceEntry
    from ..progress import Progress
    from ..project import Project
    from ..report import Report

Status = Literal["changed", "unchanged", "quarantined", "failed"]
STATE_FILE = "sources.json"
QUARANTINE_DIR = "quarantine"


@dataclass
class SourceResult:
    name: str
    status: Status
    url: str
    path: str
    hash: str | None = None
    size: int | None = None
    previous_hash: str | None = None
    message: str = ""
    report: Report | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k != "report"}
        data["report"] = self.report.to_dict() if self.report is not None else None
        return data


@dataclass
class PullResult:
    results: list[SourceResult] = field(default_factory=list)
    lock_written: bool = False

    @property
    def changed(self) -> bool:
        return any(r.status == "changed" for r in self.results)

    @property
    def ok(self) -> bool:
        return all(r.status in ("changed", "unchanged") for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "changed": self.changed,
            "lock_written": self.lock_written,
            "sources": [r.to_dict() for r in self.results],
        }


def pull(
    project: Project,
    sources: list[str] | None = None,
    *,
    check: bool = True,
    on_progress: Progress | None = None,
) -> PullResult:
    """Fetch ``sources`` (default: all) and update data files and the lock; never raises for a source fault."""
    configured = project.config.sources
    names = list(configured) if not sources else list(dict.fromkeys(sources))
    unknown = [n for n in names if n not in configured]
    if unknown:
        known = ", ".join(configured) or "none"
        raise UsageError(
            f"unknown source {unknown[0]!r} (configured sources: {known})",
            hint="Source names are the keys under `sources:` in flowtide.yaml.",
        )
    # a path escaping the project is a configuration error: refuse before fetching anything
    for name in names:
        project.resolve(configured[name].path, f"source {name!r} path")
    result = PullResult()
    with project.mutex("pull"), project.repository("pull"):
        lock = project.read_lock()
        original = lock.dumps()
        state = _State.load(project)
        new_blobs: set[str] = set()
        for name in names:
            outcome = _pull_one(project, name, configured[name], lock, state, check=check, on_progress=on_progress)
            result.results.append(outcome)
            if outcome.status == "changed" and outcome.hash:
                new_blobs.add(outcome.hash)
        # the data files are in place; only now does the lock move to them
        if lock.dumps() != original:
            pulled = {name: lock.sources[name] for name in names if name in lock.sources}
            result.lock_written = project.update_lock(lambda fresh: fresh.sources.update(pulled))
        state.save()
        project.stat_cache.save()
        if new_blobs:
            from ..remote import auto_push

            auto_push(project, new_blobs)
    return result


def _pull_one(
    project: Project, name: str, source: Source, lock, state: _State, *, check: bool, on_progress: Progress | None
) -> SourceResult:
    entry = lock.sources.get(name) or {}
    previous = entry.get("hash")
    result = SourceResult(name=name, status="failed", url=source.url, path=source.path, previous_hash=previous)
    try:
        dest = project.resolve(source.path, f"source {name!r} path")
        _sweep_stale_temps(dest)
        if source.storage == "store":
            ensure_gitignored(project, source.path)
        have_bytes = bool(previous) and (project.store.has(previous) or _file_matches(project, dest, previous))
        validators = state.validators(name, source.url, previous) if have_bytes else {}
        request = ReadRequest(
            name=name,
            url=source.url,
            store=project.store,
            base_dir=project.root,
            timeout=source.timeout,
            retries=source.retries,
            headers=expand_headers(source.headers, project.env, source=name, url=source.url),
            validators=validators,
            on_progress=on_progress,
            copy_to=dest,
        )
        fetched = reader_for(source.url).read(request)
        try:
            return _accept(project, name, source, lock, state, result, entry, dest, fetched, check=check)
        finally:
            if fetched.copy is not None:  # not placed: unchanged bytes, quarantined, or a failure
                fetched.copy.discard()
    except SourceError as exc:
        result.message = str(exc.message)
        return result
    except UsageError:
        raise
    except FlowtideError as exc:
        result.message = f"source {name!r} ({source.url}): {exc}"
        return result
    except OSError as exc:
        result.message = f"source {name!r} ({source.url}): {exc}"
        return result


def _accept(
    project: Project,
    name: str,
    source: Source,
    lock,
    state: _State,
    result: SourceResult,
    entry,
    dest: Path,
    fetched,
    *,
    check: bool,
) -> SourceResult:
    """What the reader brought: unchanged bytes, bytes the checks refuse (quarantined), or new bytes in place."""
    previous = entry.get("hash")
    if fetched.not_modified or fetched.hash == previous:
        _restore_if_needed(project, dest, previous, name, source.url)
        state.remember(name, source.url, previous, fetched.etag, fetched.last_modified)
        if entry and (entry.get("url"), entry.get("path")) != (source.url, source.path):
            lock.sources[name] = {**entry, "url": source.url, "path": source.path}
        result.status, result.hash, result.size = "unchanged", previous, entry.get("size", fetched.size)
        result.message = "not modified" if fetched.not_modified else "same bytes"
        return result
    digest, size = fetched.hash, fetched.size
    result.hash, result.size = digest, size
    if check and source.check:
        try:
            report = _run_checks(project, name, source, digest)
        except FlowtideError:
            raise
        except Exception as exc:  # a reader crash on bad bytes must not let them in
            raise SourceError(
                name, source.url, f"checks could not run on the new bytes: {type(exc).__name__}: {exc}"
            ) from exc
        if report is not None:
            result.report = report
            if not report.ok:
                _quarantine(project, name, source, digest, size, report)
                result.status = "quarantined"
                result.message = _failure_text(report)
                return result
    if fetched.copy is not None:  # copied while it arrived (the same bytes the blob was hashed from)
        fetched.copy.place()
        fetched.copy = None
    else:
        project.store.materialize(digest, dest)
    project.stat_cache.remember(dest, digest, key=project.relative(dest))
    lock.sources[name] = _lock_entry(source, digest, size, fetched.etag, fetched.last_modified)
    state.remember(name, source.url, digest, fetched.etag, fetched.last_modified)
    result.status = "changed"
    result.message = "new bytes" if previous else "first pull"
    return result


def _sweep_stale_temps(dest: Path, age: float = 60.0) -> None:
    """Remove temp files a killed write to ``dest`` left beside it (older versions wrote them there)."""
    import glob

    remove_leftovers(dest.parent, f".{glob.escape(dest.name)}.*.tmp", older_than=age)


def _lock_entry(source: Source, digest: str, size: int, etag: str | None, last_modified: str | None) -> SourceEntry:
    entry: SourceEntry = {"url": source.url, "path": source.path, "hash": digest, "size": size}
    # only HTTP validators describe the origin; a local file's stat token is machine-specific
    if kind_of(source.url) == "http":
        if etag:
            entry["etag"] = etag
        if last_modified:
            entry["last_modified"] = last_modified
    return entry


def _file_matches(project: Project, dest: Path, digest: str) -> bool:
    try:
        return project.stat_cache.hash(dest, key=project.relative(dest))[0] == digest
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return False


def _restore_if_needed(project: Project, dest: Path, digest: str | None, name: str, url: str) -> None:
    """An unchanged source whose working-tree file was deleted or edited gets its locked bytes back."""
    if not digest or _file_matches(project, dest, digest):
        return
    if not project.store.has(digest):
        raise SourceError(
            name,
            url,
            f"{project.relative(dest) if dest.exists() else dest.name} differs from the lock and blob {digest[:12]} is not in the store",
            hint="Run `flowtide fetch` to download it from the remote.",
        )
    project.store.materialize(digest, dest)
    project.stat_cache.remember(dest, digest, key=project.relative(dest))


# --- checks and quarantine -------------------------------------------------------


def _run_checks(project: Project, name: str, source: Source, digest: str) -> Report | None:
    if name not in project.config.checks:
        return None
    try:
        from ..checks import check_file
    except ImportError:  # the checks module has not landed: nothing to run
        return None
    # the checks read the file format from its extension, so show them the blob under the source's name
    staging = project.state_dir / "tmp" / "pull" / f"staging.{owner()}.{digest[:16]}"  # (a leftover when killed)
    staging.mkdir(parents=True, exist_ok=True)
    candidate = staging / Path(source.path).name
    try:
        try:
            os.link(project.store.path_of(digest), candidate)
        except OSError:
            import shutil

            shutil.copyfile(project.store.path_of(digest), candidate)
        return check_file(project, name, candidate)
    finally:
        with contextlib.suppress(OSError):
            candidate.unlink()
        with contextlib.suppress(OSError):
            staging.rmdir()


def _quarantine(project: Project, name: str, source: Source, digest: str, size: int, report: Report) -> Path:
    record = {
        "source": name,
        "url": source.url,
        "path": source.path,
        "hash": digest,
        "size": size,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "report": report.to_dict(),
    }
    target = project.state_dir / QUARANTINE_DIR / f"{name}-{digest[:16]}.json"
    atomic_write(target, json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")
    return target


def _failure_text(report: Report) -> str:
    lines = []
    for finding in report.failures[:10]:
        where = f"{finding.column}: " if finding.column else ""
        lines.append(f"{where}{finding.rule}: {finding.message}")
    more = len(report.failures) - 10
    if more > 0:
        lines.append(f"... and {more} more")
    return "checks failed; new data quarantined, lock and data file unchanged:\n  " + "\n  ".join(lines)


# --- local state and .gitignore -------------------------------------------------------


class _State:
    """The latest validators per source, kept out of the lock (local, uncommitted)."""

    def __init__(self, path: Path, data: dict[str, dict[str, Any]]) -> None:
        self.path = path
        self.data = data

    @classmethod
    def load(cls, project: Project) -> _State:
        path = project.state_dir / STATE_FILE
        try:
            data = json.loads(path.read_bytes())
            if not isinstance(data, dict):
                data = {}
        except (FileNotFoundError, ValueError):
            data = {}
        return cls(path, data)

    def validators(self, name: str, url: str, digest: str | None) -> dict[str, str]:
        saved = self.data.get(name) or {}
        if saved.get("url") != url or saved.get("hash") != digest:
            return {}
        return {k: saved[k] for k in ("etag", "last_modified") if saved.get(k)}

    def remember(self, name: str, url: str, digest: str | None, etag: str | None, last_modified: str | None) -> None:
        self.data[name] = {"url": url, "hash": digest, "etag": etag, "last_modified": last_modified}

    def save(self) -> None:
        write_if_changed(self.path, json.dumps(self.data, indent=1, sort_keys=True) + "\n")


def ensure_gitignored(project: Project, relative: str) -> bool:
    """Add ``/relative`` to the project's .gitignore unless it is there; say whether it wrote."""
    path = project.root / ".gitignore"
    line = "/" + relative.lstrip("/")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    if line in text.splitlines() or relative in text.splitlines():
        return False
    if text and not text.endswith("\n"):
        text += "\n"
    text += f"# data kept in the flowtide store (only flowtide.lock is committed)\n{line}\n"
    return write_if_changed(path, text, tmp_dir=project.tmp_dir)
