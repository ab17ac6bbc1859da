from __future__ import annotations

import json
from pathlib import Path

from flowtide.config import load_config
from flowtide.init import _SKIP_NAMES, init

from .conftest import git, run_cli

EXAMPLE = Path(__file__).resolve().parents[1] / "src/flowtide/examples/weather"


def test_init_in_a_git_repo_writes_the_skeleton(git_repo):
    result = run_cli("init", cwd=git_repo)
    assert result.code == 0, result.err
    written = [
        "Makefile",
        "flowtide.yaml",
        "params.yaml",
        "pytest.ini",
        "requirements.txt",
        "ruff.toml",
        "tests/test_smoke.py",
        ".gitignore",
    ]
    wrote = [line.split()[1] for line in result.out.splitlines() if line.startswith("wrote")]
    # generated CI workflows (the workflows area) come on top; their content is tested there
    assert [rel for rel in wrote if not rel.startswith(".github/")] == written
    assert "initialised a git repository" not in result.out
    config = load_config(git_repo, use_cache=False)
    assert config.project == "repo" and config.sources == {}
    assert ".flowtide/" in (git_repo / ".gitignore").read_text().splitlines()
    makefile = (git_repo / "Makefile").read_text()
    for target in ("install", "lint", "test", "format", "all", "pull", "check", "run", "gate"):
        assert f"\n{target}:" in makefile
    assert "# " in (git_repo / "flowtide.yaml").read_text()  # commented for a new user


def test_init_never_overwrites_without_force(git_repo):
    (git_repo / "Makefile").write_text("mine:\n\techo mine\n")
    (git_repo / ".gitignore").write_text("*.log")
    result = run_cli("init", cwd=git_repo)
    assert result.code == 0
    # the user's Makefile keeps its own target and only gains the ones the workflows call
    assert "updated  Makefile (added install, lint, test: the generated workflows call them)" in result.out
    assert "updated  .gitignore (added .flowtide/)" in result.out
    assert (git_repo / "Makefile").read_text().startswith("mine:\n\techo mine\n\n# >>> flowtide: ")
    assert (git_repo / ".gitignore").read_text() == "*.log\n# flowtide\n.flowtide/\n"
    makefile = (git_repo / "Makefile").read_text()
    again = run_cli("init", cwd=git_repo)
    skipped = [line for line in again.out.splitlines() if line.startswith("skipped") and ".github/" not in line]
    assert len(skipped) == 7 and "wrote" not in again.out and "updated" not in again.out
    assert "skipped  Makefile (exists; --force to overwrite)" in again.out
    assert (git_repo / "Makefile").read_text() == makefile
    forced = run_cli("init", "--force", cwd=git_repo)
    assert "wrote    Makefile" in forced.out
    assert (git_repo / "Makefile").read_text().startswith("# The classic ML Makefile")
    assert (git_repo / ".gitignore").read_text() == "*.log\n# flowtide\n.flowtide/\n"


def test_init_dir_creates_and_git_inits(tmp_path):
    target = tmp_path / "new" / "proj"
    result = run_cli("init", str(target), "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["git_initialized"] is True and data["root"] == str(target)
    assert (target / ".git").is_dir() and (target / "flowtide.yaml").is_file()
    assert git("rev-parse", "--is-inside-work-tree", cwd=target) == "true"


def test_example_weather_scaffolds_the_whole_template(tmp_path):
    target = tmp_path / "weather"
    result = init(target, example="weather")
    expected = sorted(
        p.relative_to(EXAMPLE).as_posix()
        for p in EXAMPLE.rglob("*")
        if p.is_file() and not _SKIP_NAMES.intersection(p.relative_to(EXAMPLE).parts)
    )
    copied = sorted(
        p.relative_to(target).as_posix()
        for p in target.rglob("*")
        if p.is_file() and ".git" not in p.parts and ".github" not in p.parts
    )
    assert copied == expected
    written = sorted(rel for rel in result.written if not rel.startswith(".github/"))
    assert written == expected and result.skipped == [] and result.git_initialized
    config = load_config(target, use_cache=False)
    assert config.project == "weather"
    assert config.sources["weather"].path == "data/raw/weather.csv"
    assert "weather" in config.checks
    assert (target / "Makefile").read_bytes() == (EXAMPLE / "Makefile").read_bytes()


def test_unknown_example_is_a_usage_error(tmp_path):
    result = run_cli("init", str(tmp_path / "x"), "--example", "nope")
    assert result.code == 2
    assert result.err.startswith("error: unknown example 'nope'\nAvailable examples: weather")


def test_scaffolded_project_passes_its_own_smoke_test(tmp_path):
    import subprocess
    import sys

    target = tmp_path / "p"
    init(target)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "tests"], cwd=target, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout
