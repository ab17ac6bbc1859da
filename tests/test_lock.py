from __future__ import annotations

import json

import pytest

from flowtide.errors import ConfigError
from flowtide.lock import Lock


def test_resave_is_byte_identical_and_does_not_touch_the_file(tmp_path):
    path = tmp_path / "flowtide.lock"
    lock = Lock(sources={"b": {"hash": "2" * 64, "url": "u", "path": "p", "size": 1}, "a": {"hash": "1" * 64}})
    assert lock.save(path) is True
    before = path.read_bytes()
    mtime = path.stat().st_mtime_ns
    again = Lock.load(path)
    assert again.save(path) is False
    assert path.read_bytes() == before and path.stat().st_mtime_ns == mtime
    assert again == lock


def test_keys_are_sorted_and_the_file_ends_with_newline(tmp_path):
    path = tmp_path / "flowtide.lock"
    Lock(sources={"z": {"size": 1, "hash": "h"}, "a": {"url": "u", "hash": "g"}}).save(path)
    text = path.read_text()
    assert text.endswith("}\n")
    data = json.loads(text)
    assert list(data) == ["hash", "sources", "stages", "version"]
    assert list(data["sources"]) == ["a", "z"] and list(data["sources"]["z"]) == ["hash", "size"]
    assert data["hash"] == "blake3" and data["version"] == 1


def test_missing_lock_is_empty(tmp_path):
    assert Lock.load(tmp_path / "flowtide.lock") == Lock()


def test_garbage_is_refused_with_a_clear_error(tmp_path):
    path = tmp_path / "flowtide.lock"
    path.write_text("<<<<<<< HEAD\n{}\n")
    with pytest.raises(ConfigError) as info:
        Lock.load(path)
    assert str(info.value).startswith("flowtide.lock: flowtide.lock is not valid JSON: ")
    assert "git checkout -- flowtide.lock" in str(info.value)
    path.write_text('{"version": 99}')
    with pytest.raises(ConfigError, match=r"^flowtide.lock: flowtide.lock has an unknown format \(version 99\)"):
        Lock.load(path)
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match=r"unknown format \(version \?\)"):
        Lock.load(path)


def test_blobs_lists_every_referenced_hash():
    lock = Lock(
        sources={"s": {"hash": "a"}},
        stages={"train": {"outs": {"model": {"hash": "b"}, "dir": {"hash": "c", "files": {"x": {"hash": "d"}}}}}},
    )
    assert lock.blobs() == {"a", "b", "c", "d"}
