"""Atomic writes: every file that holds state goes through here.

A write lands in a temporary file, is fsynced, then renamed over the target,
and the directory is fsynced; a reader (or a process killed half-way) sees the
old bytes or the new ones, never a mix. The temporary file sits in the
destination's directory, or in ``tmp_dir`` (a private directory on the same
filesystem, e.g. the store's, so that no temp file is ever visible to git).

Every temporary file's name carries its owner (``<machine>-<pid>-<start time>``):
``remove_leftovers`` deletes those of processes that are gone (killed), at once,
and never one a live process is still writing.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

LEFTOVER_AGE = 3600.0
"""Temp files without an owner we can check (older flowtide, another machine) are removed after this long."""
_OWNER = re.compile(r"\.([0-9a-f]{8})-(\d+)-(\d+)\.")
_owner: str | None = None


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """fsync a directory (its entries: a rename or a new file in it), ignoring filesystems that refuse."""
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


WRITEBACK_STEP = 16 << 20
"""Large writes start the disk write of every this many bytes as they go (see :class:`Writeback`)."""
_SYNC_FILE_RANGE_WRITE = 2
_libc_sync_file_range = None


class _Follower:
    """A helper thread that works through the bytes a writer adds to a file, as the writer says they arrived.

    The writer calls :meth:`_ask` with the file's new end (after flushing to the kernel); the
    thread hands each new range ``[done, end)`` to :meth:`_handle` (which says False to stop)
    and sleeps while there is none. A blocking call on the thread never holds the writer up.
    """

    _name = "flowtide-follow"

    def _start(self) -> None:
        import threading

        self._wanted = 0
        self._done = 0
        self._last = False  # the writer's final size was asked for: stop once it is handled
        self._stop = False
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def _ask(self, end: int, *, final: bool = False) -> None:
        with self._wake:
            self._wanted = end
            self._last = self._last or final
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._wanted == self._done and not self._last and not self._stop:
                    self._wake.wait()
                if self._stop:
                    return
                wanted, last = self._wanted, self._last
            if not self._handle(wanted) or last:
                return

    def _handle(self, end: int) -> bool:
        """Act on the bytes from ``self._done`` to ``end``, moving ``self._done``; False: stop following."""
        raise NotImplementedError

    def _end(self) -> None:
        """Stop the thread (what it is doing now finishes first) and wait for it."""
        with self._wake:
            self._stop = True
            self._wake.notify()
        self._thread.join()


class Writeback(_Follower):
    """Starts the disk write of a file's bytes while it is still being written (Linux ``sync_file_range``).

    A blob must be on disk before it is named, so a large one ends with an ``fsync``.
    Without help that fsync starts the whole disk write at the end: the kernel holds
    gigabytes of dirty pages before it writes any on its own, so a 1 GiB download
    first fills the page cache, then waits seconds for the disk. :meth:`wrote`,
    called after each write, hands every full step to the disk
    (``SYNC_FILE_RANGE_WRITE``: start the write, do not wait for it) from a helper
    thread, because on a busy disk even starting a write can block, and the
    download or copy must not wait for that. The disk then works while the bytes
    still arrive, and the final fsync finds little left. It changes no guarantee:
    the fsync still decides durability. :meth:`close` (before the fsync and before
    the file is closed) ends the helper. Where there is no ``sync_file_range`` it does nothing.
    """

    _name = "flowtide-writeback"

    def __init__(self, fd: int, step: int = WRITEBACK_STEP) -> None:
        self.fd = fd
        self.step = step
        self.started = 0
        self.call = None  # found at the first full step: a small file (most outputs) needs no ctypes
        self._thread = None  # started at the first full step too

    def wrote(self, end: int) -> None:
        """The file now holds ``end`` bytes (flushed to the kernel): start the write of the full steps."""
        if end - self.started < self.step:
            return
        if self._thread is None:
            self.call = _sync_file_range()
            if self.call is None:
                return
            self._start()
        self.started = end
        self._ask(end)

    def _handle(self, end: int) -> bool:
        if self.call is not None:
            try:
                self.call(self.fd, self._done, end - self._done, _SYNC_FILE_RANGE_WRITE)
            except OSError:  # not supported here (some filesystems): the fsync does it all
                self.call = None
        self._done = end
        return True

    def close(self) -> None:
        """Stop starting writes (call before the fsync and before closing the file)."""
        if self._thread is not None:
            self._end()
            self._thread = None


class GrowingCopy(_Follower):
    """Copies a file that is still being written into a temp file for ``dest``, in the kernel, on a helper thread.

    A pulled blob is wanted in the working tree too. Copied after the download, that copy
    (a page-cache write of every byte: ~0.3 s per GiB on a quiet machine, seconds when
    memory is busy) adds its whole time to the pull; copied while the bytes still arrive
    (``copy_file_range`` from the growing file, every ``step`` bytes), it runs beside the
    download on another core. The writer calls :meth:`grew` after flushing its bytes to the
    kernel and :meth:`finish` once they are all written; the temp file, out of git's sight
    until :meth:`place` renames it over ``dest``, then holds the same bytes. Any error on
    the helper (no ``copy_file_range`` here, a full disk) only drops the copy: ``finish``
    says False and the caller copies the finished blob as before.
    """

    _name = "flowtide-copy"

    def __init__(
        self,
        source: str | os.PathLike[str],
        dest: str | os.PathLike[str],
        tmp_dir: str | os.PathLike[str],
        *,
        step: int = WRITEBACK_STEP,
    ) -> None:
        where = self._where(dest, tmp_dir)
        self._src = os.open(source, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            self._out, self.tmp = temp_file(where, f".{self.dest.name[:80]}", ".tmp")
        except BaseException:
            os.close(self._src)
            raise
        self.step = step
        self.error: OSError | None = None
        self._start()

    def _where(self, dest: str | os.PathLike[str], tmp_dir: str | os.PathLike[str]) -> Path:
        self.dest = Path(dest)
        # the temp file lives in tmp_dir (nothing appears beside dest before the bytes are whole), so
        # dest's directory, or the one it will be made in, must be on tmp_dir's filesystem for the rename
        existing = self.dest.parent
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        where = _same_filesystem(tmp_dir, existing)
        if where == existing:
            raise OSError(errno.EXDEV, "the working tree is on another filesystem than the store")
        return where

    def grew(self, end: int, *, final: bool = False) -> None:
        """The source now holds ``end`` bytes (flushed to the kernel): copy every full step of them;
        ``final``: that is all of them, copy the rest too (:meth:`finish` waits for it)."""
        if final or end - self._wanted >= self.step:
            self._ask(end, final=final)

    def _handle(self, end: int) -> bool:
        try:
            copy_range(self._src, self._out, self._done, end)
        except OSError as exc:
            self.error = exc
            return False
        self._done = end
        return True

    def finish(self, end: int) -> bool:
        """Wait until all ``end`` bytes are copied; False (and the temp file gone) if the copy failed."""
        self.grew(end, final=True)
        self._thread.join()
        ok = self.error is None and self._done == end
        self._close()
        if not ok:
            self.discard()
        return ok

    def place(self) -> None:
        """Rename the finished copy over ``dest`` (0644, as :meth:`flowtide.store.Store.materialize` leaves it)."""
        os.chmod(self.tmp, 0o644)
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.tmp, self.dest)

    def discard(self) -> None:
        """Drop the copy (the download failed, or its bytes are not wanted): the helper ends, the temp file goes."""
        self._end()  # copy nothing more
        self._close()
        with contextlib.suppress(OSError):
            os.unlink(self.tmp)

    def _close(self) -> None:
        for name in ("_src", "_out"):
            fd = getattr(self, name)
            if fd is not None:
                setattr(self, name, None)
                with contextlib.suppress(OSError):
                    os.close(fd)


def copy_range(source: int, out: int, start: int, end: int) -> None:
    """Copy bytes ``[start, end)`` of one file into the same place of another, in the kernel (copy_file_range)."""
    try:
        while start < end:
            n = os.copy_file_range(source, out, end - start, start, start)
            if n == 0:
                raise OSError(errno.EIO, "short copy")
            start += n
    except AttributeError as exc:  # (no os.copy_file_range on this system)
        raise OSError(errno.ENOTSUP, str(exc)) from None


class WrittenCopy(GrowingCopy):
    """A copy for ``dest`` that the writer fills itself through :attr:`fd` (no helper, no source to copy from).

    :class:`GrowingCopy`'s temp file, :meth:`place` and :meth:`discard`: the working tree's copy of a
    download whose blob goes past the page cache is the file the download is written into.
    """

    def __init__(self, dest: str | os.PathLike[str], tmp_dir: str | os.PathLike[str]) -> None:
        self._src = None
        self.fd, self.tmp = temp_file(self._where(dest, tmp_dir), f".{Path(dest).name[:80]}", ".tmp")
        self._out = self.fd
        self.error = None

    def finish(self, end: int) -> bool:
        """Whether all ``end`` bytes are there (the writer flushed them); False: the copy is gone."""
        try:
            ok = os.fstat(self._out).st_size == end
        except (OSError, TypeError):  # (closed already: discarded)
            ok = False
        self._close()
        if not ok:
            self.discard()
        return ok

    def discard(self) -> None:
        self._close()
        with contextlib.suppress(OSError):
            os.unlink(self.tmp)


DIRECT_MIN = 64 << 20
"""A local file at least this large is written into the store past the page cache (see :class:`DirectCopy`)."""
_DIRECT_ALIGN = 4096  # offsets and lengths of O_DIRECT writes: a multiple of the disk's block (512 or 4096 bytes)


def _part_end(start: int, end: int, step: int) -> int:
    """Where the write from ``start`` stops: a step on, at most ``end``, and before an unaligned tail (written alone)."""
    stop = min(start + step, end)
    if stop == end and stop % _DIRECT_ALIGN and stop - stop % _DIRECT_ALIGN > start:
        stop -= stop % _DIRECT_ALIGN
    return stop


class DirectFollow(_Follower):
    """Writes the bytes a writer adds to a file (``source_fd``, through the page cache) into ``fd`` past it (``O_DIRECT``).

    A blob must reach the disk before it is named, and nothing reads it soon after (the working
    tree has its own copy). Written through the page cache, each of its pages is first allocated
    and filled, then written back and waited for by the fsync: on a VM whose host takes freed
    memory back (free page reporting), allocating 1 GiB of page cache cost 0.3–3 s of kernel time
    from one run to the next, measured. ``O_DIRECT`` hands the source's cached pages (mapped, not
    copied) to the disk instead: one pass at the disk's speed, no page cache, and the fsync that
    follows finds nothing left to write (it still decides durability: the disk's own cache and the
    file's size and blocks). Whole blocks go as the writer says they arrived (:meth:`grew`); the
    unaligned tail goes through the page cache once the writer is done (``final``), and so does
    the rest after a write the file system refuses (a block size stricter than 4096). A source cut
    short makes a write fail with EFAULT (the kernel reads the map), never a signal.

    A large download: written once through the page cache, into the working tree's copy (as curl
    writes it), which this follows. ``OSError`` from the constructor: no ``O_DIRECT`` here (some file
    systems and kernels, not Linux); the caller writes the blob as before.
    """

    _name = "flowtide-direct"

    def __init__(self, source_fd: int, fd: int, *, step: int = WRITEBACK_STEP) -> None:
        import fcntl

        direct = getattr(os, "O_DIRECT", 0)
        if not direct:
            raise OSError(errno.ENOTSUP, "no O_DIRECT here")
        self._fcntl = fcntl
        self._src, self.fd, self.step = source_fd, fd, step
        self._flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, self._flags | direct)
        self._direct = True
        self.written = 0
        self.error: OSError | None = None
        self._start()

    def grew(self, end: int, *, final: bool = False) -> None:
        """The source now holds ``end`` bytes (flushed to the kernel); ``final``: all of them."""
        if final or end - self._wanted >= self.step:
            self._ask(end, final=final)

    def _handle(self, end: int) -> bool:
        import mmap

        final = self._last and self._wanted == end
        upto = end if final else end - end % _DIRECT_ALIGN  # whole blocks until the writer is done
        try:
            if upto > self.written:
                base = self.written  # a multiple of the page size, as a map's offset must be
                region = mmap.mmap(self._src, upto - base, prot=mmap.PROT_READ, offset=base)
                view = memoryview(region)
                try:
                    while self.written < upto and not self._stop:
                        part = view[self.written - base : _part_end(self.written, upto, self.step) - base]
                        try:
                            if self._direct and len(part) % _DIRECT_ALIGN:
                                self._buffered()  # the tail
                            self.written += self._write(part)
                        finally:
                            part.release()  # (else an error's traceback keeps the map from closing)
                finally:
                    view.release()
                    region.close()
        except (OSError, ValueError) as exc:  # (ValueError from mmap: the file is shorter than the writer said)
            self.error = exc if isinstance(exc, OSError) else OSError(errno.EINVAL, str(exc))
            return False
        if self.written < upto:  # (stopped)
            return False
        self._done = end
        return True

    def _write(self, part: memoryview) -> int:
        try:
            written = os.pwrite(self.fd, part, self.written)
        except OSError as exc:
            if not self._direct or exc.errno != errno.EINVAL:
                raise
            self._buffered()  # a block size stricter than 4096: the rest through the page cache
            written = os.pwrite(self.fd, part, self.written)
        if written <= 0:
            raise OSError(errno.EIO, "short write")
        return written

    def _buffered(self) -> None:
        self._direct = False
        with contextlib.suppress(OSError):
            self._fcntl.fcntl(self.fd, self._fcntl.F_SETFL, self._flags)

    def finish(self, end: int) -> bool:
        """Write the rest (``end`` bytes in all) and wait; False if a write failed (the caller copies another way)."""
        self.grew(end, final=True)
        self._thread.join()
        self._buffered()
        return self.error is None and self.written == end

    def stop(self) -> None:
        """Write nothing more (what is being written finishes first) and wait."""
        self._end()
        self._buffered()


class DirectCopy(DirectFollow):
    """A :class:`DirectFollow` of a finished file: its whole ``size`` is asked for at once.

    A large local file (the store's copy starts while the file is hashed) or a stage's large
    output. :meth:`stop` ends it early (the bytes turned out to be in the store already).
    """

    def __init__(self, source: str | os.PathLike[str], fd: int, size: int, *, step: int = WRITEBACK_STEP) -> None:
        src = os.open(source, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            if size <= 0 or os.fstat(src).st_size < size:  # (shrank since its stat: refused at once)
                raise OSError(errno.EINVAL, f"{source} holds fewer than {size} bytes")
            super().__init__(src, fd, step=step)
        except BaseException:
            os.close(src)
            raise
        self.size = size
        self.grew(size, final=True)

    @property
    def done(self) -> int:
        return self.written

    def finish(self) -> bool:  # type: ignore[override]
        """Wait for the copy; False if it failed (the caller copies another way). The caller fsyncs."""
        try:
            return super().finish(self.size)
        finally:
            self._close_source()

    def stop(self) -> None:
        """End the copy early (what it is writing now finishes first) and wait for it."""
        super().stop()
        self._close_source()

    def _close_source(self) -> None:
        if self._src is not None:
            src, self._src = self._src, None
            os.close(src)


def _sync_file_range():
    global _libc_sync_file_range
    if _libc_sync_file_range is None:
        _libc_sync_file_range = False
        if os.uname().sysname == "Linux":
            import ctypes

            with contextlib.suppress(OSError, AttributeError, TypeError):
                # the process's own symbols (libc is loaded): ctypes.util.find_library would run
                # `ldconfig -p` in a subprocess on every command that stores a blob
                libc = ctypes.CDLL(None, use_errno=True)
                call = libc.sync_file_range
                call.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]

                def _call(fd: int, offset: int, nbytes: int, flags: int) -> None:
                    if call(fd, offset, nbytes, flags) != 0:
                        err = ctypes.get_errno()
                        raise OSError(err, os.strerror(err))

                _libc_sync_file_range = _call
    return _libc_sync_file_range or None


def is_json_object_line(line: str) -> bool:
    """True when ``line`` is one complete JSON object (what every JSON-lines log of flowtide holds)."""
    import json

    try:
        return isinstance(json.loads(line), dict)
    except (ValueError, RecursionError):
        return False


def append_line(
    path: str | os.PathLike[str],
    line: bytes,
    *,
    complete: Callable[[str], bool] = is_json_object_line,
    fsync: bool = True,
) -> None:
    """Append one record (``line``, newline-terminated) to a log: O(1) in the log's size.

    One ``write`` of the whole line (then ``fsync``), so a crash leaves at most a torn *last*
    line without its newline. Before writing, such a line is either cut off (``complete`` says
    it is not a record: the remains of an interrupted append) or given its newline (a record a
    hand edit left unterminated). Readers skip a torn last line. A short write (a full disk) is
    undone, so the log stays what it was. Callers serialise writers (the repository lock).
    """
    path = Path(path)
    created = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size:
            tail = os.pread(fd, min(size, 1 << 20), max(0, size - (1 << 20)))
            if not tail.endswith(b"\n"):
                start = tail.rfind(b"\n") + 1
                # (a last line longer than the 1 MiB read is no interrupted record of ours: it stays)
                if (start or size == len(tail)) and not complete(tail[start:].decode("utf-8", "replace")):
                    os.ftruncate(fd, size - (len(tail) - start))
                else:
                    line = b"\n" + line
        written = os.write(fd, line)
        if written != len(line):
            os.ftruncate(fd, os.fstat(fd).st_size - written)
            raise OSError(f"could not append to {path.name}: only {written} of {len(line)} bytes were written")
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    if created and fsync:
        fsync_dir(path.parent)


# --- owned temporary files ---------------------------------------------------------


def owner() -> str:
    """This process as a temp-file owner: ``<machine>-<pid>-<start time>`` (a reused pid is another owner)."""
    global _owner
    if _owner is None:
        _owner = f"{_machine()}-{os.getpid()}-{_start_time(os.getpid()) or 0}"
    return _owner


def _forget_owner() -> None:
    global _owner
    _owner = None


os.register_at_fork(after_in_child=_forget_owner)


def _machine() -> str:
    """Where pids mean something: this host, boot and pid namespace (containers sharing a disk differ)."""
    parts = [os.uname().nodename]
    with contextlib.suppress(OSError):
        parts.append(Path("/proc/sys/kernel/random/boot_id").read_text().strip())
    with contextlib.suppress(OSError):
        parts.append(os.readlink("/proc/self/ns/pid"))
    return f"{zlib.crc32(chr(0).join(parts).encode()):08x}"


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), None where there is no /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rpartition(b")")[2].split()
    except OSError:
        return None
    return int(fields[19]) if len(fields) > 19 and fields[0] != b"Z" else None


def _alive(pid: int, start: int) -> bool:
    if Path("/proc/self/stat").exists():
        return _start_time(pid) == start  # gone, a zombie, or the pid reused by another process: dead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def private_dir(directory: str | os.PathLike[str]) -> Path:
    """Create ``directory`` (a home for temp files) with a ``.gitignore`` of ``*``: git never sees inside it."""
    path = Path(directory)
    ignore = path / ".gitignore"
    if not ignore.exists():
        path.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError), open(ignore, "x", encoding="utf-8") as handle:
            handle.write("# flowtide's temporary files\n*\n")
    return path


_TEMP_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def temp_file(directory: str | os.PathLike[str], prefix: str, suffix: str) -> tuple[int, Path]:
    """A new temp file owned by this process, in ``directory``: (fd, path).

    What ``tempfile.mkstemp`` does (a random name created exclusively, mode 0600, not followed if a
    symlink sits there), without importing tempfile, which brings shutil, random and three compression
    modules into every command that writes a file.
    """
    start = f"{os.path.abspath(directory)}{os.sep}{prefix}.{owner()}."  # absolute, as mkstemp returns it
    for _ in range(100):
        name = f"{start}{os.urandom(6).hex()}{suffix}"
        try:
            return os.open(name, _TEMP_FLAGS, 0o600), Path(name)
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", os.fspath(directory))


def is_leftover(path: Path, *, older_than: float = LEFTOVER_AGE, now: float | None = None) -> bool:
    """Whether a temp file was left by a process that is gone (or, unowned, is older than ``older_than``)."""
    match = _OWNER.search(path.name)
    if match and match.group(1) == _machine_cached():
        return not _alive(int(match.group(2)), int(match.group(3)))
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except OSError:
        return False
    return age >= older_than


def _machine_cached() -> str:
    return owner().split("-", 1)[0]


def remove_leftovers(directory: str | os.PathLike[str], pattern: str = "*", *, older_than: float = LEFTOVER_AGE) -> int:
    """Delete the temp files (or directories) in ``directory`` matching ``pattern`` whose writer is gone.

    Returns how many it removed.
    """
    import fnmatch

    try:  # (scandir, not glob: every command that takes the repository lock comes through here)
        with os.scandir(directory) as entries:
            candidates = [e for e in entries if e.name != ".gitignore" and fnmatch.fnmatchcase(e.name, pattern)]
    except OSError:
        return 0
    removed = 0
    now = time.time()
    for entry in candidates:
        if entry.is_symlink() or not is_leftover(Path(entry.path), older_than=older_than, now=now):
            continue
        with contextlib.suppress(FileNotFoundError):
            if entry.is_dir():
                import shutil

                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed += 1
    return removed


# --- atomic writes -------------------------------------------------------------------


@contextlib.contextmanager
def atomic_writer(
    path: str | os.PathLike[str], mode: str = "wb", *, fsync: bool = True, tmp_dir: str | os.PathLike[str] | None = None
) -> Iterator[IO]:
    """Yield a file object; on clean exit its content replaces ``path`` atomically.

    ``tmp_dir``: where the temp file lives until the rename (used only if it is on the target's filesystem).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    where = _same_filesystem(tmp_dir, target.parent) if tmp_dir is not None else target.parent
    fd, tmp = temp_file(where, f".{target.name[:80]}", ".tmp")
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
            fsync_dir(target.parent)
            if where != target.parent:
                fsync_dir(where)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _same_filesystem(tmp_dir: str | os.PathLike[str], directory: Path) -> Path:
    try:
        private = private_dir(tmp_dir)
        if os.stat(private).st_dev == os.stat(directory).st_dev:
            return private
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT, errno.ENOTDIR):
            raise
    return directory  # a rename cannot cross filesystems: the temp file goes beside the target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(
    path: str | os.PathLike[str],
    data: bytes | str,
    *,
    fsync: bool = True,
    tmp_dir: str | os.PathLike[str] | None = None,
) -> None:
    """Replace ``path`` with ``data`` atomically."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    with atomic_writer(path, "wb", fsync=fsync, tmp_dir=tmp_dir) as handle:
        handle.write(data)


def write_if_changed(
    path: str | os.PathLike[str], data: bytes | str, *, tmp_dir: str | os.PathLike[str] | None = None
) -> bool:
    """Atomically write ``data`` unless the file already holds exactly it; say if it wrote."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    target = Path(path)
    if holds(target, data):
        return False
    atomic_write(target, data, tmp_dir=tmp_dir)
    return True


