"""Content hashing (BLAKE3) and the stat cache that avoids re-hashing unchanged files.

BLAKE3 is fast (multi-threaded on large files) and collision resistant, so a
hash names a blob in the store and also proves it was not tampered with.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from .atomic import atomic_write
from .validators import is_digest

ALGORITHM = "blake3"
CHUNK = 1 << 20
_MT_THRESHOLD = 64 << 20  # files above this are hashed with all cores


def new_hasher(size_hint: int = 0):
    import blake3

    if size_hint >= _MT_THRESHOLD:
        return blake3.blake3(max_threads=blake3.blake3.AUTO)
    return blake3.blake3()


def hash_bytes(data: bytes) -> str:
    return new_hasher(len(data)).update(data).hexdigest()


def hash_chunks(chunks: Iterable[bytes]) -> tuple[str, int]:
    hasher = new_hasher()
    size = 0
    for chunk in chunks:
        hasher.update(chunk)
        size += len(chunk)
    return hasher.hexdigest(), size


def hash_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """Return (hex digest, size) of a file's bytes."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:  # raw reads: no buffered file object (its isatty and seek calls cost more than a small file's hash)
        size = os.fstat(fd).st_size
        hasher = new_hasher(size)
        if size >= _MT_THRESHOLD:
            hasher.update_mmap(os.fspath(path))
            return hasher.hexdigest(), size
        first = b""
        if size < CHUNK:
            # a small file in one read: asking for one byte more than its size sees the end of the
            # file in the same call (no second, empty read) and allocates no 1 MiB buffer
            first = os.read(fd, size + 1)
            if len(first) == size:
                return hasher.update(first).hexdigest(), size
        hasher.update(first)  # it grew or shrank meanwhile: read on to the end as for a large file
        size = len(first)
        while chunk := os.read(fd, CHUNK):
            hasher.update(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    return hasher.hexdigest(), size


class StatCache:
    """Remembers (inode, size, mtime_ns) → hash so unchanged files cost one stat.

    Persisted as one JSON file under ``.flowtide/``; written only when it changed.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._entries: dict[str, list] | None = None
        self._dirty = False

    def _load(self) -> dict[str, list]:
        if self._entries is None:
            try:
                self._entries = json.loads(self.path.read_bytes())
            except (FileNotFoundError, ValueError, RecursionError):
                self._entries = {}
            if not isinstance(self._entries, dict):  # not what save() writes: start over
                self._entries = {}
        return self._entries

    def hash(self, path: str | os.PathLike[str], key: str | None = None) -> tuple[str, int]:
        """Hash ``path``, reusing the cached digest when its stat is unchanged."""
        st = os.stat(path)
        key = key or os.fspath(path)
        entries = self._load()
        hit = entries.get(key)
        if (
            isinstance(hit, list)  # the cache is input too: anything else is a miss
            and len(hit) == 4
            and hit[:3] == [st.st_ino, st.st_size, st.st_mtime_ns]
            and is_digest(hit[3])
        ):
            return hit[3], st.st_size
        digest, size = hash_file(path)
        entries[key] = [st.st_ino, st.st_size, st.st_mtime_ns, digest]
        self._dirty = True
        return digest, size

    def remember(self, path: str | os.PathLike[str], digest: str, key: str | None = None) -> None:
        st = os.stat(path)
        self._load()[key or os.fspath(path)] = [st.st_ino, st.st_size, st.st_mtime_ns, digest]
        self._dirty = True

    def save(self) -> None:
        if self._dirty and self._entries is not None:
            atomic_write(self.path, json.dumps(self._entries, separators=(",", ":")), fsync=False)
            self._dirty = False
