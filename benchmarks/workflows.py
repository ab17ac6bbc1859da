"""Workflows: flowtide's answers about CI files side by side with the dedicated tools, on the same repo.

- "what does this event run?": `flowtide ci simulate push --paths README.md` vs `act push --list`
  (act lists the jobs of every workflow the event names; it does not evaluate paths filters)
- "are the workflows valid / current?": `flowtide ci check --no-lint` vs `actionlint` on the five files
- regenerating unchanged workflows: `flowtide ci generate` (a no-op write)

Whole processes, the tools alternating round by round (benchmarks/_alternate.py); 127.0.0.1 only. Run: `python -m benchmarks.workflows`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROUNDS = 7
ENV = {**os.environ, "NO_COLOR": "1"}
ENV.pop("PYTHONDONTWRITEBYTECODE", None)  # every tool from compiled bytecode, as on a user's machine
BIN = Path(sys.executable).parent
GOLDEN = Path(__file__).resolve().parent.parent / "tests" / "golden" / "workflows" / "weather" / "flowtide.yaml"


def _time(command: list[str], cwd: Path):
    """A callable for _alternate: one run of ``command``, its seconds (exit 1 is an answer, not a failure)."""

    def run() -> float | None:
        start = time.perf_counter()
        try:
            proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=ENV)
        except FileNotFoundError:
            return None  # the peer is not installed
        elapsed = time.perf_counter() - start
        if proc.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(command)} exited {proc.returncode}: {proc.stderr[-500:]}")
        return elapsed

    return run


def main() -> int:
    from ._alternate import alternate, table

    flowtide = [sys.executable, "-m", "flowtide"]
    act = shutil.which("act") or str(BIN / "act")
    actionlint = shutil.which("actionlint") or str(BIN / "actionlint")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copy(GOLDEN, root / "flowtide.yaml")
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
        (root / ".flowtide").mkdir()  # local state, as in any project: the parsed config is cached there
        subprocess.run([*flowtide, "ci", "generate"], cwd=root, check=True, capture_output=True, env=ENV)
        files = sorted(str(p.relative_to(root)) for p in (root / ".github/workflows").glob("*.yml"))
        comparisons = [
            alternate(
                "which jobs a push runs",
                {
                    "flowtide": _time([*flowtide, "ci", "simulate", "push", "--paths", "README.md"], root),
                    "act push --list": _time([act, "push", "--list"], root),
                },
                ROUNDS,
            ),
            alternate(
                "workflows valid / current",
                {
                    "flowtide": _time([*flowtide, "ci", "check", "--no-lint"], root),
                    f"actionlint ({len(files)} files)": _time([actionlint, *files], root),
                },
                ROUNDS,
            ),
            alternate("regenerate (no change)", {"flowtide": _time([*flowtide, "ci", "generate"], root)}, ROUNDS),
        ]
    print(table(comparisons, title="CI workflows: whole processes (peer ÷ flowtide > 1: flowtide is faster)"))
    print("The answers differ in scope: act --list ignores paths filters (flowtide says train.yml does not fire);")
    print("actionlint checks validity, `ci check` checks that the files match flowtide.yaml (and runs actionlint")
    print("unless --no-lint).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
