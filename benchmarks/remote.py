"""Remote store side by side: `flowtide push` / `flowtide fetch` vs `dvc push` / `dvc pull`, same SeaweedFS server.

Run with the bench venv (dvc and dvc-s3 live there): ``.venv-bench/bin/python -m benchmarks.remote``.
Two data sets: 1,000 small files (1–8 KiB) and one big file (1 GiB; ``--size MIB``
shrinks it). Every command runs as its own process (wall time includes start-up),
with the same parallelism (``--jobs``), against one local ``weed server``; a
fetch / pull starts from an empty cache in a fresh copy of the committed files,
and every push goes to a fresh prefix. Each figure alternates the two tools round
by round (benchmarks/_alternate.py): medians, the per-round ratio, the load average.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests._seaweedfs import S3Server, start_seaweedfs

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret-0123456789"}


# --- the server -------------------------------------------------------------------


def start_weed(base: Path) -> tuple[S3Server, str]:
    """The same SeaweedFS set-up as the tests (tests/_seaweedfs.py), with a bucket named "bench"."""
    try:
        server = start_seaweedfs(base, CREDENTIALS, volume_size_mb=1024, timeout=120)
    except (FileNotFoundError, RuntimeError) as exc:
        raise SystemExit(f"weed did not start: {exc}") from None
    server.bucket("bench")
    return server, server.endpoint_url


# --- data -------------------------------------------------------------------------


def make_small(directory: Path, count: int) -> None:
    import random

    rng = random.Random(0)
    for index in range(count):
        path = directory / f"{index // 100:02d}" / f"f{index:04d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(rng.randint(1024, 8192)))


def make_big(path: Path, mib: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        for _ in range(mib):
            handle.write(os.urandom(1 << 20))


# --- the two tools ------------------------------------------------------------------


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}:\n{proc.stdout}\n{proc.stderr}")
    return elapsed


def flowtide_project(root: Path, data: Path, remote: str, endpoint: str, jobs: int) -> None:
    """A project whose lock references ``data`` (a file or a directory) as a stage output, blobs in the store."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from flowtide.hashing import hash_bytes
    from flowtide.lock import Lock
    from flowtide.project import Project

    root.mkdir(parents=True)
    (root / "flowtide.yaml").write_text(
        "project: bench\n"
        f"stages:\n  make: {{cmd: 'true', outs: [{data.name}]}}\n"
        f"store: {{remote: '{remote}', endpoint_url: '{endpoint}', jobs: {jobs}}}\n"
    )
    target = root / data.name
    if data.is_dir():
        shutil.copytree(data, target)
    else:
        shutil.copy(data, target)
    project = Project.load(root, env={})
    if target.is_dir():
        files = {}
        for path in sorted(p for p in target.rglob("*") if p.is_file()):
            digest, size = project.store.add_file(path)
            files[path.relative_to(target).as_posix()] = {"hash": digest, "size": size}
        manifest = hash_bytes("".join(f"{n}\0{f['hash']}\n" for n, f in files.items()).encode())
        out = {"hash": manifest, "size": sum(f["size"] for f in files.values()), "nfiles": len(files), "files": files}
    else:
        digest, size = project.store.add_file(target)
        out = {"hash": digest, "size": size}
    project.write_lock(Lock(stages={"make": {"outs": {data.name: out}}}))


def flowtide_clone(src: Path, dest: Path) -> None:
    dest.mkdir(parents=True)
    for name in ("flowtide.yaml", "flowtide.lock"):
        shutil.copy(src / name, dest / name)


def dvc_project(root: Path, data: Path, remote: str, endpoint: str, env: dict[str, str]) -> None:
    root.mkdir(parents=True)
    target = root / data.name
    if data.is_dir():
        shutil.copytree(data, target)
    else:
        shutil.copy(data, target)
    dvc = [sys.executable, "-m", "dvc"]
    for args in (
        ["init", "--no-scm", "-q"],
        ["config", "core.analytics", "false"],
        ["remote", "add", "-d", "bench", remote],
        ["remote", "modify", "bench", "endpointurl", endpoint],
        ["add", "-q", data.name],
    ):
        timed([*dvc, *args], root, env)


def dvc_clone(src: Path, dest: Path) -> None:
    dest.mkdir(parents=True)
    (dest / ".dvc").mkdir()
    shutil.copy(src / ".dvc" / "config", dest / ".dvc" / "config")
    for dvcfile in (p for p in src.glob("*.dvc") if p.is_file()):
        shutil.copy(dvcfile, dest / dvcfile.name)


# --- the run --------------------------------------------------------------------------


def _set_remote(root: Path, remote: str, env: dict[str, str], dvc: bool) -> None:
    """Point a project at a fresh remote prefix: the next push has everything to upload."""
    if dvc:
        timed([sys.executable, "-m", "dvc", "remote", "modify", "bench", "url", remote], root, env)
        return
    config = root / "flowtide.yaml"
    text = config.read_text()
    start = text.index("remote: '") + len("remote: '")
    config.write_text(text[:start] + remote + text[text.index("'", start) :])


