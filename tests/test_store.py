from __future__ import annotations

import os
import textwrap
import time

import pytest

from flowtide.errors import IntegrityError, StoreError
from flowtide.hashing import hash_bytes
from flowtide.store import Store

from .conftest import kill_when_writing


def test_a_blob_is_written_once(tmp_path):
    store = Store(tmp_path / "cache")
    src = tmp_path / "a.csv"
    src.write_bytes(b"hello\n")
    digest, size = store.add_file(src)
    assert (digest, size) == (hash_bytes(b"hello\n"), 6)
    blob = store.path_of(digest)
    assert blob == tmp_path / "cache" / digest[:2] / digest[2:]
    first = blob.stat()
    assert store.add_file(src) == (digest, 6)
    with store.writer() as w:
        w.write(b"hello\n")
    assert w.digest == digest
    assert blob.stat().st_ino == first.st_ino and blob.stat().st_mtime_ns == first.st_mtime_ns
    assert list(store.digests()) == [digest]
    assert blob.stat().st_mode & 0o777 == 0o444
    assert [p.name for p in store.tmp_dir.iterdir()] == [".gitignore"]  # no temp file left


def test_writer_discards_on_error(tmp_path):
    store = Store(tmp_path / "cache")
    with pytest.raises(RuntimeError), store.writer() as w:
        w.write(b"partial")
        raise RuntimeError("network went away")
    assert list(store.digests()) == [] and [p.name for p in store.tmp_dir.iterdir()] == [".gitignore"]


def test_add_files_stores_each_distinct_blob_once(tmp_path):
    store = Store(tmp_path / "cache")
    files = []
    for i in range(40):
        path = tmp_path / "out" / f"part-{i}.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(f"row {i % 25}\n".encode())  # 25 distinct contents among 40 files
        files.append((path, hash_bytes(path.read_bytes())))
    store.add_file(files[0][0], files[0][1])
    store.add_files(files)
    assert sorted(store.digests()) == sorted({digest for _, digest in files})
    for path, digest in files:
        assert store.read_bytes(digest) == path.read_bytes()
    assert [p.name for p in (tmp_path / "cache" / "tmp").iterdir()] == [".gitignore"]  # no temp blob left behind


def test_tampered_blob_fails_verify(tmp_path):
    store = Store(tmp_path / "cache")
    with store.writer() as w:
        w.write(b"original bytes")
    store.verify(w.digest)
    blob = store.path_of(w.digest)
    os.chmod(blob, 0o644)
    blob.write_bytes(b"tampered bytes")
    with pytest.raises(IntegrityError) as info:
        store.verify(w.digest)
    assert str(info.value).startswith(f"blob {w.digest[:12]} in {store.root} is corrupted (its bytes hash to ")
    with pytest.raises(IntegrityError):
        store.materialize(w.digest, tmp_path / "out", verify=True)
    assert not (tmp_path / "out").exists()


def test_missing_blob_says_how_to_get_it(tmp_path):
    store = Store(tmp_path / "cache")
    with pytest.raises(StoreError, match=r"Run `flowtide fetch`"):
        store.materialize("ab" * 32, tmp_path / "out")
    with pytest.raises(StoreError, match="is not in the store"):
        store.read_bytes("ab" * 32)


def test_materialize_replaces_atomically(tmp_path):
    store = Store(tmp_path / "cache")
    with store.writer() as w:
        w.write(b"new")
    dest = tmp_path / "d" / "file.csv"
    dest.parent.mkdir()
    dest.write_bytes(b"old")
    store.materialize(w.digest, dest)
    assert dest.read_bytes() == b"new"
    assert dest.stat().st_mode & 0o777 == 0o644  # a working-tree copy, not the read-only blob
    assert [p.name for p in dest.parent.iterdir()] == ["file.csv"]


