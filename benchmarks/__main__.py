"""Run every benchmark module (benchmarks/<area>.py), or those named: ``python -m benchmarks [AREA...]``.

Each module runs in its own process (``python -m benchmarks.<area>``) so one
area's imports and memory do not colour another's figures.

``--record FILE`` also writes what every area printed, with the command, the
commit, the machine and the load average, to FILE (Markdown); with areas named,
the other areas' outputs are kept from the record FILE held, each with its
commit, and the heading says which areas were re-run when. ``make bench``
records the whole run to ``benchmarks/results/latest.md``, which the manual's
benchmarks page includes as it is: the published table is always one run's
output, never figures copied by hand.
"""

from __future__ import annotations

import datetime
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
USAGE = "usage: python -m benchmarks [--record FILE] [AREA...]"


def areas() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.py") if not p.stem.startswith("_"))


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def _run(area: str) -> tuple[int, str, float, tuple[float, float]]:
    """Run one area, echoing its output line by line; return its exit code, its output, seconds and load."""
    before, start = _load(), time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-u", "-m", f"benchmarks.{area}"],
        cwd=HERE.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    lines = []
    assert child.stdout is not None
    for line in child.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        lines.append(line)
    code = child.wait()
    return code, "".join(lines), time.perf_counter() - start, (before, _load())


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=HERE.parent, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _memory_gib() -> str:
    try:
        return f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB"
    except (ValueError, OSError, AttributeError):
        return "unknown memory"


_SECTION = "### `benchmarks."


def _kept(path: Path, rerun: set[str]) -> tuple[list[str], dict[str, tuple[str, str]]]:
    """An earlier record at ``path``: its heading lines, and the areas this run does not redo: area -> (row, section)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return [], {}
    heading = []
    for line in text.splitlines():
        if line.startswith("Machine:"):
            break
        redone = re.findall(r"`(\w+)`", line.split(" by `", 1)[0]) if line.startswith("Re-run since:") else []
        if redone and set(redone) <= rerun:
            continue  # every area that line names is re-run now: the new line replaces it
        heading.append(line)
    first = text.splitlines()[0] if text else ""
    default_commit = first.split("commit `")[1].split("`")[0] if "commit `" in first else "unknown"
    rows: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("| `") and line.count("|") >= 5:
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            if len(cells) == 4:  # a record written before the table named each area's commit
                cells.append(f"`{default_commit}`")
            rows[cells[0].strip("`")] = "| " + " | ".join(cells) + " |"
    kept = {}
    for chunk in text.split("\n" + _SECTION)[1:]:
        area = chunk.split("`", 1)[0]
        if area not in rerun and area in rows:
            kept[area] = (rows[area], _SECTION + chunk.rstrip("\n"))
    return heading, kept


def record(
    path: Path, command: str, results: list[tuple[str, int, str, float, tuple[float, float]]], *, every: bool = True
) -> None:
    """Write the run as Markdown: where and how it ran, then each area's output verbatim.

    When only some areas ran (``every`` false) and ``path`` holds an earlier record, the other areas'
    rows and outputs are kept from it as they were, each with the commit it was measured at.
    """
    commit = _git("rev-parse", "--short", "HEAD")
    # the record itself is the one file a re-run of some areas expects to find changed
    itself = f":(exclude){os.path.relpath(Path(path).resolve(), HERE.parent.resolve())}"
    changed = _git("status", "--porcelain", "--untracked-files=no", "--", ".", itself)
    dirty = " (with uncommitted changes)" if changed else ""
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    ran = [area for area, *_ in results]
    heading, kept = ([], {}) if every else _kept(path, set(ran))
    head = [f"Produced by `{command}` on {when}, commit `{commit}`{dirty}."]
    if kept:
        head = [
            *heading,
            f"Re-run since: {', '.join(f'`{a}`' for a in ran)} by `{command}` on {when}, commit `{commit}`{dirty}; "
            "every other area is as that earlier run printed it (the table names each area's commit).",
        ]
    lines = [
        *head,
        f"Machine: {os.cpu_count()} cores, {_memory_gib()}, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}.",
        "",
        "| area | result | wall time | load average before → after | commit |",
        "|---|---|---|---|---|",
    ]
    sections = {area: section for area, (_row, section) in kept.items()}
    rows = {area: row for area, (row, _section) in kept.items()}
    for area, code, output, seconds, (before, after) in results:
        verdict = "ran" if code == 0 else f"**failed** (exit {code})"
        rows[area] = f"| `{area}` | {verdict} | {seconds:.0f} s | {before:.1f} → {after:.1f} | `{commit}` |"
        sections[area] = "\n".join([f"{_SECTION}{area}`", "", "```text", output.rstrip("\n"), "```"])
    order = sorted(rows)
    lines += [rows[area] for area in order]
    for area in order:
        lines += ["", sections[area]]
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    known = areas()
    if argv and argv[0] in ("-h", "--help"):
        print(f"{USAGE}\nareas: {', '.join(known)}")
        return 0
    target = None
    if "--record" in argv:
        at = argv.index("--record")
        if at + 1 >= len(argv):
            print(f"--record needs a file\n{USAGE}", file=sys.stderr)
            return 2
        target = Path(argv[at + 1])
        del argv[at : at + 2]
    chosen = argv or known
    unknown = [a for a in chosen if a not in known]
    if unknown:
        print(f"unknown benchmark {unknown[0]!r}; areas: {', '.join(known)}", file=sys.stderr)
        return 2
    results = []
    for area in chosen:
        print(f"\n##### benchmarks.{area} #####", flush=True)
        code, output, seconds, load = _run(area)
        results.append((area, code, output, seconds, load))
    if target is not None:
        command = "make bench" if not argv else f"python -m benchmarks --record {target} {' '.join(chosen)}"
        record(target, command, results, every=set(chosen) == set(known))
        print(f"\nrecorded to {target}")
    failed = [area for area, code, *_ in results if code != 0]
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
