from __future__ import annotations

import json

import pytest

from flowtide.errors import ConfigError, UsageError
from flowtide.project import Project
from flowtide.registry import Registry, parse_version

from ._models import events, make_project, train
from .conftest import git, run_cli


@pytest.fixture
def project(git_repo, weather_csv):
    return make_project(git_repo, weather_csv)


def _cli_ok(*args, cwd):
    result = run_cli(*args, cwd=cwd)
    assert result.code == 0, result.err + result.out
    return result


def _register_good(root, csv, seed=0):
    train(root, csv, "good", seed)
    _cli_ok("gate", "--json", cwd=root)
    return json.loads(_cli_ok("register", "--json", cwd=root).out)


def test_promote_and_rollback_history_in_file_and_tags(project, weather_csv):
    v1 = _register_good(project, weather_csv)
    assert (v1["version"], v1["stage"], v1["tag"]) == (1, "candidate", "weather@v1")
    assert v1["gates"]["passed"] is True
    assert v1["commit"] == git("rev-parse", "HEAD", cwd=project)

    refused = run_cli("promote", "weather", "1", "--to", "production", cwd=project)
    assert refused.code == 1
    assert refused.err.startswith("error: weather v1 has not been in staging; promote it to staging first\n")

    _cli_ok("promote", "weather", "v1", "--to", "staging", cwd=project)
    _cli_ok("promote", "weather", "weather@v1", "--to", "production", "--reason", "first", cwd=project)
    _register_good(project, weather_csv, seed=1)
    _cli_ok("promote", "weather", "2", "--to", "staging", cwd=project)
    _cli_ok("promote", "weather", "2", "--to", "production", cwd=project)
    registry = Registry.load(Project.load(project))
    assert [(v.version, v.stage) for v in registry.versions("weather")] == [(1, "archived"), (2, "production")]

    back = run_cli("rollback", "weather", "--reason", "latency regression", cwd=project)
    assert back.code == 0 and back.out == "weather production is back to v1\n"
    registry = Registry.load(Project.load(project))
    assert [(v.version, v.stage) for v in registry.versions("weather")] == [(1, "production"), (2, "archived")]
    # each version's history says when and why it moved, including being replaced
    assert [(e["event"], e["version"], e.get("to")) for e in registry.get("weather", 1).history] == [
        ("register", 1, None),
        ("promote", 1, "staging"),
        ("promote", 1, "production"),
        ("promote", 2, "production"),
        ("rollback", 1, None),
    ]

    # the file tells the whole story, one event per line, keys sorted
    lines = (project / "flowtide.registry").read_text().splitlines()
    for line in lines:
        assert line == json.dumps(json.loads(line), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    story = [(e["event"], e["version"], e.get("from"), e.get("to"), e.get("reason")) for e in events(project)]
    assert story == [
        ("register", 1, None, None, None),
        ("promote", 1, "candidate", "staging", None),
        ("promote", 1, "staging", "production", "first"),
        ("register", 2, None, None, None),
        ("promote", 2, "candidate", "staging", None),
        ("promote", 2, "staging", "production", None),
        ("rollback", 1, 2, None, "latency regression"),
    ]
    assert all(e["by"] == "Test <test@example.com>" for e in events(project))
    assert git("tag", "-l", "weather@*", cwd=project).split() == ["weather@v1", "weather@v2"]
    # every stage move is a tag MODEL#STAGE#N on the version's commit, with the event as its message
    moves = git("tag", "-l", "weather#*", "--format=%(refname:short) %(*objectname)", cwd=project).splitlines()
    commit = v1["commit"]
    assert sorted(moves, key=lambda line: int(line.split()[0].rsplit("#", 1)[1])) == [
        f"weather#staging#1 {commit}",
        f"weather#production#2 {commit}",
        f"weather#staging#3 {commit}",
        f"weather#production#4 {commit}",
        f"weather#production#5 {commit}",
    ]
    rollback_message = git("tag", "-l", "--format=%(contents)", "weather#production#5", cwd=project)
    assert json.loads(rollback_message.split("\n\n", 1)[1])["reason"] == "latency regression"
    message = git("tag", "-l", "--format=%(contents)", "weather@v2", cwd=project)
    assert v1["hash"] not in message and json.loads(message.split("\n\n", 1)[1])["gates"]["passed"] is True

    again = run_cli("rollback", "weather", cwd=project)
    assert again.code == 1
    assert "weather v1 is the first production version of 'weather'; there is nothing to roll back to" in again.err


def test_worse_model_fails_relative_gate_and_needs_force(project, weather_csv):
    good = _register_good(project, weather_csv)
    _cli_ok("promote", "weather", "1", "--to", "staging", cwd=project)
    _cli_ok("promote", "weather", "1", "--to", "production", cwd=project)

    train(project, weather_csv, "bad")
    gate = run_cli("gate", "--json", cwd=project)
    assert gate.code == 1
    report = json.loads(gate.out)
    failed = [f for f in report["findings"] if f["status"] == "fail"]
    assert [f["rule"] for f in failed] == ["f1_macro >= production - 0.02"]
    assert failed[0]["bound"] == pytest.approx(good["metrics"]["f1_macro"] - 0.02)

    refused = run_cli("register", "--require-gates", cwd=project)
    assert refused.code == 1 and "the gates did not pass" in refused.err
    assert len(events(project)) == 3  # nothing registered
    v2 = json.loads(_cli_ok("register", "--json", cwd=project).out)
    assert v2["version"] == 2 and v2["gates"]["passed"] is False
    _cli_ok("promote", "weather", "2", "--to", "staging", cwd=project)
    refused = run_cli("promote", "weather", "2", "--to", "production", cwd=project)
    assert refused.code == 1
    assert refused.err == (
        "error: weather v2 failed its gates; it cannot be promoted to production\n"
        "Fix the model, or override with --force --reason TEXT (recorded in the registry).\n"
    )
    no_reason = run_cli("promote", "weather", "2", "--to", "production", "--force", cwd=project)
    assert no_reason.code == 2 and "--force needs --reason TEXT" in no_reason.err
    _cli_ok("promote", "weather", "2", "--to", "production", "--force", "--reason", "hotfix", cwd=project)
    last = events(project)[-1]
    assert (last["event"], last["to"], last["forced"], last["reason"], last["replaces"]) == (
        "promote",
        "production",
        True,
        "hotfix",
        1,
    )
    # the same bytes again are v2, whatever their gates: nothing to refuse, nothing registered
    again = run_cli("register", "--require-gates", cwd=project)
    assert again.code == 0 and again.out.endswith("are already weather v2 (production); nothing new to deploy\n")


def test_register_records_lineage_and_ci_actor(project, weather_csv, monkeypatch):
    from flowtide.hashing import hash_file

    digest, size = hash_file(project / "data" / "weather.csv")
    (project / "flowtide.lock").write_text(
        json.dumps(
            {
                "version": 1,
                "sources": {"weather": {"path": "data/weather.csv", "hash": digest, "size": size}},
                "stages": {
                    "train": {"deps": {"data/weather.csv": {"hash": digest}}, "params": {"train.n_estimators": 15}}
                },
            }
        )
    )
    with open(project / "params.yaml", "a") as handle:
        handle.write("# an uncommitted edit\n")
    metrics = train(project, weather_csv)
    monkeypatch.setenv("GITHUB_ACTOR", "octocat")
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.example")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/weather")
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    result = _cli_ok("register", "--json", cwd=project)
    assert "warning: weather@v1 was built from a working tree with uncommitted changes" in result.err
    version = json.loads(result.out)
    assert version["data"] == {"data/weather.csv": digest}
    assert version["lineage"]["train"]["params"] == {"train.n_estimators": 15}
    assert version["params"] == {"train": {"n_estimators": 15}}
    assert version["metrics"] == metrics
    assert version["dirty"] is True
    assert version["created_by"] == "octocat"
    assert version["run_url"] == "https://github.example/acme/weather/actions/runs/42"
    # no `flowtide gate` for these bytes: recorded as not evaluated, so not promotable
    assert version["gates"] == {
        "evaluated": False,
        "message": "gates not evaluated: run `flowtide gate` first",
        "passed": False,
    }
    blob = Project.load(project).store.path_of(version["hash"])
    assert blob.read_bytes() == (project / "models" / "model.skops").read_bytes()


