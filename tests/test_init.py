from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from flowtide.config import load_config
from flowtide.makefile import make_env
from flowtide.scaffold import _SKIP_NAMES, init

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
    assert result.err == "error: unknown example 'nope'\nAvailable examples: penguins, weather.\n"


def test_scaffolded_project_passes_its_own_smoke_test(tmp_path):
    import subprocess
    import sys

    target = tmp_path / "p"
    init(target)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "tests"], cwd=target, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout


# --- init into an existing repository ------------------------------------------------------

PYPROJECT = """\
[project]
name = "acme"
version = "0.1.0"

[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[tool.ruff]
line-length = 88

[tool.ruff.lint]
select = ["E", "F", "I"]

[tool.pytest.ini_options]
testpaths = ["checks"]
markers = ["slow: the slow ones"]
"""
MAKEFILE = """\
# acme's own Makefile
.PHONY: build lint
build:
\techo building acme

lint:
\techo acme lints its own way
"""


@pytest.fixture
def existing_repo(git_repo: Path) -> Path:
    """A small project that predates flowtide: pyproject with pytest and ruff settings, its own Makefile, tests."""
    (git_repo / "pyproject.toml").write_text(PYPROJECT)
    (git_repo / "Makefile").write_text(MAKEFILE)
    (git_repo / ".gitignore").write_text("*.log\nmodels/\n")
    (git_repo / "checks").mkdir()
    (git_repo / "checks" / "test_acme.py").write_text("def test_acme():\n    assert 1 + 1 == 2\n")
    git("add", "-A", cwd=git_repo)
    git("commit", "-q", "-m", "acme", cwd=git_repo)
    return git_repo


def _workflow_make_targets(root: Path) -> list[str]:
    """Every `make TARGET` a generated workflow runs."""
    targets: list[str] = []
    for path in sorted((root / ".github/workflows").glob("*.yml")):
        for match in re.finditer(r"(?:^|[\s;&|])make((?:\s+[A-Za-z][\w.-]*)+)", path.read_text(), re.M):
            targets += [t for t in match[1].split() if t not in targets]
    return targets


