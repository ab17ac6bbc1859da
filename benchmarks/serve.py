"""Serving side by side: flowtide serve (canary routing + prediction log on) vs `mlflow models serve`.

The same scikit-learn model (logistic regression on the weather features), one
worker each, on 127.0.0.1, driven by the same load (wrk when installed, else an
async httpx client), bounded in time: requests/s at concurrency 8 and 64, p50 /
p99 latency (p50 at concurrency 1 too), CPU per request (utime+stime of the
server's process tree), RSS of the tree after the load, time to first answer.
Both servers stay up and the load alternates between them round by round
(benchmarks/_alternate.py), so a busy machine slows both alike.
Run: ``python -m benchmarks.serve [--seconds 5] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FEATURES = ["precipitation", "temp_max", "temp_min", "wind"]
ROW = {"precipitation": 0.3, "temp_max": 14.4, "temp_min": 6.1, "wind": 3.2}
TICK = os.sysconf("SC_CLK_TCK")


# --- the model and the two servers ---------------------------------------------------


def weather_csv() -> Path:
    import vega_datasets

    return Path(vega_datasets.__file__).parent / "_data" / "seattle-weather.csv"


def fit(C: float = 1.0, kind: str = "logistic"):
    """Logistic regression (~0.1 ms a prediction) or the example's random forest (~10 ms: a heavy model)."""
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    lines = weather_csv().read_text().splitlines()[1:]
    X = np.array([[float(v) for v in line.split(",")[1:5]] for line in lines])
    y = np.array([line.split(",")[5] for line in lines])
    if kind == "forest":
        return RandomForestClassifier(n_estimators=int(100 * C), max_depth=8, random_state=0).fit(X, y)
    return LogisticRegression(C=C, max_iter=2000).fit(X, y)


def flowtide_project(root: Path, kind: str = "logistic") -> Path:
    """A project with v1 in production and v2 in staging served as a 10% canary."""
    from flowtide import registry
    from flowtide.formats import save_sklearn
    from flowtide.project import Project

    (root / "data").mkdir(parents=True)
    shutil.copyfile(weather_csv(), root / "data" / "weather.csv")
    (root / ".flowtide").mkdir()
    (root / "flowtide.yaml").write_text(
        "project: bench\n"
        "sources:\n  weather: {url: data/weather.csv, path: data/weather.csv}\n"
        "checks:\n  weather:\n    columns:\n"
        + "".join(f"      {f}: {{type: float, min: -50, max: 150}}\n" for f in FEATURES)
        + "model: {name: weather, path: models/model.skops, target: weather, reference: weather, "
        "features: [precipitation, temp_max, temp_min, wind]}\n"
        "deploy:\n  canary: {weight: 0.1, min_requests: 500}\n"
    )
    project = Project.load(root)
    (root / "models").mkdir()
    for number, C in ((1, 1.0), (2, 0.5)):
        save_sklearn(fit(C, kind), root / "models" / "model.skops")
        registry.register(project)
        registry.promote(project, "weather", number, "staging")
    registry.promote(project, "weather", 1, "production")
    registry.promote(project, "weather", 2, "staging")
    return root


def mlflow_model(root: Path) -> Path:
    """The same kind of model saved with mlflow.sklearn (an MLflow model directory, no tracking server)."""
    target = root / "model"
    code = (
        "import sys, mlflow.sklearn\n"
        "sys.path.insert(0, '.')\n"
        "from benchmarks.serve import fit\n"
        "mlflow.sklearn.save_model(fit(1.0), sys.argv[1], pip_requirements=['scikit-learn'])\n"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(target)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return target


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(argv: list[str], url: str, body: bytes, *, cwd=None, env=None) -> tuple[subprocess.Popen, float]:
    """Start a server; return it and the seconds from spawn to its first successful answer."""
    import httpx

    started = time.perf_counter()
    errors = tempfile.TemporaryFile()  # a file, not a pipe: a chatty server must never block on it
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=errors)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            errors.seek(0)
            raise RuntimeError(f"{argv[:4]} exited: {errors.read().decode()[-2000:]}")
        try:
            response = httpx.post(url, content=body, headers={"content-type": "application/json"}, timeout=5)
            if response.status_code == 200:
                return proc, time.perf_counter() - started
            if response.status_code >= 400:
                proc.kill()
                raise RuntimeError(f"{argv[:4]} answered {response.status_code}: {response.text[:500]}")
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    proc.kill()
    raise RuntimeError(f"{argv[:4]} did not answer within 120 s")


