"""Servers follow deployments: `serve --follow` fetches promoted artifacts from the remote store and hot-swaps.

A bare git remote, a "CI" clone that registers, promotes and pushes, a real
`flowtide serve --follow` process on another directory (its own empty local
store) and a remote store (a directory, and SeaweedFS S3), with a client
sending requests during every swap.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest

from flowtide import registry
from flowtide.project import Project
from flowtide.remote import Remote
from flowtide.serve.predlog import PredictionLog, segment_files

from ._serving import artifacts, config, install
from .conftest import GIT_ENV, fast_python_env, git

GOOD = {"precipitation": 0.0, "temp_max": 12.0, "temp_min": 5.0, "wind": 3.0}


@pytest.fixture(scope="module")
def models(weather_csv, tmp_path_factory):
    import json

    from flowtide.formats import save_sklearn

    from ._models import fit

    out = artifacts(weather_csv, tmp_path_factory.mktemp("models"))
    model, metrics = fit(weather_csv, "good", seed=1)
    out["good2"] = out["good"].with_name("good2.skops")
    save_sklearn(model, out["good2"])
    out["good2"].with_suffix(".json").write_text(json.dumps(metrics))
    return out


class Store:
    """The remote store of the followed project: its flowtide.yaml lines, credentials, and a way to lose a blob."""

    def __init__(self, url: str, endpoint: str | None = None, env: dict[str, str] | None = None) -> None:
        self.url = url
        self.endpoint = endpoint
        self.env = env or {}

    def yaml(self) -> str:
        return f"store:\n  remote: {self.url}\n" + (f"  endpoint_url: {self.endpoint}\n" if self.endpoint else "")

    def remote(self) -> Remote:
        return Remote.open(self.url, endpoint_url=self.endpoint, env={**os.environ, **self.env})

    def lose(self, digest: str) -> None:
        self.remote().delete([digest])


@pytest.fixture(params=["directory", "seaweedfs"])
def store(request, tmp_path):
    if request.param == "directory":
        return Store(str(tmp_path / "remote-store"))
    s3 = request.getfixturevalue("s3_server")
    return Store(f"s3://{s3.bucket()}/store", s3.endpoint_url, s3.env)


class CI:
    """A clone that registers, promotes and pushes, as the train and deploy workflows do."""

    def __init__(self, root: Path, origin: Path, weather_csv: Path, store: Store) -> None:
        from ._models import make_project

        self.root = root
        git("clone", "-q", str(origin), str(root), cwd=root.parent)
        make_project(root, weather_csv, config() + store.yaml())
        self.project = Project.load(root, env={**os.environ, **GIT_ENV, **store.env})

    def release(self, artifact: Path, *, lose_from: Store | None = None) -> registry.Version:
        """Register ``artifact`` (auto-pushed to the remote store), put it in production, push the registry."""
        install(self.root, artifact)
        version = registry.register(self.project)
        if lose_from is not None:  # as if CI had not pushed the blob
            lose_from.lose(version.hash)
        registry.promote(self.project, "weather", version.version, "staging")
        registry.promote(self.project, "weather", version.version, "production")
        git("add", "-A", cwd=self.root)
        git("commit", "-q", "-m", f"weather v{version.version} in production", cwd=self.root)
        git("push", "-q", "origin", "HEAD:main", cwd=self.root)
        return version


class Server:
    """`flowtide serve --follow` in a directory of its own (its own, empty, local store)."""

    def __init__(self, root: Path, origin: Path, env: dict[str, str]) -> None:
        self.root = root
        self.origin = origin
        self.env = env
        self.errors = tempfile.NamedTemporaryFile(prefix="serve-", suffix=".log", delete=False)
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> Server:
        argv = [
            "serve",
            "-C",
            str(self.root),
            "--port",
            "0",
            "--interval",
            "0.2",
            "--follow",
            f"file://{self.origin}@main",
        ]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flowtide", *argv],
            stdout=subprocess.PIPE,
            stderr=self.errors,
            text=True,
            env=self.env,
        )
        line = self.proc.stdout.readline()
        if not line.startswith("flowtide serve: http://"):
            self.stop()
            raise AssertionError(f"unexpected first line {line!r}: {self.log()}")
        self.first_line = line
        self.url = line.split()[2]
        deadline = time.monotonic() + 30
        while True:  # answering: uvicorn runs (and handles SIGTERM) from now on
            try:
                self.health()
                return self
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def log(self) -> str:
        return Path(self.errors.name).read_text()

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(10)
        self.proc = None
        return code

    def health(self) -> httpx.Response:
        return httpx.get(f"{self.url}/health", timeout=10)

    def wait_for(self, check, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            body = self.health().json()
            if check(body):
                return body
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; /health says {body}; server log:\n{self.log()[-3000:]}")
            time.sleep(0.1)


class Load:
    """A client sending predictions the whole time; every answer is recorded."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.results: list[tuple[object, object]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self._stop.is_set():
                try:
                    answer = client.post("/predict/weather", json=GOOD)
                    self.results.append((answer.status_code, answer.json().get("version")))
                except httpx.HTTPError as exc:
                    self.results.append((repr(exc), None))
                time.sleep(0.005)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


