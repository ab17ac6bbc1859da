"""The pipeline engine on real temp projects: staleness, caching, restore, failures, status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from flowtide.errors import ConfigError, StageError
from flowtide.pipeline import run, status
from flowtide.project import Project

from .conftest import git, run_cli, run_process

# a stage script: copies/upper-cases its input, records every execution in runs.log
STAGE = """\
import json, os, sys
name, src, dst = sys.argv[1:4]
with open("runs.log", "a") as log:
    log.write(name + "\\n")
if os.environ.get("FAIL_STAGE") == name:
    print("something went wrong in " + name, file=sys.stderr)
    sys.exit(3)
params = {}
if os.path.exists("params.yaml"):
    params = {line.split(":")[0].strip(): line.split(":")[1].strip() for line in open("params.yaml") if ":" in line}
os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
with open(dst, "w") as out:
    out.write(open(src).read().upper() + json.dumps(params))
if len(sys.argv) > 4:
    json.dump({"score": len(open(dst).read()), "lr": float(params.get("lr", 0))}, open(sys.argv[4], "w"))
"""

CONFIG = """\
project: demo
stages:
  prepare:
    cmd: python stage.py prepare data/raw.txt data/prepared.txt
    deps: [stage.py, data/raw.txt]
    outs: [data/prepared.txt]
  train:
    cmd: python stage.py train data/prepared.txt models/model.txt metrics.json
    deps: [stage.py, data/prepared.txt]
    params: [train.lr]
    outs: [models/model.txt]
    metrics: [metrics.json]
  report:
    cmd: python stage.py report data/raw.txt report.txt
    deps: [data/raw.txt]
    outs: [report.txt]
