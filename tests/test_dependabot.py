"""`.github/dependabot.yml`: written by `ci generate` and `init`, valid, the user's own kept, newer pins kept."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from flowtide.workflows.dependabot import DEPENDABOT, render
from flowtide.workflows.pinned_actions import PINS

from .conftest import run_cli

GOLDEN = Path(__file__).parent / "golden"
BIN = Path(sys.executable).parent
CHECKOUT = PINS["checkout"]


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "weather"
    root.mkdir()
    shutil.copy(GOLDEN / "workflows" / "weather" / "flowtide.yaml", root / "flowtide.yaml")
    return root


def test_golden_and_valid_against_dependabots_schema(tmp_path):
    text = render()
    assert text == (GOLDEN / "dependabot" / "dependabot.yml").read_text(encoding="utf-8")
    assert "package-ecosystem: github-actions" in text and "interval: weekly" in text
    path = tmp_path / "dependabot.yml"
    path.write_text(text)
    proc = subprocess.run(
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.dependabot", path], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_generate_writes_it_and_check_wants_it(tmp_path):
    root = _project(tmp_path)
    assert run_cli("-C", root, "ci", "generate").code == 0
    assert (root / DEPENDABOT).read_text() == render()
    assert run_cli("-C", root, "ci", "check", "--no-lint").code == 0
    (root / DEPENDABOT).unlink()
    missing = run_cli("-C", root, "ci", "check", "--no-lint")
    assert missing.code == 1
    assert "FAIL .github/dependabot.yml: missing; run `flowtide ci generate`" in missing.out


def test_init_writes_it(tmp_path):
    assert run_cli("init", "--example", "weather", tmp_path / "w").code == 0
    assert (tmp_path / "w" / DEPENDABOT).read_text() == render()


def test_a_dependabot_file_of_your_own_is_kept(tmp_path):
    root = _project(tmp_path)
    mine = "version: 2\nupdates:\n  - package-ecosystem: pip\n    directory: /\n    schedule: {interval: daily}\n"
    (root / ".github").mkdir()
    (root / DEPENDABOT).write_text(mine)
    result = run_cli("-C", root, "ci", "generate")
    assert result.code == 0
    assert "kept    .github/dependabot.yml (yours: it has no flowtide header)" in result.out
    assert (root / DEPENDABOT).read_text() == mine
    check = run_cli("-C", root, "ci", "check", "--no-lint")
    assert check.code == 0
    assert "ok   .github/dependabot.yml: yours (no flowtide header): left as it is" in check.out


def test_a_newer_pin_from_dependabot_is_kept_an_older_one_is_not(tmp_path):
    root = _project(tmp_path)
    assert run_cli("-C", root, "ci", "generate").code == 0
    workflows = sorted((root / ".github/workflows").glob("*.yml"))
    generated = {path: path.read_text() for path in workflows}
    ci = root / ".github/workflows/ci.yml"
    assert CHECKOUT.uses in generated[ci]
    major, minor, _ = CHECKOUT.version.lstrip("v").split(".")
    newer = f"{CHECKOUT.repo}@{'a' * 40} # v{major}.{int(minor) + 1}.0"
    # what a Dependabot pull request does: a newer release of the same action, by SHA, in every workflow
    for path, text in generated.items():
        path.write_text(text.replace(CHECKOUT.uses, newer))
    bumped = {path: path.read_text() for path in workflows}
    assert run_cli("-C", root, "ci", "check", "--no-lint").code == 0
    again = run_cli("-C", root, "ci", "generate")
    assert again.code == 0 and "wrote" not in again.out
    assert {path: path.read_text() for path in workflows} == bumped
    # a pin moved by hand in one file only: generate carries it to the others, so the set stays consistent
    for path, text in generated.items():
        path.write_text(text)
    ci.write_text(bumped[ci])
    partial = run_cli("-C", root, "ci", "check", "--no-lint")
    assert partial.code == 1 and "FAIL .github/workflows/train.yml: differs" in partial.out
    assert run_cli("-C", root, "ci", "generate").code == 0
    assert {path: path.read_text() for path in workflows} == bumped
    # an older version is not kept: the table wins, and check names the difference
    for path, text in generated.items():
        path.write_text(text.replace(CHECKOUT.uses, f"{CHECKOUT.repo}@{'b' * 40} # v{int(major) - 1}.0.0"))
    stale = run_cli("-C", root, "ci", "check", "--no-lint")
    assert stale.code == 1 and "FAIL .github/workflows/ci.yml: differs" in stale.out
    assert run_cli("-C", root, "ci", "generate").code == 0
    assert {path: path.read_text() for path in workflows} == generated


def test_a_pin_that_is_not_a_sha_or_of_another_action_is_ignored(tmp_path):
    root = _project(tmp_path)
    assert run_cli("-C", root, "ci", "generate").code == 0
    ci = root / ".github/workflows/ci.yml"
    generated = ci.read_text()
    ci.write_text(generated.replace(CHECKOUT.uses, f"{CHECKOUT.repo}@main # v99.0.0"))
    assert run_cli("-C", root, "ci", "check", "--no-lint").code == 1
    ci.write_text(generated.replace(CHECKOUT.uses, f"someone/checkout@{'c' * 40} # v99.0.0"))
    assert run_cli("-C", root, "ci", "check", "--no-lint").code == 1
    assert run_cli("-C", root, "ci", "generate").code == 0
    assert ci.read_text() == generated