def test_killed_writer_leaves_no_blob(tmp_path):
    root = tmp_path / "cache"
    script = textwrap.dedent(
        f"""
        import sys, time
        from flowtide.store import Store
        with Store({str(root)!r}).writer() as w:
            w.write(b"x" * 100000)
            w._file.flush()
            print("writing", flush=True)
            time.sleep(60)
        """
    )
    kill_when_writing(script)
    store = Store(root)
    assert list(store.digests()) == []
    # only an anonymous temp file is left behind, never a blob under a hash name
    assert [p.suffix for p in store.tmp_dir.iterdir() if p.name != ".gitignore"] == [".part"]


def _many(tmp_path, count=30, big=()):
    files = []
    for i in range(count):
        path = tmp_path / "out" / f"part-{i:02d}.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(os.urandom(2 << 20) if i in big else f"row {i}\n".encode())
        files.append((path, hash_bytes(path.read_bytes())))
    return files


def test_add_files_in_one_batch_records_each_blob_as_verified(tmp_path):
    store = Store(tmp_path / "cache")
    files = _many(tmp_path, big={3})  # one file above the read-whole size: copied in the kernel
    store.add_files(files)
    for path, digest in files:
        blob = store.path_of(digest)
        assert blob.read_bytes() == path.read_bytes() and blob.stat().st_mode & 0o777 == 0o444
    fresh = Store(tmp_path / "cache")  # the small blobs were hashed on the way in: no second hash
    recorded = fresh._records()
    assert set(recorded) == {digest for i, (_, digest) in enumerate(files) if i != 3}
    assert [p.name for p in store.tmp_dir.iterdir()] == [".gitignore"]


def test_add_files_refuses_a_file_that_changed_after_it_was_hashed(tmp_path):
    store = Store(tmp_path / "cache")
    files = _many(tmp_path)
    files[7][0].write_bytes(b"rewritten meanwhile\n")
    with pytest.raises(IntegrityError, match=r"part-07.txt changed while it was being stored"):
        store.add_files(files)
    assert list(store.digests()) == []  # nothing of the batch is named: its files were not yet durable
    assert [p.name for p in store.tmp_dir.iterdir()] == [".gitignore"]


def test_add_files_replaces_a_corrupt_blob_and_skips_present_ones(tmp_path):
    store = Store(tmp_path / "cache")
    files = _many(tmp_path)
    store.add_files(files[:5])
    bad = store.path_of(files[0][1])
    os.chmod(bad, 0o644)
    bad.write_bytes(b"bit rot")
    kept = store.path_of(files[1][1]).stat().st_ino
    store.add_files(files)
    assert store.read_bytes(files[0][1]) == files[0][0].read_bytes()
    assert store.path_of(files[1][1]).stat().st_ino == kept
    assert len(list(store.quarantine_dir.iterdir())) == 1
    assert sorted(store.digests()) == sorted(digest for _, digest in files)


@pytest.mark.skipif(os.uname().sysname != "Linux", reason="sync_file_range is Linux's")
def test_large_blobs_start_their_disk_write_while_being_written(tmp_path):
    """The writer and the copy into the store hand every full step to the disk as they go, bytes unchanged."""
    from flowtide.atomic import WRITEBACK_STEP

    store = Store(tmp_path / "cache")
    data = b"".join(i.to_bytes(4, "little") * (1 << 18) for i in range(40))  # 40 MiB, no two MiB alike
    with store.writer() as w:
        for start in range(0, len(data), 1 << 20):
            w.write(data[start : start + (1 << 20)])
    assert w._writeback.started == 2 * WRITEBACK_STEP  # two full 16 MiB steps started, the tail left to fsync
    assert w.digest == hash_bytes(data) and store.read_bytes(w.digest) == data
    src = tmp_path / "big.bin"
    src.write_bytes(data[::-1])
    digest, size = store.add_file(src)
    assert (digest, size) == (hash_bytes(data[::-1]), len(data)) and store.read_bytes(digest) == data[::-1]


