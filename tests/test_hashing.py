from __future__ import annotations

import os

import blake3

from flowtide.hashing import StatCache, hash_bytes, hash_chunks, hash_file


def test_hashes_agree_with_blake3(tmp_path):
    data = os.urandom(100_000)
    expected = blake3.blake3(data).hexdigest()
    path = tmp_path / "f"
    path.write_bytes(data)
    assert hash_bytes(data) == expected
    assert hash_file(path) == (expected, len(data))
    assert hash_chunks([data[:10], data[10:]]) == (expected, len(data))


def test_large_files_use_the_multithreaded_path_with_the_same_digest(tmp_path):
    data = os.urandom(1 << 20) * 65  # above the 64 MiB threshold
    path = tmp_path / "big"
    path.write_bytes(data)
    assert hash_file(path) == (blake3.blake3(data).hexdigest(), len(data))


def test_stat_cache_skips_unchanged_files(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(b"a\n")
    cache = StatCache(tmp_path / "cache.json")
    real, _ = cache.hash(path)
    assert real == hash_bytes(b"a\n")
    # record a digest no hashing could produce: getting it back proves the file was not re-read
    cache.remember(path, "f" * 64)
    assert cache.hash(path) == ("f" * 64, 2)
    cache.save()
    reloaded = StatCache(tmp_path / "cache.json")
    assert reloaded.hash(path) == ("f" * 64, 2)


def test_stat_cache_rehashes_changed_content(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(b"a\n")
    cache = StatCache(tmp_path / "cache.json")
    first, _ = cache.hash(path)
    st = path.stat()
    path.write_bytes(b"b\n")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    second, _ = cache.hash(path)
    assert first != second == hash_bytes(b"b\n")


def test_stat_cache_save_writes_only_when_dirty(tmp_path):
    cache = StatCache(tmp_path / "cache.json")
    cache.save()
    assert not (tmp_path / "cache.json").exists()
    (tmp_path / "f").write_bytes(b"x")
    cache.hash(tmp_path / "f")
    cache.save()
    mtime = (tmp_path / "cache.json").stat().st_mtime_ns
    cache.hash(tmp_path / "f")
    cache.save()
    assert (tmp_path / "cache.json").stat().st_mtime_ns == mtime
