"""flowtide monitor: drift and performance from a real server's prediction log, canary verdicts and --act."""

from __future__ import annotations

import json
import random

import pytest

from flowtide.monitor.stats import accuracy_bounds, compare_accuracy, compare_errors
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
    assert verdicts[0]["lead"] is True
    assert report["actions"] == ["rolled back the canary weather v2 (archived)"]
    # every rendering leads with the canary's verdict and its statistics
    html = (project.root / ".flowtide" / "reports" / "monitor.html").read_text()
    lead = html.split("<section class='lead warn'>", 1)[1].split("</section>")[0]
    assert "<div class='lead-word'>rollback</div>" in lead and "<th>confidence bounds</th>" in lead
    assert html.index("class='lead") < html.index("<section class='tiles'>")

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


def test_no_predictions_is_not_judged_not_passed(production_only, tmp_path, monkeypatch):
    root = production_only.root
    terminal = run_cli("monitor", "-C", root, "--window", "1h")
    assert terminal.code == 3
    assert terminal.out.startswith("Monitor: no predictions for weather v1 (production): not judged\n")
    assert "not judged" in terminal.out and "passed" not in terminal.out
    result = run_cli("monitor", "-C", root, "--json", "--window", "1h")
    assert result.code == 3
    report = json.loads(result.out)
    assert (report["verdict"], report["judged"], report["ok"]) == ("not judged", False, True)
    assert report["summary"]["predictions"] == 0
    (unjudged,) = [f for f in report["findings"] if f["status"] == "unjudged"]
    assert (unjudged["target"], unjudged["message"]) == (
        "weather v1 (production)",
        "no predictions in the window: drift and live performance not judged. Check that the server logs "
        "predictions where `flowtide monitor` reads them. Without store.remote only this machine's "
        ".flowtide/predictions is read: a CI runner sees no server's log.",
    )
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    markdown = run_cli("monitor", "-C", root, "--md", "--window", "1h")
    assert markdown.code == 3
    assert markdown.out.startswith("## ❔ Monitor: no predictions for weather v1 (production): not judged\n")
    assert "**1 not judged**" in markdown.out
    assert summary.read_text().startswith("## ❔ Monitor: no predictions")
    html = (root / ".flowtide" / "reports" / "monitor.html").read_text()
    assert "<header class='unjudged'><div class='verdict'>?</div>" in html
    assert "<b class='word'>not judged</b> · monitor" in html
    seconds = run_cli("monitor", "-C", root, "--md", "--window", "3600")  # a bare number counts seconds
    assert (seconds.code, seconds.out.splitlines()[0]) == (3, markdown.out.splitlines()[0])
    bad = run_cli("monitor", "-C", root, "--window", "soon")
    assert bad.code == 2
    assert bad.err == "error: window 'soon' must look like 90 (seconds), 90s, 30m, 1.5h, 7d or 2w\n"


def test_too_few_predictions_for_a_served_version_is_not_judged(tmp_path, weather_csv, models, sample):
    project = served_project(
        tmp_path / "f", weather_csv, models, deploy="deploy:\n  canary: {weight: 0.1, min_requests: 80}\n"
    )
    replay(project, sample[:30])  # min_rows is 50
    report = json.loads(run_cli("monitor", "-C", project.root, "--json").out)
    unjudged = {f["target"]: f["message"] for f in report["findings"] if f["status"] == "unjudged"}
    assert set(unjudged) == {"weather v1 (production)", "weather v2 (canary)"}
    assert all(
        "fewer than monitor.min_rows 50: drift and live performance not judged. Wait for more traffic" in m
        for m in unjudged.values()
    )
    assert report["title"].startswith("Monitor: too few predictions for weather v1 (production); too few predictions")
    # enough for production, still too few for the canary: production is judged, the run is not
    replay(project, sample[30:150], key_prefix="more")
    result = run_cli("monitor", "-C", project.root, "--json")
    report = json.loads(result.out)
    assert result.code == 3, report["findings"]
    assert [f["target"] for f in report["findings"] if f["status"] == "unjudged"] == ["weather v2 (canary)"]
    # drift in production fails the run (exit 1) even while the canary is not judged
    replay(project, sample[150:], shift={"temp_max": 12.0, "temp_min": 9.0}, key_prefix="hot")
    assert run_cli("monitor", "-C", project.root, "--json").code == 1


