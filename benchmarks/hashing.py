"""Hashing and storing data side by side: `flowtide pull` vs `dvc add` / `dvc status`.

Two data sets in temporary git repos: one large file (1 GiB by default) and
10,000 small files. flowtide pulls them from a local path source (first pull:
hash, store, materialise, lock; no-op re-pull: stat only); DVC tracks the same
bytes with `dvc add` (first) and answers `dvc status` / a repeated `dvc add`
(no-op). Whole processes are timed, as a user sees them. DVC comes from
.venv-bench (`make .venv-bench/.installed`); without it its columns are skipped.

    python -m benchmarks.hashing [--size-mib 1024] [--files 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
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


# --- flowtide ------------------------------------------------------------------------


def flowtide_case(work: Path, files: dict[str, Path], as_dir: bool) -> dict[str, float]:
    """A local-path source and `flowtide pull` (first, then no-op); many files go through the store API."""
    project = work / "flowtide"
    _git_init(project)
    if as_dir:
        return flowtide_store_add(project, next(iter(files.values())).parents[1])
    sources = {name: {"url": str(src), "path": f"data/{name}"} for name, src in files.items()}
    (project / "flowtide.yaml").write_text(json.dumps({"project": "bench", "sources": sources}))
    (project / ".flowtide").mkdir()
    cmd = [sys.executable, "-m", "flowtide", "pull", "--no-progress", "--no-check"]
    first = _run(cmd, project)
    noop = [_run(cmd, project) for _ in range(ARGS.repeat)]
    return {"first": first, "noop": statistics.median(noop)}


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


def flowtide_store_add(project: Path, src: Path) -> dict[str, float]:
    """Many files: hash each (stat cache) and add it to the store once: what a directory pull costs."""
    (project / "flowtide.yaml").write_text("project: bench\n")
    (project / ".flowtide").mkdir()
    cmd = [sys.executable, "-c", _STORE_ADD, str(project), str(src)]
    first = _run(cmd, project)
    noop = [_run(cmd, project) for _ in range(ARGS.repeat)]
    return {"first": first, "noop": statistics.median(noop)}


# --- DVC -------------------------------------------------------------------------------


def dvc_case(work: Path, files: dict[str, Path], dvc: str, as_dir: bool) -> dict[str, float]:
    project = work / "dvc"
    _git_init(project)
    _run([dvc, "init", "-q"], project)
    _run([dvc, "config", "core.analytics", "false"], project)
    data = project / "data"
    data.mkdir()
    if as_dir:
        src_dir = next(iter(files.values())).parents[1]
        shutil.copytree(src_dir, data / "small")
        targets = ["data/small"]
    else:
        targets = []
        for name, src in files.items():
            shutil.copyfile(src, data / name)
            targets.append(f"data/{name}")
    first = _run([dvc, "add", "-q", *targets], project)
    status = [_run([dvc, "status", "-q"], project) for _ in range(ARGS.repeat)]
    readd = [_run([dvc, "add", "-q", *targets], project) for _ in range(ARGS.repeat)]
    return {"first": first, "noop": statistics.median(status), "readd": statistics.median(readd)}


# --- over HTTP: `flowtide pull` vs `dvc import-url` / `dvc update` ---------------------------------


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


def http_case(work: Path, big: Path, dvc: str | None) -> tuple[dict[str, float], dict[str, float] | None]:
    with _FileServer(big) as url:
        project = work / "flowtide"
        _git_init(project)
        source = {"url": url, "path": f"data/{big.name}"}
        (project / "flowtide.yaml").write_text(json.dumps({"project": "bench", "sources": {"big": source}}))
        cmd = [sys.executable, "-m", "flowtide", "pull", "--no-progress", "--no-check"]
        ours = {"first": _run(cmd, project), "noop": statistics.median(_run(cmd, project) for _ in range(ARGS.repeat))}
        shutil.rmtree(project, ignore_errors=True)
        theirs = None
        if dvc:
            project = work / "dvc"
            _git_init(project)
            _run([dvc, "init", "-q"], project)
            (project / "data").mkdir()
            first = _run([dvc, "import-url", "-q", url, f"data/{big.name}"], project)
            update = [dvc, "update", "-q", f"data/{big.name}.dvc"]
            theirs = {"first": first, "noop": statistics.median(_run(update, project) for _ in range(ARGS.repeat))}
            shutil.rmtree(project, ignore_errors=True)
    return ours, theirs


# --- report ------------------------------------------------------------------------------


def _fmt(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.2f} s" if seconds >= 0.1 else f"{seconds * 1000:.0f} ms"


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None or a == 0 else f"{b / a:.1f}x"


def main(argv: list[str] | None = None) -> int:
    global ARGS
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hashing", description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the large file (MiB)")
    parser.add_argument("--files", type=int, default=10_000, help="number of small files")
    parser.add_argument("--repeat", type=int, default=3, help="no-op runs (median reported)")
    parser.add_argument("--only", choices=["big", "small", "http"], help="run one data set")
    ARGS = parser.parse_args(argv)
    dvc = _dvc()
    rows = []
    with tempfile.TemporaryDirectory(prefix="flowtide-bench-hash-") as tmp:
        tmp = Path(tmp)
        warm_up(tmp, dvc)
        cases = []
        if ARGS.only in (None, "big", "http"):
            big = tmp / "src" / "big.bin"
            make_big(big, ARGS.size_mib)
            cases.append((f"1 file, {ARGS.size_mib} MiB", {"big.bin": big}, False))
        if ARGS.only in (None, "small"):
            small = tmp / "src" / "small"
            make_small(small, ARGS.files)
            files = {f"s{p.parent.name}_{p.name}": p for p in sorted(small.rglob("*.csv"))}
            cases.append((f"{ARGS.files:,} small files", files, True))
        http_rows = []
        if ARGS.only in (None, "big", "http"):
            big = tmp / "src" / "big.bin"
            if not big.exists():
                make_big(big, ARGS.size_mib)
            ours, theirs = http_case(tmp / "http", big, dvc)
            http_rows.append((f"1 file, {ARGS.size_mib} MiB", ours, theirs))
            print("done: http", file=sys.stderr, flush=True)
            if ARGS.only == "http":
                cases = []
        for label, files, as_dir in cases:
            work = tmp / label.replace(" ", "_").replace(",", "")
            ours = flowtide_case(work, files, as_dir)
            shutil.rmtree(work / "flowtide", ignore_errors=True)
            theirs = dvc_case(work, files, dvc, as_dir) if dvc else None
            shutil.rmtree(work, ignore_errors=True)
            rows.append((label, ours, theirs))
            print(f"done: {label}", file=sys.stderr, flush=True)
    print()
    print("flowtide pull vs DVC (whole processes, warm page cache; ratio = DVC time / flowtide time)")
    header = f"{'data':<22} {'step':<16} {'flowtide':>10} {'dvc':>10} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for label, ours, theirs in rows:
        t = theirs or {}
        print(
            f"{label:<22} {'first pull/add':<16} {_fmt(ours['first']):>10} {_fmt(t.get('first')):>10} {_ratio(ours['first'], t.get('first')):>7}"
        )
        print(
            f"{'':<22} {'no-op (status)':<16} {_fmt(ours['noop']):>10} {_fmt(t.get('noop')):>10} {_ratio(ours['noop'], t.get('noop')):>7}"
        )
        print(
            f"{'':<22} {'no-op (re-add)':<16} {_fmt(ours['noop']):>10} {_fmt(t.get('readd')):>10} {_ratio(ours['noop'], t.get('readd')):>7}"
        )
    if http_rows:
        print()
        print(
            "over HTTP from 127.0.0.1: `flowtide pull` vs `dvc import-url` (first) / `dvc update` (no-op, both send the ETag)"
        )
        print(header)
        print("-" * len(header))
        for label, ours, theirs in http_rows:
            t = theirs or {}
            for step, key in (("first pull/import", "first"), ("no-op (update)", "noop")):
                print(
                    f"{label if key == 'first' else '':<22} {step:<16} {_fmt(ours[key]):>10} {_fmt(t.get(key)):>10} "
                    f"{_ratio(ours[key], t.get(key)):>7}"
                )
    if not dvc:
        print("\nDVC columns skipped: no .venv-bench/bin/dvc (build it with `make .venv-bench/.installed`).")
    print(
        "\nlarge file: flowtide `pull` of a local-path source (hash + store + materialise + lock, all fsynced) "
        "vs `dvc add`; no-op = re-pull vs `dvc status` and a repeated `dvc add`.\n"
        "small files: flowtide's store API (stat cache + Store.add_files, each blob fsynced; sources are single "
        "files today) vs `dvc add` of the directory."
    )
    return 0


ARGS = argparse.Namespace(repeat=3)

if __name__ == "__main__":
    sys.exit(main())
