"""The content-addressed blob store: every tracked byte lives once, named by its hash.

Local by default (``.flowtide/cache``). A blob enters only through a temporary
file that is hashed while written and renamed into place, so a killed process
never leaves a half-written blob under a real name. Blobs are read-only.

A blob is checked against its name before it is used (restored, adopted,
packaged): hashing is the proof, and a successful check is recorded in
``verified.json`` for the blob's (inode, size, mtime_ns), so a blob
is hashed once while it stays untouched. A corrupt blob is moved to
``quarantine/`` (never deleted) and replaced from a good copy when there is one.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from .atomic import atomic_copy, atomic_write, copy_fileobj, private_dir, temp_file
from .errors import IntegrityError, StoreError
from .hashing import CHUNK, hash_file, new_hasher
from .validators import is_digest

VERIFIED_FILE = "verified.json"
QUARANTINE_DIR = "quarantine"
REPAIR_HINT = (
    "Run `flowtide fsck --repair`: it quarantines corrupt blobs and restores them from a working-tree file "
    "with the same hash or from the remote store."
)


class BlobWriter:
    """Streams bytes into a temp file while hashing; ``commit()`` names the blob."""

    def __init__(self, store: Store, size_hint: int = 0) -> None:
        self.store = store
        fd, self.tmp_path = temp_file(private_dir(store.tmp_dir), "blob", ".part")
        self._file = os.fdopen(fd, "wb")
        self._hasher = new_hasher(size_hint)
        self.size = 0
        self.digest: str | None = None

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self._hasher.update(chunk)
        self.size += len(chunk)

    def commit(self) -> str:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self.digest = self._hasher.hexdigest()
        self.store._adopt(self.tmp_path, self.digest, hashed=True)
        return self.digest

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(OSError):
            self.tmp_path.unlink()


class Store:
    """A directory of blobs: ``<root>/<hash[:2]>/<hash[2:]>``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
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
    def writer(self, size_hint: int = 0) -> Iterator[BlobWriter]:
        """Write a new blob; it is committed on clean exit and discarded on error."""
        blob = BlobWriter(self, size_hint)
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
        if digest is None:
            digest, size = hash_file(path)
        else:
            size = os.stat(path).st_size
        if self.has(digest):
            actual = self._check(digest)
            self.save_verified()
            if actual is None:
                return digest, size
            mine, _ = hash_file(path)
            if mine != digest:
                raise IntegrityError(
                    f"{path} was to replace corrupt blob {digest[:12]} in {self.root} but hashes to {mine[:12]}",
                    hint=REPAIR_HINT,
                )
            self.quarantine(digest)
        if not self.has(digest):
            fd, tmp = temp_file(private_dir(self.tmp_dir), "blob", ".part")
            # the temp name is private until adopted: copy into it directly and fsync the bytes
            # (no second temp file, no directory fsync: that cost ~40% of adding many small files)
            try:
                with open(path, "rb") as source, os.fdopen(fd, "wb") as out:
                    copy_fileobj(source, out)
                    out.flush()
                    os.fsync(out.fileno())
            except BaseException:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise
            self._adopt(tmp, digest)
        return digest, size

    def add_files(self, items: Iterable[tuple[str | os.PathLike[str], str]], *, jobs: int = 8) -> None:
        """Add many (path, hash) pairs at once, e.g. the files of a directory output.

        Each blob is still copied and fsynced on its own, but in threads: fsync
        releases the GIL, so the disk waits overlap instead of adding up. Blobs
        already present are checked, and corrupt ones replaced from these files.
        """
        items = list(items)
        for digest in self.corrupt(digest for _, digest in items):
            path = next(path for path, d in items if d == digest)
            self.add_file(path, digest)
        missing = {digest: path for path, digest in items if not self.has(digest)}
        if len(missing) < 2 or jobs < 2:
            for digest, path in missing.items():
                self.add_file(path, digest)
            return
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(jobs, len(missing))) as pool:
            for _ in pool.map(lambda pair: self.add_file(pair[1], pair[0]), missing.items()):
                pass

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
        atomic_copy(src, dest, tmp_dir=self.tmp_dir)  # the temp file out of git's sight until the rename
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
