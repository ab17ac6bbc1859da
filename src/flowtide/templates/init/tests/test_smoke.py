"""A smoke test so `make test` has something to run.

Add your data and model tests here. (Lines stay within 79 characters, so
the file passes the line length of any linter configuration.)
"""

from pathlib import Path


def test_project_has_a_flowtide_config():
    root = Path(__file__).resolve().parents[1]
    assert (root / "flowtide.yaml").is_file()
