"""Champion and challenger on the same data: a relative gate re-scores production on the candidate's rows.

A real project: a `train` stage and an `evaluate` stage (scikit-learn on the
Seattle weather CSV) run by `flowtide run`; version 1 is promoted to production
after scoring high on "easy" test rows (days it was trained on); then the test
data becomes a later year, on which every model scores lower.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .conftest import fast_python_env, git, run_cli

CONFIG = """\
project: weather
stages:
  train:
    cmd: python src/train.py
    deps: [src/train.py, data/train.csv]
    params: [train]
    outs: [models/model.skops]
  evaluate:
    cmd: python src/evaluate.py
    deps: [src/evaluate.py, src/common.py, models/model.skops, data/test.csv]
    metrics: [metrics.json]
model:
  name: weather
  path: models/model.skops
  format: skops
  target: weather
  features: [precipitation, temp_max, temp_min, wind]
gates:
  - "accuracy >= 0.2"
  - "f1_macro >= production - 0.02"
"""

COMMON = """\
import csv

FEATURES = ["precipitation", "temp_max", "temp_min", "wind"]


def load(path):
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [[float(r[f]) for f in FEATURES] for r in rows], [r["weather"] for r in rows]


def params():
    out = {}
    for line in open("params.yaml"):
        if line.startswith("  ") and ":" in line:
            key, value = line.strip().split(":", 1)
            out[key.strip()] = value.strip()
    return out
"""

TRAIN = """\
import sys

sys.path.insert(0, "src")
from common import load, params
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import RandomForestClassifier

from flowtide.formats import save_sklearn

p = params()
X, y = load("data/train.csv")
if p["model"] == "forest":
    model = RandomForestClassifier(n_estimators=int(p["trees"]), max_depth=8, random_state=int(p["seed"]))
else:
    model = DummyClassifier(strategy="most_frequent")
save_sklearn(model.fit(X, y), "models/model.skops")
"""

EVALUATE = """\
import json
import sys

sys.path.insert(0, "src")
import skops.io
from common import load
from sklearn.metrics import accuracy_score, f1_score

X, y = load("data/test.csv")
path = "models/model.skops"
model = skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))
predicted = model.predict(X)
metrics = {
    "accuracy": round(float(accuracy_score(y, predicted)), 6),
    "f1_macro": round(float(f1_score(y, predicted, average="macro")), 6),
    "n_test": len(y),
}
with open("metrics.json", "w") as handle:
    json.dump(metrics, handle)
"""

PARAMS = "train:\n  model: {model}\n  trees: {trees}\n  seed: {seed}\n"
RELATIVE = "f1_macro >= production - 0.02"


def _years(csv: Path, *years: str, limit: int | None = None) -> str:
    lines = csv.read_text().splitlines()
    rows = [line for line in lines[1:] if line[:4] in years][:limit]
    return "\n".join([lines[0], *rows]) + "\n"


def _score(artifact: Path, test_csv: Path) -> float:
    """Production's macro F1 on the test rows, computed here, independently of flowtide."""
    import csv

    import skops.io
    from sklearn.metrics import f1_score

    with open(test_csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    X = [[float(r[f]) for f in ("precipitation", "temp_max", "temp_min", "wind")] for r in rows]
    model = skops.io.load(artifact, trusted=skops.io.get_untrusted_types(file=str(artifact)))
    return round(float(f1_score([r["weather"] for r in rows], model.predict(X), average="macro")), 6)


def _ok(*args, cwd) -> str:
    result = run_cli(*args, cwd=cwd)
    assert result.code == 0, (args, result.out, result.err)
    return result.out


@pytest.fixture(scope="module")
def template(tmp_path_factory, weather_csv):
    """v1 in production, scored on days it was trained on; then the test data moves to 2015 (not yet run)."""
    import os

    root = tmp_path_factory.mktemp("rescore") / "weather"
    (root / "src").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "src" / "common.py").write_text(COMMON)
    (root / "src" / "train.py").write_text(TRAIN)
    (root / "src" / "evaluate.py").write_text(EVALUATE)
    (root / "flowtide.yaml").write_text(CONFIG)
    (root / "params.yaml").write_text(PARAMS.format(model="forest", trees=20, seed=0))
    (root / ".gitignore").write_text(".flowtide/\nmodels/\nmetrics.json\n")
    (root / "data" / "train.csv").write_text(_years(weather_csv, "2012"))
    (root / "data" / "test.csv").write_text(_years(weather_csv, "2012", limit=200))  # easy: seen in training
    git("init", "-q", "-b", "main", cwd=root)
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", "project", cwd=root)
    saved = dict(os.environ)
    os.environ.update(fast_python_env(tmp_path_factory))  # stage processes reuse compiled bytecode
    try:
        _ok("run", cwd=root)
        _ok("gate", "--json", cwd=root)
        _ok("register", cwd=root)
        _ok("promote", "weather", "1", "--to", "staging", cwd=root)
        _ok("promote", "weather", "1", "--to", "production", cwd=root)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    (root / "data" / "test.csv").write_text(_years(weather_csv, "2015"))  # harder: a year no model saw
    git("commit", "-qam", "test on 2015", cwd=root)
    return root


