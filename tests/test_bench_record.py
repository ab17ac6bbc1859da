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
    assert record.startswith("Produced ") and "`make bench`" in record.splitlines()[0], "a full run heads the record"
    areas = sorted(path.stem for path in (ROOT / "benchmarks").glob("[!_]*.py"))
    assert re.findall(r"^### `benchmarks\.(\w+)`$", record, re.M) == areas, "the record holds every area's output"


def test_a_record_of_some_areas_keeps_the_others_from_the_earlier_run_and_says_which_is_which(tmp_path):
    target = tmp_path / "latest.md"
    record(
        target,
        "make bench",
        [("hashing", 0, "hash 1.00x\n", 5.0, (1.0, 1.0)), ("serve", 0, "old serve\n", 2.0, (1.0, 1.0))],
    )
    full = target.read_text(encoding="utf-8")
    old_commit = re.search(r"commit `(\w+)`", full)[1]
    record(
        target,
        "python -m benchmarks --record latest.md serve",
        [("serve", 0, "new serve\n", 3.0, (0.5, 0.6))],
        every=False,
    )
    text = target.read_text(encoding="utf-8")
    first, second = text.splitlines()[:2]
    assert first == full.splitlines()[0], "the full run's heading stays"
    assert second.startswith("Re-run since: `serve` by `python -m benchmarks --record latest.md serve` on ")
    assert f"| `hashing` | ran | 5 s | 1.0 → 1.0 | `{old_commit}` |" in text
    assert "| `serve` | ran | 3 s | 0.5 → 0.6 |" in text
    assert "```text\nhash 1.00x\n```" in text and "new serve" in text and "old serve" not in text
    assert re.findall(r"^### `benchmarks\.(\w+)`$", text, re.M) == ["hashing", "serve"]
    # serve again: the earlier re-run line said only serve, so it goes; a line naming another area stays
    record(
        target, "python -m benchmarks --record latest.md serve", [("serve", 0, "newer\n", 1.0, (0.1, 0.1))], every=False
    )
    record(
        target, "python -m benchmarks --record latest.md hashing", [("hashing", 0, "h\n", 1.0, (0.1, 0.1))], every=False
    )
    heading = target.read_text(encoding="utf-8").split("Machine:")[0].splitlines()
    assert heading[0] == first and [line.split(" by ")[0] for line in heading[1:]] == [
        "Re-run since: `serve`",
        "Re-run since: `hashing`",
    ]


def test_the_record_itself_does_not_make_the_run_count_as_uncommitted(tmp_path, monkeypatch):
    """Re-running some areas rewrites the record, which is committed: only another changed file makes it dirty."""
    import subprocess

    import benchmarks.__main__ as runner

    repo = tmp_path / "repo"
    (repo / "benchmarks" / "results").mkdir(parents=True)
    target = repo / "benchmarks" / "results" / "latest.md"
    target.write_text("earlier record\n")
    (repo / "code.py").write_text("x = 1\n")
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "one"]):
        subprocess.run(["git", *args], cwd=repo, check=True, env={**__import__("os").environ, **env})
    monkeypatch.setattr(runner, "HERE", repo / "benchmarks")
    results = [("serve", 0, "serve\n", 1.0, (1.0, 1.0))]
    target.write_text("a record of some areas, uncommitted\n")
    record(target, "make bench", results)  # only the record changed: the commit's code ran
    assert "uncommitted" not in target.read_text(encoding="utf-8").splitlines()[0]
    (repo / "code.py").write_text("x = 2\n")
    record(target, "make bench", results)
    assert target.read_text(encoding="utf-8").splitlines()[0].endswith("(with uncommitted changes).")
