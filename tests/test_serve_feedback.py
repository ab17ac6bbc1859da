"""Feedback: accepted only for request ids the deployment issued, with labels of the model's type, first label wins."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest

from flowtide import registry
from flowtide.serve.app import create_app
from flowtide.serve.feedback import LabelRule, label_rule
from flowtide.serve.predlog import PredictionLog, read_log
from flowtide.serve.server import ServerThread

from ._serving import artifacts, inputs, served_project, weather_rows

JSON = {"content-type": "application/json"}
GOOD = {"precipitation": 0.0, "temp_max": 12.0, "temp_min": 5.0, "wind": 3.0}


@pytest.fixture(scope="module")
def models(weather_csv, tmp_path_factory):
    from flowtide.formats import save_sklearn

    from ._models import fit

    out = artifacts(weather_csv, tmp_path_factory.mktemp("models"))
    # a second good model (another seed): a canary as good as production
    model, metrics = fit(weather_csv, "good", seed=1)
    out["good2"] = out["good"].with_name("good2.skops")
    save_sklearn(model, out["good2"])
    out["good2"].with_suffix(".json").write_text(json.dumps(metrics))
    return out


@pytest.fixture(scope="module")
def rows(weather_csv):
    return weather_rows(weather_csv)


@pytest.fixture
def project(tmp_path, weather_csv, models):
    return served_project(tmp_path / "p", weather_csv, models)


def predict(client, rid: str) -> dict:
    answer = client.post("/predict/weather", json=GOOD, headers={"x-request-id": rid})
    assert answer.status_code == 200
    return answer.json()


def counter(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_ids_the_server_never_issued_are_refused_and_nothing_is_logged(project):
    """The flood of the issue: 119,766 made-up ids were accepted in 40 s."""
    log_dir = project.root / ".flowtide" / "predictions"
    with ServerThread(create_app(project, interval=0)) as server, httpx.Client(base_url=server.url) as client:
        predict(client, "real-1")
        made_up = [{"request_id": uuid.uuid4().hex, "label": "rain"} for _ in range(50)]
        flood = client.post("/feedback/weather", json={"feedback": made_up})
        assert flood.status_code == 404
        answer = flood.json()
        assert answer["error"].startswith(
            "feedback refused: 50 request id(s) were not issued for weather by this deployment in the last 7d"
        )
        assert answer["detail"][0] == {
            "field": "feedback[0].request_id",
            "request_id": made_up[0]["request_id"],
            "reason": "unknown request id",
        }
        # one made-up id in a batch refuses the batch: all or nothing
        mixed = [{"request_id": "real-1", "label": "rain"}, made_up[0]]
        assert client.post("/feedback/weather", json=mixed).status_code == 404
        # an id issued for another model does not count for this one
        assert client.post("/feedback/other", json={"request_id": "real-1", "label": "rain"}).status_code == 404
        metrics = client.get("/metrics").text
        assert counter(metrics, "flowtide_feedback_rejected_total", model="weather", reason="unknown_request_id") == 2
        assert counter(metrics, "flowtide_feedback_labels_total", model="weather", outcome="accepted") == 0
        ok = client.post("/feedback/weather", json={"request_id": "real-1", "label": "rain"})
        assert (ok.status_code, ok.json()) == (200, {"accepted": 1})
    assert read_log([log_dir]).feedback == {"real-1": "rain"}


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b'{"request_id": "r", "label": NaN}', "must be one of the model's classes (drizzle, rain, sun, snow, fog)"),
        (b'{"request_id": "r", "label": ' + b"9" * 4000 + b"}", "must be one of the model's classes"),
        (b'{"request_id": "r", "label": "hail"}', "must be one of the model's classes"),
        (b'{"request_id": "r", "label": ["rain"]}', "must be one of the model's classes"),
        (b'{"request_id": "r", "label": true}', "must be one of the model's classes"),
        (b'{"request_id": "r"}', "is required"),
        (b'{"request_id": "", "label": "rain"}', "must be a request id"),
        (b'{"request_id": "r\\u0000", "label": "rain"}', "must be a request id"),
        (b'{"request_id": "r", "label": "rain", "time": 1}', "is not a feedback field"),
        (b'{"feedback": [{"request_id": "r", "label": "rain"}, {"request_id": "r", "label": "sun"}]}', "differs"),
    ],
)
def test_labels_must_be_of_the_models_type(project, body, detail):
    with ServerThread(create_app(project, interval=0)) as server, httpx.Client(base_url=server.url) as client:
        predict(client, "r")
        answer = client.post("/feedback/weather", content=body, headers=JSON)
        assert answer.status_code == 422, answer.text
        assert any(d["reason"].startswith(detail) for d in answer.json()["detail"]), answer.json()
    assert read_log([project.root / ".flowtide" / "predictions"]).feedback == {}


def test_label_rules_follow_the_target_and_the_model():
    assert LabelRule(kind="number").check(float("nan")) == "must be a finite number"
    assert LabelRule(kind="number").check(10**400) == "must be a finite number"
    assert LabelRule(kind="number").check("3") == "must be a finite number"
    assert LabelRule(kind="number").check(2.5) is None
    assert label_rule({"type": "float", "min": 0, "max": 10, "in": None}, []).check(11) == "must be <= 10"
    assert label_rule({"type": "int", "min": None, "max": None, "in": None}, []).check(1.5) == "must be an integer"
    assert label_rule({"type": "str", "in": ["a", "b"]}, []).check("c") == "must be one of the model's classes (a, b)"

    class Regressor:
        _estimator_type = "regressor"

    class Loaded:
        def __init__(self, estimator):
            self.predictor = type("P", (), {"estimator": estimator})()

    assert label_rule(None, [Loaded(Regressor())]) == LabelRule(kind="number")
    classifier = type("C", (), {"classes_": [0, 1]})()
    rule = label_rule(None, [Loaded(classifier)])
    assert rule.check(1) is None
    assert rule.check(2) == "must be one of the model's classes (0, 1)"
    assert rule.check(True) == "must be one of the model's classes (0, 1)"  # True == 1, but not a class
    assert rule.schema() == {"enum": [0, 1]}


def test_the_first_label_wins(project):
    log_dir = project.root / ".flowtide" / "predictions"
    with ServerThread(create_app(project, interval=0)) as server, httpx.Client(base_url=server.url) as client:
        predict(client, "a")
        predict(client, "b")
        assert client.post("/feedback/weather", json={"request_id": "a", "label": "rain"}).json() == {"accepted": 1}
        # the same label again (a retried request) is fine and changes nothing
        again = client.post(
            "/feedback/weather", json=[{"request_id": "a", "label": "rain"}, {"request_id": "b", "label": "sun"}]
        )
        assert (again.status_code, again.json()) == (200, {"accepted": 1, "unchanged": 1})
        flip = client.post("/feedback/weather", json={"request_id": "a", "label": "sun"})
        assert flip.status_code == 409
        assert flip.json()["error"] == (
            "feedback refused: 1 request id(s) already have a different label (the first label wins; it cannot be changed)"
        )
        assert flip.json()["detail"] == [
            {"field": "feedback[0].request_id", "request_id": "a", "reason": "already labelled 'rain'"}
        ]
        metrics = client.get("/metrics").text
        assert counter(metrics, "flowtide_feedback_rejected_total", model="weather", reason="already_labelled") == 1
        assert counter(metrics, "flowtide_feedback_labels_total", model="weather", outcome="unchanged") == 1
    assert read_log([log_dir]).feedback == {"a": "rain", "b": "sun"}


def test_read_log_keeps_the_first_label_across_replicas(tmp_path):
    """Two replicas racing on one id both wrote a label: every reader sees the earlier one."""
    first = PredictionLog(tmp_path, replica="a")
    second = PredictionLog(tmp_path, replica="b")
    first.prediction("x", 100.0, "m", 1, "production", {}, "sun", 1.0)
    second.feedback("x", 200.0, "m", "sun")  # "b" sorts after "a", its segment is read last
    first.feedback("x", 201.0, "m", "rain")
    second.feedback("never-issued", 150.0, "m", "rain")
    first.close()
    second.close()
    assert read_log([tmp_path]).feedback == {"x": "sun"}


def test_the_feedback_token_is_required_when_set_and_is_not_the_admin_token(project):
    project.env["FLOWTIDE_FEEDBACK_TOKEN"] = "labels-only"
    project.env["FLOWTIDE_ADMIN_TOKEN"] = "admin-only"
    with ServerThread(create_app(project, interval=0)) as server, httpx.Client(base_url=server.url) as client:
        predict(client, "r")
        item = {"request_id": "r", "label": "rain"}
        anonymous = client.post("/feedback/weather", json=item)
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"] == "Bearer"
        assert anonymous.json() == {
            "error": "missing or wrong feedback token (Authorization: Bearer TOKEN, the value of FLOWTIDE_FEEDBACK_TOKEN)"
        }
        assert (
            client.post("/feedback/weather", json=item, headers={"authorization": "Bearer admin-only"}).status_code
            == 401
        )
        ok = client.post("/feedback/weather", json=item, headers={"authorization": "Bearer labels-only"})
        assert ok.status_code == 200
        assert client.post("/admin/reload", headers={"authorization": "Bearer labels-only"}).status_code == 401
        metrics = client.get("/metrics").text
        assert counter(metrics, "flowtide_feedback_rejected_total", model="weather", reason="unauthorized") == 2
        spec = client.get("/openapi.json").json()
        assert spec["paths"]["/feedback/weather"]["post"]["security"] == [{"feedback": []}]


def test_feedback_outside_the_window_is_refused(tmp_path, weather_csv, models):
    project = served_project(
        tmp_path / "w", weather_csv, models, deploy="deploy:\n  canary: {weight: 0.3}\n  feedback_window: 1h\n"
    )
    log_dir = project.root / ".flowtide" / "predictions"
    old = PredictionLog(log_dir, replica="earlier")
    old.prediction("old", time.time() - 7200, "weather", 1, "production", GOOD, "sun", 1.0)
    old.prediction("recent", time.time() - 600, "weather", 1, "production", GOOD, "sun", 1.0)
    old.close()  # another replica's (closed) segment in the shared log directory
    with ServerThread(create_app(project, interval=0)) as server, httpx.Client(base_url=server.url) as client:
        assert client.post("/feedback/weather", json={"request_id": "old", "label": "rain"}).status_code == 404
        assert client.post("/feedback/weather", json={"request_id": "recent", "label": "rain"}).status_code == 200


def test_replicas_sharing_a_log_directory_accept_each_others_ids(project):
    """Replica A answers the prediction, replica B gets the feedback: B finds the id in A's segment.

    A's unflushed predictions are invisible to B (404: retry) but visible to A itself.
    """
    shared = project.root / "shared-log"
    a = create_app(project, interval=0, log_dir=shared, flush_interval=60)  # A never flushes on its own
    b = create_app(project, interval=0, log_dir=shared)
    with (
        ServerThread(a) as server_a,
        ServerThread(b) as server_b,
        httpx.Client(base_url=server_a.url) as client_a,
        httpx.Client(base_url=server_b.url) as client_b,
    ):
        predict(client_a, "p1")
        predict(client_a, "p2")
        early = client_b.post("/feedback/weather", json={"request_id": "p1", "label": "rain"})
        assert early.status_code == 404
        assert "may not be visible to other replicas yet: retry" in early.json()["error"]
        # the replica that answered knows its own buffered ids
        assert client_a.post("/feedback/weather", json={"request_id": "p2", "label": "sun"}).status_code == 200
        a.predlog.flush()
        assert client_b.post("/feedback/weather", json={"request_id": "p1", "label": "rain"}).status_code == 200
        # the first label of p2 (still in A's buffer) is known to A: a different one is refused
        assert client_a.post("/feedback/weather", json={"request_id": "p2", "label": "rain"}).status_code == 409
        a.predlog.flush()
        # and, once written, to B
        assert client_b.post("/feedback/weather", json={"request_id": "p2", "label": "rain"}).status_code == 409
    assert read_log([shared]).feedback == {"p1": "rain", "p2": "sun"}


def test_an_anonymous_client_cannot_archive_the_canary(tmp_path, weather_csv, models, rows):
    """The attack of the issue: inverted labels from anyone made `monitor --act` archive a good canary."""
    from flowtide.monitor import monitor

    project = served_project(tmp_path / "m", weather_csv, models, production="good", canary="good2")
    answers = []
    with ServerThread(create_app(project, interval=0)) as server, httpx.Client(base_url=server.url) as client:
        for i, row in enumerate(rows[:500]):
            answer = client.post("/predict/weather", json=inputs(row), headers={"x-request-key": f"u{i}"}).json()
            answers.append((answer, row["weather"]))
        truth = [{"request_id": a["request_id"], "label": label} for a, label in answers]
        assert client.post("/feedback/weather", json={"feedback": truth}).json() == {"accepted": 500}
        # the attacker labels every canary answer wrong (ids of its own requests, or leaked ones)
        inverted = [
            {"request_id": a["request_id"], "label": "snow" if a["prediction"] != "snow" else "sun"}
            for a, _ in answers
            if a["role"] == "canary"
        ]
        attack = client.post("/feedback/weather", json={"feedback": inverted})
        assert attack.status_code == 409
    data = read_log([project.root / ".flowtide" / "predictions"])
    assert data.feedback == {t["request_id"]: t["label"] for t in truth}
    result = monitor(project, window="1d", act=True)
    canary = registry.Registry.load(project).get("weather", 2)
    assert canary.stage != "archived", result.actions
