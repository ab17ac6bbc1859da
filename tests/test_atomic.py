from __future__ import annotations

import os
import textwrap

import pytest

from flowtide.atomic import atomic_copy, atomic_write, atomic_writer, write_if_changed

from .conftest import kill_when_writing


def test_failure_mid_write_leaves_the_old_content(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_writer(path, "w") as handle:
        handle.write("new, half")
        raise RuntimeError("crash")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_kill_9_mid_write_leaves_the_old_content(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("old")
    script = textwrap.dedent(
        f"""
        import time
        from flowtide.atomic import atomic_writer
        with atomic_writer({str(path)!r}, "w") as h:
            h.write("new" * 1000)
            h.flush()
            print("writing", flush=True)
            time.sleep(60)
        """
    )
    kill_when_writing(script)
    assert path.read_text() == "old"


def test_atomic_write_keeps_the_mode_and_creates_parents(tmp_path):
    path = tmp_path / "a" / "b" / "f"
    atomic_write(path, "x")
    assert path.read_text() == "x"
    os.chmod(path, 0o600)
    atomic_write(path, b"y")
    assert path.read_bytes() == b"y" and path.stat().st_mode & 0o777 == 0o600


def test_write_if_changed(tmp_path):
    path = tmp_path / "f"
    assert write_if_changed(path, "same") is True
    inode = path.stat().st_ino
    assert write_if_changed(path, "same") is False
    assert path.stat().st_ino == inode
    assert write_if_changed(path, "other") is True and path.read_text() == "other"


def test_atomic_copy(tmp_path):
    src = tmp_path / "src"
    src.write_bytes(os.urandom(3 << 20))
    dst = tmp_path / "out" / "dst"
    dst.parent.mkdir()
    dst.write_bytes(b"old")
    atomic_copy(src, dst)
    assert dst.read_bytes() == src.read_bytes()
    assert sorted(p.name for p in dst.parent.iterdir()) == ["dst"]


def test_append_line_cuts_a_torn_tail_and_keeps_an_unterminated_record(tmp_path):
    """The one JSON-lines append the registry and the monitor history share: a crash's torn last line is cut
    off before the next record (which it would otherwise swallow); a whole record missing its newline stays."""
    import json

    from flowtide.atomic import append_line

    log = tmp_path / "log.jsonl"
    append_line(log, b'{"n": 1}\n')
    with open(log, "ab") as handle:
        handle.write(b'{"n": 2, "cut')  # killed mid-write
    append_line(log, b'{"n": 3}\n', fsync=False)
    assert [json.loads(line)["n"] for line in log.read_text().splitlines()] == [1, 3]
    log.write_bytes(log.read_bytes().rstrip(b"\n"))  # a hand edit dropped the final newline
    append_line(log, b'{"n": 4}\n')
    assert [json.loads(line)["n"] for line in log.read_text().splitlines()] == [1, 3, 4]


def test_temp_files_are_private_exclusive_and_named_for_their_owner(tmp_path, monkeypatch):
    """What tempfile.mkstemp gave: a fresh absolute name, mode 0600, never opened through what already sits there."""
    import os
    import stat

    from flowtide.atomic import owner, temp_file

    made = [temp_file(tmp_path, "blob", ".part") for _ in range(50)]
    for fd, path in made:
        os.close(fd)
        assert path.is_absolute() and path.parent == tmp_path
        assert path.name.startswith(f"blob.{owner()}.") and path.name.endswith(".part")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len({path for _, path in made}) == 50
    monkeypatch.chdir(tmp_path.parent)
    fd, path = temp_file(tmp_path.name, "x", "")  # a relative directory: an absolute path, as mkstemp returns
    os.close(fd)
    assert path.is_absolute() and path.parent == tmp_path
    (tmp_path / "target").write_text("kept")
    monkeypatch.setattr(os, "urandom", lambda n: bytes(n))  # every name the same: the one a symlink holds
    (tmp_path / f"trap.{owner()}.000000000000").symlink_to(tmp_path / "target")
    with pytest.raises(FileExistsError):
        temp_file(tmp_path, "trap", "")
    assert (tmp_path / "target").read_text() == "kept"


def _growing(tmp_path, chunks):
    """A file written chunk by chunk while a GrowingCopy follows it; returns (copy, the bytes written)."""
    from flowtide.atomic import GrowingCopy

    source = tmp_path / "source.part"
    source.write_bytes(b"")
    copy = GrowingCopy(source, tmp_path / "tree" / "data.bin", tmp_path / "tmp", step=1 << 10)
    written = b""
    with open(source, "ab") as out:
        for chunk in chunks:
            out.write(chunk)
            out.flush()
            written += chunk
            copy.grew(len(written))
    return copy, written


def _eventually(condition, seconds: float = 20.0) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def test_a_growing_copy_ends_with_the_same_bytes_and_is_placed_atomically(tmp_path):
    copy, written = _growing(tmp_path, [os.urandom(3000) for _ in range(20)])
    # the helper copies while the file grows, not only once it is whole (finish has not been called)
    assert _eventually(lambda: os.path.getsize(copy.tmp) >= len(written) - (1 << 10))
    assert not (tmp_path / "tree").exists()  # nothing beside the target until the bytes are whole
    assert copy.finish(len(written))
    copy.place()
    placed = tmp_path / "tree" / "data.bin"
    assert placed.read_bytes() == written and placed.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in (tmp_path / "tmp").iterdir()] == [".gitignore"]


def test_a_growing_copy_that_fails_or_is_dropped_leaves_nothing(tmp_path, monkeypatch):
    import errno

    copy, written = _growing(tmp_path, [b"x" * 5000])
    copy.discard()
    assert [p.name for p in (tmp_path / "tmp").iterdir()] == [".gitignore"] and not (tmp_path / "tree").exists()

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "copy_file_range", full)
    copy, written = _growing(tmp_path, [b"y" * 5000, b"z" * 5000])
    assert copy.finish(len(written)) is False and copy.error.errno == errno.ENOSPC
    assert [p.name for p in (tmp_path / "tmp").iterdir()] == [".gitignore"] and not (tmp_path / "tree").exists()


