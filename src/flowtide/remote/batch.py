"""Moving many blobs between the local store and a :class:`~flowtide.remote.base.Remote`, in parallel.

What to move is decided one layer up (``flowtide.transfer``); ``auto_push`` is
the hook pull, run and register call after they add blobs. Progress goes to an
``on_progress`` callback (:mod:`flowtide.progress`): the library draws nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..atomic import remove_leftovers
from ..errors import FlowtideError, StoreError
from ..progress import Progress, counter
from .base import Remote

if TYPE_CHECKING:
    from ..project import Project
    from ..store import Store

_BATCH = 16
"""From this many blobs on, a download commits them as one batch (see ``Store.commit_staged``)."""

__all__ = ["TransferResult", "auto_push", "download_many", "upload_many"]


@dataclass
class TransferResult:
    """What a batch upload or download did."""

    transferred: list[str] = field(default_factory=list)
    """Digests moved in this call."""
    present: list[str] = field(default_factory=list)
    """Digests already at the destination (nothing to do)."""
    bytes: int = 0
    """Bytes moved."""


def upload_many(
    remote: Remote,
    store: Store,
    digests: Iterable[str],
    *,
    jobs: int = 8,
    on_progress: Progress | None = None,
) -> TransferResult:
    """Upload the digests the remote lacks, ``jobs`` at a time."""
    wanted = sorted(set(digests))
    result = TransferResult()
    absent = remote.missing(wanted, jobs=jobs)
    todo = sorted(absent)
    result.present = [d for d in wanted if d not in absent]
    total = sum(store.path_of(d).stat().st_size for d in todo if store.path_of(d).is_file())
    advance = counter(on_progress, total, "push") if todo else None
    result.bytes = _parallel(todo, lambda d: remote.upload(store, d, advance), jobs, result.transferred)
    return result


def download_many(
    remote: Remote,
    store: Store,
    digests: Iterable[str],
    *,
    jobs: int = 8,
    on_progress: Progress | None = None,
    sizes: dict[str, int] | None = None,
    stale_after: float = 3600.0,
) -> TransferResult:
    """Download the digests the local store lacks, ``jobs`` at a time, each verified.

    Partial downloads of processes that are gone are discarded first (and those
    without an owner, from older versions, once older than ``stale_after`` seconds).
    """
    wanted = sorted(set(digests))
    result = TransferResult()
    todo = [d for d in wanted if not store.has(d)]
    result.present = [d for d in wanted if store.has(d)]
    _discard_partials(store, stale_after)
    total = sum((sizes or {}).get(d, 0) for d in todo)
    advance = counter(on_progress, total or None, "fetch") if todo else None
    if len(todo) < _BATCH:
        result.bytes = _parallel(todo, lambda d: remote.download(store, d, advance), jobs, result.transferred)
        return result
    # many blobs: each lands in a temp file, and the batch is made durable and named at once
    # (one sync instead of one fsync per blob); the blobs that arrived are kept even if others failed
    staged: list = []

    def one(digest: str) -> int:
        tmp, size, st = remote.download_staged(store, digest, advance)
        staged.append((tmp, digest, st))
        return size

    try:
        result.bytes = _parallel(todo, one, jobs, result.transferred)
    finally:
        store.commit_staged(staged)
    return result


def _parallel(digests: list[str], work: Callable[[str], int], jobs: int, done: list[str]) -> int:
    """Run ``work`` over ``digests``; completed ones are kept even if another fails (resume)."""
    if not digests:
        return 0
    moved = 0
    errors: list[BaseException] = []
    with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(digests)))) as pool:
        futures = {pool.submit(work, d): d for d in digests}
        for future in as_completed(futures):
            try:
                moved += future.result()
                done.append(futures[future])
            except BaseException as exc:  # collect: the others still finish, so a re-run resumes
                errors.append(exc)
    done.sort()
    if errors:
        first = errors[0]
        if len(errors) > 1 and isinstance(first, FlowtideError):
            first.message += f" (and {len(errors) - 1} more blob(s) failed)"
        raise first
    return moved


def _discard_partials(store: Store, older_than: float) -> None:
    """Partial downloads of killed fetches (never one a live process is still writing)."""
    remove_leftovers(store.tmp_dir, "fetch.*.part", older_than=older_than)


# --- the hook --------------------------------------------------------------------


def auto_push(project: Project, digests: Iterable[str]) -> None:
    """Upload ``digests`` to the configured remote when ``store.auto_push`` is on; no-op otherwise.

    Callers write their local state (store, lock, registry) first; a failure here
    raises a StoreError that says so and how to retry, and loses nothing.
    """
    cfg = project.config.store
    if not cfg.remote or not cfg.auto_push:
        return
    wanted = [d for d in digests if d]
    if not wanted:
        return
    try:
        remote = Remote.from_project(project)
        upload_many(remote, project.store, wanted, jobs=cfg.jobs)
    except FlowtideError as exc:
        raise StoreError(
            f"automatic push to {cfg.remote} failed: {exc.message}",
            hint="Local work is saved (store, lock and registry are written). "
            "Run `flowtide push` once the remote is reachable, or set `store.auto_push: false`.",
        ) from exc