def test_existing_tag_only_warns(project, weather_csv):
    git("tag", "weather@v1", cwd=project)
    train(project, weather_csv)
    result = run_cli("register", cwd=project)
    assert result.code == 0
    assert result.out.startswith("registered weather@v1 (")
    assert "warning: could not create git tag weather@v1: fatal: tag 'weather@v1' already exists" in result.err


def test_models_json_and_show(project, weather_csv):
    v1 = _register_good(project, weather_csv)
    _cli_ok("promote", "weather", "1", "--to", "staging", "--reason", "try it", cwd=project)
    listing = json.loads(_cli_ok("models", "--json", cwd=project).out)
    assert list(listing) == ["weather"]
    (entry,) = listing["weather"]
    assert entry == {
        "commit": v1["commit"],
        "created": v1["created"],
        "created_by": "Test <test@example.com>",
        "dirty": False,
        "format": "skops",
        "gates_evaluated": True,
        "gates_passed": True,
        "hash": v1["hash"],
        "metrics": v1["metrics"],
        "size": v1["size"],
        "stage": "staging",
        "tag": "weather@v1",
        "version": 1,
    }
    shown = json.loads(_cli_ok("models", "show", "weather", "1", "--json", cwd=project).out)
    assert [e["event"] for e in shown["history"]] == ["register", "promote"]
    text = _cli_ok("models", cwd=project).out
    assert text.splitlines()[0] == "weather: 1 version(s); production none, staging v1"
    card = _cli_ok("models", "show", "weather", "1", "--card", cwd=project).out
    assert card.startswith("# Model card: weather v1\n")
    for heading in (
        "## Intended use",
        "## Data",
        "## Inputs",
        "## Parameters",
        "## Metrics",
        "## Gates: passed",
        "## Lineage",
    ):
        assert heading in card
    missing = run_cli("models", "show", "weather", "7", cwd=project)
    assert missing.code == 2 and missing.err == "error: model 'weather' has no version 7 (latest is v1)\n"