@pytest.fixture
def project(template, tmp_path, tmp_path_factory, monkeypatch):
    root = tmp_path / "weather"
    shutil.copytree(template, root, symlinks=True)
    for key, value in fast_python_env(tmp_path_factory).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    return root


def _production(root: Path):
    from flowtide.project import Project
    from flowtide.registry import Registry

    project = Project.load(root)
    return project, Registry.load(project).in_stage("weather", "production")


def _candidate(root: Path, **params) -> dict:
    values = {"model": "forest", "trees": 20, "seed": 0, **params}
    (root / "params.yaml").write_text(PARAMS.format(**values))
    _ok("run", cwd=root)
    return json.loads((root / "metrics.json").read_text())


def _gate(root: Path, *args: str) -> tuple[int, dict]:
    result = run_cli("gate", "--json", "--no-tests", *args, cwd=root)
    assert result.code in (0, 1), result.err
    return result.code, json.loads(result.out)


def _finding(report: dict, rule: str) -> dict:
    return next(f for f in report["findings"] if f["rule"] == rule)


def test_relative_rule_compares_with_production_rescored_on_the_same_rows(project):
    flowtide, production = _production(project)
    candidate = _candidate(project, trees=40, seed=1)
    rescored = _score(flowtide.store.path_of(production.hash), project / "data" / "test.csv")
    # what the issue is about: against the score recorded on easy data, this candidate would fail
    assert candidate["f1_macro"] < production.metrics["f1_macro"] - 0.02
    assert candidate["f1_macro"] >= rescored - 0.02

    code, report = _gate(project)
    assert code == 0, report["findings"]
    relative = _finding(report, RELATIVE)
    assert relative["status"] == "pass"
    assert relative["details"]["comparison"] == "re-scored"
    assert relative["details"]["production"] == rescored
    assert relative["details"]["production_recorded"] == production.metrics["f1_macro"]
    assert relative["message"] == (
        f"f1_macro = {candidate['f1_macro']:.4g} satisfies >= {rescored - 0.02:.4g} "
        f"(production v1 re-scored on the same 365 rows: {rescored:.4g}; "
        f"recorded at registration: {production.metrics['f1_macro']:.4g})"
    )
    same = _finding(report, "same data")
    assert same["status"] == "info" and same["value"] == 365
    assert same["message"] == (
        "production v1 re-scored on the same 365 rows (with stage 'evaluate'): "
        "both sides of the relative rules scored on the same data"
    )
    assert report["summary"]["compared with"] == "production v1 re-scored on the same 365 rows"
    (table,) = report["tables"]
    assert table["title"] == "Metrics vs production (production v1 re-scored on the same 365 rows)"
    assert ["f1_macro", candidate["f1_macro"], rescored] == next(r for r in table["rows"] if r[0] == "f1_macro")[:3]
    markdown = (project / ".flowtide" / "reports" / "gate.md").read_text()
    assert "**compared with**: production v1 re-scored on the same 365 rows" in markdown
    # the project itself was not touched: its model and metrics are still the candidate's
    assert json.loads((project / "metrics.json").read_text()) == candidate

    # --no-rescore compares with the recorded metric, as before, and says so
    code, recorded = _gate(project, "--no-rescore")
    assert code == 1
    assert _finding(recorded, RELATIVE)["details"]["comparison"] == "recorded"
    assert _finding(recorded, "same data")["status"] == "info"