def holds(path: str | os.PathLike[str], data: bytes) -> bool:
    """Whether the file exists and holds exactly ``data`` (its size first: most changes are told without a read)."""
    try:
        return os.stat(path).st_size == len(data) and Path(path).read_bytes() == data
    except FileNotFoundError:
        return False


def atomic_copy(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    fsync: bool = True,
    tmp_dir: str | os.PathLike[str] | None = None,
) -> None:
    """Copy ``src`` over ``dst`` atomically (reflink where the filesystem can)."""
    with open(src, "rb") as source, atomic_writer(dst, "wb", fsync=fsync, tmp_dir=tmp_dir) as out:
        copy_fileobj(source, out)


def copy_fileobj(source: IO, out: IO, *, writeback: bool = False) -> None:
    """Copy one open file into another, in the kernel when it can (copy_file_range).

    ``writeback``: the copy will be fsynced; start the disk write as it goes (:class:`Writeback`).
    """
    started = Writeback(out.fileno()) if writeback else None
    try:
        _kernel_copy(source, out, started)
    except OSError:
        source.seek(0)
        out.seek(0)
        out.truncate()
        import shutil

        shutil.copyfileobj(source, out, 1 << 20)
    finally:
        if started is not None:
            started.close()


def _kernel_copy(source: IO, out: IO, writeback: Writeback | None = None) -> None:
    size = os.fstat(source.fileno()).st_size
    step = size if writeback is None else 4 * writeback.step
    copied = 0
    while copied < size:
        n = os.copy_file_range(source.fileno(), out.fileno(), min(step, size - copied))
        if n == 0:
            break
        copied += n
        if writeback is not None:
            writeback.wrote(copied)
    if copied != size:
        raise OSError("short copy")