def test_a_blob_whose_working_tree_copy_fails_is_still_stored(tmp_path, monkeypatch):
    """The copy is a speed-up: if it fails the blob is committed as before and the caller copies from it."""
    import errno

    from flowtide.store import Store

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "copy_file_range", full)
    store = Store(tmp_path / "store")
    with store.writer(copy_to=tmp_path / "data.bin") as blob:
        blob.write(b"payload" * 1000)
    assert blob.copy is None and store.read_bytes(blob.digest) == b"payload" * 1000
    assert [p.name for p in store.tmp_dir.iterdir()] == [".gitignore"]


def test_a_growing_copy_refuses_a_target_on_another_filesystem(tmp_path):
    import errno

    from flowtide.atomic import GrowingCopy

    other = "/dev/shm"
    if not os.path.isdir(other) or os.stat(other).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second filesystem here")
    source = tmp_path / "source.part"
    source.write_bytes(b"x")
    with pytest.raises(OSError) as info:
        GrowingCopy(source, os.path.join(other, f"flowtide-test-{os.getpid()}", "data.bin"), tmp_path / "tmp")
    assert info.value.errno == errno.EXDEV and not os.path.exists(os.path.join(other, f"flowtide-test-{os.getpid()}"))


def test_writeback_starts_the_disk_write_of_each_step_while_the_file_grows(tmp_path, monkeypatch):
    from flowtide import atomic

    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(atomic, "_sync_file_range", lambda: lambda fd, offset, n, flags: calls.append((offset, n)))
    with open(tmp_path / "blob", "wb") as out:
        writeback = atomic.Writeback(out.fileno(), step=1 << 10)
        writeback.wrote(100)  # less than a step: nothing to start yet, no helper
        assert writeback._thread is None
        for i in range(1, 6):
            out.write(os.urandom(1 << 10))
            out.flush()
            writeback.wrote(i << 10)
        assert _eventually(lambda: sum(n for _, n in calls) == 5 << 10)  # before close: while it grew
        writeback.close()
    offsets = [offset for offset, _ in calls]
    assert offsets[0] == 0 and all(a + n == b for (a, n), b in zip(calls, offsets[1:], strict=False))