def test_init_into_an_existing_repository_leaves_its_own_settings_in_charge(existing_repo):
    root = existing_repo
    result = run_cli("init", cwd=root)
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "wrote    flowtide.yaml",
        "wrote    params.yaml",
        "wrote    requirements.txt",
        "wrote    tests/test_smoke.py",
        "wrote    .github/workflows/ci.yml",
        "wrote    .github/workflows/data.yml",
        "wrote    .github/workflows/train.yml",
        "wrote    .github/workflows/deploy.yml",
        "wrote    .github/dependabot.yml",
        "updated  Makefile (added install, test: the generated workflows call them)",
        "updated  .gitignore (added .flowtide/)",
        "kept     your [tool.pytest.ini_options] in pyproject.toml (no pytest.ini: it would override it)",
        "kept     your [tool.ruff] in pyproject.toml (no ruff.toml: it would override it)",
        "kept     your Makefile targets lint (the workflows run them as they are)",
        "note     no monitor.yml: flowtide.yaml declares no model to monitor; `flowtide ci generate` writes it once "
        "a model: section exists",
        f"flowtide project ready in {root}",
        "next: edit flowtide.yaml, then `flowtide pull` and commit flowtide.yaml, flowtide.lock and the rest",
    ]
    assert not (root / "pytest.ini").exists() and not (root / "ruff.toml").exists()
    assert not (root / ".github/workflows/monitor.yml").exists()
    # ruff and pytest still read the repository's own settings
    ruff = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--show-settings", "checks/test_acme.py"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert ruff.returncode == 0, ruff.stderr
    assert f'Settings path: "{root / "pyproject.toml"}"' in ruff.stdout
    assert "line_length = 88" in ruff.stdout.replace("linter.line_length", "line_length")
    # what init wrote passes the repository's own lint rules (E, F and isort here)
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=root, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    pytest_run = subprocess.run(
        [sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert pytest_run.returncode == 0, pytest_run.stdout + pytest_run.stderr
    assert pytest_run.stdout.splitlines()[0] == "checks/test_acme.py::test_acme"  # testpaths = ["checks"]
    header = subprocess.run(
        [sys.executable, "-m", "pytest", "--co", "-p", "no:cacheprovider", "-p", "no:randomly"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert f"rootdir: {root}\nconfigfile: pyproject.toml\ntestpaths: checks\n" in header.stdout
    # the Makefile: the user's text untouched, every target a workflow calls exists, the user's lint is theirs
    makefile = (root / "Makefile").read_text()
    assert makefile.startswith(MAKEFILE + "\n# >>> flowtide: the targets the generated workflows call (ci.setup, ")
    assert makefile.endswith("# <<< flowtide\n") and "\nlint:" not in makefile[len(MAKEFILE) :]
    called = _workflow_make_targets(root)
    assert called == ["install", "lint", "test"]
    dry = subprocess.run(["make", "-n", *called], cwd=root, capture_output=True, text=True, env=make_env())
    assert dry.returncode == 0, dry.stderr
    assert "echo acme lints its own way" in dry.stdout
    assert (
        "-m pip install --quiet -e ." in dry.stdout or "-m uv pip install --quiet --python python3 -e ." in dry.stdout
    )
    assert "python3 -m pytest -q" in dry.stdout
    assert subprocess.run(["make", "-n", "build"], cwd=root, capture_output=True, text=True, env=make_env()).stdout == (
        "echo building acme\n"
    )  # still the default goal's recipe, still first
    assert (
        subprocess.run(["make", "-n"], cwd=root, capture_output=True, text=True, env=make_env()).stdout
        == "echo building acme\n"
    )
    # the tests the generated `make test` runs pass, with the repository's own testpaths
    tests = subprocess.run(
        ["make", "test", f"PYTHON={sys.executable}"], cwd=root, capture_output=True, text=True, env=make_env()
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "1 passed" in tests.stdout
    # idempotent: a second init changes no byte and says what it kept
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and ".git" not in p.relative_to(root).parts}
    again = run_cli("init", cwd=root)
    assert again.code == 0
    assert [line for line in again.out.splitlines() if not line.startswith("skipped")] == [
        "kept     your [tool.pytest.ini_options] in pyproject.toml (no pytest.ini: it would override it)",
        "kept     your [tool.ruff] in pyproject.toml (no ruff.toml: it would override it)",
        "kept     your Makefile targets lint (the workflows run them as they are)",
        "note     no monitor.yml: flowtide.yaml declares no model to monitor; `flowtide ci generate` writes it once "
        "a model: section exists",
        f"flowtide project ready in {root}",
    ]
    after = {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and ".git" not in p.relative_to(root).parts}
    assert {p: b for p, b in after.items() if ".flowtide" not in p.relative_to(root).parts} == {
        p: b for p, b in before.items() if ".flowtide" not in p.relative_to(root).parts
    }


@pytest.mark.parametrize(
    ("files", "kept"),
    [
        ({"setup.cfg": "[metadata]\nname = a\n\n[tool:pytest]\naddopts = -q\n"}, "[tool:pytest] in setup.cfg"),
        ({"tox.ini": "[tox]\nenvlist = py311\n\n[pytest]\naddopts = -q\n"}, "[pytest] in tox.ini"),
        ({".pytest.ini": "[pytest]\n"}, ".pytest.ini"),
        ({"pytest.toml": "[pytest]\n"}, "pytest.toml"),
        ({"pyproject.toml": "[tool.pytest]\nminversion = '9.0'\n"}, "[tool.pytest] in pyproject.toml"),
        ({".ruff.toml": "line-length = 100\n"}, ".ruff.toml"),
        ({"pyproject.toml": "[tool.ruff.lint]\nselect = ['E']\n"}, "[tool.ruff] in pyproject.toml"),
        # a setting higher up in the same repository applies here too
        ({"../pyproject.toml": "[tool.ruff]\nline-length = 100\n"}, f"[tool.ruff] in {'{top}'}/pyproject.toml"),
    ],
)
def test_no_tool_file_that_would_override_a_setting_of_the_repository(git_repo, files, kept):
    root = git_repo / "ml"
    root.mkdir()
    for rel, text in files.items():
        (root / rel).write_text(text)
    result = init(root)
    tool = "ruff" if "ruff" in kept else "pytest"
    ours = "ruff.toml" if tool == "ruff" else "pytest.ini"
    assert result.kept == [f"your {kept.format(top=git_repo)} (no {ours}: it would override it)"]
    assert not (root / ours).exists()
    other = "pytest.ini" if tool == "ruff" else "ruff.toml"
    assert other in result.written  # the other tool has no settings yet: its file overrides nothing


def test_sections_that_are_not_the_tools_settings_do_not_count(git_repo):
    (git_repo / "setup.cfg").write_text("[metadata]\nname = a\n[flake8]\nmax-line-length = 100\n")
    (git_repo / "tox.ini").write_text("[tox]\nenvlist = py311\n")
    (git_repo / "pyproject.toml").write_text('[project]\nname = "a"\nversion = "1"\n[tool.black]\nline-length = 88\n')
    result = init(git_repo)
    assert result.kept == [] and {"pytest.ini", "ruff.toml"} <= set(result.written)


def test_stage_outputs_join_the_gitignore_once_beside_the_users_lines(git_repo):
    (git_repo / "flowtide.yaml").write_text(
        "project: acme\n"
        "stages:\n"
        "  features:\n"
        "    cmd: python features.py\n"
        "    outs: [data/features.parquet, data/cache]\n"
        "  train:\n"
        "    cmd: python train.py\n"
        "    outs: [models/model.skops, reports/metrics.json]\n"
        "    metrics: [reports/metrics.json]\n"
        "store: {path: blobs}\n"
    )
    (git_repo / ".gitignore").write_text("# acme\n*.log\nmodels/\n/data/cache/\n")
    result = run_cli("init", cwd=git_repo)
    assert result.code == 0, result.err
    assert (
        "updated  .gitignore (added .flowtide/, /data/features.parquet, /blobs)" in result.out.splitlines()
    )  # models/model.skops: under the user's models/; metrics are committed
    assert (git_repo / ".gitignore").read_text() == (
        "# acme\n*.log\nmodels/\n/data/cache/\n"
        "# flowtide\n.flowtide/\n"
        "# stage outputs: their bytes live in the flowtide store, flowtide.lock records their hashes\n"
        "/data/features.parquet\n"
        "# flowtide's local store (store.path): blobs, never committed\n"
        "/blobs\n"
    )
    again = run_cli("init", cwd=git_repo)
    assert "updated" not in again.out
    assert (git_repo / ".gitignore").read_text().count("/data/features.parquet") == 1


def test_a_gnumakefile_is_the_makefile_make_reads(git_repo):
    (git_repo / "GNUmakefile").write_text("install:\n\techo own install\n")
    result = run_cli("init", cwd=git_repo)
    assert result.code == 0, result.err
    assert "updated  GNUmakefile (added lint, test: the generated workflows call them)" in result.out.splitlines()
    assert "kept     your GNUmakefile targets install (the workflows run them as they are)" in result.out.splitlines()
    assert not (git_repo / "Makefile").exists()  # make would never read it
    dry = subprocess.run(
        ["make", "-n", "install", "lint", "test"], cwd=git_repo, capture_output=True, text=True, env=make_env()
    )
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("echo own install\n")
