"""The penguins example end to end: nothing in flowtide is tuned to the weather example.

A regression (body mass in grams) on another real data set (the Palmer penguins that the
`palmerpenguins` package ships), published as Parquet with missing values by the examples' HTTP
data source, prepared by an in-process `call:` stage into a directory output, gated on its own
rules, served by a real `flowtide serve` whose request schema comes from the model itself
(`feature_names_in_`, no `model.features`), fed back with weighed masses and monitored on rmse.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import pytest

from flowtide.examples.datasource import DataSource

from .conftest import fast_python_env, git, run_cli

INPUTS = ["species", "island", "sex", "bill_length_mm", "bill_depth_mm", "flipper_length_mm"]


def _ok(root, *args: str):
    result = run_cli("-C", root, *args)
    assert result.code == 0, f"flowtide {' '.join(args)}: {result.out}{result.err}"
    return result


class _Server:
    def __init__(self, root, env):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flowtide", "serve", "-C", str(root), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        line = self.proc.stdout.readline()
        if not line.startswith("flowtide serve: http://"):
            self.proc.kill()
            raise AssertionError(f"unexpected first line {line!r}: {self.proc.stderr.read()}")
        self.url = line.split()[2].rstrip("/")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("flowtide serve did not answer /health")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _birds(source: DataSource) -> list[dict]:
    import io

    import polars as pl

    return pl.read_parquet(io.BytesIO(httpx.get(source.url).content)).to_dicts()


@pytest.mark.slow
def test_the_penguins_example_end_to_end(tmp_path_factory, monkeypatch):
    env = fast_python_env(tmp_path_factory)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    root = tmp_path_factory.mktemp("example") / "penguins"
    source = DataSource(port=0, as_of="2008-12", dataset="penguins").start()
    server = None
    try:
        _ok(None, "init", "--example", "penguins", root)
        config = root / "flowtide.yaml"
        text = config.read_text()
        assert "features:" not in text.split("model:")[1].split("gates:")[0].replace("# no `features:`", "")
        config.write_text(text.replace("http://127.0.0.1:8766/penguins.parquet", source.url))

        # a Parquet source with nulls passes its checks (the measures are nullable, up to 5 %)
        pulled = _ok(root, "pull").out
        assert "data/raw/penguins.parquet (checks passed)" in pulled
        assert (root / "data" / "raw" / "traffic.parquet").is_file()
        git("add", "-A", cwd=root)
        git("commit", "-q", "-m", "penguins example", cwd=root)

        run = _ok(root, "run").out
        assert "prepare: ran" in run and "evaluate: ran" in run
        assert sorted(p.name for p in (root / "data" / "prepared").iterdir()) == ["test.parquet", "train.parquet"]
        metrics = json.loads((root / "metrics.json").read_text())
        assert metrics["rmse"] < metrics["baseline_rmse"] * 0.6, metrics

        gate = json.loads(_ok(root, "gate", "--json").out)
        assert gate["ok"], gate
        assert not any("accuracy" in str(f.get("rule")) for f in gate["findings"])
        _ok(root, "register")
        _ok(root, "promote", "penguins", "1", "--to", "staging")
        _ok(root, "promote", "penguins", "1", "--to", "production")

        server = _Server(root, env)
        spec = httpx.get(f"{server.url}/openapi.json").json()
        schema = json.dumps(spec)
        for name in INPUTS:
            assert f'"{name}"' in schema, name
        assert '"date"' not in schema and '"id"' not in schema  # source columns the model does not take

        bird = {
            "species": "Gentoo",
            "island": "Biscoe",
            "sex": "male",
            "bill_length_mm": 49.0,
            "bill_depth_mm": 15.5,
            "flipper_length_mm": 222.0,
        }
        answer = httpx.post(f"{server.url}/predict/penguins", json=bird)
        assert answer.status_code == 200, answer.text
        assert 4500 <= answer.json()["prediction"] <= 6500, answer.json()

        wrong = httpx.post(f"{server.url}/predict/penguins", json={**bird, "bill_ratio": 3.2})
        assert wrong.status_code == 422
        assert "bill_length_mm" in wrong.text and "feature_names_in_" in wrong.text, wrong.text

        # traffic: every bird of the next season, asked about and then weighed (numeric feedback)
        source.set_as_of("2009-12")
        season = [b for b in _birds(source) if str(b["date"]) >= "2009-01-01" and b["body_mass_g"] is not None]
        # in the file the birds come colony by colony (species cluster in time); requests do not
        import random

        random.Random(7).shuffle(season)
        for i, b in enumerate(season):
            rid = f"bird-{b['id']}"
            reply = httpx.post(
                f"{server.url}/predict/penguins", json={k: b[k] for k in INPUTS}, headers={"x-request-id": rid}
            )
            assert reply.status_code == 200, (i, reply.text)
            fed = httpx.post(f"{server.url}/feedback/penguins", json={"request_id": rid, "label": b["body_mass_g"]})
            assert fed.status_code in (200, 202), fed.text
        bad = httpx.post(f"{server.url}/feedback/penguins", json={"request_id": "bird-1", "label": "heavy"})
        assert bad.status_code == 422, bad.text
        server.stop()
        server = None

        report = json.loads(_ok(root, "monitor", "--json").out)
        rules = {f["rule"] for f in report["findings"]}
        assert "live rmse" in rules and "live accuracy" not in rules, rules
        live = next(f for f in report["findings"] if f["rule"] == "live rmse")
        assert live["status"] == "pass" and 150 < live["value"] < 500, live
        assert "regression" in json.dumps(report)
        (decision,) = [f for f in report["findings"] if f["rule"] == "drift decision"]
        assert "at most 5% of 30d periods without a change trigger a retrain" in decision["message"], decision
        drift = {f["column"]: f["status"] for f in report["findings"] if f["rule"] == "input drift"}
        assert drift == {"bill_length_mm": "pass", "flipper_length_mm": "pass"}, report["findings"]

        # the retrain learns from the new season and the labelled traffic, and passes the relative gate
        _ok(root, "pull")
        import polars as pl

        assert len(pl.read_parquet(root / "data" / "raw" / "traffic.parquet")) == len(season)
        _ok(root, "run")
        assert "labelled requests" in (root / ".flowtide" / "logs" / "prepare.log").read_text()
        report = json.loads(_ok(root, "gate", "--json").out)
        assert report["ok"], report
        relative = next(f for f in report["findings"] if f["rule"] == "rmse <= production + 25")
        assert relative["details"]["comparison"] == "re-scored", relative  # champion and challenger, same rows
        assert "re-scored on the same" in relative["message"]
        baseline = next(f for f in report["findings"] if f["rule"] == "rmse <= baseline_rmse - 300")
        assert baseline["status"] == "pass"
    finally:
        if server is not None:
            server.stop()
        source.stop()
