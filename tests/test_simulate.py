"""`flowtide ci simulate`: GitHub's trigger and filter semantics evaluated on the generated workflows."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from flowtide.workflows.simulate import glob_match

from .conftest import run_cli

GOLDEN = Path(__file__).parent / "golden" / "workflows"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "weather"
    root.mkdir()
    shutil.copy(GOLDEN / "weather" / "flowtide.yaml", root / "flowtide.yaml")
    assert run_cli("-C", root, "ci", "generate").code == 0
    return root


def _simulate(root: Path, *args: str) -> dict:
    result = run_cli("-C", root, "ci", "simulate", *args, "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


@pytest.mark.parametrize(
    ("patterns", "path", "expected"),
    [
        (["src/**"], "src/a/b.py", True),
        (["src/*"], "src/a/b.py", False),  # * stops at /
        (["src/*"], "src/b.py", True),
        (["**/README.md"], "README.md", True),  # **/ also matches at the root
        (["**/README.md"], "docs/README.md", True),
        (["*.md"], "docs/a.md", False),
        (["**.md"], "docs/a.md", True),
        (["docs/**", "!docs/internal/**"], "docs/internal/x.md", False),  # last match wins
        (["docs/**", "!docs/internal/**", "docs/internal/ok.md"], "docs/internal/ok.md", True),
        (["release/v[0-9]*"], "release/v2", True),
        (["main"], "main", True),
        (["main"], "mainline", False),
        (["feature/**"], "feature/a/b", True),
        (["v2+"], "v222", True),  # + is one or more of the preceding character
        (["colou?r"], "color", True),  # ? is zero or one of the preceding character
    ],
)
def test_github_glob_semantics(patterns, path, expected):
    assert glob_match(patterns, path) is expected


def test_schedule_follows_the_call_chain_data_train_deploy(project):
    plan = _simulate(project, "schedule")
    assert plan["fired"] == ["data.yml", "monitor.yml"]
    data = next(w for w in plan["workflows"] if w["file"] == "data.yml")
    pull, train = data["jobs"]
    assert (pull["id"], train["id"], train["calls"], train["needs"]) == ("pull", "train", "train.yml", ["pull"])
    assert train["condition"] == "needs.pull.outputs.changed == 'true'"
    deploy = train["jobs"][1]
    assert deploy["calls"] == "deploy.yml"
    assert [j["id"] for j in deploy["jobs"]] == ["staging", "production"]
    text = run_cli("-C", project, "ci", "simulate", "schedule").out
    assert "data.yml: fires (schedule " in text
    assert "      job production (after staging)" in text


def test_push_touching_only_readme_fires_no_training(project):
    plan = _simulate(project, "push", "--paths", "README.md")
    assert plan["fired"] == ["ci.yml"]
    train = next(w for w in plan["workflows"] if w["file"] == "train.yml")
    assert train["reason"] == "no changed path matches the paths filter"


def test_push_of_code_or_lock_fires_training(project):
    assert _simulate(project, "push", "--paths", "src/train.py")["fired"] == ["ci.yml", "train.yml"]
    assert _simulate(project, "push", "--paths", "flowtide.lock")["fired"] == ["ci.yml", "train.yml"]
    # a push to another branch runs neither (both filter on the default branch)
    assert _simulate(project, "push", "--branch", "feature/x", "--paths", "src/train.py")["fired"] == []


def test_pull_request_and_dispatch(project):
    assert _simulate(project, "pull_request", "--paths", "README.md")["fired"] == ["ci.yml"]
    assert _simulate(project, "workflow_dispatch", "--workflow", "train")["fired"] == ["train.yml"]
    every = _simulate(project, "workflow_dispatch")["fired"]
    assert every == ["ci.yml", "data.yml", "deploy.yml", "monitor.yml", "train.yml"]


def test_unknown_workflow_and_missing_workflows(project, tmp_path):
    bad = run_cli("-C", project, "ci", "simulate", "workflow_dispatch", "--workflow", "nope")
    assert bad.code == 2
    assert "no workflow 'nope'" in bad.err
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "flowtide.yaml").write_text("project: empty\n")
    none = run_cli("-C", empty, "ci", "simulate", "push")
    assert none.code == 2
    assert "Run `flowtide ci generate` to write them." in none.err


def test_changed_paths_from_git(project):
    from .conftest import git

    git("init", "-q", "-b", "main", cwd=project)
    git("add", "-A", cwd=project)
    git("commit", "-q", "-m", "start", cwd=project)
    (project / "README.md").write_text("docs\n")
    git("add", "README.md", cwd=project)
    git("commit", "-q", "-m", "docs", cwd=project)
    assert _simulate(project, "push", "--since", "HEAD~1")["paths"] == ["README.md"]
    assert _simulate(project, "push", "--since", "HEAD~1")["fired"] == ["ci.yml"]
    (project / "params.yaml").write_text("train: {}\n")
    git("add", "params.yaml", cwd=project)
    git("commit", "-q", "-m", "params", cwd=project)
    assert _simulate(project, "push", "--since", "HEAD~2")["fired"] == ["ci.yml", "train.yml"]
    bad = run_cli("-C", project, "ci", "simulate", "push", "--since", "nope")
    assert bad.code == 2 and "cannot list the files changed since 'nope'" in bad.err


def test_foreign_workflows_with_tag_filters_and_paths_ignore(project):
    workflows = project / ".github" / "workflows"
    (workflows / "release.yml").write_text(
        "on:\n  push:\n    tags: ['v*']\njobs:\n  r:\n    runs-on: x\n    steps: []\n"
    )
    (workflows / "docs.yml").write_text(
        "on:\n  push:\n    paths-ignore: ['src/**']\njobs:\n  d:\n    runs-on: x\n    steps: []\n"
    )
    assert _simulate(project, "push", "--paths", "src/a.py")["fired"] == ["ci.yml", "train.yml"]
    assert _simulate(project, "push", "--paths", "src/a.py", "README.md")["fired"] == [
        "ci.yml",
        "docs.yml",
        "train.yml",
    ]
