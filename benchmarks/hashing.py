"""Hashing and storing data side by side: `flowtide pull` vs `dvc add` / `dvc status`.

Two data sets in temporary git repos: one large file (1 GiB by default) and
10,000 small files. flowtide pulls the large one from a local path and over
HTTP (first pull: hash, store, materialise, lock; no-op re-pull: stat only, or
an ETag); DVC tracks the same bytes with `dvc add` / `dvc import-url` and
answers `dvc status` / `dvc update` (no-op). Whole processes are timed, as a user sees them. DVC comes from
.venv-bench (`make .venv-bench/.installed`); without it its columns are skipped.

    python -m benchmarks.hashing [--size-mib 1024] [--files 10000] [--rounds 3] [--only http|local|big|small]

Every figure alternates the tools round by round (benchmarks/_alternate.py) and
prints the physical limit beside the peer: `cp` / `cp -r` / `curl -o` of the
same bytes, which hash nothing and sync nothing, and beside it `cp` / `curl -o` followed by
an fsync of the file (`sync FILE`): what waiting for the disk costs, as flowtide waits for
its blob's fsync before naming it (see flowtide/store.py). Every first pull / add starts after a
`sync` and a pause (`--settle`, see ``_settle``), so no tool pays for the one before it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def _dvc() -> str | None:
    candidate = ROOT / ".venv-bench" / "bin" / "dvc"
    if candidate.exists():
        return str(candidate)
    return shutil.which("dvc")


def _settle() -> None:
    """Start every timed command from the same disk state: nothing dirty, no deletions just made.

    Without it a tool pays for the one before it: the previous round's 1 GiB that `cp`, `curl`
    or DVC left in the page cache (they do not fsync) is written back while the next tool's
    fsync waits behind it; and on this machine's ext4 (no journal) creating files right after
    deleting thousands walks every inode freed in the last 5–10 s (`recently_deleted` in the
    kernel's inode allocator: 0.8 s vs 6 s for 10,000 files, measured with perf). Each
    tool's set-up deletes its previous tree, so every timed command follows a sync and a pause.
    """
    os.sync()
    time.sleep(ARGS.settle)


def _run(argv: list[str], cwd: Path, *, timeout: float = 1800) -> float:
    env = {**os.environ, **GIT_ENV, "DVC_NO_ANALYTICS": "1", "DVC_NO_UPDATE_CHECK": "1"}
    # both tools get compiled bytecode, as on a user's machine (some shells set PYTHONDONTWRITEBYTECODE)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = PYCACHE
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return elapsed


PYCACHE = str(Path(tempfile.gettempdir()) / "flowtide-bench-pycache")


def warm_up(tmp: Path, dvc: str | None) -> None:
    """One untimed round of each tool so their bytecode is compiled before anything is measured."""
    small = tmp / "warm" / "src" / "a.csv"
    small.parent.mkdir(parents=True)
    small.write_bytes(b"a\n1\n")
    with _FileServer(small) as url:
        project = tmp / "warm" / "flowtide"
        _git_init(project)
        sources = {"a": {"url": str(small), "path": "data/a.csv"}, "b": {"url": url, "path": "data/b.csv"}}
        (project / "flowtide.yaml").write_text(json.dumps({"project": "warm", "sources": sources}))
        _run([sys.executable, "-m", "flowtide", "pull", "--no-progress", "--no-check"], project)
        if dvc:
            project = tmp / "warm" / "dvc"
            _git_init(project)
            _run([dvc, "init", "-q"], project)
            shutil.copyfile(small, project / "a.csv")
            _run([dvc, "add", "-q", "a.csv"], project)
            _run([dvc, "status", "-q"], project)
            _run([dvc, "import-url", "-q", url, "b.csv"], project)
            _run([dvc, "update", "-q", "b.csv.dvc"], project)
    shutil.rmtree(tmp / "warm", ignore_errors=True)


def _git_init(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q"], cwd=path, check=True)


# --- data ----------------------------------------------------------------------------


def make_big(path: Path, size_mib: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    block = os.urandom(1 << 20)
    with open(path, "wb") as handle:
        for i in range(size_mib):
            # vary each MiB so no tool can dedupe blocks
            handle.write(i.to_bytes(8, "little") + block[8:])


def make_small(directory: Path, count: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        sub = directory / f"{i % 100:02d}"
        sub.mkdir(exist_ok=True)
        (sub / f"f{i:05d}.csv").write_bytes(f"id,value\n{i},{i * 7 % 1000}\n".encode() + os.urandom(64).hex().encode())


class _FileServer:
    """Serves one file on 127.0.0.1 with a strong ETag, Last-Modified and 304s (sendfile for speed)."""

    def __init__(self, path: Path) -> None:
        import threading
        from email.utils import formatdate
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        st = path.stat()
        etag = f'"{st.st_ino:x}-{st.st_size:x}-{st.st_mtime_ns:x}"'
        modified = formatdate(st.st_mtime, usegmt=True)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self.do_GET(head=True)

            def do_GET(self, head: bool = False):
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(st.st_size))
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", modified)
                self.end_headers()
                if not head:
                    self.wfile.flush()
                    with open(path, "rb") as handle:
                        self.request.sendfile(handle)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):  # clients that hang up early are not news
                pass

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/{path.name}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self._thread.start()
        return self.url

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


# --- the figures: one callable per tool, each preparing a fresh target and timing only the command ---


_STORE_ADD = """
import os, sys
from pathlib import Path
from flowtide.project import Project
project = Project.load(sys.argv[1])
src = Path(sys.argv[2])
store, cache = project.store, project.stat_cache
items = []
for dirpath, dirnames, filenames in os.walk(src):
    dirnames.sort()
    for name in sorted(filenames):
        path = os.path.join(dirpath, name)
        items.append((path, cache.hash(path)[0]))
store.add_files(items)  # what a directory stage output does
cache.save()
"""

FLOWTIDE_PULL = [sys.executable, "-m", "flowtide", "pull", "--no-progress", "--no-check"]


def _fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    _git_init(path)
    return path


def _flowtide_project(path: Path, sources: dict | None) -> Path:
    project = _fresh(path)
    config = {"project": "bench", **({"sources": sources} if sources else {})}
    (project / "flowtide.yaml").write_text(json.dumps(config))
    (project / ".flowtide").mkdir()
    return project


def _dvc_project(path: Path, dvc: str) -> Path:
    project = _fresh(path)
    _run([dvc, "init", "-q"], project)
    _run([dvc, "config", "core.analytics", "false"], project)
    return project


def figures_local(work: Path, big: Path, small: Path, dvc: str | None) -> list:
    """Local data: the 1 GiB first pull / `dvc add` / `cp`, the no-op, and 10,000 small files into the store."""
    from ._alternate import alternate

    out = []

    def ft_big_first() -> float:
        project = _flowtide_project(work / "ft", {"big": {"url": str(big), "path": "data/big.bin"}})
        _settle()
        return _run(FLOWTIDE_PULL, project)

    def dvc_big_first() -> float:
        project = _dvc_project(work / "dvc", dvc)
        (project / "data").mkdir()
        shutil.copyfile(big, project / "data" / "big.bin")
        _settle()
        return _run([dvc, "add", "-q", "data/big.bin"], project)

    def cp_big() -> float:
        dest = work / "cp"
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        _settle()
        return _run(["cp", str(big), str(dest / "big.bin")], work)

    def cp_big_fsync() -> float:
        return cp_big() + _run(["sync", str(work / "cp" / "big.bin")], work)

    runs = {
        "flowtide": ft_big_first,
        **({"dvc add": dvc_big_first} if dvc else {}),
        "cp (limit)": cp_big,
        "cp then fsync": cp_big_fsync,
    }
    out.append(alternate(f"1 file {big.stat().st_size >> 20} MiB, first pull", runs, ARGS.rounds))
    # no-op: the projects the last round left behind
    runs = {"flowtide": lambda: _run(FLOWTIDE_PULL, work / "ft")}
    if dvc:
        runs["dvc status"] = lambda: _run([dvc, "status", "-q"], work / "dvc")
    out.append(alternate(f"1 file {big.stat().st_size >> 20} MiB, no-op re-pull", runs, ARGS.rounds))
    for name in ("ft", "dvc", "cp"):
        shutil.rmtree(work / name, ignore_errors=True)
    if ARGS.only == "big":  # the small-file rounds take minutes: not measured when they are not shown
        return out

    def ft_small() -> float:
        project = _flowtide_project(work / "ft", None)
        _settle()
        return _run([sys.executable, "-c", _STORE_ADD, str(project), str(small)], project)

    def dvc_small() -> float:
        project = _dvc_project(work / "dvc", dvc)
        (project / "data").mkdir()
        shutil.copytree(small, project / "data" / "small")
        _settle()
        return _run([dvc, "add", "-q", "data/small"], project)

    def cp_small() -> float:
        shutil.rmtree(work / "cp", ignore_errors=True)
        _settle()
        return _run(["cp", "-r", str(small), str(work / "cp")], work)

    def b3sum_small() -> float | None:
        b3sum = shutil.which("b3sum")
        if not b3sum:
            return None
        files = [str(p) for p in sorted(small.rglob("*.csv"))]
        return _run([b3sum, "--no-names", *files], work)

    count = sum(1 for _ in small.rglob("*.csv"))
    runs = {"flowtide": ft_small, **({"dvc add": dvc_small} if dvc else {}), "cp -r (limit)": cp_small}
    if shutil.which("b3sum"):
        runs["b3sum (limit)"] = b3sum_small
    out.append(alternate(f"{count:,} small files into the store", runs, ARGS.rounds))
    runs = {"flowtide": lambda: _run([sys.executable, "-c", _STORE_ADD, str(work / "ft"), str(small)], work / "ft")}
    if dvc:
        runs["dvc status"] = lambda: _run([dvc, "status", "-q"], work / "dvc")
        runs["dvc add (again)"] = lambda: _run([dvc, "add", "-q", "data/small"], work / "dvc")
    out.append(alternate(f"{count:,} small files, no-op", runs, ARGS.rounds))
    for name in ("ft", "dvc", "cp"):
        shutil.rmtree(work / name, ignore_errors=True)
    return out


def figures_http(work: Path, big: Path, dvc: str | None) -> list:
    """Over HTTP from 127.0.0.1: first pull vs `dvc import-url` vs `curl -o`; no-op vs `dvc update` (ETag)."""
    from ._alternate import alternate

    out = []
    mib = big.stat().st_size >> 20
    with _FileServer(big) as url:

        def ft_first() -> float:
            project = _flowtide_project(work / "ft", {"big": {"url": url, "path": "data/big.bin"}})
            _settle()
            return _run(FLOWTIDE_PULL, project)

        def dvc_first() -> float:
            project = _dvc_project(work / "dvc", dvc)
            (project / "data").mkdir()
            _settle()
            return _run([dvc, "import-url", "-q", url, "data/big.bin"], project)

        def curl() -> float | None:
            if not shutil.which("curl"):
                return None
            shutil.rmtree(work / "curl", ignore_errors=True)
            (work / "curl").mkdir(parents=True)
            _settle()
            return _run(["curl", "-s", "-f", "-o", str(work / "curl" / "big.bin"), url], work)

        def curl_fsync() -> float | None:
            took = curl()
            return None if took is None else took + _run(["sync", str(work / "curl" / "big.bin")], work)

        runs = {
            "flowtide": ft_first,
            **({"dvc import-url": dvc_first} if dvc else {}),
            "curl -o (limit)": curl,
            "curl -o then fsync": curl_fsync,
        }
        out.append(alternate(f"1 file {mib} MiB over HTTP, first pull", runs, ARGS.rounds))
        runs = {"flowtide": lambda: _run(FLOWTIDE_PULL, work / "ft")}
        if dvc:
            runs["dvc update"] = lambda: _run([dvc, "update", "-q", "data/big.bin.dvc"], work / "dvc")
        out.append(alternate(f"1 file {mib} MiB over HTTP, no-op (ETag)", runs, ARGS.rounds))
    for name in ("ft", "dvc", "curl"):
        shutil.rmtree(work / name, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    global ARGS
    from ._alternate import table

    parser = argparse.ArgumentParser(prog="python -m benchmarks.hashing", description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the large file (MiB)")
    parser.add_argument("--files", type=int, default=10_000, help="number of small files")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per figure (median reported)")
    parser.add_argument("--only", choices=["big", "small", "http", "local"], help="run one data set")
    parser.add_argument(
        "--settle", type=float, default=5.0, help="seconds of pause after a sync before each timed first pull / add"
    )
    ARGS = parser.parse_args(argv)
    dvc = _dvc()
    comparisons = []
    with tempfile.TemporaryDirectory(prefix="flowtide-bench-hash-") as tmp:
        tmp = Path(tmp)
        warm_up(tmp, dvc)
        big, small = tmp / "src" / "big.bin", tmp / "src" / "small"
        make_big(big, ARGS.size_mib)
        make_small(small, ARGS.files)
        if ARGS.only in (None, "http"):
            comparisons += figures_http(tmp / "http", big, dvc)
            print(table(comparisons[-2:]), file=sys.stderr, flush=True)
        if ARGS.only in (None, "big", "small", "local"):
            local = figures_local(tmp / "local", big, small, dvc)
            if ARGS.only == "big":
                local = local[:2]
            elif ARGS.only == "small":
                local = local[2:]
            comparisons += local
    print()
    print(
        table(
            comparisons,
            title="flowtide pull / store vs DVC and the physical limit (whole processes, warm page cache; "
            "peer ÷ flowtide > 1: flowtide is faster; a limit row's ratio is limit ÷ flowtide)",
        )
    )
    if not dvc:
        print("\nDVC rows skipped: no .venv-bench/bin/dvc (build it with `make .venv-bench/.installed`).")
    print(
        "\nlarge file: `flowtide pull` of a local-path / HTTP source (hash, store, materialise, lock) vs "
        "`dvc add` / `dvc import-url`; the limit is `cp` / `curl -o` of the same bytes (no hash, no fsync). "
        "flowtide's blob is fsynced before it is named (its disk write starts while it arrives); "
        "`cp then fsync` / `curl -o then fsync` add `sync FILE` (an fsync) to the copy: what waiting for the "
        "bytes to reach the disk costs.\n"
        "small files: flowtide's store API (stat cache + Store.add_files, the batch made durable before it is "
        "named) vs `dvc add` of the directory; the limit is `cp -r` (and `b3sum` when installed)."
    )
    return 0


ARGS = argparse.Namespace(rounds=3, settle=5.0)

if __name__ == "__main__":
    sys.exit(main())
