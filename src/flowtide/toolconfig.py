"""Where a repository already configures pytest and ruff, so ``init`` never writes a file that overrides it.

pytest takes the first of pytest.ini, .pytest.ini, pytest.toml, .pytest.toml, pyproject.toml
([tool.pytest] / [tool.pytest.ini_options]), tox.ini ([pytest]) and setup.cfg ([tool:pytest]),
and ruff the nearest of .ruff.toml, ruff.toml and pyproject.toml ([tool.ruff]), each looking
upwards from the project. A pytest.ini or ruff.toml written beside a pyproject.toml would
silently win, so an existing setting anywhere from the project up to the repository's top
keeps ours out.
"""

from __future__ import annotations

import configparser
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ToolConfig:
    """One existing configuration of a tool."""

    tool: str
    """pytest or ruff"""
    path: Path
    """The file that holds it."""
    section: str | None = None
    """The table or section inside ``path`` (None: the whole file is the tool's)."""

    def describe(self, root: Path) -> str:
        """``[tool.ruff] in pyproject.toml``, or ``ruff.toml``, relative to ``root`` when inside it."""
        try:
            where = self.path.relative_to(root).as_posix()
        except ValueError:
            where = str(self.path)
        return f"{self.section} in {where}" if self.section else where


def find(root: Path, tool: str, *, top: Path | None = None) -> ToolConfig | None:
    """The configuration of ``tool`` that applies in ``root`` (searched up to ``top``), or None."""
    checks = _PYTEST if tool == "pytest" else _RUFF
    directory = root
    while True:
        for name, section in checks:
            found = has_section(directory / name, section)
            if found:
                return ToolConfig(tool, directory / name, section if section else None)
        if top is None or directory == top or directory.parent == directory:
            return None
        directory = directory.parent


# (file name, section holding the tool's settings; "" when the whole file is the tool's), in the tool's order
_PYTEST = [
    ("pytest.ini", ""),
    (".pytest.ini", ""),
    ("pytest.toml", ""),
    (".pytest.toml", ""),
    ("pyproject.toml", "[tool.pytest.ini_options]"),
    ("pyproject.toml", "[tool.pytest]"),
    ("tox.ini", "[pytest]"),
    ("setup.cfg", "[tool:pytest]"),
]
_RUFF = [(".ruff.toml", ""), ("ruff.toml", ""), ("pyproject.toml", "[tool.ruff]")]


def has_section(path: Path, section: str) -> bool:
    """``path`` exists and holds ``section`` (``[tool.ruff]``, ``[pytest]``; "" for any content)."""
    if not path.is_file():
        return False
    if not section:
        return True
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".toml":
        keys = section.strip("[]").split(".")
        try:
            table = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            # unreadable for us is not absent for the tool: look for the header itself
            return re.search(rf"^\s*\[{re.escape('.'.join(keys))}[\].]", text, re.M) is not None
        for key in keys:
            if not isinstance(table, dict) or key not in table:
                return False
            table = table[key]
        return True
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text)
    except configparser.Error:
        return re.search(rf"^\s*{re.escape(section)}\s*$", text, re.M) is not None
    return parser.has_section(section.strip("[]"))
