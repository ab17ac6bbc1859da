"""`make demo` end to end: the whole loop on the weather example, on one machine."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import GIT_ENV


@pytest.mark.slow
def test_the_demo_runs_the_whole_loop(tmp_path):
    import os

    project = tmp_path / "weather"
    proc = subprocess.run(
        [sys.executable, "-m", "flowtide.examples.demo", "--dir", str(project)],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, **GIT_ENV},
    )
    out = proc.stdout
    assert proc.returncode == 0, out[-4000:] + proc.stderr[-4000:]
    # served, drift detected and named, retrained, canary served, verdict acted on
    assert "flowtide serve: http://127.0.0.1:" in out
    assert "Monitor: drift in temp_max, temp_min" in out
    assert "weather v2 is in staging" in out
    assert "canary v2 on 30% of callers" in out
    # the retrained canary: 0.607 vs 0.605 on 356 and 709 labelled rows is no evidence that it is not worse by more
    # than deploy.canary.margin (0.02), so it waits; "promote unless significantly worse" promoted it (issue 11)
    assert "canary verdict: wait: canary accuracy 0.607 vs production 0.605 on 356 and 709 labelled rows" in out
    assert "monitor --act:" not in out
    assert "GET /models: production v1, canary v2 (it keeps its share of traffic until the feedback decides)" in out
    # the example as shipped: its default params and real gates, and the retrain learned from labelled traffic
    from flowtide.scaffold import EXAMPLES

    assert (project / "params.yaml").read_bytes() == (EXAMPLES / "weather" / "params.yaml").read_bytes()
    config = (project / "flowtide.yaml").read_text()
    assert config.count('"accuracy >= 0.6"') == config.count('"f1_macro >= baseline_f1_macro + 0.05"') == 1
    assert "data/raw/traffic.csv: 0 labelled requests (nothing served yet)" in out
    assert "labelled requests into data/raw/traffic.csv (training data)" in out
    for name in ("monitor-drift.html", "monitor-canary.html"):
        assert (project / "reports" / name).read_text().startswith("<!doctype html>")
        assert str(project / "reports" / name) in out
    events = [json.loads(line) for line in (project / "flowtide.registry").read_text().splitlines()]
    assert [(e["event"], e["version"], e.get("to")) for e in events if e["event"] != "register"][-2:] == [
        ("promote", 1, "production"),
        ("promote", 2, "staging"),
    ]
    assert any(p.suffix == ".db" for p in (project / ".flowtide" / "predictions").iterdir())