def test_hand_edited_registry_points_at_the_line(project, weather_csv):
    train(project, weather_csv)
    _cli_ok("register", cwd=project)
    with open(project / "flowtide.registry", "a") as handle:
        handle.write("<<<<<<< HEAD\n")
    with pytest.raises(ConfigError, match=r"^flowtide.registry:2: not a JSON event"):
        Registry.load(Project.load(project))


def test_parse_version():
    assert [parse_version(s) for s in (3, "3", "v3", "weather@v3")] == [3, 3, 3, 3]
    with pytest.raises(UsageError, match="'latest' is not a version"):
        parse_version("latest")


def test_weather_example_twice_with_a_worse_second_model(
    trained_weather_project, tmp_path, tmp_path_factory, monkeypatch
):
    """The issue's check: train the example, promote it, retrain worse; the gate, registry and loader hold."""
    import shutil

    from flowtide.errors import IntegrityError
    from flowtide.formats import load_model
    from flowtide.pipeline import run

    from .conftest import fast_python_env

    root = tmp_path / "weather"
    shutil.copytree(trained_weather_project, root, symlinks=True)
    env = fast_python_env(tmp_path_factory)
    # the gate's model-test process inherits this environment: let it reuse compiled bytecode
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    monkeypatch.setenv("PYTHONPYCACHEPREFIX", env["PYTHONPYCACHEPREFIX"])

    gate = run_cli("gate", "--json", cwd=root)
    assert gate.code == 0, gate.out + gate.err
    tests = next(f for f in json.loads(gate.out)["findings"] if f["target"] == "model tests")
    assert tests["status"] == "pass" and len(tests["details"]["passed"]) == 3
    first = json.loads(_cli_ok("register", "--json", cwd=root).out)
    assert first["gates"]["passed"] is True
    assert {"data/raw/weather.csv", "data/prepared/train.csv"} <= set(first["data"])
    assert "models/model.skops" not in first["data"]  # the artifact is not its own data
    assert first["lineage"]["train"]["params"]["train.n_estimators"] == 100
    _cli_ok("promote", "weather", "1", "--to", "staging", cwd=root)
    _cli_ok("promote", "weather", "1", "--to", "production", cwd=root)

    params = (root / "params.yaml").read_text()
    worse = params.replace("model: random_forest", "model: hist_gradient_boosting")
    worse = worse.replace("learning_rate: 0.1", "learning_rate: 0.001").replace("max_depth: 6", "max_depth: 2")
    assert worse != params
    (root / "params.yaml").write_text(worse)
    run(Project.load(root, env=env))

    gate = run_cli("gate", "--json", cwd=root)
    assert gate.code == 1
    failed = {f["rule"] for f in json.loads(gate.out)["findings"] if f["status"] == "fail"}
    assert "f1_macro >= production - 0.02" in failed
    second = json.loads(_cli_ok("register", "--json", cwd=root).out)
    assert (second["version"], second["gates"]["passed"], second["dirty"]) == (2, False, True)
    _cli_ok("promote", "weather", "2", "--to", "staging", cwd=root)
    assert run_cli("promote", "weather", "2", "--to", "production", cwd=root).code == 1
    assert run_cli("promote", "weather", "2", "--to", "production", "--force", cwd=root).code == 2
    registry = Registry.load(Project.load(root))
    assert registry.in_stage("weather", "production").version == 1

    # the served artifact is verified: a tampered blob is refused at load
    project = Project.load(root)
    v1 = registry.get("weather", 1)
    assert load_model(project, v1).predict([{"precipitation": 0, "temp_max": 20, "temp_min": 10, "wind": 2}])
    blob = project.store.path_of(v1.hash)
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes() + b"\0")
    with pytest.raises(IntegrityError, match=r"^weather v1: the artifact .* but the registry recorded"):
        load_model(project, v1)
    assert git("tag", "-l", "weather@*", cwd=root).split() == ["weather@v1", "weather@v2"]
    assert sorted(git("tag", "-l", "weather#*", cwd=root).split()) == [
        "weather#production#2",
        "weather#staging#1",
        "weather#staging#3",
    ]