def test_archived_versions_are_history_and_trigger_nothing(production_only, sample):
    root = production_only.root
    replay(production_only, sample[:100], shift={"temp_max": 12.0, "temp_min": 9.0})
    assert run_cli("monitor", "-C", root, "--json").code == 1  # v1 serves: its drift triggers
    from flowtide import registry

    registry.promote(production_only, "weather", 2, "production")  # v1 is archived now
    (root / "train.py").write_text("raise SystemExit('must not retrain')\n")
    result = run_cli("monitor", "-C", root, "--json", "--trigger")
    report = json.loads(result.out)
    assert result.code == 3  # v2 in production has no predictions yet: not judged, and nothing failed
    assert report["drifted"] == {}
    assert report["retrained"] is None
    assert not [f for f in report["findings"] if f["rule"] == "trigger"]
    history = [f for f in report["findings"] if f["target"] == "weather v1 (production)" and f["rule"] == "input drift"]
    drifting = [f for f in history if f["column"] in ("temp_max", "temp_min")]
    assert [f["status"] for f in drifting] == ["info", "info"]
    assert all(f["message"].endswith("(history: v1 is archived now; this triggers nothing)") for f in drifting)
    assert report["summary"]["history (triggers nothing)"] == (
        "weather v1 (production), archived now: temp_max, temp_min"
    )
    assert report["title"] == "Monitor: no predictions for weather v2 (production)"


def _log(project, rows: list[tuple[int, str, bool]], sample) -> None:
    """Write (version, role, correct) predictions with their feedback into the project's prediction log."""
    import time

    from flowtide.serve.predlog import PredictionLog

    log = PredictionLog(project.state_dir / "predictions")
    now = time.time() - 60
    classes = ["sun", "rain", "fog", "drizzle", "snow"]
    for i, (version, role, correct) in enumerate(rows):
        day = sample[i % len(sample)]
        label = day["weather"]
        output = label if correct else classes[(classes.index(label) + 1) % len(classes)]
        inputs = {f: day[f] for f in ("precipitation", "temp_max", "temp_min", "wind")}
        log.prediction(f"r{i}", now + i * 0.001, "weather", version, role, inputs, output, 1.0)
        log.feedback(f"r{i}", now + 1, "weather", label)
    log.close()


def _traffic(n: int, production: float, canary: float) -> list[tuple[int, str, bool]]:
    rows = [(1, "production", i < round(production * n)) for i in range(n)]
    rows += [(2, "canary", i < round(canary * n)) for i in range(n)]
    return random.Random(5).sample(rows, len(rows))


def test_a_slightly_worse_canary_is_not_promoted(tmp_path, weather_csv, models, sample):
    """The issue's canary: 0.596 vs 0.616 on 1,000 labelled rows each, which "promote unless worse" promoted."""
    project = served_project(
        tmp_path / "s", weather_csv, models, deploy="deploy:\n  canary: {weight: 0.5, min_requests: 500}\n"
    )
    _log(project, _traffic(1000, 0.616, 0.596), sample)
    report = json.loads(run_cli("monitor", "-C", project.root, "--json", "--act").out)
    (verdict,) = [f for f in report["findings"] if f["rule"] == "canary verdict"]
    assert verdict["details"]["verdict"] == "wait"
    assert verdict["message"].startswith(
        "wait: canary accuracy 0.596 vs production 0.616 on 1,000 and 1,000 labelled rows: not enough evidence yet"
    )
    test = verdict["details"]["test"]
    assert (test["method"], test["margin"], test["alpha"]) == ("Newcombe hybrid score", 0.02, 0.05)
    assert test["lower"] < 0 < 0.02 < test["upper"]
    assert report["actions"] == []
    assert Registry.load(project).get("weather", 2).stage == "staging"


