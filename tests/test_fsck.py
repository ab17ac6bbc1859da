"""Store integrity: one flipped byte in a blob never spreads; `flowtide fsck` finds, quarantines and repairs it.

Each path that uses a stored blob (restore in `run`, `fetch` of a blob already
present, adopting an artifact on `register`, `package`) checks it first, or
relies on a check recorded for the blob's (inode, size, mtime_ns).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from flowtide.hashing import hash_bytes, hash_file
from flowtide.project import Project

from .conftest import run_cli

STAGE = "import sys; open(sys.argv[2], 'w').write(open(sys.argv[1]).read().upper()); open('runs.log', 'a').write('x')"
CONFIG = f"""\
project: integrity
stages:
  upper:
    cmd: python -c "{STAGE}" data/raw.txt models/model.txt
    deps: [data/raw.txt]
    outs: [models/model.txt]
model: {{name: weather, path: models/model.txt}}
"""


def make(root: Path, *, remote: Path | None = None) -> Path:
    (root / "data").mkdir(parents=True)
    (root / "models").mkdir()
    config = CONFIG
    if remote is not None:
        config += f"store: {{remote: {remote}}}\n"
    (root / "flowtide.yaml").write_text(config)
    (root / "data" / "raw.txt").write_text("hello\n")
    result = run_cli("run", cwd=root)
    assert result.code == 0, result.err
    return root


def flip(blob: Path) -> bytes:
    """Flip one byte of a stored blob in place (as a disk error or a stray editor would); return the new bytes."""
    os.chmod(blob, 0o644)
    data = bytearray(blob.read_bytes())
    data[0] ^= 0x01
    blob.write_bytes(bytes(data))
    return bytes(data)


def model_blob(root: Path) -> tuple[str, Path]:
    project = Project.load(root)
    digest = project.read_lock().stages["upper"]["outs"]["models/model.txt"]["hash"]
    return digest, project.store.path_of(digest)


def quarantined(root: Path) -> list[bytes]:
    folder = Project.load(root).store.quarantine_dir
    return sorted(p.read_bytes() for p in folder.iterdir()) if folder.is_dir() else []


def test_restore_never_writes_a_corrupt_blob_and_status_tells_the_truth(tmp_path):
    root = make(tmp_path / "p")
    digest, blob = model_blob(root)
    bad = flip(blob)
    (root / "models" / "model.txt").unlink()
    result = run_cli("run", cwd=root)
    assert result.code == 0, result.err
    assert (
        f"(blob {digest[:12]} in the store is corrupt, its bytes hash to {hash_bytes(bad)[:12]}: moved to "
        in result.out
    )
    assert "upper: running (out models/model.txt missing)" in result.out  # no good copy: the stage makes one
    assert (root / "models" / "model.txt").read_text() == "HELLO\n"
    assert hash_file(blob)[0] == digest and quarantined(root) == [bad]
    status = run_cli("status", cwd=root)
    assert status.code == 0 and hash_file(root / "models" / "model.txt")[0] == digest


def test_restore_replaces_a_corrupt_blob_from_the_remote(tmp_path):
    root = make(tmp_path / "p", remote=tmp_path / "remote")  # auto_push uploaded the output
    digest, blob = model_blob(root)
    flip(blob)
    (root / "models" / "model.txt").unlink()
    result = run_cli("run", cwd=root)
    assert result.code == 0, result.err
    assert "upper: restored from cache (out models/model.txt missing)" in result.out
    assert (root / "models" / "model.txt").read_text() == "HELLO\n"
    assert hash_file(blob)[0] == digest and (root / "runs.log").read_text() == "x"  # not run again


def test_register_replaces_a_corrupt_blob_with_the_intact_artifact(tmp_path):
    root = make(tmp_path / "p")
    assert run_cli("register", cwd=root).code == 0
    digest, blob = model_blob(root)
    bad = flip(blob)
    result = run_cli("register", "--json", cwd=root)
    assert result.code == 0, result.err
    assert json.loads(result.out)["hash"] == digest
    assert blob.read_bytes() == b"HELLO\n" and hash_file(blob)[0] == digest
    assert quarantined(root) == [bad]


def test_fetch_checks_a_blob_it_already_has(tmp_path):
    root = make(tmp_path / "p", remote=tmp_path / "remote")
    digest, blob = model_blob(root)
    flip(blob)
    (root / "models" / "model.txt").unlink()
    result = run_cli("fetch", cwd=root)
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        f"blob {digest[:12]} in the local store was corrupt: quarantined and downloaded again",
        f"downloaded 1 blob(s), 6 B, from {tmp_path / 'remote'}",
        "wrote models/model.txt",
    ]
    assert (root / "models" / "model.txt").read_text() == "HELLO\n" and hash_file(blob)[0] == digest


def test_fetch_without_a_remote_refuses_a_corrupt_blob(tmp_path):
    root = make(tmp_path / "p")
    digest, blob = model_blob(root)
    bad = flip(blob)
    (root / "models" / "model.txt").unlink()
    result = run_cli("fetch", cwd=root)
    assert result.code == 1
    store = Project.load(root).store
    assert result.err.startswith(
        f"error: blob {digest[:12]} (models/model.txt) in {store.root} is corrupt: its bytes hash to "
        f"{hash_bytes(bad)[:12]}; moved to {store.quarantine_dir}/{digest}."
    )
    assert "Run `flowtide fsck --repair`" in result.err
    assert not (root / "models" / "model.txt").exists()


def test_fsck_reports_quarantines_and_repairs_from_the_working_tree(tmp_path):
    root = make(tmp_path / "p")
    digest, blob = model_blob(root)
    clean = run_cli("fsck", cwd=root)
    assert (clean.code, clean.out) == (0, "local store: checked 1 blob(s), 6 B\nall blobs intact\n")

    bad = flip(blob)
    found = run_cli("fsck", "--json", cwd=root)
    assert found.code == 1
    report = json.loads(found.out)
    assert report["ok"] is False and report["checked"] == 1
    [damage] = report["damaged"]
    assert damage["digest"] == digest and damage["actual"] == hash_bytes(bad) and damage["repaired_from"] is None
    assert damage["used_by"] == ["models/model.txt"] and damage["quarantined"].startswith(str(blob.parent.parent))
    assert quarantined(root) == [bad] and not blob.exists()
    again = run_cli("fsck", cwd=root)  # the quarantined blob is still referenced and still missing
    assert again.code == 1
    assert f"CORRUPT local blob {digest[:12]} (models/model.txt): quarantined earlier, not repaired yet\n" in again.out

    repaired = run_cli("fsck", "--repair", cwd=root)
    assert repaired.code == 0, repaired.out
    assert "  repaired from models/model.txt\nno corrupt blobs remain\n" in repaired.out
    assert blob.read_bytes() == b"HELLO\n" and oct(blob.stat().st_mode & 0o777) == "0o444"
    assert run_cli("fsck", cwd=root).out.endswith("all blobs intact\n")
    assert quarantined(root) == [bad]  # the evidence stays until someone deletes it


def test_fsck_repairs_from_the_remote_and_checks_the_remote(tmp_path):
    remote = tmp_path / "remote"
    root = make(tmp_path / "p", remote=remote)
    digest, blob = model_blob(root)
    flip(blob)
    (root / "models" / "model.txt").write_text("edited since\n")  # no good copy in the working tree
    result = run_cli("fsck", "--repair", cwd=root)
    assert result.code == 0, result.out
    assert f"  repaired from {remote}\n" in result.out and blob.read_bytes() == b"HELLO\n"

    remote_blob = remote / digest[:2] / digest[2:]
    os.chmod(remote_blob, 0o644)
    remote_blob.write_bytes(b"rotten\n")
    checked = run_cli("fsck", "--remote", cwd=root)
    assert checked.code == 1
    assert f"remote {remote}: checked 1 blob(s)\n" in checked.out
    assert f"CORRUPT remote blob {digest[:12]} (models/model.txt): blob {digest[:12]} downloaded from " in checked.out
    assert checked.out.endswith(
        "1 corrupt blob(s) remain; run `flowtide fsck --repair` to restore them from a good copy\n"
    )
    fixed = run_cli("fsck", "--remote", "--repair", cwd=root)
    assert fixed.code == 0, fixed.out
    assert remote_blob.read_bytes() == b"HELLO\n"
    assert not (root / ".flowtide" / "tmp" / "fsck").exists()  # the scratch downloads are gone


def test_a_check_is_recorded_per_stat_and_a_rewrite_is_noticed(tmp_path):
    root = make(tmp_path / "p")
    store = Project.load(root).store
    digest, blob = model_blob(root)
    assert store.intact(digest)
    records = json.loads((store.root / "verified.json").read_text())["blobs"]
    st = blob.stat()
    assert records[digest] == [st.st_ino, st.st_size, st.st_mtime_ns]
    flip(blob)  # a write changes the mtime: the record no longer vouches for the blob
    assert not Project.load(root).store.intact(digest)


def test_package_uses_the_checked_blob(tmp_path):
    root = make(tmp_path / "p")
    assert run_cli("register", cwd=root).code == 0
    digest, blob = model_blob(root)
    flip(blob)
    result = run_cli("package", "weather", "1", "-o", tmp_path / "bundle", "--json", cwd=root)
    assert result.code == 0, result.err
    assert json.loads(result.out)["repaired_from"] == "models/model.txt"
    assert hash_file(tmp_path / "bundle" / "models" / "model.txt")[0] == digest == hash_file(blob)[0]


def test_push_never_uploads_a_corrupt_blob(tmp_path):
    root = make(tmp_path / "p")  # no remote yet: nothing was pushed by the run
    remote = tmp_path / "remote"
    with open(root / "flowtide.yaml", "a") as config:
        config.write(f"store: {{remote: {remote}}}\n")
    digest, blob = model_blob(root)
    bad = flip(blob)
    result = run_cli("push", cwd=root)
    assert result.code == 0, result.err
    assert (remote / digest[:2] / digest[2:]).read_bytes() == b"HELLO\n"  # the intact working copy went up
    assert blob.read_bytes() == b"HELLO\n" and quarantined(root) == [bad]
