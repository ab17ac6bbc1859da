"""push / fetch / gc over what the lock and the registry reference.

The fast tests use a plain local directory as the remote (same code path as any
fsspec URL apart from the temporary-key rename); tests/test_remote.py runs the
scenarios against a real SeaweedFS S3 server.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from flowtide.errors import IntegrityError, StoreError
from flowtide.hashing import hash_bytes
from flowtide.lock import Lock
from flowtide.project import Project
from flowtide.transfer import fetch, gc, push, references

from .conftest import git, run_cli

RAW = b"date,value\n" + b"".join(b"2024-01-%02d,%d\n" % (d, d * 7) for d in range(1, 29))
SMALL = b"a,b\n1,2\n"
MODEL = bytes(range(256)) * 40


def write_config(
    root: Path, remote: str | None, *, endpoint: str | None = None, auto_push: bool = False, transport: str = ""
) -> None:
    store = ""
    if remote:
        store = f"store:\n  remote: {remote}\n  auto_push: {'true' if auto_push else 'false'}\n  jobs: 4\n"
        if endpoint:
            store += f"  endpoint_url: {endpoint}\n"
        if transport:
            store += f"  transport: {transport}\n"
    (root / "flowtide.yaml").write_text(
        "project: demo\n"
        "sources:\n"
        "  raw: {url: incoming/raw.csv, path: data/raw.csv, storage: store}\n"
        "  small: {url: incoming/small.csv, path: data/small.csv}\n"
        "stages:\n"
        "  train: {cmd: 'true', deps: [data/raw.csv], outs: [models/model.bin, reports]}\n" + store
    )


def seed(root: Path, *, raw: bytes = RAW, model: bytes = MODEL) -> Project:
    """Files in the working tree and the store, and a lock that references them (as pull and run would)."""
    project = Project.load(root, env={})
    files = {"data/raw.csv": raw, "data/small.csv": SMALL, "models/model.bin": model}
    files["reports/a.txt"] = b"report a\n"
    files["reports/sub/b.txt"] = b"report b\n"
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        project.store.add_file(path)
    h = {rel: hash_bytes(data) for rel, data in files.items()}
    lock = Lock(
        sources={
            "raw": {"url": "incoming/raw.csv", "path": "data/raw.csv", "hash": h["data/raw.csv"], "size": len(raw)},
            "small": {"url": "incoming/small.csv", "path": "data/small.csv", "hash": h["data/small.csv"], "size": 8},
        },
        stages={
            "train": {
                "outs": {
                    "models/model.bin": {"hash": h["models/model.bin"], "size": len(model)},
                    "reports": {
                        "hash": hash_bytes(b"dir"),
                        "size": 18,
                        "nfiles": 2,
                        "files": {
                            "a.txt": {"hash": h["reports/a.txt"], "size": 9},
                            "sub/b.txt": {"hash": h["reports/sub/b.txt"], "size": 9},
                        },
                    },
                }
            }
        },
    )
    project.write_lock(lock)
    return project


def clone_tree(src: Path, dest: Path) -> Path:
    """What a fresh git clone has: config, lock and git-mode data, no store, no store-mode data, no outs."""
    dest.mkdir(parents=True)
    shutil.copy(src / "flowtide.yaml", dest)
    shutil.copy(src / "flowtide.lock", dest)
    (dest / "data").mkdir()
    shutil.copy(src / "data/small.csv", dest / "data/small.csv")
    return dest


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "proj"
    root.mkdir()
    write_config(root, str(tmp_path / "remote"))
    return seed(root)


def remote_blobs(remote: Path) -> set[str]:
    return {p.parent.name + p.name for p in remote.glob("??/*") if p.is_file()}


def test_references_are_the_lock_blobs_minus_directory_manifests(project):
    lock = project.read_lock()
    manifest = lock.stages["train"]["outs"]["reports"]["hash"]
    assert {i.digest for i in references(project)} == lock.blobs() - {manifest}


def test_references_cover_sources_outs_and_directory_files(project):
    items = references(project)
    paths = sorted(item.path for item in items)
    assert paths == ["data/raw.csv", "data/small.csv", "models/model.bin", "reports/a.txt", "reports/sub/b.txt"]
    modes = {item.path: item.overwrite for item in items}
    assert modes["data/small.csv"] is False  # git-mode: the committed file is the truth
    assert modes["data/raw.csv"] is True


def test_push_uploads_everything_in_store_layout_then_nothing(project, tmp_path):
    result = push(project)
    wanted = {item.digest for item in references(project)}
    assert set(result.pushed) == wanted and result.present == []
    assert remote_blobs(tmp_path / "remote") == wanted
    digest = hash_bytes(MODEL)
    assert (tmp_path / "remote" / digest[:2] / digest[2:]).read_bytes() == MODEL
    assert not list((tmp_path / "remote" / "tmp").iterdir())  # the temporary keys were renamed away

    again = run_cli("push", cwd=project.root)
    assert again.code == 0, again.err
    assert again.out == f"nothing to push: all 5 referenced blob(s) are already on {tmp_path / 'remote'}\n"


def test_push_json_and_jobs_flag(project):
    result = run_cli("push", "--json", "-j", "2", cwd=project.root)
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert len(data["pushed"]) == 5 and data["bytes"] == len(RAW) + len(SMALL) + len(MODEL) + 18


def test_push_adopts_referenced_working_tree_files_missing_from_the_store(project):
    project.store.remove(hash_bytes(SMALL))  # e.g. a git-mode file from a fresh clone
    result = push(project)
    assert hash_bytes(SMALL) in result.pushed


def test_push_names_blobs_that_exist_nowhere(project):
    digest = hash_bytes(MODEL)
    project.store.remove(digest)
    (project.root / "models/model.bin").write_bytes(b"retrained but not re-locked")
    with pytest.raises(StoreError) as info:
        push(project)
    assert info.value.message == (
        f"push: 1 referenced blob(s) are neither in the local store nor on {project.config.store.remote}: "
        f"models/model.bin ({digest[:12]})"
    )
    assert "4 other blob(s) were pushed" in info.value.hint


def test_push_without_remote_points_at_the_config(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    write_config(root, None)
    seed(root)
    result = run_cli("push", cwd=root)
    assert result.code == 2
    assert result.err.startswith("error: flowtide.yaml: no remote store is configured\nAdd `store: {remote:")


def test_fetch_in_a_fresh_clone_materialises_then_is_idempotent(project, tmp_path):
    push(project)
    clone = Project.load(clone_tree(project.root, tmp_path / "clone"), env={})
    result = fetch(clone)
    assert result.materialized == ["data/raw.csv", "models/model.bin", "reports/a.txt", "reports/sub/b.txt"]
    assert result.up_to_date == ["data/small.csv"]
    assert len(result.downloaded) == 4
    for rel in ("data/raw.csv", "models/model.bin", "reports/sub/b.txt"):
        assert (clone.root / rel).read_bytes() == (project.root / rel).read_bytes()
    again = run_cli("fetch", cwd=clone.root)
    assert again.code == 0, again.err
    assert again.out == "nothing to fetch: 5 file(s) up to date, 0 blob(s) already in the local store\n"


def test_fetch_restores_a_changed_store_file_from_the_local_store_without_the_remote(project):
    (project.root / "data/raw.csv").write_bytes(b"edited")
    result = fetch(project)  # the blob is local: no remote access at all
    assert result.materialized == ["data/raw.csv"] and result.downloaded == []
    assert (project.root / "data/raw.csv").read_bytes() == RAW


def test_fetch_targets_select_by_source_stage_and_path(project, tmp_path):
    push(project)
    clone = Project.load(clone_tree(project.root, tmp_path / "clone"), env={})
    assert fetch(clone, ["raw"]).materialized == ["data/raw.csv"]
    assert fetch(clone, ["reports/"]).materialized == ["reports/a.txt", "reports/sub/b.txt"]
    assert fetch(clone, ["train"]).materialized == ["models/model.bin"]
    bad = run_cli("fetch", "nope", cwd=clone.root)
    assert bad.code == 2
    assert bad.err.startswith(
        "error: fetch: 'nope' is not a source, stage, model or path that the lock or registry references\n"
        "Known targets: data/raw.csv, data/small.csv,"
    )


def test_fetch_refuses_a_corrupted_remote_blob(project, tmp_path):
    push(project)
    digest = hash_bytes(RAW)
    remote_file = tmp_path / "remote" / digest[:2] / digest[2:]
    remote_file.write_bytes(RAW.replace(b"2024", b"2025"))
    clone = Project.load(clone_tree(project.root, tmp_path / "clone"), env={})
    with pytest.raises(IntegrityError) as info:
        fetch(clone, ["raw"])
    assert info.value.message == (
        f"blob {digest[:12]} downloaded from {tmp_path / 'remote'}/{digest[:2]}/{digest[2:]} is corrupted: "
        f"its {len(RAW)} bytes hash to {hash_bytes(RAW.replace(b'2024', b'2025'))[:12]}; refused, "
        "the local store is unchanged"
    )
    assert not clone.store.has(digest)
    assert not (clone.root / "data/raw.csv").exists()
    assert [p.name for p in clone.store.tmp_dir.iterdir()] == [".gitignore"]  # the partial download was discarded
    assert fetch(clone, ["models/model.bin"]).materialized == ["models/model.bin"]  # other targets still work


def test_fetch_says_which_blob_nobody_pushed(project, tmp_path):
    clone = Project.load(clone_tree(project.root, tmp_path / "clone"), env={})
    result = run_cli("fetch", "raw", cwd=clone.root)
    digest = hash_bytes(RAW)
    assert result.code == 1
    assert result.err == (
        f"error: blob {digest[:12]} is not on the remote {tmp_path / 'remote'}/{digest[:2]}/{digest[2:]}\n"
        "Run `flowtide push` from a clone that has it (the lock references it but nobody pushed it).\n"
    )


def test_gc_local_removes_only_unreferenced_blobs(project):
    orphan, _ = project.store.add_file(_write(project.root / "old.bin", b"old bytes"))
    dry = gc(project, dry_run=True)
    assert dry.local_removed == [orphan] and project.store.has(orphan)
    done = run_cli("gc", cwd=project.root)
    assert done.code == 0, done.err
    assert done.out == "local store: removed 1 blob(s), 9 B; kept 5\n"
    assert not project.store.has(orphan)
    assert all(project.store.has(item.digest) for item in references(project))


def test_gc_keeps_what_commits_reference(git_repo):
    write_config(git_repo, None)
    first = seed(git_repo, model=b"model v1")
    git("add", "flowtide.yaml", "flowtide.lock", cwd=git_repo)
    git("commit", "-qm", "v1", cwd=git_repo)
    seed(git_repo, model=b"model v2")
    git("commit", "-qam", "v2", cwd=git_repo)
    seed(git_repo, model=b"model v3 (working tree)")
    v1, v2 = hash_bytes(b"model v1"), hash_bytes(b"model v2")
    assert gc(first, dry_run=True).local_removed == [v1]  # HEAD (v2) and the working tree (v3) are kept
    assert gc(first, dry_run=True, all_commits=True).local_removed == []
    gc(first)
    assert not first.store.has(v1) and first.store.has(v2)


def test_gc_remote_needs_a_reviewed_dry_run_or_yes(project, tmp_path):
    push(project)
    orphan, _ = project.store.add_file(_write(project.root / "old.bin", b"orphan"))
    push_remote = tmp_path / "remote" / orphan[:2]
    push_remote.mkdir(exist_ok=True)
    shutil.copy(project.store.path_of(orphan), push_remote / orphan[2:])
    refused = run_cli("gc", "--remote", cwd=project.root)
    assert refused.code == 2
    assert refused.err.startswith(
        f"error: gc --remote deletes objects on {tmp_path / 'remote'} that other clones may still need\n"
    )
    assert orphan in remote_blobs(tmp_path / "remote")
    review = run_cli("gc", "--remote", "--dry-run", "--json", cwd=project.root)
    assert json.loads(review.out)["remote_removed"] == [orphan]
    assert orphan in remote_blobs(tmp_path / "remote")
    done = run_cli("gc", "--remote", cwd=project.root)
    assert done.code == 0, done.err
    assert remote_blobs(tmp_path / "remote") == {item.digest for item in references(project)}
    again = run_cli("gc", "--remote", cwd=project.root)  # the reviewed list was used up
    assert again.code == 2
    assert run_cli("gc", "--remote", "--yes", cwd=project.root).code == 0


def test_auto_push_uploads_and_failure_keeps_local_work(tmp_path):
    from flowtide.remote import auto_push

    root = tmp_path / "p"
    root.mkdir()
    write_config(root, str(tmp_path / "remote"), auto_push=True)
    project = seed(root)
    digest = hash_bytes(RAW)
    auto_push(project, [digest])
    assert remote_blobs(tmp_path / "remote") == {digest}

    (tmp_path / "blocker").write_text("a file where the remote directory should be")
    write_config(root, str(tmp_path / "blocker" / "remote"), auto_push=True)
    project = Project.load(root, env={})
    with pytest.raises(StoreError) as info:
        auto_push(project, [digest])
    assert info.value.message.startswith(f"automatic push to {tmp_path / 'blocker' / 'remote'} failed: remote store")
    assert info.value.hint == (
        "Local work is saved (store, lock and registry are written). "
        "Run `flowtide push` once the remote is reachable, or set `store.auto_push: false`."
    )
    assert project.store.has(digest)


def test_auto_push_is_off_without_remote_or_when_disabled(tmp_path):
    from flowtide.remote import auto_push

    root = tmp_path / "p"
    root.mkdir()
    write_config(root, str(tmp_path / "remote"), auto_push=False)
    project = seed(root)
    auto_push(project, [hash_bytes(RAW)])
    assert not (tmp_path / "remote").exists()


def test_pull_then_auto_push_with_store_mode_source(tmp_path):
    pull_module = pytest.importorskip("flowtide.data.pull", reason="the pull area has not landed")
    root = tmp_path / "p"
    (root / "incoming").mkdir(parents=True)
    (root / "incoming/raw.csv").write_bytes(RAW)
    (root / "incoming/small.csv").write_bytes(SMALL)
    write_config(root, str(tmp_path / "remote"), auto_push=True)
    project = Project.load(root, env={})
    result = pull_module.pull(project, check=False)
    assert result.ok, [r.message for r in result.results]
    assert remote_blobs(tmp_path / "remote") == {hash_bytes(RAW), hash_bytes(SMALL)}
    assert "/data/raw.csv" in (root / ".gitignore").read_text().splitlines()


def test_import_is_lazy():
    import subprocess
    import sys

    code = "import sys, flowtide.remote, flowtide.transfer; print(sorted(m for m in ('fsspec', 's3fs', 'rich') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_remote_relative_path_is_relative_to_the_project(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    write_config(root, "../shared")
    project = seed(root)
    push(project)
    assert len(remote_blobs(tmp_path / "shared")) == 5
    assert os.path.isdir(tmp_path / "shared" / "tmp")


def test_registry_versions_are_pushed_fetched_and_kept_by_gc(tmp_path):
    registry = pytest.importorskip("flowtide.registry", reason="the registry area has not landed")
    root = tmp_path / "p"
    root.mkdir()
    write_config(root, str(tmp_path / "remote"))
    with open(root / "flowtide.yaml", "a") as handle:
        # (a path no stage writes: register refuses bytes that differ from a stage's recorded output)
        handle.write("model: {name: demo, path: models/extra.bin, format: skops}\n")
    project = seed(root)
    (root / "models/extra.bin").write_bytes(b"a model only the registry knows")
    version = registry.register(project)
    assert version.hash == hash_bytes(b"a model only the registry knows")
    assert gc(project).local_removed == []  # referenced by the registry alone
    assert version.hash in push(project).pushed

    clone = clone_tree(root, tmp_path / "clone")
    shutil.copy(root / "flowtide.registry", clone / "flowtide.registry")
    fetched = run_cli("fetch", "--json", "demo", cwd=clone)
    assert fetched.code == 0, fetched.err
    assert json.loads(fetched.out)["downloaded"] == [version.hash]
    assert Project.load(clone, env={}).store.has(version.hash)


def test_progress_flag_renders_without_a_terminal(project):
    result = run_cli("push", "--progress", cwd=project.root)
    assert result.code == 0, result.err
    assert result.out.startswith("pushed 5 blob(s), 10.4 KiB, to ")


def test_a_hash_that_is_a_path_is_refused(project):
    lock = project.read_lock()
    lock.sources["raw"]["hash"] = "../../../etc/passwd"
    project.write_lock(lock)
    result = run_cli("fetch", cwd=project.root)
    assert result.code == 2
    line = next(n for n, text in enumerate(project.lock_path.read_text().splitlines(), 1) if "passwd" in text)
    assert result.err == (
        f"error: flowtide.lock:{line}: sources.raw.hash: '../../../etc/passwd' is not a BLAKE3 hex digest "
        "(64 lowercase hex characters)\nflowtide never writes such an entry: restore the lock from git "
        "(`git checkout -- flowtide.lock`) and re-run `flowtide pull` / `flowtide run` to rebuild what changed.\n"
    )