@pytest.fixture
def setup(tmp_path, tmp_path_factory, weather_csv, store):
    origin = tmp_path / "origin.git"
    git("init", "-q", "--bare", "-b", "main", str(origin), cwd=tmp_path)
    ci = CI(tmp_path / "ci", origin, weather_csv, store)
    replica = tmp_path / "replica"
    replica.mkdir()
    (replica / "flowtide.yaml").write_text("project: replica\n")
    server = Server(replica, origin, {**fast_python_env(tmp_path_factory), **GIT_ENV, **store.env})
    yield ci, server, store
    server.stop()


def test_follow_fetches_promoted_artifacts_swaps_without_a_failed_request_and_degrades(setup, models):
    ci, server, store = setup
    v1 = ci.release(models["good"])
    server.start()  # used to exit: the clone's v1 blob "is not in the store"
    assert server.health().json() == {"status": "ok", "models": {"weather": 1}}
    local = Project.load(server.root).store
    assert local.has(v1.hash)  # fetched (and verified) into the replica's own store
    with Load(server.url) as load:
        time.sleep(0.3)
        v2 = ci.release(models["bad"])
        server.wait_for(lambda h: h["models"] == {"weather": 2})
        assert local.has(v2.hash)
        time.sleep(0.3)
        # CI registered v3 but its blob never reached the remote store
        v3 = ci.release(models["good2"], lose_from=store)
        degraded = server.wait_for(lambda h: h["status"] == "degraded")
        assert server.health().status_code == 200  # serving: stays in the load balancer
        assert degraded["models"] == {"weather": 2}
        [problem] = degraded["problems"]
        assert problem.startswith(
            f"weather v3 (production): weather v3: artifact {v3.hash[:12]} is not in the local store "
        )
        assert f"could not be fetched from the remote store: blob {v3.hash[:12]} is not on the remote" in problem
        assert problem.endswith("; still serving v2")
        metrics = httpx.get(f"{server.url}/metrics").text
        assert 'flowtide_artifact_fetches_total{outcome="failed"}' in metrics
        assert "flowtide_degraded 1.0" in metrics
        assert "cannot serve weather v3 (production)" in server.log()
        # someone pushes the blob: the server retries and swaps
        Remote.upload(store.remote(), ci.project.store, v3.hash)
        server.wait_for(lambda h: h == {"status": "ok", "models": {"weather": 3}})
        time.sleep(0.3)
    failures = [r for r in load.results if r[0] != 200]
    assert failures == []
    assert len(load.results) > 20
    assert {v for _, v in load.results} == {1, 2, 3}
    assert 'flowtide_artifact_fetches_total{outcome="ok"} 3.0' in httpx.get(f"{server.url}/metrics").text
    assert "flowtide_degraded 0.0" in httpx.get(f"{server.url}/metrics").text


