"""`flowtide run` shows each stage's output as it is printed, prefixed by the stage and its elapsed time."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from .conftest import GIT_ENV

SLOW = """\
import sys, time
for i in range(1, 4):
    print(f"tick {i}")
    time.sleep(1.0)
print("to stderr", file=sys.stderr)
open("out.txt", "w").write("done")
"""


def test_a_slow_stage_streams_its_lines_before_it_ends(tmp_path):
    (tmp_path / "flowtide.yaml").write_text(
        "project: live\nstages:\n  slow:\n    cmd: python slow.py\n    deps: [slow.py]\n    outs: [out.txt]\n"
    )
    (tmp_path / "slow.py").write_text(SLOW)
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowtide", "run", "--heartbeat", "0.4"],
        cwd=tmp_path,
        env={**os.environ, **GIT_ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    arrived: list[tuple[float, str]] = []
    for line in iter(proc.stdout.readline, ""):  # read as the run writes, noting when each line came
        arrived.append((time.monotonic(), line.rstrip("\n")))
    assert proc.wait(timeout=60) == 0
    lines = [text for _, text in arrived]
    when = {text: t for t, text in arrived}
    ended = next(t for t, text in arrived if text.startswith("slow: ran in"))
    # each line is shown when the stage prints it, a second apart, well before the stage ends
    assert "slow 0:00 | tick 1" in lines and "slow 0:01 | tick 2" in lines and "slow 0:02 | tick 3" in lines
    assert ended - when["slow 0:00 | tick 1"] > 2.0
    assert when["slow 0:01 | tick 2"] - when["slow 0:00 | tick 1"] > 0.7
    assert "slow 0:03 | to stderr" in lines
    # a heartbeat while it runs, for CI logs where nothing else moves
    assert any(text.startswith("slow: still running (0:0") for text in lines)
    assert not any(text.startswith("  | tick") for text in lines)  # not shown twice at the end
    assert lines.index("slow 0:00 | tick 1") < lines.index(next(t for t in lines if t.startswith("slow: ran in")))


def test_progress_bars_speak_the_units_the_results_do():
    from rich.progress import DownloadColumn

    from flowtide.cli._output import human_size
    from flowtide.cli._progress import _start

    bar = _start()
    bar.stop()
    task = bar.add_task("data", total=84_400_000, completed=84_400_000)
    download = next(c for c in bar.columns if isinstance(c, DownloadColumn))
    assert download.render(bar.tasks[task]).plain == "80.5/80.5 MiB"
    assert human_size(84_400_000) == "80.5 MiB"  # what pull prints when it is done
