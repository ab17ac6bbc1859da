"""``fsck``: prove every stored blob against its name, quarantine corrupt ones, repair them from a good copy.

A blob's name is the BLAKE3 hash of its bytes, so hashing it again is the whole
check. A corrupt blob is moved to the store's ``quarantine/`` (never deleted) and,
on request, replaced from a good copy: a working-tree file that the lock or the
registry says holds those bytes (and does), or the remote store (downloads are
re-hashed). ``ensure_blob`` is the same repair for one blob a command is about
to use, such as the artifact ``package`` bundles.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import FlowtideError, IntegrityError, StoreError, UsageError
from .hashing import CHUNK, hash_file
from .remote import Remote
from .store import REPAIR_HINT, Store
from .validators import is_digest

if TYPE_CHECKING:
    from .project import Project


@dataclass
class Damage:
    """One blob whose bytes do not match its name."""

    digest: str
    where: str
    """local or remote"""
    actual: str | None
    """What the bytes hash to now (None: they could not be read)."""
    used_by: list[str] = field(default_factory=list)
    """What references it: source names, stage output paths, model tags."""
    quarantined: str | None = None
    """Where the local copy was moved."""
    repaired_from: str | None = None
    """The good copy that replaced it (a working-tree path, the remote, the local store)."""
    detail: str = ""
    """What went wrong, when it was not a plain hash mismatch (unreadable, a failed download)."""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class FsckResult:
    checked: int = 0
    bytes: int = 0
    remote: str | None = None
    remote_checked: int = 0
    damaged: list[Damage] = field(default_factory=list)

    @property
    def unrepaired(self) -> list[Damage]:
        return [d for d in self.damaged if d.repaired_from is None]

    @property
    def ok(self) -> bool:
        return not self.unrepaired

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "bytes": self.bytes,
            "remote": self.remote,
            "remote_checked": self.remote_checked,
            "damaged": [d.to_dict() for d in self.damaged],
        }


def fsck(project: Project, *, remote: bool = False, repair: bool = False) -> FsckResult:
    """Hash every local blob (and with ``remote`` every remote one); quarantine and optionally repair the bad."""
    store = project.store
    result = FsckResult()
    remote_store = Remote.from_project(project) if remote else None  # a missing remote fails before any work
    if repair and remote_store is None and project.config.store.remote:
        with contextlib.suppress(FlowtideError):
            remote_store = Remote.from_project(project)
    users = _users(project)
    store.forget_verified()  # a full check proves every blob again; the records start afresh
    for digest in list(store.digests()):
        detail = ""
        try:
            result.bytes += store.path_of(digest).stat().st_size
            actual = store.corrupt([digest], trust_records=False, save=False).get(digest)
        except (FileNotFoundError, StoreError):
            continue  # removed meanwhile (a concurrent gc): nothing to check
        except OSError as exc:
            actual, detail = None, f"unreadable: {exc.strerror or exc}"
        result.checked += 1
        if actual is None and not detail:
            continue
        moved = store.quarantine(digest)
        damage = Damage(digest, "local", actual, users.get(digest, []), detail=detail)
        damage.quarantined = str(moved) if moved else None
        if repair:
            damage.repaired_from = _repair(project, digest, remote_store)
        result.damaged.append(damage)
    store.save_verified(replace=True)
    _earlier(project, result, users, repair=repair, remote=remote_store)
    if remote and remote_store is not None:
        result.remote = remote_store.url
        _check_remote(project, remote_store, result, users, repair=repair)
    return result


def _earlier(project: Project, result: FsckResult, users: dict[str, list[str]], *, repair: bool, remote) -> None:
    """Blobs quarantined earlier (by a command or a previous fsck) that are referenced and still missing."""
    store = project.store
    if not store.quarantine_dir.is_dir():
        return
    seen = {damage.digest for damage in result.damaged}
    for moved in sorted(store.quarantine_dir.iterdir(), reverse=True):
        digest = moved.name.split(".", 1)[0]
        if digest in seen or not is_digest(digest) or digest not in users or store.has(digest):
            continue
        seen.add(digest)
        damage = Damage(
            digest, "local", None, users[digest], str(moved), detail="quarantined earlier, not repaired yet"
        )
        if repair:
            damage.repaired_from = _repair(project, digest, remote)
        result.damaged.append(damage)


def ensure_blob(project: Project, digest: str, *, what: str, candidates: Iterable[str] = ()) -> str | None:
    """Check a blob before it is used; a corrupt one is quarantined and replaced from a good copy.

    Returns where the replacement came from (None when the blob was intact or is
    absent: absence is the caller's to handle). Raises IntegrityError naming the
    blob and ``flowtide fsck --repair`` when no good copy exists.
    """
    store = project.store
    if not store.has(digest):
        return None
    actual = store.corrupt([digest]).get(digest)
    if actual is None:
        return None
    moved = store.quarantine(digest)
    remote = None
    if project.config.store.remote:
        with contextlib.suppress(FlowtideError):
            remote = Remote.from_project(project)
    origin = _repair(project, digest, remote, extra=list(candidates))
    if origin is None:
        raise IntegrityError(
            f"blob {digest[:12]} ({what}) in {store.root} is corrupt: its bytes hash to {actual[:12]}; "
            f"moved to {moved}. No good copy was found in the working tree"
            + (" or on the remote store" if remote else " and no remote store is configured"),
            hint=REPAIR_HINT,
        )
    return origin


# --- finding a good copy ------------------------------------------------------------


def _users(project: Project) -> dict[str, list[str]]:
    """digest -> what references it, for the report."""
    from .transfer import references

    found: dict[str, list[str]] = {}
    with contextlib.suppress(FlowtideError):
        for item in references(project):
            found.setdefault(item.digest, []).append(item.path or item.name)
    return found


def _candidates(project: Project, digest: str) -> list[str]:
    """Working-tree paths that the lock or the registry says hold ``digest``."""
    from .registry import Registry
    from .transfer import references

    paths: list[str] = []
    with contextlib.suppress(FlowtideError):
        paths += [item.path for item in references(project) if item.digest == digest and item.path]
    with contextlib.suppress(FlowtideError):
        registry = Registry.load(project)
        for model in registry.models():
            paths += [v.path for v in registry.versions(model) if v.hash == digest and v.path]
    return list(dict.fromkeys(paths))


def _repair(project: Project, digest: str, remote: Remote | None, *, extra: Iterable[str] = ()) -> str | None:
    """Put good bytes back under ``digest``: from a working-tree file, else the remote; say from where."""
    store = project.store
    for rel in dict.fromkeys([*extra, *_candidates(project, digest)]):
        try:
            path = project.resolve(rel, "repair candidate")
        except UsageError:
            continue
        # hash first, so a file that changed since is not copied into the store under its own name
        with contextlib.suppress(OSError):
            if path.is_file() and hash_file(path)[0] == digest and _copy_in(store, path) == digest:
                return rel
    if remote is not None:
        from .remote import download_many

        try:
            got = download_many(remote, store, [digest], jobs=1)
        except FlowtideError:
            return None
        store.mark_verified(got.transferred)
        if store.has(digest):
            return remote.url
    return None


def _copy_in(store: Store, path: Path) -> str | None:
    """Stream a file into the store, hashing on the way: the blob gets whatever name its bytes prove."""
    try:
        with open(path, "rb") as source, store.writer() as blob:
            while chunk := source.read(CHUNK):
                blob.write(chunk)
    except OSError:
        return None
    return blob.digest


# --- the remote -----------------------------------------------------------------------


def _check_remote(project: Project, remote: Remote, result: FsckResult, users: dict, *, repair: bool) -> None:
    """Download every remote blob into a scratch store (each is re-hashed on the way) and report the bad ones."""
    store = project.store
    scratch_root = project.state_dir / "tmp" / "fsck"
    shutil.rmtree(scratch_root, ignore_errors=True)
    scratch = Store(scratch_root)
    try:
        for digest in sorted(remote.list()):
            result.remote_checked += 1
            try:
                remote.download(scratch, digest)  # streams and re-hashes; refuses bytes that do not match
                scratch.remove(digest)
                continue
            except FlowtideError as exc:
                detail = exc.message
            damage = Damage(digest, "remote", None, users.get(digest, []), detail=detail)
            if repair and store.has(digest) and store.intact(digest):
                try:
                    remote.upload(store, digest)
                    damage.repaired_from = str(store.root)
                except FlowtideError:
                    pass
            result.damaged.append(damage)
    finally:
        shutil.rmtree(scratch_root, ignore_errors=True)
