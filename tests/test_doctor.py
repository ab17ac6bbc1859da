"""`flowtide doctor`: maturity levels 0 / 1 / 2 and the named missing pieces, on real temp repositories."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .conftest import run_cli

GOLDEN = Path(__file__).parent / "golden" / "workflows"


def _doctor(root: Path, *args: str) -> tuple[int, dict]:
    result = run_cli("-C", root, "doctor", "--json", *args)
    return result.code, json.loads(result.out)


def _missing(report: dict) -> dict[str, str]:
    return {f["rule"]: f["message"] for f in report["findings"] if f["status"] != "pass"}


def _weather(tmp_path: Path) -> Path:
    root = tmp_path / "weather"
    root.mkdir()
    shutil.copy(GOLDEN / "weather" / "flowtide.yaml", root / "flowtide.yaml")
    return root


def test_a_plain_repository_is_level_0(tmp_path):
    code, report = _doctor(tmp_path)
    assert code == 0  # advice, not a failure
    assert report["kind"] == "doctor"
    assert report["summary"]["level"] == 0
    assert (
        _missing(report)["project"]
        == "no flowtide.yaml: run `flowtide init` (or `flowtide init --example weather` to see one)"
    )
    assert run_cli("-C", tmp_path, "doctor", "--strict").code == 1


def test_a_pipeline_without_ci_is_level_1(tmp_path):
    root = _weather(tmp_path)
    _, report = _doctor(root)
    assert report["summary"]["level"] == 1
    missing = _missing(report)
    assert (
        missing["workflows"]
        == "missing ci.yml, data.yml, train.yml, deploy.yml, monitor.yml: run `flowtide ci generate`"
    )
    assert missing["tests"].startswith("no tests: add tests/test_*.py")
    assert missing["approval on production"].startswith("no workflow promotes to production")
    text = run_cli("-C", root, "doctor").out
    assert text.startswith("MLOps maturity: level 1 (automated training pipeline)\n")


def test_generated_ci_with_tests_is_level_2(tmp_path):
    root = _weather(tmp_path)
    (root / "tests").mkdir()
    (root / "tests" / "test_model.py").write_text("def test_ok():\n    assert True\n")
    assert run_cli("-C", root, "ci", "generate").code == 0
    code, report = _doctor(root, "--strict")
    assert _missing(report) == {}
    assert (code, report["summary"]["level"]) == (0, 2)


def test_unpinned_actions_unprotected_production_and_stale_workflows(tmp_path):
    root = _weather(tmp_path)
    (root / "tests").mkdir()
    (root / "tests" / "test_model.py").write_text("def test_ok():\n    assert True\n")
    run_cli("-C", root, "ci", "generate")
    deploy = root / ".github/workflows/deploy.yml"
    deploy.write_text(deploy.read_text().replace("    environment: production\n", ""))
    (root / ".github/workflows/extra.yml").write_text(
        "on: pull_request_target\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v5\n        with:\n          ref: ${{ github.event.pull_request.head.sha }}\n"
    )
    _, report = _doctor(root)
    missing = _missing(report)
    assert report["summary"]["level"] == 1
    assert missing["pinned actions"].startswith("unpinned actions (extra.yml: actions/checkout@v5)")
    assert missing["approval on production"].startswith(
        "production job without `environment:` (deploy.yml: production)"
    )
    assert missing["no fork code with secrets"].startswith(
        "pull_request_target checks out the PR's code (extra.yml: x)"
    )
    assert missing["workflows up to date"] == (
        ".github/workflows/deploy.yml out of date with flowtide.yaml: run `flowtide ci generate`"
    )


def test_store_sources_need_a_remote(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    (root / "flowtide.yaml").write_text(
        "project: p\nsources:\n  s:\n    url: http://127.0.0.1:1/x.csv\n    path: data/x.csv\n    storage: store\n"
    )
    _, report = _doctor(root)
    assert _missing(report)["remote store"].startswith("sources s use `storage: store` but there is no `store:")
    assert report["summary"]["level"] == 0  # no stages, checks, model or gates yet


def _level_2_with(root: Path, extra: str) -> None:
    config = root / "flowtide.yaml"
    text = config.read_text()
    if "store:" in extra:  # the remote keeps the models: git storage is not needed
        text = text.replace(", storage: git}", "}")
    config.write_text(text + extra)
    (root / "tests").mkdir(exist_ok=True)
    (root / "tests" / "test_model.py").write_text("def test_ok():\n    assert True\n")
    assert run_cli("-C", root, "ci", "generate").code == 0


def test_ci_that_could_not_install_a_pinned_flowtide_is_not_level_2(tmp_path):
    from flowtide import __version__

    root = _weather(tmp_path)
    _level_2_with(root, "store: {remote: s3://bucket/weather}\n")
    assert _doctor(root)[1]["summary"]["level"] == 2
    # what `flowtide init` wrote before: nothing pinned, so a fresh runner finds no (or anybody's) flowtide
    (root / "requirements.txt").write_text("flowtide\nruff>=0.6  # lint\npytest\n")
    _, report = _doctor(root)
    assert report["summary"]["level"] == 1
    assert _missing(report)["pinned install"] == (
        "requirements.txt:1: 'flowtide' is not pinned: any version published under the name (by whoever controls "
        "it tomorrow) would run in every CI job with its secrets; pin one version: "
        f"'flowtide=={__version__}'; requirements.txt:2: 'ruff>=0.6' is not pinned; pin the exact version, e.g. "
        "ruff==0.17.6; requirements.txt:3: 'pytest' is not pinned; pin the exact version, e.g. pytest==9.2.0 — a "
        "fresh runner could not install a pinned flowtide (see `ci.install` in `flowtide schema`)"
    )
    (root / "requirements.txt").write_text(f"flowtide=={__version__}\nruff==0.17.6\npytest==9.2.0\n")
    _, report = _doctor(root)
    assert report["summary"]["level"] == 2
    good = next(f for f in report["findings"] if f["rule"] == "pinned install")["message"]
    assert good == (
        f"CI installs flowtide[s3,sklearn]=={__version__} (the package index, the default); the tools in requirements "
        "files are pinned"
    )


def test_a_wheel_ci_installs_from_must_be_committed(tmp_path):
    from .conftest import git

    root = _weather(tmp_path)
    git("init", "-q", cwd=root)
    wheel = "wheels/flowtide-0.1.0-py3-none-any.whl"
    _level_2_with(root, f"store: {{remote: s3://bucket/weather}}\nci: {{install: '{wheel}[s3,sklearn]'}}\n")
    assert (
        "python -m uv pip install --python python './wheels/flowtide-0.1.0-py3-none-any.whl[s3,sklearn]'"
        in (root / ".github/workflows/train.yml").read_text()
    )
    _, report = _doctor(root)
    assert report["summary"]["level"] == 1
    assert _missing(report)["pinned install"].startswith(
        f"ci.install names the wheel {wheel}, which does not exist: CI cannot install flowtide — "
    )
    (root / "wheels").mkdir()
    (root / wheel).write_bytes(b"PK")
    assert _missing(_doctor(root)[1])["pinned install"].startswith(
        f"ci.install names the wheel {wheel}, which git does not track: a CI checkout lacks it"
    )
    git("add", wheel, cwd=root)
    assert _doctor(root)[1]["summary"]["level"] == 2


def test_doctor_on_a_project_whose_ci_would_lose_models(tmp_path):
    """A model, no remote store, no git storage: CI registers versions that die with the runner."""
    root = _weather(tmp_path)
    config = root / "flowtide.yaml"
    kept = config.read_text()
    config.write_text(kept.replace(", storage: git}", "}"))
    (root / "tests").mkdir()
    (root / "tests" / "test_model.py").write_text("def test_ok():\n    assert True\n")
    generated = run_cli("-C", root, "ci", "generate")
    assert generated.code == 2 and "model 'weather' would be lost in CI" in generated.err
    _, report = _doctor(root)
    assert report["summary"]["level"] == 1
    lose = (
        "CI would lose model 'weather': no `store.remote`, so the versions train.yml registers stay in the "
        "runner's store and die with it — add `store: {remote: s3://BUCKET/PREFIX}`, or `storage: git` under "
        "`model:` for small artifacts, then `flowtide ci generate`"
    )
    assert _missing(report)["models outlive the runner"] == lose
    # workflows written while models were kept in git, then the setting dropped: still not level 2
    config.write_text(kept)
    assert run_cli("-C", root, "ci", "generate").code == 0
    assert _doctor(root)[1]["summary"]["level"] == 2
    config.write_text(kept.replace(", storage: git}", "}"))
    _, report = _doctor(root)
    missing = _missing(report)
    assert report["summary"]["level"] == 1 and missing["models outlive the runner"] == lose
    assert missing["workflows up to date"].startswith(
        "flowtide.yaml cannot generate them: flowtide.yaml:26:1: model 'weather' would be lost in CI"
    )


def test_a_remote_directory_on_a_hosted_runner_is_lost_with_it(tmp_path):
    root = _weather(tmp_path)
    _level_2_with(root, "store: {remote: /srv/flowtide-store}\n")
    missing = _missing(_doctor(root)[1])
    assert missing["models outlive the runner"].startswith(
        "store.remote '/srv/flowtide-store' is a directory on the runner, and `ci.runs_on: ubuntu-latest` runners "
        "are thrown away after each job"
    )
    config = root / "flowtide.yaml"
    config.write_text(config.read_text() + "ci: {runs_on: self-hosted}\n")  # runners that share the directory
    assert run_cli("-C", root, "ci", "generate").code == 0
    assert _doctor(root)[1]["summary"]["level"] == 2


def test_an_install_without_the_extras_the_project_needs_is_named(tmp_path):
    from flowtide import __version__

    root = _weather(tmp_path)
    _level_2_with(root, f"store: {{remote: s3://bucket/weather}}\nci: {{install: 'flowtide=={__version__}'}}\n")
    assert _missing(_doctor(root)[1])["pinned install"].startswith(
        f"ci.install 'flowtide=={__version__}' lacks the extra(s) s3, sklearn this project needs (remote store, "
        "sources, executor or model format): add [s3,sklearn]"
    )


def test_a_dvc_project_with_cml_steps_is_pointed_at_import_and_ci_generate(tmp_path):
    (tmp_path / ".dvc").mkdir()
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "cml.yaml").write_text(
        "on: [pull_request]\njobs:\n  report:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: iterative/setup-cml@v2\n      - run: |\n          echo ok\n          cml comment create report.md\n"
    )
    (workflows / "plain.yml").write_text("on: [push]\njobs:\n  t:\n    steps:\n      - run: echo cmlx comment\n")
    code, report = _doctor(tmp_path)
    assert code == 0
    missing = _missing(report)
    assert missing["project"] == "no flowtide.yaml: run `flowtide import dvc` (this is a DVC project)"
    assert missing["CML"].startswith(
        "CML steps (.github/workflows/cml.yaml:6, .github/workflows/cml.yaml:9): `flowtide ci generate` writes"
    )
