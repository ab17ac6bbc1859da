"""The registry snapshot (flowtide.registry.snapshot): writers keep it valid, and it is never trusted for a log
that is not the one it describes (a byte changed in the middle, a truncation, a hand-appended line, a copy)."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from flowtide.errors import ConfigError
from flowtide.project import Project
from flowtide.registry import promote, register, rollback, snapshot, summary

from .conftest import run_cli
from .test_registry import _register_line as register_line


def _register_line(v: int) -> str:
    return register_line(v, compact=True)


@pytest.fixture
def root(tmp_path):
    """A project (not a git repo: no tags) with 250 registered versions, every 10th through staging to production."""
    root = tmp_path / "p"
    (root / ".flowtide").mkdir(parents=True)
    (root / "models").mkdir()
    (root / "flowtide.yaml").write_text("project: p\nmodel: {name: weather, path: models/model.skops}\n")
    lines = []
    for v in range(1, 251):
        lines.append(_register_line(v))
        if v % 10 == 0:
            for to in ("staging", "production"):
                lines.append(json.dumps({"event": "promote", "model": "weather", "version": v, "to": to}))
    (root / "flowtide.registry").write_text("\n".join(lines) + "\n")
    return root


def _memo(root):
    return root / ".flowtide" / "tmp" / snapshot.NAME


def _rebuilt(root):
    path = root / "flowtide.registry"
    return snapshot.Snapshot.build(path, _memo(root), path.read_bytes())


def _same(saved, rebuilt):
    assert saved.models == rebuilt.models
    assert saved.records == rebuilt.records
    assert saved.offsets == rebuilt.offsets
    assert saved.covered == rebuilt.covered == (rebuilt.path.stat().st_size)


def _valid_as_saved(root):
    """The saved snapshot, asserting that the next reader uses it as it is (its stat is the registry's)."""
    saved = snapshot.Snapshot.read(root / "flowtide.registry", _memo(root))
    assert saved is not None
    assert saved.stat == snapshot._stat(root / "flowtide.registry")
    return saved


def _full_listing(root):
    shutil.rmtree(root / ".flowtide" / "tmp", ignore_errors=True)
    return summary(Project.load(root))


def _no_replay(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("replayed the whole log")

    monkeypatch.setattr(snapshot.Snapshot, "build", refuse)


def test_writers_fold_their_event_into_the_snapshot_without_replaying_the_log(root, monkeypatch):
    project = Project.load(root)
    summary(project)  # builds the snapshot
    _no_replay(monkeypatch)
    artifact = root / "models" / "model.skops"

    def register_new():
        artifact.write_bytes(os.urandom(1000))
        return register(project)

    steps = [
        register_new,  # two registers in a row
        register_new,
        lambda: promote(project, "weather", 252, "staging"),
        lambda: promote(project, "weather", 244, "staging"),  # replaces 252 in staging: archived
        lambda: promote(project, "weather", 244, "production"),  # replaces 250: archived
        lambda: promote(project, "weather", 3, "archived"),  # a version outside the listing's tail
        lambda: rollback(project, "weather"),  # back to 250; 244 archived
        lambda: register(project),  # the same bytes again: nothing appended
    ]
    answers = []
    for step in steps:
        answers.append(step())
        monkeypatch.undo()
        _same(_valid_as_saved(root), _rebuilt(root))
        _no_replay(monkeypatch)
    assert [a.version for a in answers] == [251, 252, 252, 244, 244, 3, 250, 252]
    assert [a.stage for a in answers[2:7]] == ["staging", "staging", "production", "archived", "production"]
    assert answers[-1].existing and answers[-1].stage == "archived"
    listing = summary(project)["weather"]
    monkeypatch.undo()
    assert listing == _full_listing(root)["weather"]
    assert (listing["production"], listing["staging"], listing["count"]) == (250, None, 252)


def test_the_cli_listing_after_promote_is_the_full_replays(root):
    run_cli("models", cwd=root)
    result = run_cli("promote", "weather", "248", "--to", "staging", "--json", cwd=root)
    assert result.code == 0, result.err
    assert [e["event"] for e in json.loads(result.out)["history"]] == ["register", "promote"]
    _valid_as_saved(root)
    warm = run_cli("models", "--last", "5", cwd=root).out
    shutil.rmtree(root / ".flowtide" / "tmp")
    assert warm == run_cli("models", "--last", "5", cwd=root).out
    assert "production v250, staging v248" in warm


def _change_a_middle_byte(path):
    raw = path.read_bytes()
    at = raw.index(b'"accuracy":0.62')
    path.write_bytes(raw[:at] + b'"accuracy":0.72' + raw[at + len(b'"accuracy":0.62') :])


def _change_a_middle_byte_keeping_mtime(path):
    st = path.stat()
    _change_a_middle_byte(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _truncate(path):
    raw = path.read_bytes()
    path.write_bytes(raw[: raw.rindex(b"\n", 0, len(raw) - 1) + 1])


def _append_by_hand(path):
    with open(path, "a") as handle:
        handle.write('{"event":"promote","model":"weather","version":7,"to":"staging"}\n')


def _append_a_register_by_hand(path):
    with open(path, "a") as handle:
        handle.write(_register_line(300) + "\n")


def _replace_by_a_checkout(path):
    """What git does: a new file (another inode) with other bytes of the same length."""
    raw = path.read_bytes().replace(b'"accuracy":0.62', b'"accuracy":0.72')
    path.unlink()
    path.write_bytes(raw)


@pytest.mark.parametrize(
    "edit",
    [
        _change_a_middle_byte,
        _change_a_middle_byte_keeping_mtime,
        _truncate,
        _append_by_hand,
        _append_a_register_by_hand,
        _replace_by_a_checkout,
    ],
)
def test_a_registry_edited_elsewhere_is_listed_as_a_full_replay_lists_it(root, edit):
    project = Project.load(root)
    summary(project)
    promote(project, "weather", 248, "staging")  # a writer's fold: the snapshot's proof has two ranges
    edit(root / "flowtide.registry")
    listing = summary(project)
    _same(_valid_as_saved(root), _rebuilt(root))
    assert listing == _full_listing(root)
    if edit in (_change_a_middle_byte, _change_a_middle_byte_keeping_mtime, _replace_by_a_checkout):
        (record,) = [r for r in map(json.loads, listing["weather"]["json"]) if r["version"] == 120]
        assert record["metrics"]["accuracy"] == 0.72


def test_a_hostile_line_in_the_middle_is_reported_not_hidden_by_the_snapshot(root):
    project = Project.load(root)
    summary(project)
    path = root / "flowtide.registry"
    lines = path.read_bytes().split(b"\n")
    lines[5] = json.dumps({"event": "register", "model": "weather", "version": 6, "hash": "../../etc"}).encode()
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(ConfigError) as raised:
        summary(project)
    assert raised.value.line == 6 and "hash" in str(raised.value)


def test_a_snapshot_from_another_clone_is_not_used(root, tmp_path):
    """A snapshot that came with a checkout or from another clone (with or without its witness file) is not
    this project's, whatever state it claims."""
    project = Project.load(root)
    summary(project)
    other = tmp_path / "other"
    shutil.copytree(root, other, ignore=shutil.ignore_patterns("tmp"))
    summary(Project.load(other))  # the clone's own snapshot and witness
    forged = _memo(root).read_bytes().replace(b'"production":250', b'"production":10')
    for witness in (False, True):
        _memo(other).write_bytes(forged)
        if witness:
            shutil.copy2(
                _memo(root).with_name("registry-snapshot.witness"), _memo(other).with_name("registry-snapshot.witness")
            )
        assert snapshot.Snapshot.read(other / "flowtide.registry", _memo(other)) is None
        assert summary(Project.load(other))["weather"]["production"] == 250


def test_the_first_registers_start_a_snapshot_that_stays_valid(root):
    (root / "flowtide.registry").unlink()
    project = Project.load(root)
    for _ in range(2):
        (root / "models" / "model.skops").write_bytes(os.urandom(500))
        register(project)
    _same(_valid_as_saved(root), _rebuilt(root))
    assert summary(project)["weather"]["count"] == 2