# --- measuring -----------------------------------------------------------------------


def tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def cpu_seconds(pid: int) -> float:
    total = 0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            pass
    return total / TICK


def rss_mib(pid: int) -> float:
    total = 0
    for p in tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, body: bytes, concurrency: int, seconds: float, script_dir: Path) -> dict:
    script = script_dir / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body.decode())}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    threads = 1 if concurrency == 1 else 2
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{concurrency}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    ).stdout
    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "requests": total,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),
        "p99": _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),
        "errors": (int(errors.group(1)) if errors else 0)
        + (sum(map(int, socket_errors.groups())) if socket_errors else 0),
    }


def async_load(url: str, body: bytes, concurrency: int, seconds: float) -> dict:
    import httpx

    async def go() -> dict:
        latencies: list[float] = []
        errors = 0
        stop = time.perf_counter() + seconds
        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:

            async def worker() -> None:
                nonlocal errors
                while time.perf_counter() < stop:
                    t = time.perf_counter()
                    try:
                        response = await client.post(url, content=body, headers={"content-type": "application/json"})
                    except httpx.TransportError:  # a dropped connection is an error of the server under test
                        errors += 1
                        continue
                    latencies.append(time.perf_counter() - t)
                    errors += response.status_code != 200

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - started
        latencies.sort()
        return {
            "requests": len(latencies),
            "rps": len(latencies) / elapsed,
            "p50": latencies[len(latencies) // 2] * 1000,
            "p99": latencies[int(len(latencies) * 0.99)] * 1000,
            "errors": errors,
        }

    return asyncio.run(go())


class HealthProbe:
    """Asks ``url`` every 100 ms in a thread (as a liveness probe would) and keeps the latencies."""

    def __init__(self, url: str | None) -> None:
        import threading

        self.url = url
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import httpx

        with httpx.Client(timeout=30) as client:
            while not self._stop.wait(0.1):
                started = time.perf_counter()
                try:
                    client.get(self.url)
                except httpx.HTTPError:
                    continue
                self.latencies.append((time.perf_counter() - started) * 1000)

    def __enter__(self) -> HealthProbe:
        if self.url:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.url:
            self._thread.join()

    def summary(self) -> dict:
        if not self.latencies:
            return {}
        ordered = sorted(self.latencies)
        return {"health_p50": ordered[len(ordered) // 2], "health_max": ordered[-1]}


def main(argv: list[str] | None = None) -> int:
    from ._alternate import Comparison, alternate, table

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds of load per concurrency level and round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per concurrency level")
    parser.add_argument("--flowtide-only", action="store_true", help="skip the mlflow comparison")
    parser.add_argument(
        "--model", choices=("logistic", "forest"), default="logistic", help="flowtide's model (mlflow: logistic)"
    )
    args = parser.parse_args(argv)
    servers: dict[str, dict] = {}  # tool -> proc, url, body, health, first answer
    procs: list[subprocess.Popen] = []
    use_wrk = shutil.which("wrk") is not None
    with tempfile.TemporaryDirectory(prefix="flowtide-bench-serve-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            project = flowtide_project(tmp / "project", args.model)
            port = free_port()
            url = f"http://127.0.0.1:{port}/predict/weather"
            body = json.dumps(ROW).encode()
            argv_ = [sys.executable, "-m", "flowtide", "serve", "-C", str(project), "--port", str(port)]
            proc, first = start(argv_, url, body)
            procs.append(proc)
            servers["flowtide"] = {"proc": proc, "url": url, "body": body, "first": first,
                                   "health": f"http://127.0.0.1:{port}/health"}  # fmt: skip
            model_dir = None
            try:
                if not args.flowtide_only:
                    model_dir = mlflow_model(tmp / "mlflow")
            except (subprocess.CalledProcessError, FileNotFoundError) as exc:
                print(f"mlflow is not usable here ({exc}); flowtide figures only", file=sys.stderr)
            if model_dir is not None:
                port = free_port()
                url = f"http://127.0.0.1:{port}/invocations"
                body = json.dumps({"dataframe_records": [ROW]}).encode()
                # mlflow execs `uvicorn` by name: the interpreter's bin directory must be on PATH
                env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
                argv_ = [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(model_dir), "--env-manager",
                         "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"]  # fmt: skip
                proc, first = start(argv_, url, body, env=env)
                procs.append(proc)
                servers["mlflow models serve"] = {
                    "proc": proc,
                    "url": url,
                    "body": body,
                    "first": first,
                    "health": None,
                }
            comparisons = []
            # one Python client process saturates (~55 requests/s with 64 connections on 2 cores) before either
            # server does: that level measures the client, so it needs wrk (`make bench` installs it)
            levels = (1, 8, 64) if use_wrk else (1, 8)
            if not use_wrk:
                print("c=64 skipped: it needs wrk (`apt-get install wrk`; `make bench` installs it)", file=sys.stderr)
            for concurrency in levels:
                side: dict[str, dict[str, list[float]]] = {
                    t: {"p50": [], "p99": [], "cpu": [], "err": []} for t in servers
                }

                def load(tool: str, concurrency: int = concurrency, side=side):
                    def run() -> float:
                        server = servers[tool]
                        before = cpu_seconds(server["proc"].pid)
                        with HealthProbe(server["health"]) as probe:
                            if use_wrk:
                                got = wrk(server["url"], server["body"], concurrency, args.seconds, tmp)
                            else:
                                got = async_load(server["url"], server["body"], concurrency, args.seconds)
                        got.update(probe.summary())
                        used = cpu_seconds(server["proc"].pid) - before
                        side[tool]["p50"].append(got["p50"] / 1000)
                        side[tool]["p99"].append(got["p99"] / 1000)
                        side[tool]["cpu"].append(used / max(got["requests"], 1) * 1000)  # s per 1,000 requests
                        side[tool]["err"].append(got["errors"])
                        return 1000 / max(got["rps"], 1e-9)  # seconds per 1,000 requests

                    return run

                throughput = alternate(f"1,000 requests at c={concurrency}", {t: load(t) for t in servers}, args.rounds)
                comparisons.append(throughput)
                for key, label in (("p50", "p50 latency"), ("p99", "p99 latency"), ("cpu", "CPU per 1,000 requests")):
                    comparisons.append(
                        Comparison(
                            f"{label} at c={concurrency}",
                            list(servers),
                            {t: side[t][key][len(side[t][key]) - len(throughput.samples[t]) :] for t in servers},
                            throughput.load,
                        )
                    )
                errors = {t: int(sum(side[t]["err"])) for t in servers}
                if any(errors.values()):
                    print(f"errors at c={concurrency}: {errors}", file=sys.stderr)
            rss = {t: rss_mib(server["proc"].pid) for t, server in servers.items()}
            logged = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import sys; from flowtide.serve.predlog import read_log; print(len(read_log([sys.argv[1]]).predictions))",
                    str(project / ".flowtide" / "predictions"),
                ],
                capture_output=True,
                text=True,
            ).stdout.strip()
        finally:
            for proc in procs:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    print(
        table(
            comparisons,
            title="serving, one worker each, both servers up and the load alternating between them "
            "(peer ÷ flowtide > 1: flowtide is faster / cheaper); flowtide serves with a 10% canary and its prediction log on",
        )
    )
    for tool, server in servers.items():
        extra = f", {logged} predictions logged" if tool == "flowtide" else ""
        print(f"{tool}: RSS {rss[tool]:.0f} MiB, first answer {server['first']:.2f} s after start "
              f"(load: {'wrk' if use_wrk else 'httpx'}){extra}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