def test_a_worse_candidate_fails_against_production_rescored(project):
    flowtide, production = _production(project)
    candidate = _candidate(project, model="dummy")
    rescored = _score(flowtide.store.path_of(production.hash), project / "data" / "test.csv")
    assert candidate["f1_macro"] < rescored - 0.02

    result = run_cli("gate", "--no-tests", "--md", cwd=project)
    assert result.code == 1
    assert result.out.startswith("## ❌ Gate for model weather: failed\n")
    assert (
        f"| ❌ | weather | {RELATIVE} |  | {candidate['f1_macro']:.4g} | {rescored - 0.02:.4g} | "
        f"f1_macro = {candidate['f1_macro']:.4g} violates >= {rescored - 0.02:.4g} "
        f"(production v1 re-scored on the same 365 rows: {rescored:.4g}; "
    ) in result.out


def test_missing_production_blob_falls_back_to_the_recorded_metrics_with_a_warning(project):
    flowtide, production = _production(project)
    candidate = _candidate(project, trees=40, seed=1)
    flowtide.store.remove(production.hash)

    code, report = _gate(project)
    assert code == 1  # compared with the score on easy data, as before this feature
    same = _finding(report, "same data")
    assert same["status"] == "warn"
    assert same["message"] == (
        f"production v1 not re-scored on the candidate's evaluation data: production v1's artifact "
        f"{production.hash[:12]} is not in the store {flowtide.store.root}; relative rules compare with its "
        "metrics recorded at registration, on other data"
    )
    relative = _finding(report, RELATIVE)
    assert relative["status"] == "fail"
    assert relative["details"]["comparison"] == "recorded"
    bound = production.metrics["f1_macro"] - 0.02
    assert relative["message"] == (
        f"f1_macro = {candidate['f1_macro']:.4g} violates >= {bound:.4g} "
        f"(production v1 as recorded at registration (other data): {production.metrics['f1_macro']:.4g})"
    )
    assert report["summary"]["compared with"] == "production v1 as recorded at registration (other data)"
    assert not (project / ".flowtide" / "rescore").exists()


def test_a_blob_only_in_the_remote_store_is_fetched_and_rescored(project, tmp_path):
    # a fresh CI runner: production's artifact is in the remote store, not in the local one
    config = project / "flowtide.yaml"
    config.write_text(config.read_text() + f"store:\n  remote: {tmp_path / 'remote'}\n")
    _ok("push", cwd=project)
    flowtide, production = _production(project)
    flowtide.store.remove(production.hash)
    _candidate(project, trees=40, seed=1)
    code, report = _gate(project)
    assert code == 0
    assert _finding(report, RELATIVE)["details"]["comparison"] == "re-scored"
    assert flowtide.store.has(production.hash)


def test_a_blob_only_in_the_git_history_is_found_and_rescored(project):
    # model.storage: git — CI committed production's artifact; no store on this clone holds it
    (project / ".gitignore").write_text(".flowtide/\nmetrics.json\n")
    git("add", ".gitignore", "models/model.skops", cwd=project)
    git("commit", "-q", "-m", "weather v1", cwd=project)
    flowtide, production = _production(project)
    flowtide.store.remove(production.hash)
    _candidate(project, trees=40, seed=1)
    git("commit", "-qam", "weather candidate", cwd=project)  # the newest commit holds other bytes
    code, report = _gate(project)
    assert code == 0
    assert _finding(report, RELATIVE)["details"]["comparison"] == "re-scored"
    assert flowtide.store.has(production.hash) and flowtide.store.intact(production.hash)


SCORING = """\
import json

import skops.io
from sklearn.metrics import f1_score


def main():
    import csv

    with open("data/test.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    X = [[float(r[f]) for f in ("precipitation", "temp_max", "temp_min", "wind")] for r in rows]
    path = "models/model.skops"
    model = skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))
    f1 = f1_score([r["weather"] for r in rows], model.predict(X), average="macro")
    with open("metrics.json", "w") as handle:
        json.dump({"accuracy": 1.0, "f1_macro": round(float(f1), 6), "rows": len(rows)}, handle)
"""


