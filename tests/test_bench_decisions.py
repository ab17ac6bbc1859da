"""benchmarks/decisions.py runs end to end in its small form and prints the table and the targets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_decision_benchmark_prints_flowtide_and_river_side_by_side():
    pytest.importorskip("river")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.decisions", "--streams", "1", "--detectors", "flowtide,ADWIN,PageHinkley"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("flowtide defaults: 0.05 per 30d over 720 runs of monitor.schedule '0 * * * *'")
    for name in ("flowtide", "ADWIN", "PageHinkley"):
        for width in (1, 10):
            assert f"{name:<12} {width:>4}  variance x1.5" in out
    assert "targets (flowtide defaults):" in out
    assert out.count("% <= 5%") == 2 * (2 + 6)  # every no-change and change row of both widths