def _direct(tmp_path, monkeypatch, body: bytes, *, refuse: bool = False, on_write=None):
    """A DirectCopy of ``body`` into a new file, every pwrite recorded as (offset, length, O_DIRECT set)."""
    import errno
    import fcntl

    from flowtide.atomic import DirectCopy

    source = tmp_path / "source.bin"
    source.write_bytes(body)
    fd = os.open(tmp_path / "blob.part", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    writes: list[tuple[int, int, bool]] = []
    real = os.pwrite

    def pwrite(out, data, offset):
        direct = bool(fcntl.fcntl(out, fcntl.F_GETFL) & os.O_DIRECT)
        if on_write is not None:
            on_write(len(writes))
        writes.append((offset, len(data), direct))
        if refuse and direct:  # a disk whose block is larger than 4096 bytes
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(out, data, offset)

    monkeypatch.setattr(os, "pwrite", pwrite)
    try:
        copy = DirectCopy(source, fd, len(body), step=1 << 20)
    except OSError:
        os.close(fd)
        pytest.skip("no O_DIRECT on this file system")
    return copy, fd, writes, source


def test_a_direct_copy_writes_whole_blocks_past_the_page_cache_and_its_tail_through_it(tmp_path, monkeypatch):
    import fcntl

    body = os.urandom((3 << 20) + 123)  # three aligned steps and a tail that is no whole block
    copy, fd, writes, _ = _direct(tmp_path, monkeypatch, body)
    assert copy.finish() and copy.error is None
    assert not fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT  # given back as it came: the caller fsyncs and closes
    os.close(fd)
    assert (tmp_path / "blob.part").read_bytes() == body
    assert writes == [(0, 1 << 20, True), (1 << 20, 1 << 20, True), (2 << 20, 1 << 20, True), (3 << 20, 123, False)]


def test_a_direct_copy_the_disk_refuses_goes_on_through_the_page_cache(tmp_path, monkeypatch):
    body = os.urandom((2 << 20) + 4096)
    copy, fd, writes, _ = _direct(tmp_path, monkeypatch, body, refuse=True)
    assert copy.finish()
    os.close(fd)
    assert (tmp_path / "blob.part").read_bytes() == body
    assert writes[0] == (0, 1 << 20, True) and all(not direct for _, _, direct in writes[1:])
    assert sum(n for _, n, _ in writes[1:]) == len(body)  # the refused step again, then the rest


def test_a_direct_copy_of_a_file_cut_short_fails_with_an_error_not_a_signal(tmp_path, monkeypatch):
    """The source is mapped: read past its end by this process it would be SIGBUS; written by the kernel, it is EFAULT."""
    body = os.urandom(4 << 20)

    def cut(count):
        if count == 1:
            os.truncate(tmp_path / "source.bin", 0)

    copy, fd, _, _ = _direct(tmp_path, monkeypatch, body, on_write=cut)
    assert copy.finish() is False and isinstance(copy.error, OSError) and copy.done == 1 << 20
    os.close(fd)


def test_a_direct_copy_can_be_stopped_half_way(tmp_path, monkeypatch):
    import threading

    from flowtide.atomic import DirectCopy

    release = threading.Event()
    copy, fd, writes, _ = _direct(tmp_path, monkeypatch, os.urandom(8 << 20), on_write=lambda n: release.wait(20))
    stopper = threading.Thread(target=copy.stop)
    stopper.start()
    assert _eventually(lambda: copy._stop)
    release.set()
    stopper.join(20)
    assert not stopper.is_alive() and copy.done < 8 << 20 and len(writes) <= 2
    os.close(fd)
    # a source shorter than the size asked: refused at once (the caller copies another way)
    other = os.open(tmp_path / "other.part", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        with pytest.raises(OSError):
            DirectCopy(tmp_path / "source.bin", other, 9 << 20)
    finally:
        os.close(other)
