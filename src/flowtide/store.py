"""The content-addressed blob store: every tracked byte lives once, named by its hash.

Local by default (``.flowtide/cache``). A blob enters only through a temporary
file that is hashed while written and renamed into place, so a killed process
never leaves a half-written blob under a real name. Blobs are read-only.

A blob is checked against its name before it is used (restored, adopted,
packaged): hashing is the proof, and a successful check is recorded in
``verified.json`` for the blob's (inode, size, mtime_ns), so a blob
is hashed once while it stays untouched. A corrupt blob is moved to
``quarantine/`` (never deleted) and replaced from a good copy when there is one.

Durability. A blob's name must never point at bytes that are not on disk: after
a power cut a name is either absent or names the whole blob. One blob at a time
(``writer``, ``add_file``) fsyncs its temp file before the rename. Many at once
(``add_files``, e.g. 10,000 files of a directory output) write every temp file
first, then make them all durable with one ``syncfs`` of the store's filesystem
(Linux; it returns only once every dirty page and inode there is on disk, and
reports write-back errors since 5.8), and only then rename them in, followed by
a second ``syncfs`` so the names are on disk before a lock can refer to them.
The ordering, not the number of calls, is what the guarantee rests on: bytes
durable, then name. A crash mid-batch leaves owner-named temp files only
(removed as leftovers) and never a half blob. Elsewhere each file is fsynced.

Why not write a blob straight to its final name (``O_CREAT|O_EXCL``), since a torn
blob would fail its hash on the way out? Because a name is read as "present" without
a hash in many places (``has`` decides what fetch downloads and push uploads), and
because another process may check a blob by hash while this one is still writing
it, find it "corrupt" and quarantine it. The rename costs about half of a file
creation (measured with strace); creating the inode, not naming it, is the cost.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from .atomic import (
    DIRECT_MIN,
    WRITEBACK_STEP,
    DirectCopy,
    DirectFollow,
    GrowingCopy,
    Writeback,
    WrittenCopy,
    atomic_copy,
    atomic_write,
    copy_fileobj,
    copy_range,
    fsync_dir,
    owner,
    private_dir,
    temp_file,
)
from .errors import IntegrityError, StoreError
from .hashing import CHUNK, hash_bytes, hash_file, new_hasher
from .validators import is_digest

VERIFIED_FILE = "verified.json"
QUARANTINE_DIR = "quarantine"
_BATCH = 16
"""From this many new blobs on, ``add_files`` syncs them together instead of one fsync each."""
_SMALL = 1 << 20
"""Files up to this size are read whole, hashed and written by ``add_files`` (no kernel copy, no second read)."""
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
REPAIR_HINT = (
    "Run `flowtide fsck --repair`: it quarantines corrupt blobs and restores them from a working-tree file "
    "with the same hash or from the remote store."
)


class BlobWriter:
    """Streams bytes into a temp file while hashing; ``commit()`` names the blob.

    With ``copy_to`` and a large ``size_hint`` (:data:`~flowtide.atomic.DIRECT_MIN`), the bytes are
    written once through the page cache, into the working tree's copy, and the blob follows them past
    it (:class:`~flowtide.atomic.DirectFollow`); otherwise into the blob, with the working tree's copy
    following it (:class:`~flowtide.atomic.GrowingCopy`).
    """

    def __init__(self, store: Store, size_hint: int = 0, copy_to: str | os.PathLike[str] | None = None) -> None:
        self.store = store
        self._fd, self.tmp_path = temp_file(private_dir(store.tmp_dir), "blob", ".part")
        self.copy: GrowingCopy | None = None
        """A copy of the bytes made for ``copy_to`` as they arrive (:class:`~flowtide.atomic.GrowingCopy`),
        ready to :meth:`~flowtide.atomic.GrowingCopy.place` after ``commit()``; None: copy from the blob."""
        self._direct: DirectFollow | None = None
        self._writeback: Writeback | None = None
        if copy_to is not None and size_hint >= DIRECT_MIN:
            with contextlib.suppress(OSError):  # (no O_DIRECT here, another filesystem: as below)
                tree = WrittenCopy(copy_to, store.tmp_dir)
                try:
                    self._direct = DirectFollow(tree.fd, self._fd, step=WRITEBACK_STEP)
                except BaseException:
                    tree.discard()
                    raise
                self.copy = tree
        if self._direct is None:
            if copy_to is not None:
                # (another filesystem, or no room: the caller copies the finished blob)
                with contextlib.suppress(OSError):
                    self.copy = GrowingCopy(self.tmp_path, copy_to, store.tmp_dir)
            self._writeback = Writeback(self._fd)  # the commit's fsync finds the bytes mostly on disk already
        # the file the bytes are written into: the working tree's copy (the blob follows it) or the blob
        self._file = os.fdopen(self.copy.fd if self._direct is not None else self._fd, "wb", closefd=False)
        self._flushed = 0
        # one thread: streamed chunks are small (64 KiB from a socket), where blake3's thread pool
        # costs more than it saves (5 GB/s on one core, 2 GB/s with threads, measured)
        self._hasher = new_hasher()
        self.size = 0
        self.digest: str | None = None

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self._hasher.update(chunk)
        self.size += len(chunk)
        if self.size - self._flushed >= WRITEBACK_STEP:
            self._file.flush()
            self._flushed = self.size
            if self._direct is not None:
                self._direct.grew(self.size)
                return
            self._writeback.wrote(self.size)
            if self.copy is not None:
                self.copy.grew(self.size)

    def commit(self) -> str:
        self._file.close()  # (flushed: the kernel has every byte; the descriptors stay open)
        if self._direct is not None:
            if not self._direct.finish(self.size):  # the blob is copied from the working tree's copy instead
                os.ftruncate(self._fd, 0)
                copy_range(self.copy.fd, self._fd, 0, self.size)
            self._direct = None
        else:
            if self.copy is not None:
                self.copy.grew(self.size, final=True)  # the rest is copied while the blob's fsync waits
            self._writeback.close()
        os.fsync(self._fd)
        if self.copy is not None and not self.copy.finish(self.size):
            self.copy = None
        self._close()
        self.digest = self._hasher.hexdigest()
        self.store._adopt(self.tmp_path, self.digest, hashed=True)
        return self.digest

    def abort(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._file.close()  # first: its buffer goes to a descriptor that is still this file's
        if self._direct is not None:
            self._direct.stop()
            self._direct = None
        if self.copy is not None:
            self.copy.discard()
            self.copy = None
        if self._writeback is not None:
            self._writeback.close()
        self._close()
        with contextlib.suppress(OSError):
            self.tmp_path.unlink()

    def _close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._file.close()
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.close(fd)


class SourceChanged(StoreError):
    """The file being added changed while it was read: nothing was stored (read it again)."""


class Store:
    """A directory of blobs: ``<root>/<hash[:2]>/<hash[2:]>``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._root = os.fspath(self.root)
        self.tmp_dir = self.root / "tmp"
        self.quarantine_dir = self.root / QUARANTINE_DIR
        self._verified: dict[str, list[int]] | None = None
        self._verified_dirty = False
        self._verified_lock = threading.Lock()

    def path_of(self, digest: str) -> Path:
        if not is_digest(digest):  # a hash becomes a file name: never let it be a path
            raise StoreError(
                f"{digest!r} is not a BLAKE3 hex digest (64 lowercase hex characters); refusing to use it as a blob name",
                hint="It came from a hand-edited or crafted flowtide.lock / flowtide.registry: restore that file from git.",
            )
        return self.root / digest[:2] / digest[2:]

    def _name(self, digest: str) -> str:
        """``path_of`` as a plain string (no Path objects: the batch paths name 10,000 blobs at a time)."""
        if not is_digest(digest):
            self.path_of(digest)  # raises the StoreError
        return f"{self._root}/{digest[:2]}/{digest[2:]}"

    def has(self, digest: str) -> bool:
        return self.path_of(digest).is_file()

    def digests(self) -> Iterator[str]:
        """Every blob in the store (files whose name is not a digest are not blobs)."""
        if not self.root.is_dir():
            return
        for prefix in sorted(self.root.iterdir()):
            if len(prefix.name) != 2 or not prefix.is_dir():
                continue
            for blob in prefix.iterdir():
                if is_digest(prefix.name + blob.name):
                    yield prefix.name + blob.name

    # -- integrity ----------------------------------------------------------------

    def _records(self) -> dict[str, list[int]]:
        if self._verified is None:
            try:
                data = json.loads((self.root / VERIFIED_FILE).read_bytes())
                blobs = data.get("blobs") if isinstance(data, dict) else None
                self._verified = blobs if isinstance(blobs, dict) else {}
            except (OSError, ValueError):
                self._verified = {}
        return self._verified

    @staticmethod
    def _stamp(st: os.stat_result) -> list[int]:
        return [st.st_ino, st.st_size, st.st_mtime_ns]

    def _record(self, digest: str, st: os.stat_result) -> None:
        with self._verified_lock:
            self._records()[digest] = self._stamp(st)
            self._verified_dirty = True

    def save_verified(self, *, replace: bool = False) -> None:
        """Write the verification records, merged with what other processes recorded meanwhile.

        ``replace``: write exactly this process's records (fsck, having hashed every blob).
        """
        with self._verified_lock:
            if not self._verified_dirty and not replace:
                return
            self._verified_dirty = False
            mine = self._records()
            theirs = None
            try:
                data = json.loads((self.root / VERIFIED_FILE).read_bytes())
                theirs = data.get("blobs") if isinstance(data, dict) else None
            except (OSError, ValueError):
                pass
            merged = dict(mine) if replace or not isinstance(theirs, dict) else {**theirs, **mine}
            if merged == theirs or (not merged and theirs is None):
                return
            self._verified = merged
            with contextlib.suppress(OSError):  # a read-only store still works; it just hashes again
                atomic_write(
                    self.root / VERIFIED_FILE,
                    json.dumps({"version": 1, "blobs": merged}, separators=(",", ":")),
                    fsync=False,
                )

    def _check(self, digest: str, *, trust_record: bool = True) -> str | None:
        """None if the blob holds the bytes its name says, else the digest its bytes do have."""
        path = self.path_of(digest)
        try:
            st = path.stat()
        except FileNotFoundError:
            raise StoreError(
                f"blob {digest[:12]} is not in the store {self.root}",
                hint="Run `flowtide fetch` to download it from the remote, or re-run the step that produced it.",
            ) from None
        if trust_record:
            with self._verified_lock:
                known = self._records().get(digest)
            if known == self._stamp(st):
                return None
        actual, _ = hash_file(path)
        if actual != digest:
            return actual
        self._record(digest, st)
        return None

    def mark_verified(self, digests: Iterable[str]) -> None:
        """Record blobs the caller has just proven (e.g. downloads, hashed while streaming in)."""
        for digest in digests:
            with contextlib.suppress(FileNotFoundError):
                self._record(digest, self.path_of(digest).stat())
        self.save_verified()

    def intact(self, digest: str) -> bool:
        """Whether a blob (which must exist) still holds its bytes: a recorded check for its stat, else a hash."""
        bad = self._check(digest)
        self.save_verified()
        return bad is None

    def corrupt(self, digests: Iterable[str], *, trust_records: bool = True, save: bool = True) -> dict[str, str]:
        """The present blobs among ``digests`` whose bytes changed: digest -> what they hash to now."""
        found: dict[str, str] = {}
        for digest in dict.fromkeys(digests):
            if not self.has(digest):
                continue
            actual = self._check(digest, trust_record=trust_records)
            if actual is not None:
                found[digest] = actual
        if save:
            self.save_verified()
        return found

    def forget_verified(self) -> None:
        """Drop every recorded check (fsck proves each blob again, then saves with ``replace=True``)."""
        with self._verified_lock:
            self._verified = {}
            self._verified_dirty = True

    def verify(self, digest: str) -> None:
        """Re-hash a blob (ignoring recorded checks); raise IntegrityError if its bytes changed."""
        actual = self._check(digest, trust_record=False)
        self.save_verified()
        if actual is not None:
            raise self._corrupted(digest, actual)

    def _corrupted(self, digest: str, actual: str, moved: Path | None = None) -> IntegrityError:
        where = f"; moved to {moved}" if moved else ""
        return IntegrityError(
            f"blob {digest[:12]} in {self.root} is corrupted (its bytes hash to {actual[:12]}){where}",
            hint=REPAIR_HINT,
        )

    def quarantine(self, digest: str) -> Path | None:
        """Move a (corrupt) blob out of the store, never deleting it; return where it went."""
        source = self.path_of(digest)
        self.quarantine_dir.mkdir(parents=True, exist_ok=True)
        target = self.quarantine_dir / f"{digest}.{time.time_ns()}"
        try:
            os.replace(source, target)
        except FileNotFoundError:
            return None
        with self._verified_lock:
            self._records().pop(digest, None)
        return target

    @contextlib.contextmanager
    def writer(self, size_hint: int = 0, *, copy_to: str | os.PathLike[str] | None = None) -> Iterator[BlobWriter]:
        """Write a new blob; it is committed on clean exit and discarded on error.

        ``copy_to``: the blob is wanted there too; it is copied as the bytes arrive (``blob.copy``).
        """
        blob = BlobWriter(self, size_hint, copy_to)
        try:
            yield blob
            if blob.digest is None:
                blob.commit()
        except BaseException:
            blob.abort()
            raise

    def add_file(self, path: str | os.PathLike[str], digest: str | None = None) -> tuple[str, int]:
        """Copy a file into the store (once); return (hash, size).

        A blob already present is checked first; if it is corrupt it is quarantined
        and replaced by this file's bytes, after proving they hash to ``digest``.
        """
        digest, size, _ = self.add_file_copying(path, digest)
        return digest, size

    def add_file_copying(
        self, path: str | os.PathLike[str], digest: str | None = None, copy_to: str | os.PathLike[str] | None = None
    ) -> tuple[str, int, GrowingCopy | None]:
        """:meth:`add_file`, and when the blob is new, a copy of the file for ``copy_to`` made beside the
        store's own (:class:`~flowtide.atomic.GrowingCopy`, finished, for the caller to place or discard):
        the working tree's copy then costs no time of its own. None: no copy (the blob was there, or the
        copy could not be made); the caller copies from the store.

        The store's copy of a large file (``DIRECT_MIN``) is written past the page cache
        (:class:`~flowtide.atomic.DirectCopy`). Without ``digest`` it starts while the file is hashed
        and is stopped if the hash finds the blob there (a few hundred MB written for nothing, on the
        disk's time, not the caller's); a file that changes meanwhile raises :class:`SourceChanged`
        and leaves nothing behind.
        """
        before = os.stat(path)
        size = before.st_size
        hashed_at = None
        if digest is None:
            hashed_at = _stamp_of(before)
            # racy-git rule: a file changed within the last second may change again within the
            # same ctime tick (the clock ctime reads is coarse), so its stamp proves nothing
            if hashed_at[-1] > time.time_ns() - 1_000_000_000:
                hashed_at = None
        copy = direct = None
        fd = tmp = None
        try:
            hashing = digest is None
            if hashing:
                if size >= DIRECT_MIN:
                    fd, tmp = temp_file(private_dir(self.tmp_dir), "blob", ".part")
                    with contextlib.suppress(OSError):  # (no O_DIRECT on this file system: copied below)
                        direct = DirectCopy(path, fd, size)
                digest, size = hash_file(path)
            if self.has(digest):
                actual = self._check(digest)
                self.save_verified()
                if actual is None:
                    if direct is not None:
                        direct.stop()  # the store has these bytes: its copy is not wanted
                        direct = None
                    if hashing and _stamp_of(os.stat(path)) != _stamp_of(before):
                        raise SourceChanged(f"{path} changed while it was read")
                    return digest, size, None
                mine, _ = hash_file(path)
                if mine != digest:
                    raise IntegrityError(
                        f"{path} was to replace corrupt blob {digest[:12]} in {self.root} but hashes to {mine[:12]}",
                        hint=REPAIR_HINT,
                    )
                self.quarantine(digest)
            if not self.has(digest):
                copy = self._copy_for(path, copy_to, size)
                if fd is None:  # (the hash was known)
                    fd, tmp = temp_file(private_dir(self.tmp_dir), "blob", ".part")
                    if size >= DIRECT_MIN:
                        with contextlib.suppress(OSError):
                            direct = DirectCopy(path, fd, size)
                # the temp name is private until adopted: copy into it directly and fsync the bytes
                # (no second temp file, no directory fsync: that cost ~40% of adding many small files)
                with open(path, "rb") as source, os.fdopen(fd, "wb") as out:
                    fd = None  # (the file object closes it now)
                    finished, direct = direct is not None and direct.finish(), None
                    if not finished:
                        out.truncate(0)
                        copy_fileobj(source, out, writeback=True)
                        out.flush()
                    os.fsync(out.fileno())
                    if copy is not None and not copy.finish(size):
                        copy = None  # (it failed: gone, the caller copies from the blob)
                    after = _stamp_of(os.fstat(source.fileno()))
                if hashing and after != _stamp_of(before):
                    raise SourceChanged(f"{path} changed while it was read")
                # the file did not change from before its hash to after both copies (ctime moves with
                # every write and cannot be set back): the blob holds the hashed bytes, so it is
                # recorded as verified and the materialise that follows does not hash it again
                self._adopt(tmp, digest, hashed=hashed_at is not None and after == hashed_at)
                tmp = None
        except BaseException:
            if direct is not None:
                direct.stop()
            if copy is not None:
                copy.discard()
            raise
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    tmp.unlink()
            if fd is not None:
                os.close(fd)
        return digest, size, copy

    def _copy_for(self, path: str | os.PathLike[str], copy_to, size: int) -> GrowingCopy | None:
        """A copy of ``path`` for ``copy_to``, started now on a helper thread (None: none wanted, or it cannot be made)."""
        if copy_to is None:
            return None
        with contextlib.suppress(OSError):  # (another filesystem, say): copied from the blob after
            copy = GrowingCopy(path, copy_to, self.tmp_dir)
            copy.grew(size, final=True)  # the whole file is there: its copy starts now
            return copy
        return None

    def add_files(self, items: Iterable[tuple[str | os.PathLike[str], str]], *, jobs: int = 8) -> set[str]:
        """Add many (path, hash) pairs at once, e.g. the files of a directory output.

        One pass: the blobs present are found by listing their prefix directories
        (not a stat each), corrupt ones are replaced from these files, and the
        missing ones are staged (small files read once, hashed and checked against
        their hash, written; large ones copied in the kernel, in threads), made
        durable by one :func:`_sync_staged`, then renamed into place.
        Returns the digests that were not in the store before (a corrupt blob replaced is not new).
        """
        items = [(os.fspath(path), digest) for path, digest in items]
        present = self._present({digest[:2] for _, digest in items})
        for digest in self.corrupt(d for _, d in items if d in present):
            path = next(path for path, d in items if d == digest)
            self.add_file(path, digest)
        missing: dict[str, str] = {}
        for path, digest in items:
            if digest not in present and digest not in missing:
                self._name(digest)  # a hash becomes a file name: refuse anything else
                missing[digest] = path
        if len(missing) < _BATCH:
            for digest, path in missing.items():
                self.add_file(path, digest)
            return set(missing)
        tmp_dir = os.fspath(private_dir(self.tmp_dir))
        staged: list[tuple[str, str, os.stat_result | None]] = []  # (temp path, digest, stat if hashed)
        try:
            large = []
            for digest, path in missing.items():
                if (done := self._stage_small(path, digest, tmp_dir)) is None:
                    large.append((digest, path))
                else:
                    staged.append(done)
            if large:
                staged.extend(self._stage_large(large, tmp_dir, jobs))
        except BaseException:
            for tmp, _, _ in staged:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            raise
        self.commit_staged(staged)
        return set(missing)

    def commit_staged(self, staged: list[tuple[str, str, os.stat_result | None]]) -> None:
        """Name a batch of written, not yet synced, read-only temp files (temp path, digest, stat if hashed).

        Bytes durable first (one sync for the batch), then the renames, then the
        names durable: see the module docstring. Temp files are gone afterwards,
        named or (on an error) removed. A stat means the bytes were hashed on the
        way in, so the blob is recorded as verified.
        """
        if not staged:
            return
        done = 0
        try:
            prefixes = {digest[:2] for _, digest, _ in staged}
            self.root.mkdir(parents=True, exist_ok=True)
            for prefix in prefixes:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(f"{self._root}/{prefix}")
            _sync_staged(self.tmp_dir, [tmp for tmp, _, _ in staged])
            for tmp, digest, st in staged:
                os.replace(tmp, self._name(digest))
                done += 1
                if st is not None:
                    self._record(digest, st)  # a rename keeps inode and mtime: the stamp still holds
            if not _syncfs(self.root):  # the new names are on disk before a lock can name them
                for prefix in prefixes:
                    _sync_staged(self.root / prefix, [])
        finally:
            for tmp, _, _ in staged[done:]:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            self.save_verified()

    def _present(self, prefixes: Iterable[str]) -> set[str]:
        """The digests stored under these two-character prefixes: one directory listing each."""
        found: set[str] = set()
        for prefix in prefixes:
            try:
                with os.scandir(self.root / prefix) as entries:
                    found.update(prefix + entry.name for entry in entries)
            except (FileNotFoundError, NotADirectoryError):
                continue
        return found

    def _stage_small(self, path: str, digest: str, tmp_dir: Path) -> tuple[str, str, os.stat_result] | None:
        """Read a small file once, prove it hashes to ``digest``, write it to a temp file (not yet synced).

        None if the file is too large to read whole: the caller copies it instead.
        """
        fd = os.open(path, os.O_RDONLY | _O_CLOEXEC)
        try:
            size = os.fstat(fd).st_size
            if size > _SMALL:
                return None
            data = os.read(fd, size)  # a file that changed size meanwhile fails the hash check below
            while len(data) < size and (more := os.read(fd, size - len(data))):
                data += more
        finally:
            os.close(fd)
        actual = hash_bytes(data)
        if actual != digest:
            raise IntegrityError(
                f"{path} changed while it was being stored: it hashes to {actual[:12]}, not {digest[:12]}",
                hint="Let whatever writes it finish, then run the command again.",
            )
        tmp = os.path.join(tmp_dir, f"blob.{owner()}.{digest}.part")
        # created read-only (the blob's final mode, no chmod); O_EXCL: never write into someone else's file
        out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC, 0o444)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(out, view) :]
            st = os.fstat(out)
        except BaseException:
            os.close(out)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        os.close(out)
        return tmp, digest, st

    def _stage_large(self, pairs: list[tuple[str, str]], tmp_dir: Path, jobs: int) -> list[tuple[str, str, None]]:
        """Copy large files into temp files in the kernel (copy_file_range), in threads; not yet synced."""

        def copy(pair: tuple[str, str]) -> tuple[str, str, None]:
            digest, path = pair
            fd, tmp = temp_file(tmp_dir, "blob", ".part")
            try:
                with open(path, "rb") as source, os.fdopen(fd, "wb") as out:
                    copy_fileobj(source, out)
                os.chmod(tmp, 0o444)
            except BaseException:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise
            return os.fspath(tmp), digest, None

        if len(pairs) == 1 or jobs < 2:
            return [copy(pair) for pair in pairs]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(jobs, len(pairs))) as pool:
            return list(pool.map(copy, pairs))

    def _adopt(self, tmp: Path, digest: str, *, hashed: bool = False) -> None:
        """Rename a temp file in as ``digest``; ``hashed``: its bytes were hashed on the way in (so are proven)."""
        target = self.path_of(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(tmp, 0o444)
        if target.exists():
            if not hashed or self._check(digest) is None:
                tmp.unlink()
                if hashed:
                    self.save_verified()
                return
            self.quarantine(digest)  # the bytes in hand are proven: they replace the corrupt blob
        os.replace(tmp, target)
        if hashed:
            self._record(digest, target.stat())
            self.save_verified()

    def open(self, digest: str):
        try:
            return open(self.path_of(digest), "rb")
        except FileNotFoundError:
            raise StoreError(
                f"blob {digest[:12]} is not in the store {self.root}",
                hint="Run `flowtide fetch` to download it from the remote, or re-run the step that produced it.",
            ) from None

    def materialize(self, digest: str, dest: str | os.PathLike[str], *, verify: bool = True) -> None:
        """Write the blob's bytes to ``dest`` atomically (the old file stays until the rename).

        ``verify``: check the blob first (a recorded check for its stat, else a hash)
        and refuse corrupt bytes with an IntegrityError; ``dest`` is then untouched.

        No fsync (as ``fetch`` writes its files): the store holds the durable copy. A
        working-tree file that a crash empties no longer matches its stat-cache entry,
        so the next pull or fetch hashes it, sees it differs from the lock and writes it
        again from the blob. Syncing it would write every byte to disk a second time.
        """
        src = self.path_of(digest)
        if not src.is_file():
            raise StoreError(
                f"blob {digest[:12]} for {dest} is not in the store {self.root}",
                hint="Run `flowtide fetch` to download it from the remote.",
            )
        if verify:
            actual = self._check(digest)
            self.save_verified()
            if actual is not None:
                raise self._corrupted(digest, actual)
        atomic_copy(src, dest, fsync=False, tmp_dir=self.tmp_dir)  # the temp file out of git's sight until the rename
        os.chmod(dest, 0o644)

    def remove(self, digest: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path_of(digest).unlink()

    def read_bytes(self, digest: str) -> bytes:
        with self.open(digest) as handle:
            return handle.read()

    def iter_chunks(self, digest: str) -> Iterator[bytes]:
        with self.open(digest) as handle:
            while chunk := handle.read(CHUNK):
                yield chunk


def _stamp_of(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _sync_staged(directory: str | os.PathLike[str], paths: list[str]) -> None:
    """Make the staged files' bytes (or a directory's entries) durable, in one call where the OS allows.

    Linux: one ``syncfs`` on the store's filesystem (it returns once every dirty page
    and inode of that filesystem is on disk; since 5.8 it also reports write-back
    errors). Elsewhere: an fsync per file and one for the directory.
    """
    if _syncfs(directory):
        return
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    fsync_dir(directory)


_libc_syncfs = None


def _syncfs(directory: str | os.PathLike[str]) -> bool:
    global _libc_syncfs
    if _libc_syncfs is None:
        _libc_syncfs = False
        if hasattr(os, "syncfs"):  # Python 3.14+ may grow it; until then, libc's
            _libc_syncfs = os.syncfs
        elif os.uname().sysname == "Linux":
            import ctypes
            import ctypes.util

            with contextlib.suppress(OSError, AttributeError, TypeError):
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
                call = libc.syncfs
                call.argtypes = [ctypes.c_int]

                def _call(fd: int) -> None:
                    if call(fd) != 0:
                        err = ctypes.get_errno()
                        raise OSError(err, os.strerror(err))

                _libc_syncfs = _call
    if not _libc_syncfs:
        return False
    fd = os.open(directory, os.O_RDONLY)
    try:
        _libc_syncfs(fd)
    finally:
        os.close(fd)
    return True
