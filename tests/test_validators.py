"""Crafted input: a lock, a registry, a config or a cache that tries to escape the project or misname a blob.

Every hash read from disk is 64 lowercase hex, every path passes one rule (no
``..``, not absolute, no drive letter, no symlink out) and every name follows the
source-name rule; a bad entry is an error naming file, line and value, and
nothing is read or written outside the project.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from flowtide.errors import ConfigError, StoreError, UsageError
from flowtide.lock import Lock
from flowtide.project import Project
from flowtide.store import Store

from .conftest import run_cli

MODEL_CONFIG = """\
project: crafted
model: {name: weather, path: models/model.bin}
"""

DIR_CONFIG = """\
project: dirs
stages:
  split:
    cmd: python -c "import os; os.makedirs('parts', exist_ok=True); [open(f'parts/{i}.txt','w').write(str(i)) for i in range(3)]; open('runs.log','a').write('split\\\\n')"
    outs: [parts]
"""


def test_the_rules():
    from flowtide.validators import is_digest, is_name, path_problem

    assert is_digest("ab" * 32) and not is_digest("AB" * 32) and not is_digest("ab" * 32 + "\n")
    assert not is_digest("../../etc/passwd") and not is_digest(None) and not is_digest("ab" * 31)
    assert is_name("weather") and is_name("my_model-2.1")
    for bad in ("", "2fast", "a b", "weather\n", "${{ secrets.TOKEN }}", "w$(id)", "a/b", None, 3):
        assert not is_name(bad), bad
    assert path_problem("data/raw.csv") is None and path_problem("a..b/c") is None
    assert path_problem("../x") == path_problem("a/../../x") == "escapes the project directory"
    assert path_problem("a\\..\\..\\x") == "escapes the project directory"  # written on Windows
    for absolute in ("/etc/passwd", "C:/x", "c:\\x", "", None, 7):
        assert path_problem(absolute) == "must be a relative path inside the project", absolute
    assert path_problem("a\0b") == "contains a NUL character"


def test_project_resolve_applies_the_one_rule(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    (root / "flowtide.yaml").write_text("project: p\n")
    project = Project.load(root)
    with pytest.raises(UsageError, match=r"^path 'data/../data/x.csv' escapes the project directory "):
        project.resolve("data/../data/x.csv")  # stays inside, but '..' is refused by the one rule
    with pytest.raises(UsageError, match=r"^path 'a\\x00b' contains a NUL character "):
        project.resolve("a\0b")
    from flowtide.validators import escapes

    (root / "out").symlink_to(tmp_path)
    assert escapes(root, root / "out" / "x") == (tmp_path / "x").resolve()
    assert escapes(root, root / "in" / "x") is None


def test_store_refuses_a_digest_that_is_a_path(tmp_path):
    store = Store(tmp_path / "cache")
    for bad in ("../../../../etc/passwd", "AB" * 32, "ab" * 31 + "/x", "ab" * 32 + "\n"):
        with pytest.raises(StoreError, match="is not a BLAKE3 hex digest"):
            store.path_of(bad)
        with pytest.raises(StoreError):
            store.has(bad)
    (tmp_path / "cache" / "ab").mkdir(parents=True)
    (tmp_path / "cache" / "ab" / "not-a-blob").write_text("x")
    assert list(store.digests()) == []  # a stray file is not listed as a blob (gc would path_of it)


# --- the registry ---------------------------------------------------------------------


def _registered(tmp_path: Path) -> tuple[Path, dict]:
    root = tmp_path / "project"
    (root / "models").mkdir(parents=True)
    (root / "flowtide.yaml").write_text(MODEL_CONFIG)
    (root / "models" / "model.bin").write_bytes(b"model bytes")
    result = run_cli("register", "--json", cwd=root)
    assert result.code == 0, result.err
    return root, json.loads((root / "flowtide.registry").read_text().splitlines()[0])


def _rewrite_registry(root: Path, *events: dict) -> None:
    (root / "flowtide.registry").write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in events))


@pytest.mark.parametrize("where", ["relative", "absolute"])
def test_a_registry_path_cannot_make_package_write_outside(tmp_path, where):
    root, event = _registered(tmp_path)
    evil = "../../evil.bin" if where == "relative" else str(tmp_path / "abs" / "evil.bin")
    _rewrite_registry(root, {**event, "path": evil})
    result = run_cli("package", "weather", "1", "-o", tmp_path / "bundle", cwd=root)
    assert result.code == 2, result.out
    problem = "escapes the project directory" if where == "relative" else "must be a relative path inside the project"
    assert result.err.startswith(f"error: flowtide.registry:1: path {evil!r} {problem}\n")
    assert "restore flowtide.registry from git" in result.err
    assert not (tmp_path / "evil.bin").exists() and not (tmp_path / "abs").exists()
    assert not (tmp_path / "bundle").exists()


def test_a_registry_hash_is_never_a_path(tmp_path):
    root, event = _registered(tmp_path)
    crafted = "../../../../../../../../../../etc/hostname"
    _rewrite_registry(root, {**event, "hash": crafted})
    for argv in (["models"], ["models", "show", "weather", "1"], ["package", "weather", "1"], ["fetch"]):
        result = run_cli(*argv, cwd=root)
        assert result.code == 2, (argv, result.out, result.err)
        assert result.err.startswith(
            f"error: flowtide.registry:1: hash {crafted!r} is not a BLAKE3 hex digest (64 lowercase hex characters)\n"
        ), argv
    assert not (root / "dist").exists()


def test_registry_names_stages_and_versions_are_checked_with_their_line(tmp_path):
    root, event = _registered(tmp_path)
    promote = {"event": "promote", "model": "weather", "version": 1, "from": "candidate", "to": "staging"}
    _rewrite_registry(root, event, {**promote, "to": "../../prod"})
    result = run_cli("models", cwd=root)
    assert result.code == 2
    assert result.err.startswith(
        "error: flowtide.registry:2: to '../../prod' is not a stage (candidate, staging, production, archived)\n"
    )
    # a blank line does not shift the line numbers
    _rewrite_registry(root, event, promote)
    text = (root / "flowtide.registry").read_text()
    (root / "flowtide.registry").write_text(text + "\n" + json.dumps({**promote, "model": "w$(id)"}) + "\n")
    result = run_cli("models", cwd=root)
    assert result.err.startswith("error: flowtide.registry:4: model 'w$(id)' is not a valid model name: it must ")
    _rewrite_registry(root, {**event, "version": [1]})
    assert run_cli("models", cwd=root).err.startswith(
        "error: flowtide.registry:1: version [1] is not a version number (a positive integer)\n"
    )
    _rewrite_registry(root, {**event, "gates": [1]})
    assert run_cli("models", cwd=root).err.startswith("error: flowtide.registry:1: gates [1] must be a mapping\n")
    _rewrite_registry(root, {**event, "data": {"data/x.csv": "../x"}})
    assert run_cli("models", cwd=root).err.startswith(
        "error: flowtide.registry:1: data hash of data/x.csv '../x' is not a BLAKE3 hex digest"
    )


def test_package_refuses_a_symlink_out_of_an_existing_bundle(tmp_path):
    root, _event = _registered(tmp_path)
    bundle = tmp_path / "bundle"
    assert run_cli("package", "weather", "1", "-o", bundle, cwd=root).code == 0
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.rmtree(bundle / "models")
    (bundle / "models").symlink_to(outside)
    result = run_cli("package", "weather", "1", "-o", bundle, cwd=root)
    assert result.code == 2
    assert result.err.startswith(
        f"error: bundle file 'models/model.bin' resolves to {outside.resolve()}/model.bin, outside {bundle}\n"
    )
    assert list(outside.iterdir()) == []


# --- the lock -------------------------------------------------------------------------


def _dir_project(tmp_path: Path) -> tuple[Path, dict]:
    root = tmp_path / "project"
    root.mkdir()
    (root / "flowtide.yaml").write_text(DIR_CONFIG)
    result = run_cli("run", cwd=root)
    assert result.code == 0, result.err
    return root, json.loads((root / "flowtide.lock").read_text())


def test_a_lock_file_map_cannot_make_restore_write_outside(tmp_path):
    root, lock = _dir_project(tmp_path)
    files = lock["stages"]["split"]["outs"]["parts"]["files"]
    files["../../escaped.txt"] = files["0.txt"]
    (root / "flowtide.lock").write_text(json.dumps(lock, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(root / "parts")
    result = run_cli("run", cwd=root)
    assert result.code == 2, result.out
    line = next(n for n, text in enumerate((root / "flowtide.lock").read_text().splitlines(), 1) if "escaped" in text)
    assert result.err.startswith(
        f"error: flowtide.lock:{line}: stages.split.outs.parts.files: '../../escaped.txt' escapes the project directory\n"
    )
    assert "git checkout -- flowtide.lock" in result.err
    assert not (tmp_path / "escaped.txt").exists() and not (root / "parts").exists()


def test_lock_hashes_paths_and_names_are_checked(tmp_path):
    path = tmp_path / "flowtide.lock"
    good = {"url": "x", "path": "data/x.csv", "hash": "ab" * 32, "size": 1}
    for bad_entry, message in [
        ({**good, "hash": "../../etc/passwd"}, "sources.raw.hash: '../../etc/passwd' is not a BLAKE3 hex digest"),
        ({**good, "path": "/etc/passwd"}, "sources.raw.path: '/etc/passwd' must be a relative path inside the project"),
    ]:
        path.write_text(json.dumps({"version": 1, "sources": {"raw": bad_entry}, "stages": {}}, indent=2))
        with pytest.raises(ConfigError, match=r"^flowtide\.lock:\d+: " + message.replace(".", r"\.")):
            Lock.load(path)
    path.write_text(json.dumps({"version": 1, "sources": {"a b": good}, "stages": {}}))
    with pytest.raises(ConfigError, match=r"sources: 'a b' is not a valid name"):
        Lock.load(path)
    stage = {"fingerprint": "ab" * 32, "outs": {"m.txt": {"hash": "x" * 64, "size": 1}}}
    path.write_text(json.dumps({"version": 1, "sources": {}, "stages": {"train": stage}}))
    with pytest.raises(ConfigError, match=r"^flowtide\.lock:1: stages\.train\.outs\.m\.txt\.hash: 'xxxx"):
        Lock.load(path)


def test_a_crafted_stage_index_entry_is_ignored(tmp_path):
    root, lock = _dir_project(tmp_path)
    entry = lock["stages"]["split"]
    index = root / ".flowtide" / "pipeline" / "index" / entry["fingerprint"][:2] / f"{entry['fingerprint'][2:]}.json"
    crafted = json.loads(index.read_text())
    crafted["outs"]["parts"]["files"]["../../escaped.txt"] = crafted["outs"]["parts"]["files"]["0.txt"]
    index.write_text(json.dumps(crafted))
    del lock["stages"]["split"]  # no lock entry: the run consults the index
    (root / "flowtide.lock").write_text(json.dumps(lock))
    shutil.rmtree(root / "parts")
    result = run_cli("run", cwd=root)
    assert result.code == 0, result.err
    assert "split: running (never run)" in result.out  # a cache miss, not a restore
    assert not (tmp_path / "escaped.txt").exists()
    assert (root / "runs.log").read_text() == "split\nsplit\n"


def test_restore_refuses_a_symlink_in_the_output_directory(tmp_path):
    root, lock = _dir_project(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    files = lock["stages"]["split"]["outs"]["parts"]["files"]
    # "sub" is listed as a file too, so restore's clean-up keeps the planted symlink
    lock["stages"]["split"]["outs"]["parts"]["files"] = {"sub/x.txt": files["0.txt"], "sub": files["1.txt"]}
    (root / "flowtide.lock").write_text(json.dumps(lock, indent=2))
    shutil.rmtree(root / "parts")
    (root / "parts").mkdir()
    (root / "parts" / "sub").symlink_to(outside)
    result = run_cli("run", cwd=root)
    assert result.code == 1
    assert result.err.startswith(
        f"error: stage 'split' cannot restore parts/sub/x.txt: its directory resolves to {outside.resolve()}, "
        "outside the project\n"
    )
    assert list(outside.iterdir()) == []


def test_a_crafted_stat_cache_entry_is_a_miss(tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    (root / "in.txt").write_text("bytes\n")
    copy = "python -c \"open('out.txt','w').write(open('in.txt').read())\""
    (root / "flowtide.yaml").write_text(
        f"project: s\nstages:\n  copy: {{cmd: {json.dumps(copy)}, deps: [in.txt], outs: [out.txt]}}\n"
    )
    assert run_cli("run", cwd=root).code == 0
    (root / ".flowtide" / "tmp" / "statcache.json").write_text(json.dumps({"in.txt": {"0": 1}, "out.txt": [1, 2]}))
    (root / ".flowtide" / "tmp" / "uptodate.json").unlink()  # force the full check
    result = run_cli("status", cwd=root)
    assert (result.code, result.err) == (0, "")


# --- the config -----------------------------------------------------------------------


def test_drift_reference_must_stay_inside(tmp_path):
    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    (tmp_path / "secret.csv").write_text("x\n1\n")
    (root / "data" / "x.csv").write_text("x\n1\n2\n")
    config = (
        "project: p\nchecks:\n  data/x.csv:\n    columns: {x: {type: int}}\n    drift: {reference: ../secret.csv}\n"
    )
    (root / "flowtide.yaml").write_text(config)
    result = run_cli("check", cwd=root)
    assert result.code == 2, result.out
    assert result.err.startswith(
        "error: flowtide.yaml:5:13: drift reference '../secret.csv' escapes the project directory\n"
    )
    os.symlink(tmp_path / "secret.csv", root / "data" / "link.csv")
    (root / "flowtide.yaml").write_text(config.replace("../secret.csv", "data/link.csv"))
    result = run_cli("check", cwd=root)
    assert result.code == 2
    assert "error: drift.reference 'data/link.csv' resolves to " in result.err


@pytest.mark.parametrize("name", ["we ather", "weather\n", "${{ secrets.TOKEN }}", "x$(id)"])
def test_model_name_follows_the_source_name_rule(tmp_path, name):
    root = tmp_path / "project"
    root.mkdir()
    (root / "flowtide.yaml").write_text(f"project: p\nmodel: {{name: {json.dumps(name)}, path: m.bin}}\n")
    result = run_cli("status", cwd=root)
    assert result.code == 2
    assert result.err.startswith(f"error: flowtide.yaml:2:9: model name {name!r} must start with a letter")


def test_a_remote_listing_counts_only_blob_names(tmp_path):
    from flowtide.remote import Remote

    good = "ab" + "c" * 62
    for name in (good, "ab" + "c" * 62 + "\n", "AB" + "C" * 62, "ab" + "c" * 61, "tmp/" + "d" * 62):
        path = tmp_path / "remote" / name[:2] / name[2:]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    assert Remote.open(str(tmp_path / "remote")).list() == {good: 1}
