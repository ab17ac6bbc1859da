"""`make demo`: the whole flowtide loop on the weather example, on one machine, step by step.

Starts the example's data server on 127.0.0.1 and scaffolds the example with
``flowtide init --example weather`` in a temporary project (its default params
and its real gates), then: pull month by month; run, gate, register and promote
the first model; serve it; replay the summer's days as traffic with their true
weather as feedback; ``flowtide monitor`` finds the seasonal drift and retrains
(pull: newer source data and the labelled traffic from the prediction log; run,
gate, register, staging); the server hot-reloads the new version as a canary;
the next months' traffic goes through both; ``monitor --act --approve`` judges
the canary and, with you as the approver, promotes it. Reports are written and
their paths printed; the project is kept (``--clean`` removes it). Each step is a function in ``STEPS``; any failure stops
the demo with a non-zero exit.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .datasource import DataSource

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "flowtide demo",
    "GIT_AUTHOR_EMAIL": "demo@flowtide.invalid",
    "GIT_COMMITTER_NAME": "flowtide demo",
    "GIT_COMMITTER_EMAIL": "demo@flowtide.invalid",
}


@dataclass
class Demo:
    """What the steps share: the project directory, the data server, notes between steps."""

    project: Path
    as_of: str = "2012-03"
    source: DataSource | None = None
    notes: dict = field(default_factory=dict)
    env: dict = field(default_factory=lambda: {**os.environ, **GIT_IDENTITY, "NO_COLOR": "1"})

    def flowtide(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run ``flowtide ARGS`` in the project as a user would, echoing the command and its output."""
        return self.sh([sys.executable, "-m", "flowtide", *args], shown=["flowtide", *args], check=check)

    def git(self, *args: str, check: bool = True, quiet: bool = False) -> subprocess.CompletedProcess:
        return self.sh(["git", *args], check=check, quiet=quiet)

    def sh(
        self, argv: list[str], *, shown: list[str] | None = None, check: bool = True, quiet: bool = False
    ) -> subprocess.CompletedProcess:
        if not quiet:
            print(f"$ {shlex.join(shown or argv)}", flush=True)
        proc = subprocess.run(argv, cwd=self.project, env=self.env, capture_output=True, text=True, check=False)
        if not quiet:
            for stream in (proc.stdout, proc.stderr):
                if stream.strip():
                    print(_indent(stream), flush=True)
        if check and proc.returncode != 0:
            raise DemoFailed(f"`{shlex.join(shown or argv)}` exited {proc.returncode}")
        return proc


class DemoFailed(Exception):
    pass


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.rstrip().splitlines())


def _rows(path: Path) -> int:
    with open(path, "rb") as handle:
        return max(sum(1 for _ in handle) - 1, 0)


# --- steps -----------------------------------------------------------------------------


def start_datasource(demo: Demo) -> None:
    demo.source = DataSource(as_of=demo.as_of).start()
    print(f"serving {demo.source.url} as of {demo.source.as_of} (the Seattle weather, published month by month)")


def scaffold(demo: Demo) -> None:
    demo.project.mkdir(parents=True, exist_ok=True)
    print(f"$ cd {demo.project}")
    demo.flowtide("init", "--example", "weather")
    config = demo.project / "flowtide.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("http://127.0.0.1:8765/seattle-weather.csv", demo.source.url), encoding="utf-8")
    print(f"pointed the weather source at {demo.source.url}")


def first_pull(demo: Demo) -> None:
    demo.flowtide("pull", "--no-progress")
    data = demo.project / "data/raw/weather.csv"
    demo.notes["rows_before"] = _rows(data)
    print(f"{data.relative_to(demo.project)}: {demo.notes['rows_before']} rows")
    traffic = demo.project / "data/raw/traffic.csv"
    print(f"{traffic.relative_to(demo.project)}: {_rows(traffic)} labelled requests (nothing served yet)")
    demo.git("add", "-A", quiet=True)
    demo.git("commit", "-q", "-m", "weather example: first pull", quiet=True)
    demo.flowtide("pull", "--no-progress")
    print("second pull: the server answered 304 Not Modified; flowtide.lock is byte-identical")
    demo.git("status", "--short")


