"""Workflows: flowtide's answers about CI files side by side with the dedicated tools, on the same repo.

- "what does this event run?": `flowtide ci simulate push --paths README.md` vs `act push --list`
  (act lists the jobs of every workflow the event names; it does not evaluate paths filters)
- "are the workflows valid / current?": `flowtide ci check --no-lint` vs `actionlint` on the five files
- regenerating unchanged workflows: `flowtide ci generate` (a no-op write)

Whole processes, median of N runs; 127.0.0.1 only. Run: `python -m benchmarks.workflows`.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROUNDS = 7
BIN = Path(sys.executable).parent
GOLDEN = Path(__file__).resolve().parent.parent / "tests" / "golden" / "workflows" / "weather" / "flowtide.yaml"


def _time(command: list[str], cwd: Path) -> float:
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})
        samples.append(time.perf_counter() - start)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(command)} exited {proc.returncode}: {proc.stderr[-500:]}")
    return statistics.median(samples)


def main() -> int:
    flowtide = [sys.executable, "-m", "flowtide"]
    act = shutil.which("act") or str(BIN / "act")
    actionlint = shutil.which("actionlint") or str(BIN / "actionlint")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copy(GOLDEN, root / "flowtide.yaml")
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
        (root / ".flowtide").mkdir()  # local state, as in any project: the parsed config is cached there
        subprocess.run([*flowtide, "ci", "generate"], cwd=root, check=True, capture_output=True)
        files = sorted(str(p.relative_to(root)) for p in (root / ".github/workflows").glob("*.yml"))
        rows = [
            (
                "which jobs a push runs",
                _time([*flowtide, "ci", "simulate", "push", "--paths", "README.md"], root),
                "act push --list",
                _time([act, "push", "--list"], root),
            ),
            (
                "workflows valid / current",
                _time([*flowtide, "ci", "check", "--no-lint"], root),
                "actionlint (5 files)",
                _time([actionlint, *files], root),
            ),
            ("regenerate (no change)", _time([*flowtide, "ci", "generate"], root), "-", None),
        ]
    print(f"median of {ROUNDS} runs, whole processes")
    print(f"{'task':<28}{'flowtide':>10}  {'peer':<24}{'peer time':>10}{'ratio':>8}")
    for task, ours, peer, theirs in rows:
        ratio = f"{ours / theirs:.2f}x" if theirs else "-"
        peer_time = f"{theirs * 1000:.0f} ms" if theirs else "-"
        print(f"{task:<28}{ours * 1000:>7.0f} ms  {peer:<24}{peer_time:>10}{ratio:>8}")
    print("ratio = flowtide time / peer time (below 1: flowtide faster). The answers differ in scope:")
    print("act --list ignores paths filters (flowtide says train.yml does not fire); actionlint checks")
    print("validity, `ci check` checks that the files match flowtide.yaml (and runs actionlint unless --no-lint).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
