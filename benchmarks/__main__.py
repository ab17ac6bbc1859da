"""Run every benchmark module (benchmarks/<area>.py), or those named: ``python -m benchmarks [AREA...]``.

Each module runs in its own process (``python -m benchmarks.<area>``) so one
area's imports and memory do not colour another's figures.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def areas() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.py") if not p.stem.startswith("_"))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    known = areas()
    if argv and argv[0] in ("-h", "--help"):
        print(f"usage: python -m benchmarks [AREA...]\nareas: {', '.join(known)}")
        return 0
    chosen = argv or known
    unknown = [a for a in chosen if a not in known]
    if unknown:
        print(f"unknown benchmark {unknown[0]!r}; areas: {', '.join(known)}", file=sys.stderr)
        return 2
    failed = []
    for area in chosen:
        print(f"\n##### benchmarks.{area} #####", flush=True)
        code = subprocess.call([sys.executable, "-m", f"benchmarks.{area}"], cwd=HERE.parent)
        if code != 0:
            failed.append(area)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
