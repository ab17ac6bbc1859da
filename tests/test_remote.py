"""The remote store against a real SeaweedFS S3 server: push, fetch, integrity, killed uploads, a second clone.

One ``weed server`` per test session (fixture ``s3_server`` in conftest.py);
every test gets its own bucket. The same logic on a plain directory remote is
covered cheaply in tests/test_transfer.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowtide.errors import IntegrityError
from flowtide.hashing import hash_bytes, hash_file
from flowtide.project import Project
from flowtide.remote import Remote, download_many, upload_many
from flowtide.store import Store
from flowtide.transfer import fetch, push, references

from .conftest import GIT_ENV, git, run_cli, run_process
from .test_transfer import MODEL, RAW, clone_tree, seed, write_config

pytestmark = pytest.mark.slow


@pytest.fixture
def s3(s3_server, monkeypatch):
    """The server, with its credentials in this process's environment (as a CI secret would be)."""
    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    return s3_server


def s3_project(
    root: Path, s3, *, prefix: str = "flowtide/cache", auto_push: bool = False, transport: str = ""
) -> tuple[Project, str]:
    bucket = s3.bucket()
    root.mkdir(parents=True, exist_ok=True)
    write_config(root, f"s3://{bucket}/{prefix}", endpoint=s3.endpoint_url, auto_push=auto_push, transport=transport)
    return seed(root), f"{bucket}/{prefix}"


def test_push_fetch_and_idempotent_reruns(s3, tmp_path):
    project, base = s3_project(tmp_path / "proj", s3)
    assert Remote.from_project(project).transport == "obstore"  # auto: obstore is installed with the s3 extra
    first = run_cli("push", cwd=project.root)
    assert first.code == 0, first.err
    assert first.out.startswith("pushed 5 blob(s), ")
    fs = s3.fs()
    digest = hash_bytes(MODEL)
    assert fs.cat(f"{base}/{digest[:2]}/{digest[2:]}") == MODEL
    assert sorted(p.rsplit("/", 2)[-2] + p.rsplit("/", 1)[-1] for p in fs.find(base)) == sorted(
        {i.digest for i in references(project)}
    )
    again = run_cli("push", cwd=project.root)
    assert again.out == f"nothing to push: all 5 referenced blob(s) are already on s3://{base}\n"

    clone = Project.load(clone_tree(project.root, tmp_path / "clone"), env=dict(os.environ))
    result = fetch(clone)
    assert len(result.downloaded) == 4
    assert result.materialized == ["data/raw.csv", "models/model.bin", "reports/a.txt", "reports/sub/b.txt"]
    assert (clone.root / "models/model.bin").read_bytes() == MODEL
    rerun = run_cli("fetch", cwd=clone.root)
    assert rerun.out == "nothing to fetch: 5 file(s) up to date, 0 blob(s) already in the local store\n"


def test_credentials_are_never_written_to_project_files(s3, tmp_path):
    project, _ = s3_project(tmp_path / "proj", s3)
    assert run_cli("push", cwd=project.root).code == 0
    clone = Project.load(clone_tree(project.root, tmp_path / "clone"), env=dict(os.environ))
    fetch(clone)
    secret = s3.env["AWS_SECRET_ACCESS_KEY"].encode()
    key = s3.env["AWS_ACCESS_KEY_ID"].encode()
    scanned = 0
    for root in (project.root, clone.root):
        for path in root.rglob("*"):
            if path.is_file():
                scanned += 1
                data = path.read_bytes()
                assert secret not in data and key not in data, path
    assert scanned > 10 and (project.root / ".flowtide").is_dir()