def test_a_local_file_unchanged_from_its_hash_to_its_copy_is_recorded_as_verified(tmp_path):
    """add_file proves the blob by the file's stamp (ctime included), so materialise does not hash it again."""
    store = Store(tmp_path / "store")
    settled = tmp_path / "settled.bin"
    settled.write_bytes(b"settled bytes" * 1000)
    fresh = tmp_path / "fresh.bin"
    time.sleep(1.1)  # older than the racy-git second: its stamp proves the copy
    fresh.write_bytes(b"fresh bytes" * 1000)
    old, _ = store.add_file(settled)
    new, _ = store.add_file(fresh)
    records = Store(store.root)._records()
    assert records[old] == Store._stamp(store.path_of(old).stat())
    # changed within the last second: the same ctime tick could hide another write, so not recorded
    assert new not in records
    assert store.read_bytes(new) == b"fresh bytes" * 1000


def test_a_large_file_is_stored_past_the_page_cache_while_it_is_hashed(tmp_path, monkeypatch):
    """The store's copy starts beside the hash (DirectCopy) and is stopped when the hash finds the bytes stored."""
    from flowtide import atomic
    from flowtide import store as store_module

    monkeypatch.setattr(store_module, "DIRECT_MIN", 1 << 20)
    made: list[atomic.DirectCopy] = []
    real_init = atomic.DirectCopy.__init__

    def init(self, *args, **kwargs):
        made.append(self)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(atomic.DirectCopy, "__init__", init)
    store = Store(tmp_path / "cache")
    body = os.urandom((3 << 20) + 5)
    for name in ("a.bin", "b.bin"):
        (tmp_path / name).write_bytes(body)
    time.sleep(1.1)  # a file changed within the last second cannot be proven unchanged by its stat (racy-git rule)
    digest, size, copy = store.add_file_copying(tmp_path / "a.bin", copy_to=tmp_path / "tree" / "a.bin")
    assert (digest, size) == (hash_bytes(body), len(body)) and len(made) == 1 and made[0].done == size
    assert store.read_bytes(digest) == body and store.path_of(digest).stat().st_mode & 0o777 == 0o444
    assert digest in Store(tmp_path / "cache")._records()  # proven on the way in: no second hash to materialise it
    assert copy is not None and copy.finish(size)
    copy.place()
    assert (tmp_path / "tree" / "a.bin").read_bytes() == body
    inode = store.path_of(digest).stat().st_ino

    # the same bytes under another name: the copy started beside the hash is dropped
    assert store.add_file_copying(tmp_path / "b.bin", copy_to=tmp_path / "tree" / "b.bin") == (digest, size, None)
    assert len(made) == 2 and made[1]._stop and store.path_of(digest).stat().st_ino == inode
    assert not (tmp_path / "tree" / "b.bin").exists()
    assert [p.name for p in store.tmp_dir.iterdir()] == [".gitignore"]

    other = os.urandom(2 << 20)  # a stage's output, its hash known: past the page cache too
    (tmp_path / "c.bin").write_bytes(other)
    assert store.add_file(tmp_path / "c.bin", hash_bytes(other)) == (hash_bytes(other), len(other))
    assert len(made) == 3 and made[2].done == len(other) and store.read_bytes(hash_bytes(other)) == other
    assert [p.name for p in store.tmp_dir.iterdir()] == [".gitignore"]


def test_a_file_that_changes_while_it_is_added_leaves_nothing(tmp_path, monkeypatch):
    from flowtide import store as store_module
    from flowtide.store import SourceChanged

    monkeypatch.setattr(store_module, "DIRECT_MIN", 1 << 20)
    real_hash = store_module.hash_file
    source = tmp_path / "a.bin"

    def hash_then_append(path):
        result = real_hash(path)
        with open(source, "ab") as out:
            out.write(b"more")
        return result

    monkeypatch.setattr(store_module, "hash_file", hash_then_append)
    store = Store(tmp_path / "cache")
    for size in (100, 2 << 20):  # through the page cache, and past it
        source.write_bytes(os.urandom(size))
        with pytest.raises(SourceChanged, match=r"a\.bin changed while it was read"):
            store.add_file_copying(source, copy_to=tmp_path / "tree" / "a.bin")
        assert list(store.digests()) == [] and not (tmp_path / "tree").exists()
        assert [p.name for p in store.tmp_dir.iterdir()] == [".gitignore"]
