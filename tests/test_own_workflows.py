"""flowtide's own repository practises what it generates: its workflows are SHA-pinned from the same table,
least-privilege, bounded, valid (actionlint, zizmor, the JSON Schemas, offline), and cover lint, tests on every
supported Python, the manual (built, published from main) and a tagged release with trusted publishing."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from flowtide.workflows.pinned_actions import PINS

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
BIN = Path(sys.executable).parent
FILES = sorted(WORKFLOWS.glob("*.yml"))


def _yaml(path: Path) -> dict:
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))  # YAML 1.2: `on` stays a string


def _run(command: list, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_the_set_of_workflows():
    assert [path.name for path in FILES] == ["ci.yml", "docs.yml", "release.yml"]
    assert (ROOT / ".github" / "dependabot.yml").is_file()


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_pinned_from_the_table_least_privilege_and_bounded(path):
    text = path.read_text(encoding="utf-8")
    workflow = _yaml(path)
    assert workflow["permissions"] == {}, "top-level permissions must be empty; jobs ask for what they need"
    for job_id, job in workflow["jobs"].items():
        assert job.get("permissions"), f"{path.name}:{job_id} has no job permissions"
        assert isinstance(job["timeout-minutes"], int), f"{path.name}:{job_id} has no timeout"
        for step in job["steps"]:
            if "uses" in step:
                repo, _, sha = step["uses"].partition("@")
                assert any(p.repo == repo and p.sha == sha for p in PINS.values()), (
                    f"{path.name}:{job_id}: {step['uses']} is not the pin of src/flowtide/workflows/pinned_actions.py "
                    "(after a Dependabot bump, move the table too)"
                )
                if repo == "actions/checkout":
                    assert step["with"]["persist-credentials"] is False, f"{path.name}:{job_id}"
            assert "${{" not in step.get("run", ""), f"{path.name}:{job_id}: context values reach scripts via env"
    for line in text.splitlines():
        if re.search(r"uses: [\w-]+/[\w-]+@", line):
            pin = next(p for p in PINS.values() if p.sha in line)
            assert line.endswith(f"@{pin.sha} # {pin.version}"), line
    assert "secrets." not in text  # no stored token anywhere: GITHUB_TOKEN and OIDC only


def test_id_token_only_in_the_publish_job_of_the_release():
    writers = {}
    for path in FILES:
        for job_id, job in _yaml(path)["jobs"].items():
            for scope, level in job["permissions"].items():
                if level == "write":
                    writers.setdefault(scope, []).append(f"{path.name}:{job_id}")
    assert writers == {"id-token": ["release.yml:publish"], "contents": ["docs.yml:publish"]}
    publish = _yaml(WORKFLOWS / "release.yml")["jobs"]["publish"]
    assert publish["permissions"] == {"id-token": "write"} and publish["environment"]["name"] == "pypi"
    assert publish["steps"][-1]["uses"].startswith(f"{PINS['pypi-publish'].repo}@{PINS['pypi-publish'].sha}")


def test_ci_lints_and_tests_every_supported_python_through_the_makefile():
    ci = _yaml(WORKFLOWS / "ci.yml")
    assert set(ci["on"]) == {"push", "pull_request", "workflow_dispatch"}
    assert ci["on"]["push"] == {"branches": ["main"]}
    lint, test = ci["jobs"]["lint"], ci["jobs"]["test"]
    assert lint["steps"][-1]["run"] == "make lint PYTHON=python"
    assert test["steps"][-1]["run"] == "make test PYTHON=python"
    assert test["strategy"]["matrix"]["python"] == ["3.11", "3.12", "3.13"]
    assert test["strategy"]["fail-fast"] is False
    assert test["steps"][1]["with"]["python-version"] == "${{ matrix.python }}"
    # the matrix starts at the oldest Python pyproject.toml accepts
    import tomllib

    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11"
    # `make lint` is what builds the manual, strictly
    makefile = (ROOT / "Makefile").read_text()
    lint_target = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    build = next(line for line in lint_target.splitlines() if "mkdocs build" in line)
    assert "--strict" in build and "--quiet" not in build  # --quiet hides the warnings --strict counts


def test_docs_build_strictly_and_publish_only_from_main():
    docs = _yaml(WORKFLOWS / "docs.yml")
    assert docs["on"] == {"push": {"branches": ["main"]}, "workflow_dispatch": None}
    build, publish = docs["jobs"]["build"], docs["jobs"]["publish"]
    assert build["permissions"] == {"contents": "read"}
    assert "mkdocs build --strict --site-dir site" in build["steps"][2]["run"]
    assert publish["needs"] == "build"
    assert publish["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert publish["permissions"] == {"contents": "write"}
    # the job that can write runs no code of the repository: no checkout, only the built artifact
    assert not any("checkout" in step.get("uses", "") for step in publish["steps"])
    push = publish["steps"][-1]
    assert push["env"] == {"GITHUB_TOKEN": "${{ github.token }}"}
    assert "push --force --quiet" in push["run"] and "gh-pages" in push["run"]


def test_the_publish_script_pushes_the_site_to_gh_pages(tmp_path):
    """The publish step, run for real against a bare repository standing in for GitHub."""
    from .conftest import git

    step = _yaml(WORKFLOWS / "docs.yml")["jobs"]["publish"]["steps"][-1]
    origin = tmp_path / "OWNER" / "flowtide.git"
    origin.parent.mkdir()
    git("init", "-q", "--bare", str(origin), cwd=tmp_path)
    site = tmp_path / "work" / "site"
    site.mkdir(parents=True)
    (site / "index.html").write_text("<h1>flowtide</h1>\n")
    (site / ".nojekyll").write_text("")
    # github.com is replaced by the bare repository; the token still travels only in a header
    script = step["run"].replace("https://github.com/$GITHUB_REPOSITORY.git", str(origin))
    summary = tmp_path / "summary"
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "GITHUB_TOKEN": "not-a-real-token",
        "GITHUB_SHA": "0123abc",
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    proc = subprocess.run(["bash", "-c", script], cwd=site.parent, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "::add-mask::" in proc.stdout and "not-a-real-token" not in proc.stdout + proc.stderr
    assert git("log", "--format=%an|%s", "gh-pages", cwd=origin) == (
        "github-actions[bot]|docs: the manual as of 0123abc"
    )
    assert sorted(git("ls-tree", "--name-only", "gh-pages", cwd=origin).split()) == [".nojekyll", "index.html"]
    assert summary.read_text() == "published the manual of 0123abc to gh-pages\n"


@pytest.mark.slow
def test_actionlint_zizmor_and_the_schemas_accept_them():
    rels = [str(path.relative_to(ROOT)) for path in FILES]
    for command in (
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.github-workflows", *rels],
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.dependabot", ".github/dependabot.yml"],
        [BIN / "actionlint", *rels],
        [BIN / "zizmor", "--offline", "--no-progress", ".github/workflows"],
    ):
        proc = _run(command)
        assert proc.returncode == 0, f"{command[0]}: {proc.stdout}{proc.stderr}"


def test_the_repositorys_dependabot_is_the_generated_one_minus_the_header():
    from flowtide.workflows.dependabot import render

    generated = [line for line in render().splitlines() if not line.startswith("#")]
    own = [line for line in (ROOT / ".github/dependabot.yml").read_text().splitlines() if not line.startswith("#")]
    assert own == generated
