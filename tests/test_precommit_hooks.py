"""The pre-commit hooks the repository provides name real commands, run on the right files, and work."""

from __future__ import annotations

import re
from pathlib import Path

from ruamel.yaml import YAML

from .conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]


def test_every_hook_is_a_flowtide_command_that_runs_on_a_project(tmp_path):
    hooks = YAML(typ="safe").load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert [h["id"] for h in hooks] == ["flowtide-ci-check", "flowtide-status"]
    for hook in hooks:
        assert set(hook) <= {"id", "name", "entry", "language", "pass_filenames", "files", "always_run", "stages"}
        assert hook["language"] == "python" and hook["pass_filenames"] is False
        program, *args = hook["entry"].split()
        assert program == "flowtide"
        assert run_cli(*args, "--help").code == 0, hook["entry"]
    files = re.compile(hooks[0]["files"])
    assert files.match("flowtide.yaml") and files.match(".github/workflows/train.yml")
    assert not files.match("src/train.py")
    # on a fresh project: the workflows init wrote are current, and nothing is stale yet
    assert run_cli("init", tmp_path / "p").code == 0
    assert run_cli("-C", tmp_path / "p", "ci", "check", "--no-lint").code == 0
    assert run_cli("-C", tmp_path / "p", "status").code == 0