def test_many_blobs_use_one_listing_and_wrong_credentials_fail_clearly(s3, tmp_path, monkeypatch):
    project, base = s3_project(tmp_path / "proj", s3)
    digests = []
    for index in range(40):  # more than the per-blob HEAD limit
        digest, _ = project.store.add_file(_write(tmp_path / f"f{index}", b"blob %d" % index))
        digests.append(digest)
    remote = Remote.from_project(project)
    first = upload_many(remote, project.store, digests, jobs=4)
    assert len(first.transferred) == 40
    assert set(remote.list()) == set(digests)
    assert remote.missing([*digests, hash_bytes(b"absent")], jobs=4) == {hash_bytes(b"absent")}
    assert upload_many(remote, project.store, digests, jobs=4).transferred == []

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    result = run_cli("push", cwd=project.root)
    assert result.code == 1
    assert result.err.startswith(f"error: remote store s3://{base}")
    assert "Credentials are read from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY" in result.err


def test_corrupted_remote_object_is_refused(s3, tmp_path):
    project, base = s3_project(tmp_path / "proj", s3)
    push(project)
    digest = hash_bytes(RAW)
    bad = RAW.replace(b"2024", b"1999")
    s3.fs().pipe(f"{base}/{digest[:2]}/{digest[2:]}", bad)  # silently corrupted on the server
    clone = Project.load(clone_tree(project.root, tmp_path / "clone"), env=dict(os.environ))
    result = run_cli("fetch", cwd=clone.root)
    assert result.code == 1
    assert result.err.startswith(
        f"error: blob {digest[:12]} downloaded from s3://{base}/{digest[:2]}/{digest[2:]} is corrupted: "
        f"its {len(bad)} bytes hash to {hash_bytes(bad)[:12]}; refused, the local store is unchanged"
    )
    assert not clone.store.has(digest)
    assert not (clone.root / "data/raw.csv").exists()
    assert [p.name for p in clone.store.tmp_dir.iterdir()] == [".gitignore"]  # no partial download left
    # the other blobs were still fetched and written: a re-run after a repair only needs the bad one
    assert clone.store.has(hash_bytes(MODEL))
    assert (clone.root / "models/model.bin").read_bytes() == MODEL


