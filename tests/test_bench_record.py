"""`make bench` records its run (benchmarks/__main__.py --record) and the manual publishes that file as it is."""

from __future__ import annotations

import re
from pathlib import Path

from benchmarks.__main__ import main, record

ROOT = Path(__file__).resolve().parent.parent


def test_a_recorded_run_names_its_command_commit_machine_and_load_and_keeps_each_areas_output(tmp_path):
    target = tmp_path / "results" / "latest.md"
    results = [
        ("hashing", 0, "  figure   peer   flowtide\n  1 GiB   cp   1.00x\n", 12.4, (1.5, 2.25)),
        ("serve", 3, "boom\n", 1.0, (2.25, 2.0)),
    ]
    record(target, "make bench", results)
    text = target.read_text(encoding="utf-8")
    assert text.startswith("Produced by `make bench` on ")
    assert re.search(r"commit `[0-9a-f]{7,}`", text)
    assert re.search(r"Machine: \d+ cores, \d+ GiB", text)
    assert "| `hashing` | ran | 12 s | 1.5 → 2.2 |" in text
    assert "| `serve` | **failed** (exit 3) |" in text
    assert "```text\n  figure   peer   flowtide\n  1 GiB   cp   1.00x\n```" in text
    assert not list(target.parent.glob("*.tmp"))


def test_the_runner_refuses_unknown_areas_and_a_record_without_a_file(capsys):
    assert main(["--record"]) == 2
    assert main(["nope"]) == 2
    assert "unknown benchmark 'nope'" in capsys.readouterr().err


def test_make_bench_records_the_run_that_the_benchmarks_page_includes():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "--record benchmarks/results/latest.md" in makefile
    page = (ROOT / "docs/benchmarks.md").read_text(encoding="utf-8")
    assert '--8<-- "benchmarks/results/latest.md"' in page
    record = (ROOT / "benchmarks/results/latest.md").read_text(encoding="utf-8")
    assert record.startswith("Produced ") and "`make bench`" in record.splitlines()[0]
    areas = sorted(path.stem for path in (ROOT / "benchmarks").glob("[!_]*.py"))
    assert re.findall(r"^### `benchmarks\.(\w+)`$", record, re.M) == areas, "the record holds every area's output"