def advance_month(demo: Demo) -> None:
    month = demo.source.advance()
    print(f"POST /advance: the source now publishes data up to {month}")


def pull_new_month(demo: Demo) -> None:
    demo.flowtide("pull", "--no-progress")
    rows = _rows(demo.project / "data/raw/weather.csv")
    print(f"data/raw/weather.csv: {demo.notes['rows_before']} -> {rows} rows (+{rows - demo.notes['rows_before']})")
    demo.git("diff", "--stat")
    demo.git("diff", "--", "flowtide.lock")


# --- the whole loop: deploy, serve, traffic, monitor, retrain, canary, promote --------------------

CALLERS = 12  # each replayed day is asked about by this many callers (sticky canary keys)
FEATURES = ["precipitation", "temp_max", "temp_min", "wind"]


def _quiet(demo: Demo, *args: str) -> subprocess.CompletedProcess:
    """``flowtide ARGS`` whose (JSON) output the step reads instead of showing."""
    print(f"$ flowtide {shlex.join(args)}", flush=True)
    proc = demo.sh([sys.executable, "-m", "flowtide", *args], check=False, quiet=True)
    if proc.returncode not in (0, 1, 3) or not proc.stdout.strip():  # monitor: 1 drift, 3 not judged
        raise DemoFailed(f"`flowtide {shlex.join(args)}` exited {proc.returncode}: {proc.stderr.strip()}")
    return proc


def _train_and_stage(demo: Demo) -> int:
    demo.flowtide("run")
    demo.flowtide("gate")
    version = json.loads(_quiet(demo, "register", "--json").stdout)["version"]
    print(f"  registered weather v{version}")
    demo.flowtide("promote", "weather", str(version), "--to", "staging", "--reason", "gates passed")
    return version


def first_model(demo: Demo) -> None:
    demo.env.setdefault("COLUMNS", "120")  # report tables readable in a log
    version = _train_and_stage(demo)
    demo.flowtide("promote", "weather", str(version), "--to", "production", "--reason", "first model")
    demo.git("add", "-A", quiet=True)
    demo.git("commit", "-q", "-m", f"weather v{version} in production", quiet=True)


def start_server(demo: Demo) -> None:
    argv = [sys.executable, "-m", "flowtide", "serve", "--port", "0", "--interval", "0.5"]
    print("$ flowtide serve --port 0 --interval 0.5 &")
    log = open(demo.project / ".flowtide" / "serve.log", "wb")
    server = subprocess.Popen(argv, cwd=demo.project, env=demo.env, stdout=subprocess.PIPE, stderr=log, text=True)
    demo.notes["server"] = server
    line = server.stdout.readline()
    if not line.startswith("flowtide serve: http"):
        raise DemoFailed(f"flowtide serve did not start: {line!r} (see .flowtide/serve.log)")
    demo.notes["url"] = line.split()[2]
    print(_indent(line))