def test_a_restart_fetches_a_missing_artifact_or_serves_what_it_can(setup, models):
    ci, server, store = setup
    v1 = ci.release(models["good"])
    server.start()
    assert server.stop() in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM after a clean shutdown
    local = Project.load(server.root).store
    local.remove(v1.hash)
    server.start()  # the artifact is gone from the local store: fetched again
    assert server.health().json() == {"status": "ok", "models": {"weather": 1}}
    assert server.stop() in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM after a clean shutdown
    # nowhere to get it from: it starts, serves nothing, and says why (it used to exit)
    local.remove(v1.hash)
    store.lose(v1.hash)
    server.start()
    assert "no production version yet" not in server.first_line
    assert "degraded" in server.first_line
    health = server.health()
    assert health.status_code == 503
    assert health.json()["status"] == "no production model"
    assert f"blob {v1.hash[:12]} is not on the remote" in health.json()["problems"][0]
    assert "not served until it loads" in health.json()["problems"][0]
    # a later push heals it without a restart
    shutil.copy(ci.project.store.path_of(v1.hash), local.path_of(v1.hash))
    server.wait_for(lambda h: h == {"status": "ok", "models": {"weather": 1}})


def test_a_corrupt_local_artifact_is_replaced_from_the_remote_store(setup, models):
    ci, server, _store = setup
    v1 = ci.release(models["good"])
    server.start()
    assert server.stop() in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM after a clean shutdown
    blob = Project.load(server.root).store.path_of(v1.hash)
    blob.chmod(0o644)
    blob.write_bytes(b"flipped bytes")
    server.start()
    assert server.health().json() == {"status": "ok", "models": {"weather": 1}}
    assert "replaced a corrupt local copy of weather v1 from the remote store" in server.log()


def test_prediction_segments_ship_to_the_remote_store_through_remote(tmp_path, weather_csv, models):
    """A relative `store.remote` is the project's (Remote.open), not the server's working directory's."""
    from flowtide.serve.app import create_app
    from flowtide.serve.server import ServerThread

    from ._models import make_project

    root = tmp_path / "p"
    root.mkdir()
    make_project(root, weather_csv, config() + "store:\n  remote: ../shared-store\n")
    project = Project.load(root)
    install(root, models["good"])
    registry.register(project)
    registry.promote(project, "weather", 1, "staging")
    registry.promote(project, "weather", 1, "production")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    before = Path.cwd()
    os.chdir(elsewhere)
    try:
        app = create_app(project, interval=0)
        with ServerThread(app) as server, httpx.Client(base_url=server.url) as client:
            for i in range(5):
                assert client.post("/predict/weather", json=GOOD, headers={"x-request-id": f"s{i}"}).status_code == 200
        replica = app.predlog.replica
    finally:
        os.chdir(before)
    shipped = tmp_path / "shared-store" / "predictions" / replica
    assert [p.name for p in shipped.iterdir()] == [f"{replica}.00001.db"]
    assert not (elsewhere / "shared-store").exists()
    assert 'flowtide_log_segments_shipped_total{outcome="ok"} 1.0' in app.metrics.exposition()[0].decode()


def test_a_segment_that_failed_to_ship_is_shipped_with_the_next_one(tmp_path):
    calls: list[str] = []

    def ship(path: Path, replica: str) -> None:
        calls.append(path.name)
        if len(calls) == 1:
            raise OSError("the remote store is down")

    log = PredictionLog(tmp_path, replica="r", ship=ship, segment_seconds=0.0)
    log.prediction("a", 1.0, "m", 1, "production", {}, 0, 0.1)
    log.flush()
    log._close_segment()
    log._open()
    log.prediction("b", 2.0, "m", 1, "production", {}, 0, 0.1)
    log.close()
    assert calls == ["r.00001.db", "r.00001.db", "r.00002.db"]
    assert len(segment_files([tmp_path])) == 2
