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
