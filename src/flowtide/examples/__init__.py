"""Example projects and their helpers: the weather template, its data server and the demo."""

from __future__ import annotations

from pathlib import Path

EXAMPLES_DIR = Path(__file__).parent


def example_dir(name: str) -> Path:
    """The template directory of the example project ``name`` (e.g. ``weather``)."""
    return EXAMPLES_DIR / name


def example_names() -> list[str]:
    return sorted(p.name for p in EXAMPLES_DIR.iterdir() if p.is_dir() and (p / "flowtide.yaml").is_file())
