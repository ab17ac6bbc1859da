from __future__ import annotations

import os

import pytest

from flowtide.errors import FlowtideError, UsageError
from flowtide.project import Project


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    (root / "flowtide.yaml").write_text("project: p\n")
    return Project.load(root, env={"X": "1"})


def test_load_from_a_subdirectory(project):
    sub = project.root / "a" / "b"
    sub.mkdir(parents=True)
    found = Project.load(sub, env={})
    assert found.root == project.root.resolve() and found.config.project == "p"
    assert project.env == {"X": "1"}


def test_resolve_keeps_paths_inside(project):
    assert project.resolve("data/x.csv") == project.root / "data/x.csv"
    (project.root / "real").mkdir()
    (project.root / "link").symlink_to(project.root / "real")
    assert project.resolve("link/x.csv") == project.root / "link/x.csv"


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a/../../x", ""])
def test_resolve_refuses_escapes(project, path):
    with pytest.raises(UsageError):
        project.resolve(path)


def test_resolve_refuses_a_symlink_out(project, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (project.root / "data").symlink_to(outside)
    with pytest.raises(UsageError) as info:
        project.resolve("data/x.csv", "source path")
    assert str(info.value).startswith(
        f"source path 'data/x.csv' resolves to {outside.resolve()}/x.csv, outside the project {project.root.resolve()}"
    )
    (project.root / "f").symlink_to("/etc/hostname")
    with pytest.raises(UsageError):
        project.resolve("f")


def test_mutex_excludes_a_second_holder(project):
    with (
        project.mutex("pull"),
        pytest.raises(FlowtideError, match=r"^pull is busy: pid \d+ holds "),
        project.mutex("pull", timeout=0),
    ):
        pass
    with project.mutex("pull", timeout=0):
        assert (project.state_dir / "pull.mutex").read_text() == f"pid {os.getpid()}"


def test_lock_roundtrip_and_store_location(project):
    lock = project.read_lock()
    lock.sources["s"] = {"hash": "a" * 64}
    assert project.write_lock(lock) is True
    assert project.write_lock(project.read_lock()) is False
    assert project.store.root == project.root / ".flowtide/cache"