def figures(data: Path, label: str, base: Path, endpoint: str, env: dict, jobs: int, have_dvc: bool, rounds: int):
    """push, push again, fetch into an empty cache, fetch again: each figure alternates the tools."""
    from ._alternate import alternate

    j = ["-j", str(jobs)]
    slug = data.stem
    flowtide = [sys.executable, "-m", "flowtide"]
    dvc = [sys.executable, "-m", "dvc"]
    ft, ftc = base / f"ft-{slug}", base / f"ft-{slug}-clone"
    dv, dvc_c = base / f"dvc-{slug}", base / f"dvc-{slug}-clone"
    flowtide_project(ft, data, f"s3://bench/ft-{slug}-0", endpoint, jobs)
    if have_dvc:
        dvc_project(dv, data, f"s3://bench/dvc-{slug}-0", endpoint, env)
    pushes = {"flowtide": 0, "dvc": 0}

    def push(tool: str):
        def run() -> float:
            pushes[tool] += 1
            root = ft if tool == "flowtide" else dv
            _set_remote(root, f"s3://bench/{tool}-{slug}-{pushes[tool]}", env, tool == "dvc")
            return timed([*(flowtide if tool == "flowtide" else dvc), "push", *j], root, env)

        return run

    def again(root: Path, cmd: list[str]):
        return lambda: timed([*cmd, *j], root, env)

    def fetch(tool: str):
        def run() -> float:
            clone = ftc if tool == "flowtide" else dvc_c
            shutil.rmtree(clone, ignore_errors=True)
            (flowtide_clone if tool == "flowtide" else dvc_clone)(ft if tool == "flowtide" else dv, clone)
            return timed(
                [*(flowtide if tool == "flowtide" else dvc), "fetch" if tool == "flowtide" else "pull", *j], clone, env
            )

        return run

    def pick(ours, theirs):
        return {"flowtide": ours, **({"dvc": theirs} if have_dvc else {})}

    out = [
        alternate(f"push, {label}", pick(push("flowtide"), push("dvc")), rounds, warmup=False),
        alternate(
            f"push again (no-op), {label}", pick(again(ft, [*flowtide, "push"]), again(dv, [*dvc, "push"])), rounds
        ),
        alternate(f"fetch / pull, {label}, empty cache", pick(fetch("flowtide"), fetch("dvc")), rounds, warmup=False),
        alternate(
            f"fetch / pull again (no-op), {label}",
            pick(again(ftc, [*flowtide, "fetch"]), again(dvc_c, [*dvc, "pull"])),
            rounds,
        ),
    ]
    if have_dvc:
        _same_bytes(ftc / data.name, dvc_c / data.name)
    for directory in (ft, ftc, dv, dvc_c):  # keep the disk bounded
        shutil.rmtree(directory, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    from ._alternate import table

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=1024, help="size of the big file in MiB (default 1024)")
    parser.add_argument("--files", type=int, default=1000, help="number of small files (default 1000)")
    parser.add_argument("--jobs", type=int, default=8, help="parallel transfers for both tools")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per figure (median reported)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)

    import importlib.util

    have_dvc = all(importlib.util.find_spec(name) for name in ("dvc", "dvc_s3"))
    if not have_dvc:
        print("note: dvc / dvc-s3 are not importable here; run with .venv-bench/bin/python for the comparison")

    base = Path(tempfile.mkdtemp(prefix="flowtide-bench-remote-"))
    server, endpoint = start_weed(base)
    env = {**os.environ, **CREDENTIALS, "DVC_NO_ANALYTICS": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # both tools run from compiled bytecode, as on a user's machine
    comparisons = []
    try:
        small, big = base / "input" / "small", base / "input" / "big.bin"
        make_small(small, args.files)
        make_big(big, args.size)
        cases = [(f"{args.files:,} small files", small), (f"one {args.size:,} MiB file", big)]
        for label, data in cases:
            comparisons += figures(data, label, base, endpoint, env, args.jobs, have_dvc, args.rounds)
            print(table(comparisons[-4:]), file=sys.stderr, flush=True)
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    print(
        "\n"
        + table(
            comparisons,
            title=f"remote store on SeaweedFS (127.0.0.1), -j {args.jobs}, whole processes (dvc ÷ flowtide > 1: flowtide is faster)",
        )
    )
    return 0


def _same_bytes(a: Path, b: Path) -> None:
    """Both tools must have reproduced the same content (or the comparison means nothing)."""
    from flowtide.hashing import hash_file

    pairs = [(a, b)] if a.is_file() else [(p, b / p.relative_to(a)) for p in a.rglob("*") if p.is_file()]
    for x, y in pairs:
        if hash_file(x) != hash_file(y):
            raise SystemExit(f"flowtide and dvc disagree about {x.name}")


if __name__ == "__main__":
    raise SystemExit(main())
