"""flowtide monitor: drift and performance from a real server's prediction log, canary verdicts and --act."""

from __future__ import annotations

import json
import random

import pytest

from flowtide.monitor.analysis import canary_test, parse_window
from flowtide.registry import Registry

from ._models import events
from ._serving import artifacts, replay, served_project, weather_rows
from .conftest import run_cli


@pytest.fixture(scope="module")
def models(weather_csv, tmp_path_factory):
    return artifacts(weather_csv, tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def sample(weather_csv):
    rows = weather_rows(weather_csv)
    return random.Random(7).sample(rows, 300)


@pytest.fixture
def production_only(tmp_path, weather_csv, models):
    return served_project(tmp_path / "p", weather_csv, models, deploy="deploy: {}\n")


def test_an_unshifted_replay_passes(production_only, sample):
    replay(production_only, sample)
    result = run_cli("monitor", "-C", production_only.root, "--json")
    assert result.code == 0, result.out
    report = json.loads(result.out)
    assert report["drifted"] == {}
    assert report["summary"]["predictions"] == 300
    assert report["summary"]["labelled"] == 300
    live = [f for f in report["findings"] if f["rule"] == "live accuracy"]
    assert [f["status"] for f in live] == ["pass"]
    assert live[0]["value"] > 0.6


def test_a_shifted_replay_fails_and_names_the_drifting_columns(production_only, sample):
    replay(production_only, sample, shift={"temp_max": 12.0, "temp_min": 9.0})
    result = run_cli("monitor", "-C", production_only.root)
    assert result.code == 1
    assert "Monitor: drift in temp_max, temp_min: failed" in result.out
    as_json = json.loads(run_cli("monitor", "-C", production_only.root, "--json").out)
    assert as_json["drifted"] == {"weather v1 (production)": ["temp_max", "temp_min"]}
    failing = {(f["rule"], f["column"]) for f in as_json["findings"] if f["status"] == "fail"}
    assert ("input drift", "temp_max") in failing
    assert ("input drift", "precipitation") not in failing
    markdown = run_cli("monitor", "-C", production_only.root, "--md").out
    assert "```mermaid" in markdown
    assert "xychart-beta" in markdown
    for title in ("Predictions over time", "Live accuracy over time", "Input drift (psi) over time"):
        assert f'title "{title}"' in markdown
    html = production_only.root / "monitor.html"
    run_cli("monitor", "-C", production_only.root, "--html", html)
    assert "<svg" in html.read_text()
    assert (production_only.root / ".flowtide" / "reports" / "monitor.json").exists()


def test_a_worse_canary_is_rolled_back_by_act(tmp_path, weather_csv, models, sample):
    project = served_project(
        tmp_path / "c", weather_csv, models, deploy="deploy:\n  canary: {weight: 0.5, min_requests: 80}\n"
    )
    answers = replay(project, sample)
    assert {a["role"] for a in answers} == {"production", "canary"}
    result = run_cli("monitor", "-C", project.root, "--json", "--act")
    report = json.loads(result.out)
    verdicts = [f for f in report["findings"] if f["rule"] == "canary verdict"]
    assert len(verdicts) == 1
    assert verdicts[0]["message"].startswith("rollback: canary accuracy ")
    assert report["actions"] == ["rolled back the canary weather v2 (archived)"]
    registry = Registry.load(project)
    assert registry.get("weather", 2).stage == "archived"
    assert registry.in_stage("weather", "production").version == 1


def test_a_better_canary_waits_for_an_approval_and_is_promoted_by_the_approver(tmp_path, weather_csv, models, sample):
    project = served_project(
        tmp_path / "b",
        weather_csv,
        models,
        production="bad",
        canary="good",
        deploy="deploy:\n  canary: {weight: 0.5, min_requests: 80}\n",
    )
    replay(project, sample)
    # monitor --act alone (what CI runs) never promotes: production goes through an approval
    report = json.loads(run_cli("monitor", "-C", project.root, "--json", "--act").out)
    (verdict,) = report["verdicts"]
    assert (verdict["model"], verdict["production"], verdict["canary"], verdict["verdict"]) == (
        "weather",
        1,
        2,
        "promote",
    )
    assert report["actions"] == [
        "weather v2: the canary verdict is promote; production needs an approval: deploy.yml's production job, "
        "or `flowtide promote weather 2 --to production`"
    ]
    assert Registry.load(project).in_stage("weather", "production").version == 1
    # the person running the command approves
    report = json.loads(run_cli("monitor", "-C", project.root, "--json", "--act", "--approve").out)
    approver = "the person running `flowtide monitor --act --approve`"
    assert report["actions"] == [f"promoted weather v2 to production (approved by {approver})"]
    moved = Registry.load(project).in_stage("weather", "production")
    assert moved.version == 2
    event = [e for e in events(project.root) if e.get("to") == "production"][-1]
    assert event["reason"].startswith("monitor: canary verdict promote: canary accuracy ")
    assert event["reason"].endswith(f"; approved by {approver}")
    usage = run_cli("monitor", "-C", project.root, "--approve")
    assert (usage.code, usage.err) == (2, "error: --approve needs --act (it approves what the canary verdict says)\n")


def test_the_canary_waits_for_min_requests(tmp_path, weather_csv, models, sample):
    project = served_project(
        tmp_path / "w", weather_csv, models, deploy="deploy:\n  canary: {weight: 0.5, min_requests: 1000}\n"
    )
    replay(project, sample[:120])
    report = json.loads(run_cli("monitor", "-C", project.root, "--json", "--act").out)
    verdict = next(f for f in report["findings"] if f["rule"] == "canary verdict")
    assert verdict["message"].startswith("wait: the canary answered ")
    assert verdict["message"].endswith(" of deploy.canary.min_requests 1000 requests")
    assert report["actions"] == []
    assert Registry.load(project).get("weather", 2).stage == "staging"


def test_no_predictions_in_the_window(production_only):
    result = run_cli("monitor", "-C", production_only.root, "--json", "--window", "1h")
    assert result.code == 0
    assert json.loads(result.out)["summary"]["predictions"] == 0
    bad = run_cli("monitor", "-C", production_only.root, "--window", "soon")
    assert bad.code == 2
    assert bad.err == "error: window 'soon' must look like 30m, 6h, 1d or 2w\n"


def test_statistics():
    assert parse_window("90s") == 90 and parse_window("2w") == 14 * 86400
    assert canary_test(40, 100, 80, 100) < 0.001  # clearly worse
    assert canary_test(80, 100, 80, 100) == pytest.approx(0.5)
    assert canary_test(90, 100, 80, 100) > 0.9


def test_replicas_ship_closed_segments_and_monitor_reads_every_replica(tmp_path, weather_csv, models, sample):
    """Two stateless replicas with a remote store: their logs meet in <remote>/predictions/."""
    import shutil

    from flowtide.project import Project

    remote = tmp_path / "remote"
    project = served_project(tmp_path / "r", weather_csv, models, deploy="deploy: {}\n")
    config = project.root / "flowtide.yaml"
    config.write_text(config.read_text() + f"store:\n  remote: {remote}\n")
    project = Project.load(project.root)
    replay(project, sample[:150], key_prefix="a")
    replay(project, sample[150:], key_prefix="b")
    shipped = sorted(p.relative_to(remote).parts[0] for p in remote.glob("predictions/*/*.db"))
    assert shipped == ["predictions", "predictions"]
    replicas = {p.parent.name for p in remote.glob("predictions/*/*.db")}
    assert len(replicas) == 2
    shutil.rmtree(project.root / ".flowtide" / "predictions")  # this machine never served
    report = json.loads(run_cli("monitor", "-C", project.root, "--json").out)
    assert report["summary"]["predictions"] == 300
    assert report["summary"]["labelled"] == 300


def test_the_remote_listing_is_input_and_a_broken_copy_is_fetched_again(tmp_path, weather_csv, models, sample):
    """Only <replica>/<segment>.db is read from the remote; a truncated local copy (a killed download) is replaced."""
    import shutil

    from flowtide.project import Project

    remote = tmp_path / "remote"
    project = served_project(tmp_path / "s", weather_csv, models, deploy="deploy: {}\n")
    config = project.root / "flowtide.yaml"
    config.write_text(config.read_text() + f"store:\n  remote: {remote}\n  auto_push: false\n")
    project = Project.load(project.root)
    replay(project, sample[:50])
    shutil.rmtree(project.root / ".flowtide" / "predictions")
    (segment,) = remote.glob("predictions/*/*.db")
    shutil.copy(segment, remote / "predictions" / "stray.db")  # not a replica's segment: ignored
    report = json.loads(run_cli("monitor", "-C", project.root, "--json").out)
    assert report["summary"]["predictions"] == 50  # not 100: the stray copy is not read
    local = project.root / ".flowtide" / "predictions-remote" / segment.parent.name / segment.name
    local.write_bytes(segment.read_bytes()[: segment.stat().st_size // 2])  # as a killed download leaves it
    report = json.loads(run_cli("monitor", "-C", project.root, "--json").out)
    assert report["summary"]["predictions"] == 50
    assert local.read_bytes() == segment.read_bytes()
    assert not (project.root / ".flowtide" / "predictions-remote" / "stray.db").exists()


def test_trigger_retrains_once_per_cooldown(production_only, sample):
    replay(production_only, sample[:100], shift={"temp_max": 12.0, "temp_min": 9.0})
    (production_only.root / "train.py").write_text("raise SystemExit('no training data today')\n")
    first = json.loads(run_cli("monitor", "-C", production_only.root, "--json", "--trigger").out)
    trigger = [f for f in first["findings"] if f["rule"] == "trigger"]
    assert len(trigger) == 1
    assert trigger[0]["status"] == "fail"
    assert trigger[0]["message"].startswith("retraining failed: stage 'train' failed with exit code 1")
    assert first["retrained"]["error"].startswith("stage 'train' failed")
    second = json.loads(run_cli("monitor", "-C", production_only.root, "--json", "--trigger").out)
    trigger = [f for f in second["findings"] if f["rule"] == "trigger"]
    assert trigger[0]["status"] == "info"
    assert trigger[0]["message"].startswith("retraining not started: monitor.cooldown has ")
    assert second["retrained"] is None
