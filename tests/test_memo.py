"""Memos under .flowtide/tmp are plain JSON bound to the source file's stat: a committed one is never used.

The attack: a repository force-adds files under .flowtide/tmp. flowtide used to
unpickle them (config, params, the registry listing) before looking at their stamp,
so `doctor`, `status` and `models` ran the committer's code.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest

from flowtide import memo
from flowtide.config import Config, cached_by_stat, load_config, load_params
from flowtide.config.cache import _CACHE_VERSION
from flowtide.config.cache import config_classes as _dataclasses

from ._models import make_project, train
from .conftest import git, run_process

CONFIG_MEMO = f"config/{_CACHE_VERSION}"


class _Marker:
    """Unpickling this object creates ``path`` (``open(path, "w")``): proof that a pickle was loaded."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _hostile_pickles(root: Path, marker: Path) -> list[str]:
    """Pickles under every name flowtide ever unpickled; each creates ``marker`` when loaded."""
    names = ["config", "params", "registry-full-3", "registry-recent-3", "workflow-ci.yml"]
    tmp = root / ".flowtide" / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    for name in names:
        (tmp / f"{name}.pickle").write_bytes(pickle.dumps(_Marker(str(marker))))
    return [f".flowtide/tmp/{name}.pickle" for name in names]


@pytest.fixture
def committed_caches(tmp_path, weather_csv):
    """A repository with a registered model that force-added hostile pickles and a forged config memo, and a clone of it."""
    from flowtide import registry
    from flowtide.project import Project

    origin = tmp_path / "origin"
    origin.mkdir()
    git("init", "-q", "-b", "main", cwd=origin)
    make_project(origin, weather_csv)
    train(origin, weather_csv)
    registry.register(Project.load(origin))
    marker = tmp_path / "code-ran"
    paths = _hostile_pickles(origin, marker)
    # a memo that says the project is someone else's, stamped for the committer's own checkout
    config = load_config(origin, use_cache=False)
    config.project = "forged"
    line = memo.stamp(origin / "flowtide.yaml", CONFIG_MEMO)
    assert memo.write(origin / ".flowtide" / "tmp" / "config.json", line, config, _dataclasses())
    assert load_config(origin).project == "forged"  # where the stamp matches, a memo is used as it is
    git("add", "-A", cwd=origin)
    git("add", "-f", *paths, ".flowtide/tmp/config.json", cwd=origin)
    git("commit", "-q", "-m", "project with committed caches", cwd=origin)
    assert ".flowtide/tmp/config.pickle" in git("ls-files", cwd=origin)
    clone = tmp_path / "clone"
    git("clone", "-q", str(origin), str(clone), cwd=tmp_path)
    assert (clone / ".flowtide" / "tmp" / "config.json").exists()
    marker.unlink(missing_ok=True)  # (the committer's own flowtide above never read the pickles)
    return clone, marker


def test_committed_pickles_are_never_loaded_by_doctor_status_or_models(committed_caches):
    clone, marker = committed_caches
    doctor = run_process("doctor", cwd=clone)
    assert "Traceback" not in doctor.err
    status = run_process("status", cwd=clone)
    assert status.code in (0, 1), status.err
    models = run_process("models", "--json", cwd=clone)
    assert models.code == 0, models.err
    assert [v["version"] for v in json.loads(models.out)["weather"]] == [1]
    assert not marker.exists()


def test_a_committed_memo_is_ignored_in_a_fresh_checkout(committed_caches):
    clone, marker = committed_caches
    committed = (clone / ".flowtide" / "tmp" / "config.json").read_text()
    assert load_config(clone).project == "weather"
    assert (clone / ".flowtide" / "tmp" / "config.json").read_text() != committed  # replaced by a true memo
    assert load_config(clone).project == "weather"
    assert not marker.exists()


def test_memo_round_trips_the_config_and_is_read_without_recomputing(tmp_path, weather_csv):
    root = make_project(tmp_path, weather_csv)
    first = load_config(root)
    line = memo.stamp(root / "flowtide.yaml", CONFIG_MEMO)
    cached = memo.read(root / ".flowtide" / "tmp" / "config.json", line, _dataclasses(), Config)
    assert cached == first
    assert cached.positions[("stages", "train", "cmd")] == first.positions[("stages", "train", "cmd")]
    assert type(next(iter(cached.positions))) is tuple

    def never():
        raise AssertionError("recomputed although the memo is valid")

    again = cached_by_stat(root, root / "flowtide.yaml", "config", never, classes=_dataclasses(), expect=Config)
    assert again == first


@pytest.mark.parametrize(
    "body",
    [
        b"true\n{",  # truncated
        b"true\n" + b"[" * 100_000 + b"]" * 100_000,  # nested past the recursion limit
        b'true\n{"$": "Popen", "fields": {"args": ["touch", "x"]}}',  # not one of our classes
        b'true\n{"$": "Source", "fields": {"url": "u", "path": "p"}}',  # wrong fields for the class
        b'false\n{"project": "weather"}',  # a dict, where a Config is expected
        b"maybe\n{}",
    ],
)
def test_a_malformed_memo_with_a_matching_stamp_only_costs_a_recomputation(tmp_path, weather_csv, body):
    root = make_project(tmp_path, weather_csv)
    expected = load_config(root, use_cache=False)
    path = root / ".flowtide" / "tmp" / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(memo.stamp(root / "flowtide.yaml", CONFIG_MEMO).encode() + b"\n" + body)
    assert load_config(root) == expected
    assert memo.read(path, memo.stamp(root / "flowtide.yaml", CONFIG_MEMO), _dataclasses(), Config) == expected


def test_the_stamp_follows_ctime_so_a_restored_mtime_does_not_revive_a_memo(tmp_path):
    (tmp_path / ".flowtide").mkdir()
    params = tmp_path / "params.yaml"
    params.write_text("train:\n  lr: 0.1\n")
    assert load_params(tmp_path) == {"train": {"lr": 0.1}}
    before = os.stat(params)
    params.write_text("train:\n  lr: 0.2\n")
    os.utime(params, ns=(before.st_atime_ns, before.st_mtime_ns))  # same size, same mtime, same inode
    assert load_params(tmp_path) == {"train": {"lr": 0.2}}


def test_values_a_memo_cannot_hold_are_recomputed_each_time(tmp_path):
    import datetime

    (tmp_path / ".flowtide").mkdir()
    source = tmp_path / "f.yaml"
    source.write_text("x")
    calls = []

    def compute():
        calls.append(1)
        return {"when": datetime.date(2024, 1, 1), 1: "int key"}

    for _ in range(2):
        assert cached_by_stat(tmp_path, source, "odd", compute) == {"when": datetime.date(2024, 1, 1), 1: "int key"}
    assert len(calls) == 2
    assert not (tmp_path / ".flowtide" / "tmp" / "odd.json").exists()