"""

PARAMS = "train:\n  lr: 0.1\nother:\n  x: 1\n"


def executions(root: Path) -> list[str]:
    log = root / "runs.log"
    return log.read_text().split() if log.exists() else []


def make_project(root: Path, config: str = CONFIG, params: str = PARAMS) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "flowtide.yaml").write_text(config)
    (root / "params.yaml").write_text(params)
    (root / "stage.py").write_text(STAGE)
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "raw.txt").write_text("hello\n")
    (root / ".gitignore").write_text(".flowtide/\nruns.log\ndata/prepared.txt\nmodels/\nreport.txt\n")
    return root


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    return make_project(tmp_path / "proj")


def load(root: Path, **env: str) -> Project:
    return Project.load(root, env={**os.environ, **env})


def test_first_run_executes_all_then_nothing(project_dir):
    result = run(load(project_dir))
    assert result.ran == ["prepare", "train", "report"]
    assert sorted(executions(project_dir)) == ["prepare", "report", "train"]
    assert result.metrics["lr"] == 0.1
    lock = json.loads((project_dir / "flowtide.lock").read_text())
    entry = lock["stages"]["train"]
    assert set(entry) == {"fingerprint", "cmd", "deps", "params", "outs"}
    assert entry["params"] == {"train.lr": 0.1}
    assert set(entry["outs"]) == {"models/model.txt", "metrics.json"}
    assert set(entry["deps"]["data/prepared.txt"]) == {"hash", "size"}

    again = run(load(project_dir))
    assert again.ran == [] and again.skipped == ["prepare", "train", "report"]
    assert len(executions(project_dir)) == 3
    assert again.run_id is None  # a no-op run is not recorded


def test_touch_without_changing_bytes_runs_nothing(project_dir):
    run(load(project_dir))
    raw = project_dir / "data" / "raw.txt"
    later = time.time_ns() + 5_000_000_000
    os.utime(raw, ns=(later, later))
    raw.write_text(raw.read_text())  # rewritten with the same bytes: new mtime and maybe inode
    assert status(load(project_dir)) == []
    assert run(load(project_dir)).ran == []
    assert len(executions(project_dir)) == 3


def test_changing_a_param_runs_only_the_stages_that_use_it(project_dir):
    run(load(project_dir))
    (project_dir / "params.yaml").write_text(PARAMS.replace("lr: 0.1", "lr: 0.2"))
    stale = status(load(project_dir))
    assert [(s.name, s.reasons) for s in stale] == [("train", ["param train.lr changed: 0.1 → 0.2"])]
    result = run(load(project_dir))
    assert result.ran == ["train"]
    assert result.metrics["lr"] == 0.2
    # a param no stage declares changes nothing
    (project_dir / "params.yaml").write_text(PARAMS.replace("lr: 0.1", "lr: 0.2").replace("x: 1", "x: 2"))
    assert run(load(project_dir)).ran == []


def test_reverting_a_param_restores_from_cache_without_running(project_dir):
    run(load(project_dir))
    model = project_dir / "models" / "model.txt"
    first = model.read_bytes()
    (project_dir / "params.yaml").write_text(PARAMS.replace("lr: 0.1", "lr: 0.2"))
    run(load(project_dir))
    assert model.read_bytes() != first
    (project_dir / "params.yaml").write_text(PARAMS)
    result = run(load(project_dir))
    assert result.ran == [] and result.restored == ["train"]
    assert model.read_bytes() == first
    assert executions(project_dir).count("train") == 2


def test_changed_dep_and_missing_out_are_reasons(project_dir):
    run(load(project_dir))
    (project_dir / "data" / "raw.txt").write_text("changed\n")
    (project_dir / "report.txt").unlink()
    stale = {s.name: s.reasons for s in status(load(project_dir))}
    assert stale == {"prepare": ["dep data/raw.txt changed"], "report": ["dep data/raw.txt changed"]}
    run(load(project_dir))
    (project_dir / "report.txt").unlink()
    assert [(s.name, s.reasons) for s in status(load(project_dir))] == [("report", ["out report.txt missing"])]
    result = run(load(project_dir))
    assert result.restored == ["report"]  # its bytes are in the store: no need to run
    assert (project_dir / "report.txt").exists()


def test_force_and_dry_and_stage_selection(project_dir):
    run(load(project_dir))
    dry = run(load(project_dir), ["train"], force=True, dry=True)
    assert dry.would_run == ["train"] and dry.skipped == ["prepare"]
    assert len(executions(project_dir)) == 3
    forced = run(load(project_dir), ["train"], force=True)
    assert forced.ran == ["train"] and forced.stages["train"]["reasons"] == ["forced"]
    assert "report" not in forced.stages


def test_failing_stage_stops_dependents_and_keeps_lock(project_dir):
    run(load(project_dir))
    lock_before = (project_dir / "flowtide.lock").read_text()
    (project_dir / "data" / "raw.txt").write_text("new data\n")
    with pytest.raises(StageError) as info:
        run(load(project_dir, FAIL_STAGE="prepare"))
    assert info.value.exit_code == 1
    assert "stage 'prepare' failed with exit code 3" in str(info.value)
    assert "something went wrong in prepare" in str(info.value)
    assert "train" not in executions(project_dir)[3:]
    lock_after = json.loads((project_dir / "flowtide.lock").read_text())
    assert lock_after["stages"]["prepare"] == json.loads(lock_before)["stages"]["prepare"]
    assert lock_after["stages"]["train"] == json.loads(lock_before)["stages"]["train"]


def test_failing_stage_cli_exit_code_and_stderr_tail(project_dir):
    (project_dir / "flowtide.yaml").write_text(
        CONFIG.replace("python stage.py report", "python -c 'import sys; sys.exit(\"boom\")' #")
    )
    result = run_process("run", "-j", "2", cwd=project_dir)
    assert result.code == 1
    assert "stage 'report' failed with exit code 1" in result.err
    assert "--- last lines of stderr ---\nboom" in result.err
    # independent stages that succeeded were recorded in the lock
    lock = json.loads((project_dir / "flowtide.lock").read_text())
    assert "report" not in lock["stages"]


def test_git_checkout_of_older_lock_restores_outputs_without_running(tmp_path):
    root = make_project(tmp_path / "repo")
    git("init", "-q", "-b", "main", cwd=root)
    run(load(root))
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", "v1", cwd=root)
    model_v1 = (root / "models" / "model.txt").read_bytes()
    (root / "params.yaml").write_text(PARAMS.replace("lr: 0.1", "lr: 0.5"))
    (root / "data" / "raw.txt").write_text("other data\n")
    run(load(root))
    git("commit", "-q", "-am", "v2", cwd=root)
    assert (root / "models" / "model.txt").read_bytes() != model_v1
    count = len(executions(root))

    git("checkout", "-q", "HEAD~1", cwd=root)
    stale = {s.name: s.reasons for s in status(load(root))}
    assert stale["prepare"] == ["out data/prepared.txt changed"]
    assert stale["train"] == ["dep data/prepared.txt changed"]
    result = run(load(root))
    assert sorted(result.restored) == ["prepare", "report", "train"] and result.ran == []
    assert len(executions(root)) == count
    assert (root / "models" / "model.txt").read_bytes() == model_v1
    assert git("status", "--porcelain", cwd=root) == ""  # the lock is byte-identical to the committed one


def test_directory_deps_and_outs(tmp_path):
    config = """\