def test_a_call_stage_is_rescored_in_the_scratch_copy(project):
    (project / "scoring.py").write_text(SCORING)
    config = project / "flowtide.yaml"
    config.write_text(
        config.read_text().replace(
            "    cmd: python src/evaluate.py\n    deps: [src/evaluate.py, src/common.py,",
            "    call: scoring:main\n    deps: [scoring.py,",
        )
    )
    flowtide, production = _production(project)
    _candidate(project, trees=40, seed=1)
    code, report = _gate(project)
    assert code == 0
    relative = _finding(report, RELATIVE)
    assert relative["details"]["production"] == _score(
        flowtide.store.path_of(production.hash), project / "data" / "test.csv"
    )
    assert "(production v1 re-scored on the same 365 rows:" in relative["message"]


def test_a_stale_evaluation_stage_falls_back(project):
    _candidate(project, trees=40, seed=1)
    (project / "data" / "test.csv").write_text("date,precipitation,temp_max,temp_min,wind,weather\n")
    _, report = _gate(project)
    assert _finding(report, "same data")["details"]["reason"] == (
        "stage 'evaluate' is not up to date (dep data/test.csv changed), so the current metrics may not come "
        "from the current data: run `flowtide run` first"
    )
    assert _finding(report, RELATIVE)["details"]["comparison"] == "recorded"


def test_a_stage_that_fails_on_the_scratch_copy_falls_back(project):
    # the stage reads an ignored file it does not declare: present in the work tree, absent from the copy
    (project / ".gitignore").write_text(".flowtide/\nmodels/\nmetrics.json\nnotes/\n")
    (project / "notes").mkdir()
    (project / "notes" / "undeclared.txt").write_text("read but not declared\n")
    evaluate = project / "src" / "evaluate.py"
    evaluate.write_text('open("notes/undeclared.txt").read()\n' + evaluate.read_text())
    _candidate(project, trees=40, seed=1)
    code, report = _gate(project)
    assert code == 1
    reason = _finding(report, "same data")["details"]["reason"]
    log = project / ".flowtide" / "logs" / "evaluate.rescore.log"
    assert reason == (
        "stage 'evaluate' failed with exit code 1 on production v1's artifact "
        f"(FileNotFoundError: [Errno 2] No such file or directory: 'notes/undeclared.txt'; log: {log})"
    )
    assert "notes/undeclared.txt" in log.read_text()


def test_second_gate_uses_the_cached_rescore(project):
    from flowtide.registry.rescore import cache_path

    flowtide, production = _production(project)
    _candidate(project, trees=40, seed=1)
    _, first = _gate(project)
    details = _finding(first, "same data")["details"]
    assert details["cached"] is False
    entry = json.loads(cache_path(flowtide, details["key"]).read_text())
    assert entry["hash"] == production.hash and entry["stage"] == "evaluate"
    assert entry["metrics"]["f1_macro"] == _finding(first, RELATIVE)["details"]["production"]
    assert entry["metrics"]["n_test"] == 365

    # the second gate runs nothing: even without the production blob it has production's score
    flowtide.store.remove(production.hash)
    code, second = _gate(project)
    assert code == 0
    same = _finding(second, "same data")
    assert same["details"]["cached"] is True and same["details"]["key"] == details["key"]
    assert same["message"].startswith("production v1 re-scored on the same 365 rows (with stage 'evaluate', from")
    assert second["summary"]["compared with"] == "production v1 re-scored on the same 365 rows (cached)"
    assert _finding(second, RELATIVE)["message"] == _finding(first, RELATIVE)["message"]

    # other evaluation data is another key: no stale score is reused
    (project / "data" / "test.csv").write_text(_years_of(project, "2015", limit=200))
    _ok("run", cwd=project)
    _, third = _gate(project)
    assert _finding(third, "same data")["status"] == "warn"  # a new re-score needs the (removed) blob


def _years_of(root: Path, year: str, limit: int) -> str:
    lines = (root / "data" / "test.csv").read_text().splitlines()
    return "\n".join([lines[0], *[line for line in lines[1:] if line[:4] == year][:limit]]) + "\n"


def test_a_stage_that_trains_and_scores_together_cannot_be_rescored(git_repo, weather_csv):
    from ._models import make_project, train

    make_project(git_repo, weather_csv)
    train(git_repo, weather_csv)
    _ok("register", cwd=git_repo)
    _ok("promote", "weather", "1", "--to", "production", "--force", "--reason", "test", cwd=git_repo)
    _, report = _gate(git_repo)
    assert _finding(report, "same data")["details"]["reason"] == (
        "stage 'train' writes the model and its metrics together: production cannot be re-scored without "
        "retraining it (split evaluation into a stage that reads `model.path`)"
    )
