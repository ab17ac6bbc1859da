"""`flowtide sweep` with the local executor: isolated copies, recorded runs, the best point."""

from __future__ import annotations

import json

from flowtide.pipeline import list_runs, sweep

from .conftest import run_cli
from .test_pipeline import PARAMS, executions, load, make_project


def test_local_sweep_runs_each_point_in_a_copy_and_records_it(tmp_path, monkeypatch):
    root = make_project(tmp_path / "p")
    from flowtide.pipeline import run

    run(load(root))
    before = (root / "flowtide.lock").read_text()
    result = sweep(load(root), ["train.lr=0.2,0.7"], metric="lr")
    assert [p["params"] for p in result.points] == [{"train.lr": 0.2}, {"train.lr": 0.7}]
    assert [p["metrics"]["lr"] for p in result.points] == [0.2, 0.7]
    assert result.best["params"] == {"train.lr": 0.7}
    # the working tree is untouched; only train re-ran in the copies, prepare came from the lock
    assert (root / "params.yaml").read_text() == PARAMS
    assert (root / "flowtide.lock").read_text() == before
    assert executions(root) == ["prepare", "train", "report"]
    records = list_runs(load(root), sweep=result.id)
    assert sorted(r.params["train.lr"] for r in records) == [0.2, 0.7]
    assert all(r.kind == "sweep" and r.stages["train"]["status"] == "ran" for r in records)
    assert all(r.stages["prepare"]["status"] == "skipped" for r in records)
    assert not list((root / ".flowtide" / "sweeps").iterdir())  # copies are cleaned up


def test_sweep_cli_table_json_and_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    root = make_project(tmp_path / "p")
    result = run_cli("sweep", "train.lr=0.3,0.1", "--metric", "lr", "--minimize", cwd=root)
    assert result.code == 0, result.err
    assert "best lr: 0.1 with train.lr=0.1" in result.out
    data = json.loads(run_cli("sweep", "train.lr=0.3", "--json", cwd=root).out)
    assert data["ok"] and data["points"][0]["metrics"]["lr"] == 0.3
    bad = run_cli("sweep", "train.nope=1,2", cwd=root)
    assert bad.code == 2 and "sweep param 'train.nope' is not in params.yaml" in bad.err
    assert run_cli("sweep", "train.lr", cwd=root).code == 2


def test_grid_is_the_cartesian_product_with_typed_values():
    from flowtide.pipeline.sweeps import parse_grid

    assert parse_grid(["train.lr=0.1,0.01", "train.depth=3,5", "train.model=rf"]) == [
        {"train.lr": 0.1, "train.depth": 3, "train.model": "rf"},
        {"train.lr": 0.1, "train.depth": 5, "train.model": "rf"},
        {"train.lr": 0.01, "train.depth": 3, "train.model": "rf"},
        {"train.lr": 0.01, "train.depth": 5, "train.model": "rf"},
    ]
    assert parse_grid(["flag=true,false"]) == [{"flag": True}, {"flag": False}]
    assert parse_grid(["train.features=[a,b],[a, b, c]"]) == [
        {"train.features": ["a", "b"]},
        {"train.features": ["a", "b", "c"]},
    ]
