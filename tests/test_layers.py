"""The import contracts of DESIGN.md hold, and they fail when broken.

Imports only point down, the library never imports the CLI, no package has an
import cycle at any depth, and only the CLI draws with rich. The contracts are
also shown to catch what they forbid: a cycle or a rich import planted in a copy
of the source tree makes ``lint-imports`` fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = 6


def lint_imports(cwd: Path, src: Path | None = None) -> subprocess.CompletedProcess:
    binary = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    env = dict(os.environ)
    if src is not None:  # the copy is found before the installed (editable) package
        env["PYTHONPATH"] = os.pathsep.join([str(src), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run([binary, "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_import_linter_contracts_are_kept():
    proc = lint_imports(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"Contracts: {CONTRACTS} kept, 0 broken." in proc.stdout


@pytest.fixture
def tree(tmp_path) -> Path:
    """A copy of the package and the contracts, to plant faults in."""
    shutil.copytree(
        ROOT / "src" / "flowtide", tmp_path / "src" / "flowtide", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    return tmp_path


def plant(tree: Path, module: str, line: str) -> None:
    path = tree / "src" / "flowtide" / module
    path.write_text(path.read_text() + f"\n\ndef _planted():\n    {line}\n")


def test_the_unmodified_copy_keeps_every_contract(tree):
    proc = lint_imports(tree, tree / "src")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"Contracts: {CONTRACTS} kept, 0 broken." in proc.stdout


def test_a_planted_cycle_inside_a_subpackage_fails(tree):
    # the cycle issue 18 found: the model loader reaching back into the server runner
    plant(tree, "serve/follow.py", "from .server import bind  # noqa")
    proc = lint_imports(tree, tree / "src")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "No cycles anywhere: siblings at every depth import one way BROKEN" in proc.stdout
    assert "No cycles are allowed in flowtide.serve." in proc.stdout
    assert "flowtide.serve.follow is not allowed to import flowtide.serve.server" in proc.stdout  # serve's layers


def test_a_cycle_between_top_level_packages_fails(tree):
    plant(tree, "registry/__init__.py", "from ..serve import app  # noqa")
    proc = lint_imports(tree, tree / "src")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "No cycles anywhere: siblings at every depth import one way BROKEN" in proc.stdout
    assert "No cycles are allowed in flowtide.\n" in proc.stdout


def test_rich_in_the_library_fails(tree):
    plant(tree, "store.py", "import rich.progress  # noqa")
    proc = lint_imports(tree, tree / "src")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "The UI at the edge: only the CLI (and the examples) draw with rich BROKEN" in proc.stdout
    assert "flowtide.store -> rich" in proc.stdout