def _call(demo: Demo, path: str, payload=None, headers: dict | None = None) -> dict:
    import urllib.request

    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(
        demo.notes["url"] + path, data=data, headers={"content-type": "application/json", **(headers or {})}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _days(first: str, last: str) -> list[dict]:
    import csv

    import vega_datasets

    path = Path(vega_datasets.__file__).parent / "_data" / "seattle-weather.csv"
    with open(path, newline="") as handle:
        return [r for r in csv.DictReader(handle) if first <= r["date"][:7].replace("/", "-") <= last]


def _replay(demo: Demo, first: str, last: str) -> dict[str, int]:
    """The days of months first..last as traffic from CALLERS callers each, then their true weather as feedback."""
    served: dict[str, int] = {}
    feedback = []
    for day in _days(first, last):
        row = {f: float(day[f]) for f in FEATURES}
        for caller in range(CALLERS):
            answer = _call(demo, "/predict/weather", row, {"x-request-key": f"station-{caller}"})
            key = f"v{answer['version']} {answer['role']}"
            served[key] = served.get(key, 0) + 1
            feedback.append({"request_id": answer["request_id"], "label": day["weather"]})
    accepted = _call(demo, "/feedback/weather", {"feedback": feedback})["accepted"]
    split = ", ".join(f"{n} by {k}" for k, n in sorted(served.items()))
    print(f"replayed {first} .. {last}: {len(feedback)} predictions ({split}); {accepted} true labels sent as feedback")
    time.sleep(1.5)  # more than one flush interval of the prediction log
    return served


def summer_traffic(demo: Demo) -> None:
    _replay(demo, "2012-06", "2012-08")


def monitor_detects_drift(demo: Demo) -> None:
    while demo.source.as_of < "2013-01":  # half a year passes at the data source too
        demo.source.advance()
    print(f"the data source now publishes data up to {demo.source.as_of}")
    (demo.project / "reports").mkdir(exist_ok=True)
    proc = demo.flowtide("monitor", "--window", "1h", "--trigger", "--html", "reports/monitor-drift.html", check=False)
    if proc.returncode != 1 or "Monitor: drift in " not in proc.stdout:
        raise DemoFailed("flowtide monitor did not report the seasonal drift (expected exit 1 naming the columns)")
    traffic = _rows(demo.project / "data/raw/traffic.csv")
    if not traffic:
        raise DemoFailed("the retraining pull found no labelled traffic in the prediction log")
    print(f"  the retraining pull turned {traffic} labelled requests into data/raw/traffic.csv (training data)")
    versions = json.loads(_quiet(demo, "models", "--json").stdout)["weather"]
    staged = [v["version"] for v in versions if v["stage"] == "staging"]
    if not staged:
        raise DemoFailed("flowtide monitor --trigger did not retrain a new staging version")
    print(f"  retrained on the data up to {demo.source.as_of}: weather v{staged[0]} is in staging")
    demo.notes["reports"] = [demo.project / "reports" / "monitor-drift.html"]


def _serving(demo: Demo, until, what: str) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        serving = _call(demo, "/models")["models"]["weather"]["serving"]
        if until(serving):
            return serving
        time.sleep(0.2)
    raise DemoFailed(f"the server did not {what} within 30 s")


def canary_is_served(demo: Demo) -> None:
    serving = _serving(demo, lambda s: "canary" in s, "pick up the staging version as canary")
    canary = serving["canary"]
    print(
        f"GET /models: production v{serving['production']['version']}, canary v{canary['version']} "
        f"on {canary['weight']:.0%} of callers (hot-reloaded from the registry, no restart)"
    )


def spring_traffic(demo: Demo) -> None:
    served = _replay(demo, "2013-02", "2013-04")
    if not any("canary" in key for key in served):
        raise DemoFailed("no request reached the canary")


def canary_verdict(demo: Demo) -> None:
    # you run it, so you are the approver (recorded in the registry); in CI a promote verdict goes to
    # deploy.yml's production job and its required reviewers instead
    proc = _quiet(
        demo, "monitor", "--window", "10m", "--act", "--approve", "--json", "--html", "reports/monitor-canary.html"
    )
    report = json.loads(proc.stdout)
    verdict = next((f for f in report["findings"] if f["rule"] == "canary verdict"), None)
    if verdict is None:
        raise DemoFailed("no canary verdict: no canary in the log")
    print(f"  canary verdict: {verdict['message']}")
    for action in report["actions"]:
        print(f"  monitor --act: {action}")
    demo.notes["reports"].append(demo.project / "reports" / "monitor-canary.html")
    demo.notes["verdict"] = verdict["details"]["verdict"]
    if verdict["details"]["verdict"] == "wait":
        # promotion needs evidence that the canary is not worse than production by more than deploy.canary.margin
        serving = _call(demo, "/models")["models"]["weather"]["serving"]
        print(
            f"GET /models: production v{serving['production']['version']}, canary v{serving['canary']['version']} "
            "(it keeps its share of traffic until the feedback decides)"
        )
    else:
        serving = _serving(demo, lambda s: "canary" not in s, "drop the canary")
        print(f"GET /models: production v{serving['production']['version']}, no canary")
    demo.flowtide("models")


def stop_server(demo: Demo) -> None:
    server = demo.notes.pop("server")
    server.terminate()
    server.wait(30)
    print("flowtide serve stopped (SIGTERM: in-flight requests finished, the prediction log flushed)")
    print("reports:")
    for path in [*demo.notes["reports"], *sorted((demo.project / ".flowtide" / "reports").glob("*.html"))]:
        print(f"  {path}")


STEPS: list[tuple[str, Callable[[Demo], None]]] = [
    ("start the data source", start_datasource),
    ("scaffold the weather example (flowtide init --example weather)", scaffold),
    ("pull the data, then pull again (nothing changed)", first_pull),
    ("a month passes", advance_month),
    ("pull: new rows, new hash, the lock changes", pull_new_month),
    ("train, gate, register and deploy the first model (v1 to production)", first_model),
    ("serve it: flowtide serve follows the registry", start_server),
    ("summer days arrive as traffic, with feedback", summer_traffic),
    ("monitor finds the seasonal drift and retrains (--trigger)", monitor_detects_drift),
    ("the server hot-reloads: the new version is a canary", canary_is_served),
    ("the next months' traffic goes through production and canary", spring_traffic),
    (
        "monitor judges the canary (promoted only on evidence it is not worse); you approve (--act --approve)",
        canary_verdict,
    ),
    ("stop the server; the reports", stop_server),
]


def run(project: Path, steps=STEPS, *, as_of: str = "2012-03") -> Demo:
    demo = Demo(project=project, as_of=as_of)
    try:
        for number, (title, step) in enumerate(steps, 1):
            print(f"\n=== {number}. {title} ===", flush=True)
            started = time.monotonic()
            step(demo)
            print(f"({time.monotonic() - started:.1f} s)", flush=True)
    finally:
        if demo.source is not None:
            demo.source.stop()
        server = demo.notes.pop("server", None)
        if server is not None:  # a step failed while the model server was up
            server.terminate()
            server.wait(30)
    return demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flowtide.examples.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", metavar="DIR", help="build the project here (default: a new temp dir, kept)")
    # the printed report paths are only worth printing if they outlive the demo: the project is kept by default
    parser.add_argument("--keep", action="store_true", help=argparse.SUPPRESS)  # the default now
    parser.add_argument("--clean", action="store_true", help="remove the temp project when the demo ends")
    parser.add_argument("--as-of", default="2012-03", metavar="YYYY-MM", help="month the data source starts at")
    args = parser.parse_args(argv)
    temp = None
    if args.dir:
        project = Path(args.dir).absolute()
    else:
        temp = Path(tempfile.mkdtemp(prefix="flowtide-demo-"))
        project = temp / "weather"
    try:
        run(project, as_of=args.as_of)
    except DemoFailed as exc:
        print(f"\ndemo failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if temp is not None and args.clean:
            shutil.rmtree(temp, ignore_errors=True)
    if temp is not None and args.clean:
        print("\ndemo finished; its project was removed (--clean)")
    else:
        print(f"\ndemo finished; the project and its reports are kept in {project}")
        print(f"  reports: {project / 'reports'} and {project / '.flowtide' / 'reports'}")
        print(f"  dashboard: flowtide -C {project} dashboard --serve")
    return 0


if __name__ == "__main__":
    sys.exit(main())