def test_a_clearly_worse_canary_is_rolled_back_and_a_better_one_promoted(tmp_path, weather_csv, models, sample):
    deploy = "deploy:\n  canary: {weight: 0.5, min_requests: 500, margin: 0.02}\n"
    worse = served_project(tmp_path / "w", weather_csv, models, deploy=deploy)
    _log(worse, _traffic(800, 0.62, 0.52), sample)
    report = json.loads(run_cli("monitor", "-C", worse.root, "--json", "--act").out)
    assert report["actions"] == ["rolled back the canary weather v2 (archived)"]
    better = served_project(tmp_path / "b", weather_csv, models, deploy=deploy)
    _log(better, _traffic(2000, 0.60, 0.66), sample)
    report = json.loads(run_cli("monitor", "-C", better.root, "--json", "--act", "--approve").out)
    (verdict,) = [f for f in report["findings"] if f["rule"] == "canary verdict"]
    assert verdict["message"].startswith("promote: canary accuracy 0.660 vs production 0.600 on 2,000 and 2,000")
    assert report["actions"] == [
        "promoted weather v2 to production (approved by the person running `flowtide monitor --act --approve`)"
    ]


def test_statistics():
    # Newcombe (1998), Statistics in Medicine 17:873, Table II, method 10 (two-sided 95% = one-sided 97.5% each)
    for (a, m, b, n), expected in [
        ((56, 70, 48, 80), (0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.1705, 0.8090)),
        ((6, 7, 2, 7), (0.0582, 0.8062)),
        ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ]:
        assert accuracy_bounds(a, m, b, n, alpha=0.025) == pytest.approx(expected, abs=5e-5)


@pytest.mark.parametrize(
    ("production", "canary", "n", "verdict"),
    [
        # the canary: 0.596 vs 0.616 at an n the old "promote unless significantly worse" rule promoted
        (0.616, 0.596, 1000, "wait"),
        (0.616, 0.596, 3000, "wait"),
        (0.616, 0.596, 20000, "rollback"),  # enough evidence that it is worse
        (0.60, 0.66, 2000, "promote"),  # clearly better with enough feedback
        (0.60, 0.60, 8000, "promote"),  # as good, and enough feedback to bound the loss below 0.02
        (0.60, 0.60, 1000, "wait"),  # as good, too little feedback to say so
        (0.70, 0.55, 300, "rollback"),  # clearly worse
        (0.60, 0.66, 40, "wait"),  # small n: no evidence either way
    ],
)
def test_the_canary_is_promoted_only_on_evidence_it_is_not_worse(production, canary, n, verdict):
    test = compare_accuracy(round(production * n), n, round(canary * n), n, margin=0.02, alpha=0.05)
    assert test.verdict == verdict, test
    assert test.worse_by == pytest.approx(production - canary, abs=1 / n)
    assert test.lower < test.worse_by < test.upper


def test_a_regressor_canary_is_judged_on_mean_absolute_error():
    rng = random.Random(3)
    production = [abs(rng.gauss(0, 1.0)) for _ in range(2000)]
    better = [abs(rng.gauss(0, 0.8)) for _ in range(2000)]
    worse = [abs(rng.gauss(0, 1.3)) for _ in range(2000)]
    assert compare_errors(production, better, margin=0.02, alpha=0.05).verdict == "promote"
    assert compare_errors(production, worse, margin=0.02, alpha=0.05).verdict == "rollback"
    same = compare_errors(production[:100], production[99::-1], margin=0.02, alpha=0.05)  # the same errors
    assert (same.verdict, same.worse_by) == ("wait", pytest.approx(0))
    # the margin is a fraction of production's mean absolute error
    assert same.margin == pytest.approx(0.02 * sum(production[:100]) / 100)


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
    config = production_only.root / "flowtide.yaml"
    text = config.read_text()
    for cooldown, seconds in (("1.5h", 5400), ("3600", 3600)):  # the workflow generator's spellings work here too
        config.write_text(text.replace("  min_rows: 50\n", f"  min_rows: 50\n  cooldown: {cooldown}\n"))
        again = json.loads(run_cli("monitor", "-C", production_only.root, "--json", "--trigger").out)
        (finding,) = [f for f in again["findings"] if f["rule"] == "trigger"]
        left = float(finding["message"].split(" has ")[1].split(" s left")[0])
        assert seconds - 600 < left <= seconds, finding["message"]


