"""The content-addressed blob store: every tracked byte lives once, named by its hash.

Local by default (``.flowtide/cache``). A blob enters only through a temporary
file that is hashed while written and renamed into place, so a killed process
never leaves a half-written blob under a real name. Blobs are read-only.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from .atomic import atomic_copy, copy_fileobj, private_dir, temp_file
from .errors import IntegrityError, StoreError
from .hashing import CHUNK, hash_file, new_hasher


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
        self.store._adopt(self.tmp_path, self.digest)
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

    def path_of(self, digest: str) -> Path:
        return self.root / digest[:2] / digest[2:]

    def has(self, digest: str) -> bool:
        return self.path_of(digest).is_file()

    def digests(self) -> Iterator[str]:
        """Every blob in the store."""
        if not self.root.is_dir():
            return
        for prefix in sorted(self.root.iterdir()):
            if len(prefix.name) != 2 or not prefix.is_dir():
                continue
            for blob in prefix.iterdir():
                if not blob.name.startswith("."):
                    yield prefix.name + blob.name

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
        """Copy a file into the store (once); return (hash, size)."""
        if digest is None:
            digest, size = hash_file(path)
        else:
            size = os.stat(path).st_size
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
        releases the GIL, so the disk waits overlap instead of adding up.
        """
        missing = {digest: path for path, digest in items if not self.has(digest)}
        if len(missing) < 2 or jobs < 2:
            for digest, path in missing.items():
                self.add_file(path, digest)
            return
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(jobs, len(missing))) as pool:
            for _ in pool.map(lambda pair: self.add_file(pair[1], pair[0]), missing.items()):
                pass

    def _adopt(self, tmp: Path, digest: str) -> None:
        target = self.path_of(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(tmp, 0o444)
        if target.exists():
            tmp.unlink()
            return
        os.replace(tmp, target)

    def open(self, digest: str):
        try:
            return open(self.path_of(digest), "rb")
        except FileNotFoundError:
            raise StoreError(
                f"blob {digest[:12]} is not in the store {self.root}",
                hint="Run `flowtide fetch` to download it from the remote, or re-run the step that produced it.",
            ) from None

    def verify(self, digest: str) -> None:
        """Re-hash a blob; raise IntegrityError if its bytes changed."""
        path = self.path_of(digest)
        if not path.is_file():
            raise StoreError(f"blob {digest[:12]} is not in the store {self.root}")
        actual, _ = hash_file(path)
        if actual != digest:
            raise IntegrityError(
                f"blob {digest[:12]} in {self.root} is corrupted (its bytes hash to {actual[:12]})",
                hint="Delete it and run `flowtide fetch` or re-run the producing step.",
            )

    def materialize(self, digest: str, dest: str | os.PathLike[str], *, verify: bool = False) -> None:
        """Write the blob's bytes to ``dest`` atomically (the old file stays until the rename)."""
        if verify:
            self.verify(digest)
        src = self.path_of(digest)
        if not src.is_file():
            raise StoreError(
                f"blob {digest[:12]} for {dest} is not in the store {self.root}",
                hint="Run `flowtide fetch` to download it from the remote.",
            )
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
