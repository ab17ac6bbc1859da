"""push, fetch and gc: move what the lock and the registry reference between the local store and the remote.

The lock names every source and stage output by hash, the registry every model
version; those are the blobs worth keeping. ``push`` uploads the ones the remote
lacks, ``fetch`` downloads what the working tree needs and materialises it, and
``gc`` deletes blobs nothing references (locally; on the remote only on request).
"""

from __future__ import annotations

import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .atomic import atomic_copy, atomic_write
from .errors import FlowtideError, IntegrityError, StoreError, UsageError
from .lock import Lock
from .remote import Remote, download_many, upload_many
from .store import REPAIR_HINT
from .validators import is_digest

if TYPE_CHECKING:
    from .progress import Progress
    from .project import Project

_GC_PLAN = "gc-remote.json"
GC_WAIT = 30.0
"""Seconds gc waits for the commands holding the repository lock to finish."""


@dataclass
class Item:
    """One referenced blob and, when it is a working-tree file, where it lives."""

    digest: str
    kind: str
    """source, out or model"""
    name: str
    """source name, stage name or model tag"""
    size: int = 0
    path: str | None = None
    """Working-tree path to materialise (None for registry artifacts kept only in the store)."""
    overwrite: bool = True
    """False for git-mode sources: the committed file is the truth, only restore it when missing."""


@dataclass
class PushResult:
    remote: str
    pushed: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"remote": self.remote, "pushed": self.pushed, "present": self.present, "bytes": self.bytes}


