"""`predictions://MODEL`: labelled production traffic from a real server's log becomes a pulled, locked dataset."""

from __future__ import annotations

import csv
import json
import random
import shutil

import pytest

from flowtide.data.pull import pull
from flowtide.project import Project

from ._serving import FEATURES, artifacts, inputs, replay, served_project, weather_rows
from .conftest import run_cli

HEADER = "precipitation,temp_max,temp_min,wind,weather\n"
TRAFFIC = '  traffic:\n    url: "predictions://weather"\n    path: data/traffic.csv\n'


@pytest.fixture(scope="module")
def models(weather_csv, tmp_path_factory):
    return artifacts(weather_csv, tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def sample(weather_csv):
    return random.Random(11).sample(weather_rows(weather_csv), 80)


def _with_source(project, source: str = TRAFFIC, extra: str = "") -> Project:
    config = project.root / "flowtide.yaml"
    config.write_text(config.read_text().replace("sources:\n", "sources:\n" + source, 1) + extra)
    return Project.load(project.root)


def _rows(path) -> list[tuple]:
    with open(path, newline="") as handle:
        return [(*(float(r[f]) for f in FEATURES), r["weather"]) for r in csv.DictReader(handle)]


def _expected(rows: list[dict]) -> list[tuple]:
    return [(*(r[f] for f in FEATURES), r["weather"]) for r in rows]


@pytest.fixture
def project(tmp_path, weather_csv, models):
    return _with_source(served_project(tmp_path / "p", weather_csv, models, deploy="deploy: {}\n"))


def test_labelled_requests_become_a_locked_dataset_that_changes_only_with_new_labels(project, sample):
    replay(project, sample[:30])
    replay(project, sample[30:40], feedback=False, key_prefix="nolabel")  # no feedback: not training data
    first = pull(project, ["traffic"])
    (result,) = first.results
    assert (result.status, result.message) == ("changed", "first pull")
    target = project.root / "data" / "traffic.csv"
    assert target.read_text().startswith(HEADER)
    assert _rows(target) == _expected(sample[:30])  # the requests' inputs and their labels, in time order
    lock = project.lock_path.read_bytes()
    assert project.read_lock().sources["traffic"]["hash"] == result.hash

    again = pull(project, ["traffic"])
    assert again.results[0].status == "unchanged" and not again.lock_written
    assert project.lock_path.read_bytes() == lock

    replay(project, sample[40:45], key_prefix="later")
    later = pull(project, ["traffic"]).results[0]
    assert later.status == "changed" and later.previous_hash == result.hash
    assert _rows(target) == _expected(sample[:30] + sample[40:45])


def test_an_empty_log_is_a_valid_empty_dataset(tmp_path, weather_csv, models):
    import polars as pl

    fresh = served_project(tmp_path / "fresh", weather_csv, models, deploy="deploy: {}\n")
    extra = '  parquet:\n    url: "predictions://weather?window=30d"\n    path: data/traffic.parquet\n'
    project = _with_source(fresh, TRAFFIC + extra)
    result = run_cli("-C", project.root, "pull", "--json")
    assert result.code == 0, result.out + result.err
    assert (project.root / "data" / "traffic.csv").read_text() == HEADER
    frame = pl.read_parquet(project.root / "data" / "traffic.parquet")
    assert frame.columns == [*FEATURES, "weather"] and frame.height == 0
    assert frame.schema["wind"] == pl.Float64 and frame.schema["weather"] == pl.String


def test_identical_logs_give_identical_bytes_in_csv_and_parquet(tmp_path, weather_csv, models, sample):
    extra = '  parquet:\n    url: "predictions://weather"\n    path: data/traffic.parquet\n'
    first = _with_source(served_project(tmp_path / "a", weather_csv, models, deploy="deploy: {}\n"), TRAFFIC + extra)
    replay(first, sample[:20])
    pull(first)
    # another machine with a copy of the same log (segments listed in another order)
    second = _with_source(served_project(tmp_path / "b", weather_csv, models, deploy="deploy: {}\n"), TRAFFIC + extra)
    shutil.copytree(first.state_dir / "predictions", second.state_dir / "predictions" / "copied")
    pull(second)
    for name in ("traffic", "parquet"):
        assert first.read_lock().sources[name]["hash"] == second.read_lock().sources[name]["hash"], name
    import polars as pl

    assert pl.read_parquet(first.root / "data" / "traffic.parquet").height == 20


def test_shadow_copies_and_every_replica_in_the_remote_store_give_one_row_per_request(
    tmp_path, weather_csv, models, sample
):
    remote = tmp_path / "remote"
    served = served_project(tmp_path / "s", weather_csv, models, deploy="deploy: {shadow: true}\n")
    project = _with_source(served, extra=f"store:\n  remote: {remote}\n  auto_push: false\n")
    first = replay(project, sample[:25], key_prefix="a")  # replica 1: production answers, staging shadows
    replay(project, sample[25:40], key_prefix="b")  # replica 2
    assert len({p.parent.name for p in remote.glob("predictions/*/*.db")}) == 2
    from flowtide.serve.predlog import read_log

    logged = read_log([project.state_dir / "predictions"])
    assert {r["role"] for r in logged.predictions} == {"production", "shadow"}
    assert sum(r["request_id"] == first[0]["request_id"] for r in logged.predictions) == 2
    shutil.rmtree(project.state_dir / "predictions")  # this machine never served: only the remote has the log
    assert pull(project, ["traffic"]).results[0].status == "changed"
    assert _rows(project.root / "data" / "traffic.csv") == _expected(sample[:40])


def test_remote_listings_are_input(tmp_path, weather_csv, models, sample):
    remote = tmp_path / "remote"
    served = served_project(tmp_path / "l", weather_csv, models, deploy="deploy: {}\n")
    project = _with_source(served, extra=f"store:\n  remote: {remote}\n  auto_push: false\n")
    replay(project, sample[:10])
    shutil.rmtree(project.state_dir / "predictions")
    (segment,) = remote.glob("predictions/*/*.db")
    (remote / "predictions" / "stray.db").write_bytes(segment.read_bytes())  # not <replica>/<segment>.db
    (remote / "predictions" / "bad name").mkdir()
    (remote / "predictions" / "bad name" / "x.db").write_bytes(segment.read_bytes())
    assert pull(project, ["traffic"]).results[0].status == "changed"
    assert _rows(project.root / "data" / "traffic.csv") == _expected(sample[:10])
    copied = sorted(p.relative_to(project.state_dir / "predictions-remote") for p in project.state_dir.rglob("*.db"))
    assert [str(p) for p in copied] == [f"{segment.parent.name}/{segment.name}"]


def test_an_unreadable_remote_fails_the_pull_and_keeps_the_lock(tmp_path, weather_csv, models, sample):
    served = served_project(tmp_path / "u", weather_csv, models, deploy="deploy: {}\n")
    project = _with_source(served)
    replay(project, sample[:5])
    assert pull(project, ["traffic"]).results[0].status == "changed"
    lock = project.lock_path.read_bytes()
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the remote store should be\n")
    broken = _with_source(project, source="", extra=f"store:\n  remote: {blocker}\n")
    replay(broken, sample[5:8])
    (result,) = pull(broken, ["traffic"]).results
    assert result.status == "failed"
    assert result.message.startswith(f"source 'traffic' (predictions://weather): remote store {blocker}")
    assert project.lock_path.read_bytes() == lock
    assert len(_rows(project.root / "data" / "traffic.csv")) == 5
    # monitoring still analyses the local log (8 rows: too few to judge, exit 3) and warns about the remote instead
    monitored = run_cli("-C", project.root, "monitor", "--json")
    assert monitored.code == 3 and json.loads(monitored.out)["verdict"] == "not judged"


@pytest.mark.parametrize(
    ("url", "path", "message"),
    [
        (
            "predictions://other",
            "data/traffic.csv",
            "no model 'other' to read predictions of (the project's model is 'weather')",
        ),
        (
            "predictions://weather?window=soon",
            "data/traffic.csv",
            "window 'soon' must look like 90 (seconds), 90s, 30m, 1.5h, 7d or 2w",
        ),
        ("predictions://weather?since=1d", "data/traffic.csv", "unknown or repeated query parameter 'since'"),
        (
            "predictions://weather",
            "data/traffic.json",
            "cannot write labelled traffic to 'data/traffic.json': the path must end in .csv or .parquet",
        ),
    ],
)
def test_bad_prediction_sources_say_what_to_fix(tmp_path, weather_csv, models, url, path, message):
    served = served_project(tmp_path / "bad", weather_csv, models, deploy="deploy: {}\n")
    project = _with_source(served, source=f'  traffic:\n    url: "{url}"\n    path: {path}\n')
    result = run_cli("-C", project.root, "pull", "traffic")
    assert result.code == 1
    assert f"source 'traffic' ({url}): {message}" in result.out + result.err
    assert not (project.root / path).exists() and not project.lock_path.exists()


def test_labelled_traffic_is_checked_like_any_source(project, sample):
    config = project.root / "flowtide.yaml"
    config.write_text(
        config.read_text().replace(
            "checks:\n", "checks:\n  traffic:\n    columns:\n      weather: {type: str, in: [rain, sun, fog]}\n", 1
        )
    )
    project = Project.load(project.root)
    replay(project, [r for r in sample if r["weather"] in ("rain", "sun")][:10])
    assert pull(project, ["traffic"]).results[0].status == "changed"
    # the server refuses a label outside the target's `in:` list, so such a row can only come from a log
    # written some other way (an older server, another replica's config): the source's checks still catch it
    import time

    from flowtide.serve.predlog import PredictionLog

    log = PredictionLog(project.state_dir / "predictions", replica="elsewhere")
    log.prediction("odd-0", time.time(), "weather", 1, "production", inputs(sample[0]), "sun", 1.0)
    log.feedback("odd-0", time.time(), "weather", "hail")
    log.close()
    (result,) = pull(project, ["traffic"]).results
    assert result.status == "quarantined"
    assert "weather" in result.message and "in" in result.message
    assert len(_rows(project.root / "data" / "traffic.csv")) == 10
