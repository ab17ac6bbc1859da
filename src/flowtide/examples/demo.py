"""`make demo`: the flowtide loop on the weather example, step by step, in a temporary project.

Starts the example's data server on 127.0.0.1, scaffolds the example with
``flowtide init --example weather``, pulls, publishes one more month and pulls
again, showing what changed. Each step is a function in ``STEPS`` so later
parts of the loop (check, run, gate, register, serve, monitor) slot in.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .datasource import DataSource

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "flowtide demo",
    "GIT_AUTHOR_EMAIL": "demo@flowtide.invalid",
    "GIT_COMMITTER_NAME": "flowtide demo",
    "GIT_COMMITTER_EMAIL": "demo@flowtide.invalid",
}


@dataclass
class Demo:
    """What the steps share: the project directory, the data server, notes between steps."""

    project: Path
    as_of: str = "2012-03"
    source: DataSource | None = None
    notes: dict = field(default_factory=dict)
    env: dict = field(default_factory=lambda: {**os.environ, **GIT_IDENTITY, "NO_COLOR": "1"})

    def flowtide(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run ``flowtide ARGS`` in the project as a user would, echoing the command and its output."""
        return self.sh([sys.executable, "-m", "flowtide", *args], shown=["flowtide", *args], check=check)

    def git(self, *args: str, check: bool = True, quiet: bool = False) -> subprocess.CompletedProcess:
        return self.sh(["git", *args], check=check, quiet=quiet)

    def sh(
        self, argv: list[str], *, shown: list[str] | None = None, check: bool = True, quiet: bool = False
    ) -> subprocess.CompletedProcess:
        if not quiet:
            print(f"$ {shlex.join(shown or argv)}", flush=True)
        proc = subprocess.run(argv, cwd=self.project, env=self.env, capture_output=True, text=True, check=False)
        if not quiet:
            for stream in (proc.stdout, proc.stderr):
                if stream.strip():
                    print(_indent(stream), flush=True)
        if check and proc.returncode != 0:
            raise DemoFailed(f"`{shlex.join(shown or argv)}` exited {proc.returncode}")
        return proc


class DemoFailed(Exception):
    pass


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.rstrip().splitlines())


def _rows(path: Path) -> int:
    with open(path, "rb") as handle:
        return max(sum(1 for _ in handle) - 1, 0)


# --- steps -----------------------------------------------------------------------------


def start_datasource(demo: Demo) -> None:
    demo.source = DataSource(as_of=demo.as_of).start()
    print(f"serving {demo.source.url} as of {demo.source.as_of} (the Seattle weather, published month by month)")


def scaffold(demo: Demo) -> None:
    demo.project.mkdir(parents=True, exist_ok=True)
    print(f"$ cd {demo.project}")
    demo.flowtide("init", "--example", "weather")
    config = demo.project / "flowtide.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("http://127.0.0.1:8765/seattle-weather.csv", demo.source.url), encoding="utf-8")
    print(f"pointed the weather source at {demo.source.url}")


def first_pull(demo: Demo) -> None:
    demo.flowtide("pull", "--no-progress")
    data = demo.project / "data/raw/weather.csv"
    demo.notes["rows_before"] = _rows(data)
    print(f"{data.relative_to(demo.project)}: {demo.notes['rows_before']} rows")
    demo.git("add", "-A", quiet=True)
    demo.git("commit", "-q", "-m", "weather example: first pull", quiet=True)
    demo.flowtide("pull", "--no-progress")
    print("second pull: the server answered 304 Not Modified; flowtide.lock is byte-identical")
    demo.git("status", "--short")


def advance_month(demo: Demo) -> None:
    month = demo.source.advance()
    print(f"POST /advance: the source now publishes data up to {month}")


def pull_new_month(demo: Demo) -> None:
    demo.flowtide("pull", "--no-progress")
    rows = _rows(demo.project / "data/raw/weather.csv")
    print(f"data/raw/weather.csv: {demo.notes['rows_before']} -> {rows} rows (+{rows - demo.notes['rows_before']})")
    demo.git("diff", "--stat")
    demo.git("diff", "--", "flowtide.lock")


STEPS: list[tuple[str, Callable[[Demo], None]]] = [
    ("start the data source", start_datasource),
    ("scaffold the weather example (flowtide init --example weather)", scaffold),
    ("pull the data, then pull again (nothing changed)", first_pull),
    ("a month passes", advance_month),
    ("pull: new rows, new hash, the lock changes", pull_new_month),
]


def run(project: Path, steps=STEPS, *, as_of: str = "2012-03") -> Demo:
    demo = Demo(project=project, as_of=as_of)
    try:
        for number, (title, step) in enumerate(steps, 1):
            print(f"\n=== {number}. {title} ===", flush=True)
            started = time.monotonic()
            step(demo)
            print(f"({time.monotonic() - started:.1f} s)", flush=True)
    finally:
        if demo.source is not None:
            demo.source.stop()
    return demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flowtide.examples.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", metavar="DIR", help="build the project here (default: a temp dir, removed after)")
    parser.add_argument("--keep", action="store_true", help="keep the temp project and print where it is")
    parser.add_argument("--as-of", default="2012-03", metavar="YYYY-MM", help="month the data source starts at")
    args = parser.parse_args(argv)
    temp = None
    if args.dir:
        project = Path(args.dir).absolute()
    else:
        temp = Path(tempfile.mkdtemp(prefix="flowtide-demo-"))
        project = temp / "weather"
    try:
        run(project, as_of=args.as_of)
    except DemoFailed as exc:
        print(f"\ndemo failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if temp is not None and not args.keep:
            shutil.rmtree(temp, ignore_errors=True)
    print(f"\ndemo finished{f'; the project is in {project}' if args.keep or args.dir else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