@dataclass
class FetchResult:
    remote: str
    downloaded: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    materialized: list[str] = field(default_factory=list)
    up_to_date: list[str] = field(default_factory=list)
    bytes: int = 0
    corrupt: list[str] = field(default_factory=list)
    """Local blobs whose bytes no longer match their name: quarantined and downloaded again."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "remote": self.remote,
            "downloaded": self.downloaded,
            "present": self.present,
            "materialized": self.materialized,
            "up_to_date": self.up_to_date,
            "bytes": self.bytes,
            "corrupt": self.corrupt,
        }


@dataclass
class GcResult:
    dry_run: bool
    local_removed: list[str] = field(default_factory=list)
    local_bytes: int = 0
    local_kept: int = 0
    remote: str | None = None
    remote_removed: list[str] = field(default_factory=list)
    remote_bytes: int = 0
    remote_kept: int = 0
    remote_aborted_uploads: int = 0
    """Multipart uploads of killed pushes (older than a day) that were aborted."""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# --- what is referenced -----------------------------------------------------------


def references(project: Project, lock: Lock | None = None, *, archived: bool = True) -> list[Item]:
    """Every blob the lock (sources, stage outs) and the registry (model versions) reference."""
    lock = project.read_lock() if lock is None else lock
    items: list[Item] = []
    for name, entry in sorted(lock.sources.items()):
        if not entry.get("hash"):
            continue
        source = project.config.sources.get(name)
        storage = entry.get("storage") or (source.storage if source else "git")
        path = entry.get("path") or (source.path if source else None)
        items.append(Item(entry["hash"], "source", name, int(entry.get("size") or 0), path, storage == "store"))
    for name, entry in sorted(lock.stages.items()):
        for path, out in sorted((entry.get("outs") or {}).items()):
            if not isinstance(out, dict):
                continue
            files = out.get("files")
            if isinstance(files, dict):  # a directory output: its files are the blobs
                for rel, child in sorted(files.items()):
                    if isinstance(child, dict) and child.get("hash"):
                        items.append(Item(child["hash"], "out", name, int(child.get("size") or 0), f"{path}/{rel}"))
            elif out.get("hash") and "nfiles" not in out:  # a directory without its file list is no blob
                items.append(Item(out["hash"], "out", name, int(out.get("size") or 0), path))
    items.extend(_model_items(project, archived=archived))
    for item in items:  # a hash becomes a file name here and on the remote: never let it be a path
        if not is_digest(item.digest):
            raise UsageError(
                f"{item.kind} {item.name!r} references {item.digest!r}, which is not a BLAKE3 hex digest",
                hint="Restore flowtide.lock / flowtide.registry from git; flowtide never writes such a hash.",
            )
    return items


def _model_items(project: Project, *, archived: bool) -> list[Item]:
    try:
        from .registry import Registry

        registry = Registry.load(project)
        versions = [v for model in registry.models() for v in registry.versions(model)]
    except (ImportError, AttributeError):  # the registry area is optional for the store
        return []
    items = []
    for version in versions:
        if not getattr(version, "hash", None):
            continue
        if not archived and getattr(version, "stage", None) == "archived":
            continue
        tag = getattr(version, "tag", None) or f"{version.model}@v{version.version}"
        items.append(Item(version.hash, "model", tag, int(getattr(version, "size", 0) or 0), None, False))
    return items


# --- push ------------------------------------------------------------------------


def push(project: Project, *, jobs: int | None = None, on_progress: Progress | None = None) -> PushResult:
    """Upload every referenced blob the remote lacks; a re-run uploads nothing."""
    with project.repository("push"):  # no gc deletes a blob between adopting and uploading it
        return _push(project, jobs=jobs, on_progress=on_progress)


def _push(project: Project, *, jobs: int | None, on_progress: Progress | None) -> PushResult:
    remote = Remote.from_project(project)
    store = project.store
    items = references(project)
    wanted = sorted({item.digest for item in items})
    _adopt_working_tree(project, items)
    have = [d for d in wanted if store.has(d)]
    jobs = jobs or project.config.store.jobs
    transfer = upload_many(remote, store, have, jobs=jobs, on_progress=on_progress)
    result = PushResult(remote.url, transfer.transferred, transfer.present, transfer.bytes)
    absent = [d for d in wanted if not store.has(d)]
    if absent:
        lost = sorted(remote.missing(absent, jobs=jobs))
        result.present.extend(sorted(set(absent) - set(lost)))
        if lost:
            names = ", ".join(f"{_label(items, d)} ({d[:12]})" for d in lost[:5])
            raise StoreError(
                f"push: {len(lost)} referenced blob(s) are neither in the local store nor on {remote.url}: {names}"
                + (f" and {len(lost) - 5} more" if len(lost) > 5 else ""),
                hint=f"{len(result.pushed)} other blob(s) were pushed. Re-create the missing ones "
                "(`flowtide pull` / `flowtide run --force`) and push again.",
            )
    result.present.sort()
    return result


def _adopt_working_tree(project: Project, items: list[Item]) -> None:
    """Referenced files that exist only in the working tree (e.g. committed data) enter the store first.

    A corrupt local blob is never pushed: it is quarantined first, so an intact working-tree copy
    replaces it here, and otherwise push reports it missing (unless the remote already has it).
    """
    store, cache = project.store, project.stat_cache
    for digest in store.corrupt(item.digest for item in items if store.has(item.digest)):
        store.quarantine(digest)
    for item in items:
        if item.path is None or store.has(item.digest):
            continue
        path = project.root / item.path
        if path.is_file() and cache.hash(path, key=item.path)[0] == item.digest:
            store.add_file(path, item.digest)
    cache.save()


def _label(items: list[Item], digest: str) -> str:
    for item in items:
        if item.digest == digest:
            return item.path or item.name
    return digest[:12]


# --- fetch -----------------------------------------------------------------------


def fetch(
    project: Project,
    targets: list[str] | None = None,
    *,
    jobs: int | None = None,
    on_progress: Progress | None = None,
) -> FetchResult:
    """Download what the working tree needs and materialise it; a re-run transfers nothing.

    ``targets`` are source names, stage names, model names or tags, or paths
    (a directory selects everything below it); default: everything.
    """
    with project.repository("fetch"):  # no gc deletes a downloaded blob before it is materialised
        return _fetch(project, targets, jobs=jobs, on_progress=on_progress)


def _fetch(
    project: Project, targets: list[str] | None, *, jobs: int | None, on_progress: Progress | None
) -> FetchResult:
    items = _select(references(project, archived=False), targets)
    store = project.store
    result = FetchResult(project.config.store.remote or "")
    cache = project.stat_cache
    # files already right in the working tree need no blob at all
    to_write: list[tuple[Item, Any]] = []
    needed: dict[str, int] = {}
    seen: set[str] = set()
    for item in items:
        if item.path is None:
            needed[item.digest] = item.size
            continue
        if item.path in seen:  # one file, however many entries name it
            continue
        seen.add(item.path)
        dest = project.resolve(item.path, f"{item.kind} path")
        if dest.is_file() and (not item.overwrite or cache.hash(dest, key=item.path)[0] == item.digest):
            result.up_to_date.append(item.path)
            continue
        to_write.append((item, dest))
        needed[item.digest] = item.size
    # a blob already here is used only if it still holds its bytes (checked once per blob, then by stat)
    corrupt = store.corrupt(d for d in needed if store.has(d))
    moved = {digest: store.quarantine(digest) for digest in sorted(corrupt)}
    result.corrupt = sorted(corrupt)
    if corrupt and not project.config.store.remote:
        digest = result.corrupt[0]
        more = f" (and {len(corrupt) - 1} more)" if len(corrupt) > 1 else ""
        raise IntegrityError(
            f"blob {digest[:12]} ({_label(items, digest)}) in {store.root} is corrupt: its bytes hash to "
            f"{corrupt[digest][:12]}; moved to {moved[digest]}{more}, and no remote store is configured "
            "to fetch a good copy from",
            hint=REPAIR_HINT,
        )
    lacking = [d for d in needed if not store.has(d)]
    result.present = sorted(d for d in needed if store.has(d))
    failure: FlowtideError | None = None
    if lacking:
        remote = Remote.from_project(project)
        result.remote = remote.url
        try:
            with project.mutex("fetch"):  # one fetch at a time: any partial download left is a dead one's
                transfer = download_many(
                    remote,
                    store,
                    lacking,
                    jobs=jobs or project.config.store.jobs,
                    on_progress=on_progress,
                    sizes=needed,
                    stale_after=0.0,
                )
            result.downloaded, result.bytes = transfer.transferred, transfer.bytes
            store.mark_verified(transfer.transferred)  # each download was hashed while it streamed in
        except FlowtideError as exc:  # still write every file whose blob did arrive, then report
            failure = exc
    if failure is not None:
        to_write = [(item, dest) for item, dest in to_write if store.has(item.digest)]
    _materialize(store, to_write, jobs or project.config.store.jobs)
    for item, dest in to_write:
        cache.remember(dest, item.digest, key=item.path)
        result.materialized.append(item.path or "")
    cache.save()
    if failure is not None:
        raise failure
    result.materialized.sort()
    result.up_to_date.sort()
    return result


def _materialize(store: Any, work: list[tuple[Item, Any]], jobs: int) -> None:
    """Write the working-tree files in parallel (each atomically; no fsync: the store keeps the durable copy)."""
    if not work:
        return
    missing = [item for item, _ in work if not store.has(item.digest)]
    if missing:
        raise StoreError(f"blob {missing[0].digest[:12]} for {missing[0].path} is not in the store {store.root}")

    def write(pair: tuple[Item, Any]) -> None:
        atomic_copy(store.path_of(pair[0].digest), pair[1], fsync=False, tmp_dir=store.tmp_dir)  # (out of git's sight)

    with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(work)))) as pool:
        list(pool.map(write, work))


def _select(items: list[Item], targets: list[str] | None) -> list[Item]:
    if not targets:
        return items
    chosen: list[Item] = []
    for target in targets:
        clean = target.strip().rstrip("/").removeprefix("./")
        matches = [
            item
            for item in items
            if item.name == clean
            or item.name.split("@", 1)[0] == clean
            or (item.path and (item.path == clean or item.path.startswith(clean + "/")))
        ]
        if not matches:
            known = sorted({i.name for i in items} | {i.path for i in items if i.path})
            raise UsageError(
                f"fetch: {target!r} is not a source, stage, model or path that the lock or registry references",
                hint=f"Known targets: {', '.join(known[:20])}" + (" ..." if len(known) > 20 else "") + ".",
            )
        chosen.extend(m for m in matches if m not in chosen)
    return chosen


# --- gc --------------------------------------------------------------------------


def referenced(project: Project, *, all_commits: bool = False) -> set[str]:
    """Digests worth keeping: the working tree's lock, HEAD's lock (or every commit's), the registry."""
    keep = set()
    locks = [project.read_lock()]
    for text in _committed_locks(project, all_commits=all_commits):
        try:
            data = json.loads(text)
            locks.append(Lock(sources=data.get("sources", {}), stages=data.get("stages", {})))
        except (ValueError, AttributeError):
            continue  # an unreadable historical lock (merge conflict committed) references nothing
    for lock in locks:
        keep |= lock.blobs()  # sources, stage outputs and the files of directory outputs
    keep |= {item.digest for item in _model_items(project, archived=True)}
    return keep


def _committed_locks(project: Project, *, all_commits: bool) -> list[str]:
    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(["git", *args], cwd=project.root, capture_output=True, text=True, check=False)
        except OSError:
            return None
        return proc.stdout if proc.returncode == 0 else None

    rel = project.relative(project.lock_path)
    commits = ["HEAD"]
    if all_commits:
        listing = git("log", "--all", "--format=%H", "--", rel)
        commits = listing.split() if listing else []
    texts = []
    for commit in commits:
        text = git("show", f"{commit}:{rel}")
        if text:
            texts.append(text)
    return texts


def gc(
    project: Project,
    *,
    dry_run: bool = False,
    remote: bool = False,
    yes: bool = False,
    all_commits: bool = False,
    wait: float | None = GC_WAIT,
) -> GcResult:
    """Remove local blobs nothing references; with ``remote``, also remote ones.

    Remote gc keeps whatever any commit's lock references (other clones may
    check those out) and deletes only what a previous ``dry_run`` listed (or
    everything unreferenced with ``yes``). It holds the repository lock alone
    (waiting up to ``wait`` seconds for pull, run, push, fetch and register to
    finish): a blob they just stored is referenced only once they are done.
    """
    with project.repository("gc", exclusive=not dry_run, timeout=wait, sweep=not dry_run):
        return _gc(project, dry_run=dry_run, remote=remote, yes=yes, all_commits=all_commits)


def _gc(project: Project, *, dry_run: bool, remote: bool, yes: bool, all_commits: bool) -> GcResult:
    result = GcResult(dry_run=dry_run)
    store = project.store
    remote_store = Remote.from_project(project) if remote else None  # fail before deleting anything
    keep = referenced(project, all_commits=all_commits)
    for digest in sorted(set(store.digests()) - keep):
        path = store.path_of(digest)
        try:
            result.local_bytes += path.stat().st_size
        except FileNotFoundError:
            continue
        result.local_removed.append(digest)
        if not dry_run:
            store.remove(digest)
    result.local_kept = len(set(store.digests()) & keep)
    if remote_store is not None:
        _gc_remote(project, remote_store, result, keep_all=referenced(project, all_commits=True), yes=yes)
    return result


def _gc_remote(project: Project, remote: Remote, result: GcResult, *, keep_all: set[str], yes: bool) -> None:
    result.remote = remote.url
    blobs = remote.list()
    unreferenced = sorted(set(blobs) - keep_all)
    plan_path = project.state_dir / _GC_PLAN
    if result.dry_run:
        plan = {"remote": remote.url, "created": time.time(), "digests": unreferenced}
        atomic_write(plan_path, json.dumps(plan, indent=2, sort_keys=True) + "\n")
        delete = unreferenced
    elif yes:
        delete = unreferenced
    else:
        try:
            plan = json.loads(plan_path.read_text())
        except (FileNotFoundError, ValueError):
            plan = None
        if not plan or plan.get("remote") != remote.url:
            raise UsageError(
                f"gc --remote deletes objects on {remote.url} that other clones may still need",
                hint="Review first: `flowtide gc --remote --dry-run` lists them; then `flowtide gc --remote` "
                "deletes exactly that list (or pass --yes to skip the review).",
            )
        delete = sorted(set(unreferenced) & set(plan.get("digests", [])))
    result.remote_removed = delete
    result.remote_bytes = sum(blobs[d] for d in delete)
    result.remote_kept = len(blobs) - len(delete)
    if not result.dry_run:
        remote.delete(delete)
        remote.remove_stale_tmp()
        result.remote_aborted_uploads = remote.abort_stale_uploads()
        plan_path.unlink(missing_ok=True)