project: dirs
stages:
  split:
    cmd: python -c "import os; os.makedirs('parts', exist_ok=True); [open(f'parts/{i}.txt','w').write(str(i)) for i in range(3)]; open('runs.log','a').write('split\\n')"
    deps: [inputs]
    outs: [parts]
  count:
    cmd: python -c "import os; open('count.txt','w').write(str(len(os.listdir('parts')))); open('runs.log','a').write('count\\n')"
    deps: [parts]
    outs: [count.txt]
"""
    root = tmp_path / "p"
    root.mkdir()
    (root / "flowtide.yaml").write_text(config)
    (root / "inputs" / "sub").mkdir(parents=True)
    (root / "inputs" / "a.txt").write_text("a")
    (root / "inputs" / "sub" / "b.txt").write_text("b")
    assert run(load(root)).ran == ["split", "count"]
    lock = json.loads((root / "flowtide.lock").read_text())
    assert sorted(lock["stages"]["split"]["outs"]["parts"]["files"]) == ["0.txt", "1.txt", "2.txt"]
    assert lock["stages"]["split"]["deps"]["inputs"]["nfiles"] == 2
    assert run(load(root)).ran == []
    (root / "inputs" / "sub" / "b.txt").write_text("B")
    assert [s.reasons for s in status(load(root))] == [["dep inputs changed"]]
    assert run(load(root)).ran == ["split"]  # parts came out identical: count is up to date
    import shutil

    shutil.rmtree(root / "parts")
    result = run(load(root))
    assert result.restored == ["split"] and (root / "parts" / "2.txt").read_text() == "2"


def test_call_stage_runs_in_process_with_context(tmp_path):
    root = tmp_path / "p"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "steps.py").write_text(
        textwrap.dedent(
            """\
            import json, os
            def make(ctx):
                open("called.log", "a").write(str(os.getpid()) + "\\n")
                json.dump({"lr": ctx.params["train.lr"], "stage": ctx.name}, open(ctx.outs[0], "w"))
            def plain():
                open("plain.txt", "w").write("ok")
            def broken():
                raise ValueError("bad input in broken")
            """
        )
    )
    (root / "flowtide.yaml").write_text(
        "project: c\nstages:\n  make:\n    call: pkg.steps:make\n    deps: [pkg/steps.py]\n    params: [train.lr]\n    outs: [out.json]\n"
        "  plain:\n    call: pkg.steps:plain\n    outs: [plain.txt]\n"
    )
    (root / "params.yaml").write_text("train: {lr: 0.3}\n")
    result = run(load(root))
    assert result.ran == ["make", "plain"]
    assert json.loads((root / "out.json").read_text()) == {"lr": 0.3, "stage": "make"}
    assert (root / "called.log").read_text().strip() == str(os.getpid())
    assert "pkg.steps" not in sys.modules
    (root / "flowtide.yaml").write_text("project: c\nstages:\n  broken:\n    call: pkg.steps:broken\n")
    with pytest.raises(StageError, match="bad input in broken"):
        run(load(root))


def test_cycle_and_duplicate_outs_are_config_errors_with_line(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    (root / "flowtide.yaml").write_text(
        "project: c\nstages:\n  a:\n    cmd: x\n    deps: [b.txt]\n    outs: [a.txt]\n"
        "  b:\n    cmd: y\n    deps: [a.txt]\n    outs: [b.txt]\n"
    )
    with pytest.raises(ConfigError) as info:
        status(load(root))
    assert str(info.value).startswith("flowtide.yaml:9:12: stages form a cycle: a → b → a")
    assert run_cli("status", cwd=root).code == 2
    (root / "flowtide.yaml").write_text(
        "project: c\nstages:\n  a:\n    cmd: x\n    outs: [out/a.txt]\n  b:\n    cmd: y\n    outs: [out]\n"
    )
    with pytest.raises(ConfigError) as info:
        status(load(root))
    assert str(info.value).startswith(
        "flowtide.yaml:8:12: out 'out' of stage 'b' is also written by stage 'a' ('out/a.txt')"
    )


def test_unknown_param_and_unknown_stage(project_dir):
    (project_dir / "params.yaml").write_text("other: {x: 1}\n")
    with pytest.raises(
        ConfigError, match=r"flowtide.yaml:10:14: stage 'train' uses param 'train.lr', which is not in params.yaml"
    ):
        status(load(project_dir))
    result = run_cli("run", "nope", cwd=project_dir)
    assert result.code == 2 and "unknown stage 'nope'" in result.err


def test_status_cli_exit_codes_and_json(project_dir):
    result = run_cli("status", cwd=project_dir)
    assert result.code == 1
    assert result.out == "prepare:\n    never run\ntrain:\n    never run\nreport:\n    never run\n"
    assert run_cli("run", cwd=project_dir).code == 0
    result = run_cli("status", cwd=project_dir)
    assert (result.code, result.out) == (0, "Everything is up to date.\n")
    (project_dir / "stage.py").write_text(STAGE + "\n")
    result = run_cli("status", "--json", cwd=project_dir)
    assert result.code == 1
    assert json.loads(result.out)["stale"][0] == {
        "stage": "prepare",
        "reasons": ["dep stage.py changed"],
        "restorable": False,
    }
    (project_dir / "stage.py").write_text(STAGE)
    (project_dir / "report.txt").unlink()
    result = run_cli("status", cwd=project_dir)
    assert result.out == (
        "report:\n    out report.txt missing\n"
        "    (its outputs for this state are in the cache: `flowtide run` restores them)\n"
    )


def test_env_is_part_of_the_fingerprint(project_dir):
    config = CONFIG.replace("    outs: [report.txt]\n", "    outs: [report.txt]\n    env: [REPORT_MODE]\n")
    (project_dir / "flowtide.yaml").write_text(config)
    run(load(project_dir, REPORT_MODE="a"))
    assert status(load(project_dir, REPORT_MODE="a")) == []
    assert [s.name for s in status(load(project_dir, REPORT_MODE="b"))] == ["report"]


def test_parallel_jobs_run_independent_stages(project_dir):
    result = run(load(project_dir), jobs=3)
    assert sorted(result.ran) == ["prepare", "report", "train"]
    assert result.ran.index("prepare") < result.ran.index("train")


def test_concurrent_runs_wait_and_never_corrupt(project_dir):
    # the first run's report stage holds on until the test creates `release`
    hold = "python -c 'import os, time; [time.sleep(0.05) for _ in range(600) if not os.path.exists(\"release\")]'"
    (project_dir / "flowtide.yaml").write_text(
        CONFIG.replace("python stage.py report", hold + " && python stage.py report")
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-m", "flowtide", "run"]
    first = subprocess.Popen(cmd, cwd=project_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while "train" not in executions(project_dir) and time.time() < deadline:
        time.sleep(0.05)
    busy = run_process("run", "--wait", "0", cwd=project_dir)
    assert busy.code == 1 and "run is busy" in busy.err
    second = subprocess.Popen(cmd, cwd=project_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    (project_dir / "release").write_text("")
    out1, _ = first.communicate(timeout=60)
    out2, _ = second.communicate(timeout=60)
    assert first.returncode == 0 and second.returncode == 0, (out1, out2)
    assert "Everything is up to date." in out2
    assert sorted(executions(project_dir)) == ["prepare", "report", "train"]
    json.loads((project_dir / "flowtide.lock").read_text())


@pytest.mark.parametrize(
    "text",
    [
        "train:\n  lr: 0.1\n  depth: 3\nother:\n  x: 1\n",
        "a: 1\nb:\n  c:\n    d: [1, 2.5, x]\n  e: 'q'  # note\nf: \"z\"\ng:\nh: true\n",
        "list:\n- 1\n- two\nk: 3\n",
        "nested:\n  list:\n  - a\n  - b\n  after: -1e3\n",
        "# it's a comment with a quote\nx: yes\ny: 010\nz: no  # c\n",
        "x: {a: 1, b: [c, 'd e']}\ny: [a, 'b']\n",
    ],
)
def test_fast_params_reader_agrees_with_ruamel(text):
    from flowtide.config._miniyaml import loads_with_positions
    from flowtide.config.positions import _parse_with_ruamel

    expected, positions = _parse_with_ruamel(text, "params.yaml")
    fast = loads_with_positions(text)
    assert fast is not None and fast[0] == expected and fast[1] == positions
    assert repr(fast[0]) == repr(expected)  # same types too (1 vs 1.0, True vs 'true')


@pytest.mark.parametrize(
    "text", ["x: 'a # b'\n", "x: 0x10\n", "x: &a 1\n", "a:\n  b: 1\n c: 2\n", "x: [a, 'b\\n']\n", "x: |+\n  a\n"]
)
def test_fast_params_reader_leaves_the_rest_to_ruamel(text):
    from flowtide.config._miniyaml import loads_with_positions

    assert loads_with_positions(text) is None


def test_run_cli_dry_json_and_log(project_dir):
    dry = run_cli("run", "--dry", cwd=project_dir)
    assert dry.code == 0
    assert dry.out == (
        "prepare: would run (never run)\ntrain: would run (never run)\nreport: would run (never run)\n3 stage(s) would run\n"
    )
    assert executions(project_dir) == []
    result = run_cli("run", "--json", cwd=project_dir)
    data = json.loads(result.out)
    assert data["ok"] and data["ran"] == ["prepare", "train", "report"] and data["run_id"]
    assert "prepare: running (never run)" in result.err
    again = run_cli("run", cwd=project_dir)
    assert again.out.endswith("Everything is up to date.\n")


def test_noop_status_and_run_import_nothing_heavy(project_dir):
    run(load(project_dir))
    probe = (
        "import sys; from flowtide.cli import main; code = main(sys.argv[1:]); "
        "print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    snapshot = project_dir / ".flowtide" / "tmp" / "uptodate.json"
    # the first full check in a new project parses the config (pydantic) and caches it under .flowtide/
    snapshot.unlink()
    subprocess.run([sys.executable, "-m", "flowtide", "status"], cwd=project_dir, env=env, check=True)
    # both the full check (no snapshot) and the snapshot answer
    for args, full_check in ((["status"], True), (["run"], True), (["status"], False), (["run"], False)):
        if full_check:
            snapshot.unlink()
        proc = subprocess.run(
            [sys.executable, "-c", probe, *args], cwd=project_dir, env=env, capture_output=True, text=True, check=True
        )
        assert snapshot.exists()
        loaded = set(proc.stdout.split())
        heavy = {"pydantic", "ruamel", "rich", "polars", "numpy", "sqlite3", "concurrent", "yaml", "sklearn"}
        assert not loaded & heavy, (args, loaded & heavy)


def test_stat_snapshot_answers_noop_and_notices_every_change(project_dir, monkeypatch):
    from flowtide.pipeline.snapshot import unchanged

    assert unchanged(str(project_dir)) is None  # never checked
    run(load(project_dir))
    assert unchanged(str(project_dir)) == ["prepare", "train", "report"]  # a full run re-checks and arms it
    assert run_cli("status", cwd=project_dir).code == 0
    assert run_cli("run", cwd=project_dir).out.endswith("report: up to date\nEverything is up to date.\n")
    # a change to a dep, an out, params, the config or the lock each falls back to the full check
    for path in ("data/raw.txt", "report.txt", "params.yaml", "flowtide.yaml", "flowtide.lock"):
        target = project_dir / path
        before = target.read_bytes()
        target.write_bytes(before + b" ")
        assert unchanged(str(project_dir)) is None, path
        target.write_bytes(before)  # same bytes, new mtime: the full check says up to date and re-arms
        assert run_cli("status", cwd=project_dir).code == 0
        assert unchanged(str(project_dir)) is not None, path
    config = CONFIG.replace("    outs: [report.txt]\n", "    outs: [report.txt]\n    env: [REPORT_MODE]\n")
    (project_dir / "flowtide.yaml").write_text(config)
    monkeypatch.setenv("REPORT_MODE", "a")
    run_cli("run", cwd=project_dir)
    assert run_cli("status", cwd=project_dir).code == 0
    assert unchanged(str(project_dir)) is not None
    monkeypatch.setenv("REPORT_MODE", "b")
    assert unchanged(str(project_dir)) is None
    assert run_cli("status", cwd=project_dir).code == 1


def test_fresh_clone_restores_outputs_from_the_remote_store(tmp_path):
    """CI: a checkout has the lock but no outputs and no local cache; the remote has the blobs."""
    import shutil

    config = CONFIG.replace("project: demo\n", "project: demo\nstore: {remote: ../remote}\n")
    origin = make_project(tmp_path / "origin", config=config)
    run(load(origin))  # auto_push uploads every new output to ../remote
    assert any((tmp_path / "remote").rglob("*"))
    clone = tmp_path / "clone"
    shutil.copytree(origin, clone, ignore=shutil.ignore_patterns(".flowtide", "models", "report.txt", "runs.log"))
    (clone / "data" / "prepared.txt").unlink()
    result = run(load(clone))
    assert sorted(result.restored) == ["prepare", "report", "train"] and result.ran == []
    assert executions(clone) == []
    assert (clone / "models" / "model.txt").read_bytes() == (origin / "models" / "model.txt").read_bytes()


def test_weather_example_trains_end_to_end(trained_weather_project):
    root = trained_weather_project
    metrics = json.loads((root / "metrics.json").read_text())
    assert set(metrics) >= {"accuracy", "f1_macro"}
    assert 0.5 < metrics["accuracy"] <= 1 and 0 < metrics["f1_macro"] <= 1
    lock = json.loads((root / "flowtide.lock").read_text())
    assert set(lock["stages"]) == {"prepare", "train", "evaluate"}
    assert lock["stages"]["train"]["params"]["train.n_estimators"] == 100
    assert "data/raw/weather.csv" in lock["stages"]["prepare"]["deps"]
    assert sorted(lock["stages"]["prepare"]["outs"]["data/prepared"]["files"]) == ["test.csv", "train.csv"]
    assert (root / "models" / "model.skops").stat().st_size > 0
    assert (root / "plots" / "confusion.csv").read_text().startswith("actual,predicted,count\n")
    assert status(Project.load(root)) == []
    runs = run_cli("runs", "--json", cwd=root)
    assert json.loads(runs.out)[0]["metrics"]["accuracy"] == metrics["accuracy"]


def test_run_keeps_what_stages_write_out_of_git_as_dvc_repro_does(tmp_path):
    root = make_project(tmp_path / "proj")
    git("init", "-q", "-b", "main", cwd=root)
    (root / ".gitignore").write_text(".flowtide/\nruns.log\nmodels/\n")  # the user's: report and prepared not yet
    assert run(load(root), dry=True).would_run and (root / ".gitignore").read_text().endswith("models/\n")
    run(load(root), ["prepare"])
    comment = "# stage outputs: their bytes live in the flowtide store, flowtide.lock records their hashes\n"
    assert (root / ".gitignore").read_text() == ".flowtide/\nruns.log\nmodels/\n" + comment + "/data/prepared.txt\n"
    run(load(root))  # train's model is under the user's models/, its metrics.json is committed
    assert (root / ".gitignore").read_text() == (
        ".flowtide/\nruns.log\nmodels/\n" + comment + "/data/prepared.txt\n" + comment + "/report.txt\n"
    )
    outputs = ["data/prepared.txt", "models/model.txt", "report.txt", "metrics.json"]
    assert git("status", "--porcelain", "--", *outputs, cwd=root) == "?? metrics.json"
    before = (root / ".gitignore").read_bytes()
    assert run(load(root)).ran == [] and (root / ".gitignore").read_bytes() == before