def test_drift_under_the_default_decision_states_its_rate_and_too_few_rows_are_not_judged(production_only, sample):
    root = production_only.root
    config = root / "flowtide.yaml"
    text = config.read_text()
    old = "  drift: {method: psi, threshold: 0.2, min_window: 50}\n  performance: {metric: accuracy, min: 0.5}\n"
    assert old in text
    config.write_text(text.replace(old, "  drift: {}\n"))  # the defaults: tests, min_window 500
    replay(production_only, sample, shift={"temp_max": 12.0, "temp_min": 9.0})
    result = run_cli("monitor", "-C", root, "--json")
    report = json.loads(result.out)
    assert result.code == 3, report["findings"]  # 300 rows: nothing judged, not "no drift"
    drift = {f["column"]: f for f in report["findings"] if f["rule"] == "input drift"}
    assert {f["status"] for f in drift.values()} == {"info"}
    assert drift["temp_max"]["message"].startswith(
        "not judged: 300 rows, fewer than monitor.drift.min_window 500; at 300 rows the smallest detectable mean "
        "shift is 0."
    )
    (unjudged,) = [f for f in report["findings"] if f["status"] == "unjudged"]
    assert unjudged["message"].startswith(
        "300 predictions in the window, fewer than monitor.drift.min_window 500: drift not judged"
    )
    config.write_text(text.replace(old, "  drift: {min_window: 200}\n"))
    result = run_cli("monitor", "-C", root, "--json")
    report = json.loads(result.out)
    assert result.code == 1
    assert report["drifted"] == {"weather v1 (production)": ["temp_max", "temp_min"]}
    (statement,) = [f["message"] for f in report["findings"] if f["rule"] == "drift decision"]
    assert statement.startswith("0.05 per 30d over 720 runs of monitor.schedule '0 * * * *' = 6.9e-05 per run, Holm")
    assert statement.endswith("at most 5% of 30d periods without a change trigger a retrain")
    hot = next(f for f in report["findings"] if f["rule"] == "input drift" and f["column"] == "temp_max")
    assert hot["status"] == "fail" and hot["bound"] == pytest.approx(0.05 / 720)
    assert "mean shift (sd)" in hot["details"]["effects"] and "PSI" in hot["details"]["effects"]
    calm = next(f for f in report["findings"] if f["rule"] == "input drift" and f["column"] == "wind")
    assert calm["status"] == "pass" and "detectable mean shift" in calm["message"]


def test_adwin_watches_each_input_column_and_the_live_error_rate(production_only, sample):
    pytest.importorskip("river")
    root = production_only.root
    config = root / "flowtide.yaml"
    text = config.read_text()
    config.write_text(
        text.replace("drift: {method: psi, threshold: 0.2, min_window: 50}", "drift: {method: adwin, min_window: 50}")
    )
    replay(production_only, sample[:150])
    replay(production_only, sample[150:], shift={"temp_max": 12.0, "temp_min": 9.0}, key_prefix="hot")
    report = json.loads(run_cli("monitor", "-C", root, "--json").out)
    assert report["drifted"]["weather v1 (production)"][:2] == ["temp_max", "temp_min"]
    drift = {f["column"]: f for f in report["findings"] if f["rule"] == "input drift"}
    assert drift["temp_max"]["status"] == "fail" and drift["wind"]["status"] == "pass"
    assert "change detected at row" in drift["temp_max"]["message"]
    (decision,) = [f["message"] for f in report["findings"] if f["rule"] == "drift decision"]
    assert decision.startswith("river ADWIN (delta 0.002) per column: mean changes only")
    (errors,) = [f for f in report["findings"] if f["rule"] == "live error rate"]
    assert errors["message"].startswith("ADWIN")


def test_a_monitor_that_judged_nothing_is_not_judged_never_passed(tmp_path):
    # no model: and no predictions: nothing to judge, so exit 3 and "not judged" with why, never "no drift: passed"
    (tmp_path / "flowtide.yaml").write_text("project: empty\n")
    result = run_cli("monitor", "-C", tmp_path, "--json")
    assert result.code == 3
    report = json.loads(result.out)
    assert (report["verdict"], report["status"], report["title"]) == (
        "not judged",
        "unjudged",
        "Monitor: nothing judged",
    )
    assert (
        report["reason"]
        == "0 predictions in the window and no version that could be judged on them (flowtide.yaml has no model:)"
    )
    terminal = run_cli("monitor", "-C", tmp_path)
    assert terminal.out.startswith("Monitor: nothing judged: not judged\n") and "passed" not in terminal.out
