"""A smoke test so `make test` has something to run; add your model and data tests here."""

from pathlib import Path


def test_project_files_exist():
    root = Path(__file__).resolve().parents[1]
    assert (root / "flowtide.yaml").is_file()