def test_concurrent_registers_get_distinct_versions(project, weather_csv):
    import threading

    from flowtide.registry import register

    train(project, weather_csv)
    Project.load(project)  # write the config cache once
    results, errors = [], []

    def worker():
        try:
            results.append(register(Project.load(project)).version)
        except Exception as exc:  # surfaced below
            errors.append(exc)

    for seed in range(3):  # one artifact at a time on disk: four concurrent registers of each
        train(project, weather_csv, seed=seed)
        threads = [threading.Thread(target=worker) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    # the same bytes raced four times: one version each, under the registry mutex
    assert sorted(results) == [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]
    assert [e["version"] for e in events(project)] == [1, 2, 3]
    assert len({e["hash"] for e in events(project)}) == 3


HEAVY = ["polars", "pandas", "sklearn", "skops", "numpy", "mlflow", "pydantic", "ruamel", "rich", "httpx"]


@pytest.mark.parametrize(
    "argv",
    [
        ["register", "--json"],
        ["promote", "weather", "1", "--to", "staging", "--json"],
        ["models"],
        ["models", "--json"],
    ],
)
def test_registry_commands_import_no_heavy_library(project, weather_csv, argv):
    """`register`, `promote` and `models` stay fast by importing no ML, validation or rendering library."""
    import subprocess
    import sys

    train(project, weather_csv)
    _cli_ok("gate", cwd=project)  # also writes the config cache, so pydantic is not needed below
    Project.load(project).params()  # as after `flowtide run`: params.yaml parsed and cached
    if argv[0] != "register":
        _cli_ok("register", cwd=project)
    probe = (
        "import json, sys\nfrom flowtide.cli import main\n"
        f"code = main(['-C', {str(project)!r}, *{argv!r}])\n"
        f"print(json.dumps([code, sorted(m for m in {HEAVY!r} if m in sys.modules)]), file=sys.stderr)"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    code, loaded = json.loads(proc.stderr.strip().splitlines()[-1])
    assert (code, loaded) == (0, [])


def test_merged_branches_with_the_same_version_number_are_reported(project, weather_csv):
    train(project, weather_csv)
    _cli_ok("register", cwd=project)
    line = (project / "flowtide.registry").read_text()
    other = json.loads(line)
    other["hash"] = "f" * 64
    with open(project / "flowtide.registry", "a") as handle:
        handle.write(json.dumps(other, sort_keys=True) + "\n")
    result = run_cli("models", "show", "weather", "1", cwd=project)
    assert result.code == 2
    assert result.err.startswith(
        f"error: flowtide.registry: weather v1 is registered twice (artifacts {json.loads(line)['hash'][:12]} and ffffffffffff)\n"
    )


def test_models_listing_limits_and_unknown_model(project, weather_csv):
    for seed in range(3):
        train(project, weather_csv, seed=seed)
        _cli_ok("register", cwd=project)
    text = _cli_ok("models", "weather", "--last", "2", cwd=project).out.splitlines()
    assert text[0] == "weather: 3 version(s); production none, staging none"
    assert [line.split()[0] for line in text if line.startswith("v")] == ["version", "v2", "v3"]
    assert text[-1] == "… 1 older version(s): --all or --last N to see them"
    assert len(json.loads(_cli_ok("models", "--json", cwd=project).out)["weather"]) == 3
    unknown = run_cli("models", "wether", cwd=project)
    assert unknown.code == 2
    assert unknown.err.startswith(
        "error: model 'wether' has no registered versions in flowtide.registry (models: weather)"
    )


# --- identical bytes, production never emptied, who approved ----------------------------------------


def test_register_of_identical_bytes_registers_nothing_and_ci_deploys_nothing(project, weather_csv, tmp_path):
    import os
    import shutil
    import subprocess
    import sys

    from flowtide.workflows.github.train import _REGISTER

    first = _register_good(project, weather_csv)
    again = _cli_ok("register", cwd=project)
    assert again.out == (
        f"not registered: these bytes ({first['hash'][:12]}) are already weather v1 (candidate); nothing new to deploy\n"
    )
    as_json = json.loads(_cli_ok("register", "--json", "--require-gates", cwd=project).out)
    assert as_json == {
        "registered": False,
        "existing": 1,
        "version": "",
        "model": "weather",
        "hash": first["hash"],
        "existing_stage": "candidate",
        "tag": "weather@v1",
    }
    assert [e["event"] for e in events(project)] == ["register"]
    assert git("tag", "-l", "weather@*", cwd=project).split() == ["weather@v1"]

    # train.yml's register step, run as CI runs it: an empty version output, so deploy is skipped
    def ci_register() -> tuple[str, str]:
        output, summary = tmp_path / "output", tmp_path / "summary"
        output.write_text("")
        env = {
            **os.environ,
            "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}",
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
        }
        subprocess.run(["bash", "-c", _REGISTER], cwd=project, env=env, check=True, capture_output=True)
        return output.read_text(), summary.read_text()

    assert ci_register()[0] == "version=\n"
    v1 = project / "v1.skops"
    shutil.copyfile(project / "models" / "model.skops", v1)
    train(project, weather_csv, "good", seed=1)
    _cli_ok("gate", cwd=project)
    assert ci_register()[0] == "version=2\n"
    assert ci_register()[0] == "version=\n"

    # the identical version archived: still nothing registered; the message says how to serve it again
    for version in ("1", "2"):
        _cli_ok("promote", "weather", version, "--to", "staging", cwd=project)
        _cli_ok("promote", "weather", version, "--to", "production", cwd=project)
    shutil.copyfile(v1, project / "models" / "model.skops")
    archived = _cli_ok("register", cwd=project)
    assert archived.out == (
        f"not registered: these bytes ({first['hash'][:12]}) are already weather v1 (archived); nothing new to deploy. "
        "To serve it again: flowtide promote weather 1 --to staging\n"
    )
    assert [e["version"] for e in events(project) if e["event"] == "register"] == [1, 2]


def test_production_is_replaced_never_emptied(project, weather_csv):
    _register_good(project, weather_csv)
    _cli_ok("promote", "weather", "1", "--to", "staging", cwd=project)
    _cli_ok("promote", "weather", "1", "--to", "production", cwd=project)
    before = (project / "flowtide.registry").read_bytes()

    staged = run_cli("promote", "weather", "1", "--to", "staging", cwd=project)
    assert staged.code == 1
    assert staged.err == (
        "error: weather v1 is already in production; moving it to staging would leave 'weather' without a production "
        "version (serve would answer 404)\n"
        "To replace it, promote another version (flowtide promote weather VERSION --to production) or go back to the "
        "previous one (flowtide rollback weather); it is archived then.\n"
    )
    forced = run_cli("promote", "weather", "1", "--to", "staging", "--force", "--reason", "try", cwd=project)
    assert forced.code == 1 and forced.err == staged.err
    archived = run_cli("promote", "weather", "1", "--to", "archived", cwd=project)
    assert archived.code == 1
    assert archived.err.startswith(
        "error: weather v1 is in production; archiving it would leave 'weather' without a production version"
    )
    assert archived.err.endswith("to take the model out of service on purpose: --force --reason TEXT.\n")
    assert (project / "flowtide.registry").read_bytes() == before  # refused: nothing written

    # rollback to a version that is the canary now: production moves, staging empties, production never does
    _register_good(project, weather_csv, seed=1)
    _cli_ok("promote", "weather", "2", "--to", "staging", cwd=project)
    _cli_ok("promote", "weather", "2", "--to", "production", cwd=project)
    _cli_ok("promote", "weather", "1", "--to", "staging", cwd=project)
    _cli_ok("rollback", "weather", cwd=project)
    registry = Registry.load(Project.load(project))
    assert (registry.in_stage("weather", "production").version, registry.in_stage("weather", "staging")) == (1, None)
    assert registry.get("weather", 2).stage == "archived"

    # the one way to take a model out of service: an explicit, reasoned archive
    _cli_ok("promote", "weather", "1", "--to", "archived", "--force", "--reason", "recall", cwd=project)
    registry = Registry.load(Project.load(project))
    assert registry.in_stage("weather", "production") is None
    assert events(project)[-1]["reason"] == "recall" and events(project)[-1]["forced"] is True


def test_a_promotion_records_the_ci_run_and_who_triggered_it(project, weather_csv, monkeypatch):
    _register_good(project, weather_csv)
    _cli_ok("promote", "weather", "1", "--to", "staging", cwd=project)
    monkeypatch.setenv("GITHUB_ACTOR", "flowtide-bot")
    monkeypatch.setenv("GITHUB_TRIGGERING_ACTOR", "alice")
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.example")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/weather")
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    monkeypatch.setenv("GITHUB_RUN_ATTEMPT", "2")
    monkeypatch.setenv("GITHUB_WORKFLOW", "deploy")
    _cli_ok("promote", "weather", "1", "--to", "production", "--reason", "approved", cwd=project)
    event = events(project)[-1]
    assert {k: event[k] for k in ("by", "triggered_by", "run_url", "workflow", "to")} == {
        "by": "flowtide-bot",
        "triggered_by": "alice",
        "run_url": "https://github.example/acme/weather/actions/runs/42/attempts/2",
        "workflow": "deploy",
        "to": "production",
    }
    shown = _cli_ok("models", "show", "weather", "1", cwd=project).out.splitlines()
    at = next(i for i, line in enumerate(shown) if "promote staging -> production" in line)
    assert shown[at].endswith(
        "promote staging -> production  by flowtide-bot (workflow deploy), triggered by alice  (approved)"
    )
    assert shown[at + 1] == "      run https://github.example/acme/weather/actions/runs/42/attempts/2"
    as_json = json.loads(_cli_ok("models", "show", "weather", "1", "--json", cwd=project).out)
    assert as_json["history"][-1]["triggered_by"] == "alice"


def test_an_event_is_appended_not_the_file_rewritten(project, weather_csv):
    """Registering costs the same at 100,000 versions as at 10: the file is appended to, its earlier bytes and
    inode untouched (a rewrite would replace the inode, as an atomic rename does)."""
    _register_good(project, weather_csv)
    path = project / "flowtide.registry"
    before, inode = path.read_bytes(), path.stat().st_ino
    _cli_ok("promote", "weather", "1", "--to", "staging", cwd=project)
    after = path.read_bytes()
    assert path.stat().st_ino == inode
    assert after.startswith(before) and after.count(b"\n") == before.count(b"\n") + 1
    assert json.loads(after.splitlines()[-1])["to"] == "staging"


def test_a_torn_last_line_is_an_event_that_never_happened(project, weather_csv):
    """A crash in the middle of an append leaves a partial last line with no newline: readers skip it, the next
    append cuts it off; a complete last line that only lost its newline (a hand edit) is kept."""
    _register_good(project, weather_csv)
    path = project / "flowtide.registry"
    good = path.read_bytes()
    path.write_bytes(good + b'{"event":"promote","model":"weather","to":"stag')
    assert Registry.load(Project.load(project)).get("weather", 1).stage == "candidate"
    _cli_ok("promote", "weather", "1", "--to", "staging", cwd=project)
    lines = path.read_bytes().splitlines()
    assert b'stag"' not in path.read_bytes() and len(lines) == good.count(b"\n") + 1
    assert all(isinstance(json.loads(line), dict) for line in lines)

    path.write_bytes(path.read_bytes().rstrip(b"\n"))  # an editor dropped the final newline
    _cli_ok("promote", "weather", "1", "--to", "production", cwd=project)
    registry = Registry.load(Project.load(project))
    assert registry.get("weather", 1).stage == "production"
    assert [e["event"] for e in registry.events] == ["register", "promote", "promote"]


def _register_line(v: int, *, compact: bool = False) -> str:
    return json.dumps(
        {
            "event": "register",
            "model": "weather",
            "version": v,
            "hash": f"{v:064x}",
            "size": 10 + v,
            "format": "skops",
            "path": "models/model.skops",
            "metrics": {"accuracy": 0.5 + v / 1000},
            "gates": {"passed": v % 2 == 0, "evaluated": True},
            "at": "2026-01-01T00:00:00Z",
            "tag": f"weather@v{v}",
        },
        sort_keys=True,
        separators=(",", ":") if compact else None,
    )


def test_the_listing_after_appends_is_the_full_replays_listing(tmp_path):
    """`models` after a write replays only the appended lines over its memo: promotions, archiving and a rollback
    give exactly what a replay of the whole file gives."""
    root = tmp_path / "p"
    (root / ".flowtide").mkdir(parents=True)
    (root / "flowtide.yaml").write_text("project: p\nmodel: {name: weather, path: models/model.skops}\n")
    registry = root / "flowtide.registry"
    registry.write_text("".join(_register_line(v) + "\n" for v in range(1, 301)))
    memo = root / ".flowtide" / "tmp"

    def listing(**kw):
        return json.loads(_cli_ok("models", "--json", "--all", cwd=root).out)

    listing()
    steps = [
        '{"event":"promote","model":"weather","version":3,"to":"staging"}',
        '{"event":"promote","model":"weather","version":3,"to":"production"}',
        '{"event":"promote","model":"weather","version":250,"to":"staging"}',
        '{"event":"promote","model":"weather","version":250,"to":"production"}',
        '{"event":"rollback","model":"weather","version":3,"from":250}',
        _register_line(301),
    ]
    for step in steps:
        with open(registry, "a") as handle:
            handle.write(step + "\n")
        incremental = listing()
        import shutil

        shutil.rmtree(memo)
        assert incremental == listing(), step  # the second one replays the whole file
    final = {r["version"]: r["stage"] for r in incremental["weather"]}
    assert (final[3], final[250], final[301]) == ("production", "archived", "candidate")


def test_a_memo_that_does_not_describe_this_file_is_not_built_upon(tmp_path):
    """The memo is input: one for another file (other inode) or whose covered bytes differ is not extended."""
    root = tmp_path / "p"
    (root / ".flowtide").mkdir(parents=True)
    (root / "flowtide.yaml").write_text("project: p\nmodel: {name: weather, path: models/model.skops}\n")
    registry = root / "flowtide.registry"
    registry.write_text("".join(_register_line(v) + "\n" for v in range(1, 4)))
    _cli_ok("models", "--json", cwd=root)
    (memo,) = (root / ".flowtide" / "tmp").glob("registry-full-*.lines")
    stamp, header, *records = memo.read_text().split("\n")
    forged = json.loads(header)
    records[0] = records[0].replace('"candidate"', '"production"')
    forged["models"]["weather"]["production"] = 1
    for tamper in ({}, {"digest": "0" * 64}, {"inode": forged["inode"] + 1}):
        memo.write_text("\n".join([stamp, json.dumps({**forged, **tamper}), *records]))
        with open(registry, "a") as handle:
            handle.write('{"event":"promote","model":"weather","version":2,"to":"staging"}\n')
        stages = {r["version"]: r["stage"] for r in json.loads(_cli_ok("models", "--json", cwd=root).out)["weather"]}
        if tamper:
            assert stages[1] == "candidate", tamper
        else:  # the same inode and bytes: it is this file's memo, and it is extended (what the test relies on)
            assert stages[1] == "production"


def test_a_gate_verdict_that_came_with_a_checkout_is_not_a_verdict(project, weather_csv):
    """`.flowtide/gate.json` is written by `flowtide gate` here; a copy a pull request force-added claims
    nothing: the version registers as not gated, and promoting it to production needs --force."""
    from flowtide.hashing import hash_file

    train(project, weather_csv, "bad")
    digest, _ = hash_file(project / "models" / "model.skops")
    forged = {digest: {"passed": True, "evaluated": True, "rules": [], "at": "2026-01-01T00:00:00Z"}}
    (project / ".flowtide" / "gate.json").write_text(json.dumps(forged))
    git("add", "-f", ".flowtide/gate.json", cwd=project)
    git("commit", "-q", "-m", "totally gated", cwd=project)
    registered = json.loads(_cli_ok("register", "--json", cwd=project).out)
    assert not registered["gates"].get("passed"), registered["gates"]
    _cli_ok("promote", "weather", "1", "--to", "staging", cwd=project)
    refused = run_cli("promote", "weather", "1", "--to", "production", cwd=project)
    assert refused.code != 0 and "gate" in (refused.err + refused.out).lower()
