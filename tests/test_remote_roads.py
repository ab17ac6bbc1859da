"""One road to the remote store: every access goes through ``Remote`` and means the same place.

A relative ``store.remote`` is relative to the project, never to the working
directory of whoever runs the command (a CI step, a server started elsewhere).
Each road — push, fetch, pull's auto-push, prediction-log shipping, the
monitor's reading of segments, a server's fetch of an artifact — is run from
another working directory and must use the project's remote, and only it.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from flowtide.hashing import hash_bytes
from flowtide.project import Project
from flowtide.transfer import fetch, push

from .test_transfer import MODEL, clone_tree, remote_blobs, seed, write_config


@pytest.fixture
def elsewhere(tmp_path, monkeypatch) -> Path:
    """Run from a directory that is not the project: a relative remote here would be wrong."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


@pytest.fixture
def project(tmp_path) -> Project:
    root = tmp_path / "p"
    root.mkdir()
    write_config(root, "../shared")
    return seed(root)


def shared(tmp_path: Path) -> Path:
    return tmp_path / "shared"


def assert_only_the_projects_remote(tmp_path: Path, elsewhere: Path) -> None:
    assert shared(tmp_path).is_dir()
    assert not (elsewhere / "shared").exists() and not (tmp_path / "shared" / "shared").exists()


def test_push_and_fetch(project, tmp_path, elsewhere):
    assert push(project).remote == str(shared(tmp_path).resolve())
    assert len(remote_blobs(shared(tmp_path))) == 5
    clone = Project.load(clone_tree(project.root, tmp_path / "clone"), env={})
    write_config(clone.root, "../shared")  # the clone sits beside the project: the same ../shared
    result = fetch(Project.load(clone.root, env={}))
    assert (clone.root / "models/model.bin").read_bytes() == MODEL
    assert result.remote == str(shared(tmp_path).resolve())
    assert_only_the_projects_remote(tmp_path, elsewhere)


def test_auto_push(tmp_path, elsewhere):
    from flowtide.remote import auto_push

    root = tmp_path / "p"
    root.mkdir()
    write_config(root, "../shared", auto_push=True)
    project = seed(root)
    auto_push(project, [hash_bytes(MODEL)])
    assert list(remote_blobs(shared(tmp_path))) == [hash_bytes(MODEL)]
    assert_only_the_projects_remote(tmp_path, elsewhere)


def segment(path: Path, rows: int = 3) -> Path:
    """A closed prediction-log segment (its bytes only matter to the copy, not to this test)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("create table t (i integer)")
        db.executemany("insert into t values (?)", [(i,) for i in range(rows)])
    return path


def test_prediction_log_shipping_and_the_monitors_reading(project, tmp_path, elsewhere):
    from flowtide.monitor import fetch_remote_segments
    from flowtide.serve.shipping import shipper

    ship = shipper(project)
    local = segment(tmp_path / "log" / "r1.00001.db")
    ship(local, "r1")
    remote_copy = shared(tmp_path) / "predictions" / "r1" / "r1.00001.db"
    assert remote_copy.read_bytes() == local.read_bytes()
    assert [p.name for p in remote_copy.parent.iterdir()] == ["r1.00001.db"]  # no temporary name left

    copied = fetch_remote_segments(project)
    assert copied == project.state_dir / "predictions-remote"
    assert (copied / "r1" / "r1.00001.db").read_bytes() == local.read_bytes()
    assert_only_the_projects_remote(tmp_path, elsewhere)


def test_a_servers_fetch_of_an_artifact(project, tmp_path, elsewhere):
    from flowtide.serve.follow import RegistryWatch

    push(project)
    digest = hash_bytes(MODEL)
    server = Project.load(clone_tree(project.root, tmp_path / "server"), env={})
    write_config(server.root, "../shared")
    server = Project.load(server.root, env={})
    assert not server.store.has(digest)
    remote = RegistryWatch(server).remote()
    assert remote.url == str(shared(tmp_path).resolve())
    remote.download(server.store, digest)
    assert server.store.path_of(digest).read_bytes() == MODEL
    assert_only_the_projects_remote(tmp_path, elsewhere)


def test_every_road_opens_the_same_remote(project, tmp_path, elsewhere, monkeypatch):
    """push, shipping, the monitor and a server all open ``Remote.from_project``, and nothing else."""
    import flowtide.monitor
    import flowtide.serve.follow
    import flowtide.serve.shipping
    import flowtide.transfer
    from flowtide.remote import Remote

    opened: list[str] = []
    real = Remote.open.__func__

    def spy(cls, url, **kwargs):
        remote = real(cls, url, **kwargs)
        opened.append(remote.url)
        return remote

    monkeypatch.setattr(Remote, "open", classmethod(spy))
    flowtide.transfer.push(project)
    flowtide.serve.shipping.shipper(project)(segment(tmp_path / "log" / "r.00001.db"), "r")
    flowtide.monitor.fetch_remote_segments(project)
    flowtide.serve.follow.RegistryWatch(project).remote()
    assert opened == [str(shared(tmp_path).resolve())] * 4
    assert os.listdir(elsewhere) == []