def test_killed_upload_leaves_no_object_and_rerun_completes(s3, tmp_path):
    project, base = s3_project(tmp_path / "proj", s3)
    big = tmp_path / "big.bin"
    with open(big, "wb") as handle:
        for _ in range(10):
            handle.write(os.urandom(16 << 20))  # 160 MiB: a multipart upload of four parts
    digest, size = project.store.add_file(big)
    lock = project.read_lock()
    lock.stages["train"]["outs"]["models/big.bin"] = {"hash": digest, "size": size}
    project.write_lock(lock)
    fs = s3.fs()
    bucket = base.split("/", 1)[0]
    key = f"{base}/{digest[:2]}/{digest[2:]}"

    proc = subprocess.Popen(
        [sys.executable, "-m", "flowtide", "push", "-j", "1"],
        cwd=project.root,
        env={**os.environ, **GIT_ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    seen = False
    while time.monotonic() < deadline and proc.poll() is None:
        uploads = fs.call_s3("list_multipart_uploads", Bucket=bucket).get("Uploads", [])
        if any(u["Key"].endswith(digest[2:]) for u in uploads):
            seen = True
            time.sleep(0.2)  # some parts are on the server now
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate()
    assert seen, f"the push finished before it could be killed: {out!r} {err!r}"
    assert proc.returncode == -signal.SIGKILL
    assert not fs.exists(key)  # a reader never sees the half-written blob
    remote = Remote.from_project(project)
    assert remote.abort_stale_uploads(older_than=3600) == 0  # a fresh one may belong to a running push
    assert remote.abort_stale_uploads(older_than=-60) >= 1
    uploads = fs.call_s3("list_multipart_uploads", Bucket=bucket).get("Uploads", [])
    assert not [u for u in uploads if u["Key"].endswith(digest[2:])]

    rerun = run_process("push", cwd=project.root, check=True)
    assert rerun.out.startswith("pushed ")
    assert fs.info(key)["size"] == size
    # a fetch killed mid-download leaves no blob and no file; the re-run completes
    clone = Project.load(clone_tree(project.root, tmp_path / "clone"), env=dict(os.environ))
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowtide", "fetch", "models/big.bin"],
        cwd=clone.root,
        env={**os.environ, **GIT_ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    partial = None
    while time.monotonic() < deadline and proc.poll() is None:
        parts = list(clone.store.tmp_dir.glob("fetch.*.part")) if clone.store.tmp_dir.is_dir() else []
        if parts and parts[0].stat().st_size > 0:
            partial = parts[0]
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate()
    assert partial is not None, f"the fetch finished before it could be killed: {out!r} {err!r}"
    assert not clone.store.has(digest) and not (clone.root / "models/big.bin").exists()
    assert partial.exists()
    fetch(clone, ["models/big.bin"])
    assert hash_file(clone.root / "models/big.bin") == (digest, size)
    assert not partial.exists()  # the dead fetch's partial download was discarded


def test_download_many_resumes_after_a_partial_run(s3, tmp_path):
    project, _ = s3_project(tmp_path / "proj", s3)
    push(project)
    remote = Remote.from_project(project)
    clone = Project.load(clone_tree(project.root, tmp_path / "clone"), env=dict(os.environ))
    wanted = sorted({i.digest for i in references(project)})
    (clone.store.tmp_dir).mkdir(parents=True)
    stale = clone.store.tmp_dir / "fetch.killed.part"
    stale.write_bytes(b"half")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))  # left by a fetch killed two hours ago
    first = download_many(remote, clone.store, wanted[:2], jobs=2)
    assert first.transferred == wanted[:2] and not stale.exists()
    second = download_many(remote, clone.store, wanted, jobs=2)
    assert second.present == wanted[:2] and second.transferred == wanted[2:]


def test_second_clone_reproduces_data_and_model_bytes(s3, tmp_path):
    """git push + flowtide push in one clone; git clone + flowtide fetch with an empty cache in another."""
    pytest.importorskip("flowtide.data.pull", reason="the pull area has not landed")
    registry = pytest.importorskip("flowtide.registry", reason="the registry area has not landed")
    bucket = s3.bucket()
    origin = tmp_path / "origin.git"
    git("init", "-q", "--bare", "-b", "main", str(origin), cwd=tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    (incoming / "raw.csv").write_bytes(RAW)
    (incoming / "small.csv").write_bytes(b"a,b\n1,2\n")
    (work / "train.py").write_text(
        "import hashlib, pathlib\n"
        "data = pathlib.Path('data/raw.csv').read_bytes()\n"
        "pathlib.Path('models').mkdir(exist_ok=True)\n"
        "pathlib.Path('models/model.bin').write_bytes(hashlib.sha256(data).digest() * 1000)\n"
    )
    (work / "flowtide.yaml").write_text(
        "project: demo\n"
        "sources:\n"
        f"  raw: {{url: {incoming / 'raw.csv'}, path: data/raw.csv, storage: store}}\n"
        f"  small: {{url: {incoming / 'small.csv'}, path: data/small.csv}}\n"
        "stages:\n"
        "  train: {cmd: python train.py, deps: [train.py, data/raw.csv], outs: [models/model.bin]}\n"
        "model: {name: demo, path: models/model.bin, format: skops}\n"
        f"store: {{remote: 's3://{bucket}/cache', endpoint_url: '{s3.endpoint_url}', auto_push: false}}\n"
    )
    run_process("pull", cwd=work, check=True)
    run_process("run", cwd=work, check=True)
    project = Project.load(work)
    version = registry.register(project)
    (work / ".gitignore").open("a").write("/.flowtide/\n/models/\n")
    git("add", "-A", cwd=work)
    git("commit", "-qm", "data, model, lock", cwd=work)
    git("remote", "add", "origin", str(origin), cwd=work)
    git("push", "-q", "origin", "main", cwd=work)
    pushed = run_process("push", "--json", cwd=work, check=True)
    assert '"pushed"' in pushed.out
    tracked = git("ls-files", cwd=work).split()
    assert "data/raw.csv" not in tracked and "data/small.csv" in tracked  # store mode: only the lock is committed

    clone = tmp_path / "clone"
    git("clone", "-q", str(origin), str(clone), cwd=tmp_path)
    assert not (clone / "data/raw.csv").exists() and not (clone / ".flowtide").exists()
    fetched = run_process("fetch", cwd=clone, check=True)
    assert "wrote data/raw.csv" in fetched.out and "wrote models/model.bin" in fetched.out
    for rel in ("data/raw.csv", "data/small.csv", "models/model.bin"):
        assert hash_file(clone / rel) == hash_file(work / rel), rel
    clone_project = Project.load(clone)
    assert clone_project.store.has(version.hash)
    assert hash_file(clone_project.store.path_of(version.hash))[0] == version.hash
    assert run_process("fetch", cwd=clone, check=True).out.startswith("nothing to fetch")


def test_remote_layout_mirrors_the_local_store(s3, tmp_path):
    project, base = s3_project(tmp_path / "proj", s3, prefix="deep/er/prefix")
    push(project)
    local = {p.relative_to(project.store.root).as_posix() for p in project.store.root.glob("??/*")}
    remote = {p[len(base) + 1 :] for p in s3.fs().find(base)}
    assert remote == local


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_remote_gc_on_s3_deletes_only_the_reviewed_list(s3, tmp_path):
    project, base = s3_project(tmp_path / "proj", s3)
    push(project)
    fs = s3.fs()
    orphan = hash_bytes(b"nobody references me")
    fs.pipe(f"{base}/{orphan[:2]}/{orphan[2:]}", b"nobody references me")
    late = hash_bytes(b"pushed after the review")
    review = run_cli("gc", "--remote", "--dry-run", cwd=project.root)
    assert review.code == 0, review.err
    assert review.out.splitlines()[1:] == [
        f"remote s3://{base}: would remove 1 blob(s), 20 B; kept 5",
        "run `flowtide gc --remote` to delete exactly these",
    ]
    fs.pipe(f"{base}/{late[:2]}/{late[2:]}", b"pushed after the review")
    done = run_cli("gc", "--remote", "--json", cwd=project.root)
    assert done.code == 0, done.err
    assert fs.exists(f"{base}/{late[:2]}/{late[2:]}")  # not in the reviewed list: kept
    assert not fs.exists(f"{base}/{orphan[:2]}/{orphan[2:]}")
    assert set(Remote.from_project(project).list()) == {i.digest for i in references(project)} | {late}


def test_prediction_segments_ship_and_are_read_back_through_s3(s3, tmp_path):
    """Shipping (one PUT: no temporary key) and the monitor's listing and download use store.endpoint_url."""
    from flowtide.monitor import fetch_remote_segments
    from flowtide.serve.shipping import shipper

    project, base = s3_project(tmp_path / "proj", s3)
    local = tmp_path / "r1.00001.db"
    local.write_bytes(b"segment bytes " * 100)
    shipper(project)(local, "r1")
    assert s3.fs().find(f"{base}/predictions") == [f"{base}/predictions/r1/r1.00001.db"]
    copied = fetch_remote_segments(project)
    assert (copied / "r1" / "r1.00001.db").read_bytes() == local.read_bytes()


def test_download_many_commits_a_batch_and_keeps_what_arrived_when_one_blob_is_bad(s3, tmp_path):
    """20 blobs: one durable batch; a corrupt remote object is refused and the 19 good ones are named."""
    project, _ = s3_project(tmp_path / "proj", s3)
    store = project.store
    digests = []
    for i in range(20):
        with store.writer() as blob:
            blob.write(f"blob {i}\n".encode() * (i + 1))
        digests.append(blob.digest)
    remote = Remote.from_project(project)
    upload_many(remote, store, digests, jobs=4)
    bad = sorted(digests)[7]
    remote.fs.pipe_file(remote.key(bad), b"flipped bits")
    clone = Store(tmp_path / "clone-cache")
    with pytest.raises(IntegrityError, match=f"blob {bad[:12]} downloaded from .* is corrupted"):
        download_many(remote, clone, digests, jobs=4)
    assert sorted(clone.digests()) == sorted(d for d in digests if d != bad)
    for digest in clone.digests():
        assert clone.read_bytes(digest) == store.read_bytes(digest)
        assert clone.path_of(digest).stat().st_mode & 0o777 == 0o444
    assert set(Store(clone.root)._records()) == set(digests) - {bad}  # hashed while they streamed in
    assert [p.name for p in clone.tmp_dir.iterdir()] == [".gitignore"]  # no temp file left behind


def test_the_fsspec_transport_still_pushes_fetches_and_refuses_a_tampered_blob(s3, tmp_path):
    """store.transport: fsspec keeps s3fs for the blobs (same layout, same refusal of bad bytes)."""
    project, base = s3_project(tmp_path / "proj", s3, transport="fsspec")
    remote = Remote.from_project(project)
    assert remote.transport == "fsspec" and remote.objects is None
    assert run_cli("push", cwd=project.root).code == 0
    assert set(remote.list()) == {i.digest for i in references(project)}
    digest = hash_bytes(RAW)
    s3.fs().pipe(f"{base}/{digest[:2]}/{digest[2:]}", b"tampered")
    clone = Project.load(clone_tree(project.root, tmp_path / "clone"), env=dict(os.environ))
    result = run_cli("fetch", cwd=clone.root)
    assert result.code == 1
    assert result.err.startswith(
        f"error: blob {digest[:12]} downloaded from s3://{base}/{digest[:2]}/{digest[2:]} is corrupted"
    )
    assert not clone.store.has(digest)
    assert (clone.root / "models/model.bin").read_bytes() == MODEL


def test_obstore_refuses_a_tampered_blob_of_the_same_size_and_a_listing_is_input(s3, tmp_path):
    """The obstore path re-hashes every blob, large ones streamed too; names from a listing are validated."""
    project, base = s3_project(tmp_path / "proj", s3, transport="obstore")
    remote = Remote.from_project(project)
    assert remote.transport == "obstore"
    big = os.urandom(20 << 20)  # streamed in chunks, not read at once
    digest, _ = project.store.add_file(_write(tmp_path / "big", big))
    upload_many(remote, project.store, [digest], jobs=2)
    assert s3.fs().cat(f"{base}/{digest[:2]}/{digest[2:]}") == big  # a multipart upload, whole
    flipped = big[:-1] + bytes([big[-1] ^ 1])
    s3.fs().pipe(f"{base}/{digest[:2]}/{digest[2:]}", flipped)
    s3.fs().pipe(f"{base}/zz/not-a-digest", b"x")
    s3.fs().pipe(f"{base}/{digest[:2]}/{digest[2:]}.part", b"x")
    assert remote.list() == {digest: len(big)}
    clone = Store(tmp_path / "clone-cache")
    with pytest.raises(IntegrityError, match=f"blob {digest[:12]} downloaded from .* is corrupted"):
        download_many(remote, clone, [digest])
    assert not clone.has(digest)
    assert [p.name for p in clone.tmp_dir.iterdir()] == [".gitignore"]


def test_obstore_errors_are_one_paragraph(s3, tmp_path):
    """A missing blob, an endpoint that refuses connections: the message names the place, no traceback."""
    from ._servers import refused_port

    project, base = s3_project(tmp_path / "proj", s3, transport="obstore")
    clone = Project.load(clone_tree(project.root, tmp_path / "clone"), env=dict(os.environ))
    digest = hash_bytes(MODEL)
    missing = run_cli("fetch", cwd=clone.root)  # nothing was pushed
    assert missing.code == 1
    assert f"is not on the remote s3://{base}/" in missing.err and "Traceback" not in missing.err

    write_config(project.root, f"s3://{base}", endpoint=f"http://127.0.0.1:{refused_port()}", transport="obstore")
    refused = run_cli("push", cwd=project.root)
    assert refused.code == 1
    assert refused.err.startswith(f"error: remote store s3://{base}")
    assert "no answer to http://127.0.0.1:" in refused.err and "Traceback" not in refused.err
    assert "Debug source" not in refused.err and len(refused.err.splitlines()) <= 3
    assert not clone.store.has(digest)
