"""Atomic writes: every file that holds state goes through here.

A write lands in a temporary file in the destination's directory, is fsynced,
then renamed over the target, and the directory is fsynced; a reader (or a
process killed half-way) sees the old bytes or the new ones, never a mix.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str], mode: str = "wb", *, fsync: bool = True) -> Iterator[IO]:
    """Yield a file object; on clean exit its content replaces ``path`` atomically."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        encoding = None if "b" in mode else "utf-8"
        newline = None if "b" in mode else ""
        with os.fdopen(fd, mode, encoding=encoding, newline=newline) as handle:
            yield handle
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
        if target.exists():
            with contextlib.suppress(OSError):
                os.chmod(tmp, target.stat().st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
        if fsync:
            _fsync_dir(target.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike[str], data: bytes | str, *, fsync: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    with atomic_writer(path, "wb", fsync=fsync) as handle:
        handle.write(data)


def write_if_changed(path: str | os.PathLike[str], data: bytes | str) -> bool:
    """Atomically write ``data`` unless the file already holds exactly it; say if it wrote."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    target = Path(path)
    try:
        if target.stat().st_size == len(data) and target.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    atomic_write(target, data)
    return True


def atomic_copy(src: str | os.PathLike[str], dst: str | os.PathLike[str], *, fsync: bool = True) -> None:
    """Copy ``src`` over ``dst`` atomically (reflink where the filesystem can)."""
    with open(src, "rb") as source, atomic_writer(dst, "wb", fsync=fsync) as out:
        copy_fileobj(source, out)


def copy_fileobj(source: IO, out: IO) -> None:
    """Copy one open file into another, in the kernel when it can (copy_file_range)."""
    try:
        _kernel_copy(source, out)
    except OSError:
        source.seek(0)
        out.seek(0)
        out.truncate()
        shutil.copyfileobj(source, out, 1 << 20)


def _kernel_copy(source: IO, out: IO) -> None:
    size = os.fstat(source.fileno()).st_size
    copied = 0
    while copied < size:
        n = os.copy_file_range(source.fileno(), out.fileno(), size - copied)
        if n == 0:
            break
        copied += n
    if copied != size:
        raise OSError("short copy")
