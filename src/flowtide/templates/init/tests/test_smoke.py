"""A smoke test so `make test` has something to run; add your data and model tests here."""

from pathlib import Path


def test_project_has_a_flowtide_config():
    root = Path(__file__).resolve().parents[1]
    assert (root / "flowtide.yaml").is_file()
