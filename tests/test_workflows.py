"""Generated GitHub Actions workflows: golden files, invariants, real validators, `flowtide ci generate/check`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flowtide.config import parse_config
from flowtide.errors import ConfigError
from flowtide.workflows.generate import HEADER, WORKFLOW_FILES, render
from flowtide.workflows.github.schedules import off_minute
from flowtide.workflows.github.train import train_paths
from flowtide.workflows.pinned_actions import PINS

from .conftest import run_cli

GOLDEN = Path(__file__).parent / "golden" / "workflows"
CASES = ["weather", "store-app"]
BIN = Path(sys.executable).parent
UPDATE = os.environ.get("FLOWTIDE_UPDATE_GOLDEN") == "1"  # regenerate the golden files on purpose


def _config(case: str):
    path = GOLDEN / case / "flowtide.yaml"
    return parse_config(path.read_text(encoding="utf-8"))


def _yaml(text: str):
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(text)


@pytest.fixture(scope="module")
def rendered() -> dict[str, dict[str, str]]:
    return {case: render(_config(case)) for case in CASES}


def _project(tmp_path: Path, case: str = "weather") -> Path:
    root = tmp_path / case
    root.mkdir()
    shutil.copy(GOLDEN / case / "flowtide.yaml", root / "flowtide.yaml")
    return root


# --- golden files -------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("name", WORKFLOW_FILES)
def test_golden(rendered, case, name):
    text = rendered[case][f".github/workflows/{name}"]
    golden = GOLDEN / case / name
    if UPDATE:
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8"), f"{case}/{name} changed: FLOWTIDE_UPDATE_GOLDEN=1 to accept"


def test_render_is_stable(rendered):
    assert render(_config("weather")) == rendered["weather"]


# --- invariants every workflow keeps ---------------------------------------------------


def _steps(workflow: dict):
    for job_id, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield job_id, step


@pytest.mark.parametrize("case", CASES)
def test_every_workflow_is_least_privilege_pinned_and_bounded(rendered, case):
    for rel, text in rendered[case].items():
        assert text.startswith(f"# {HEADER}\n")
        workflow = _yaml(text)
        assert "on" in workflow, rel  # YAML 1.2: `on` is a string key, not True
        assert workflow["permissions"] == {}, rel
        for job_id, job in workflow["jobs"].items():
            assert job.get("permissions"), f"{rel}:{job_id} has no job permissions"
            if "uses" in job:  # a called workflow: its jobs carry timeouts
                assert job["uses"].startswith("./.github/workflows/")
                continue
            assert isinstance(job["timeout-minutes"], int), f"{rel}:{job_id}"
        for job_id, step in _steps(workflow):
            if "uses" in step:
                repo, _, sha = step["uses"].partition("@")
                assert re.fullmatch(r"[0-9a-f]{40}", sha), f"{rel}:{job_id} {step['uses']} is not SHA-pinned"
                assert any(p.repo == repo and p.sha == sha for p in PINS.values())
            if "run" in step:
                # script-injection safety: context values reach scripts only through env
                assert "${{" not in step["run"], f"{rel}:{job_id}: expression inside run:"
        # the version comment sits next to every pinned SHA
        for line in text.splitlines():
            if re.search(r"uses: [\w-]+/[\w-]+@", line):
                assert re.search(r"@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), line


def test_write_permissions_only_where_needed(rendered):
    weather = {rel.rsplit("/", 1)[-1]: _yaml(text) for rel, text in rendered["weather"].items()}
    assert weather["ci.yml"]["jobs"]["test"]["permissions"] == {"contents": "read"}
    assert weather["ci.yml"]["jobs"]["comment"]["permissions"] == {"pull-requests": "write"}
    assert weather["data.yml"]["jobs"]["pull"]["permissions"] == {"contents": "write"}
    assert weather["monitor.yml"]["jobs"]["monitor"]["permissions"] == {"contents": "write", "actions": "write"}
    app = {rel.rsplit("/", 1)[-1]: _yaml(text) for rel, text in rendered["store-app"].items()}
    # with an App token, GITHUB_TOKEN never needs to write contents
    for workflow in app.values():
        for job in workflow["jobs"].values():
            assert job["permissions"].get("contents") in (None, "read")


def test_ci_workflow(rendered):
    ci = _yaml(rendered["weather"][".github/workflows/ci.yml"])
    assert set(ci["on"]) == {"pull_request", "push", "workflow_dispatch"}
    assert "pull_request_target" not in rendered["weather"][".github/workflows/ci.yml"]
    assert ci["on"]["push"] == {"branches": ["main"]}
    runs = [s.get("run") for s in ci["jobs"]["test"]["steps"]]
    for command in (
        "make install",
        "make lint",
        "make test",
        "flowtide ci check",
        "flowtide check --md",
        "flowtide run",
    ):
        assert command in runs
    setup = next(s for s in ci["jobs"]["test"]["steps"] if "setup-python" in s.get("uses", ""))
    assert setup["with"]["cache"] == "pip" and "requirements*.txt" in setup["with"]["cache-dependency-path"]
    comment = ci["jobs"]["comment"]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in comment["if"]
    assert comment["steps"][0]["env"] == {"BODY": "${{ needs.test.outputs.diff }}"}
    assert "<!-- flowtide:metrics-diff -->" in comment["steps"][0]["with"]["script"]
    assert "updateComment" in comment["steps"][0]["with"]["script"]


def test_ci_smoke_run_is_configurable():
    ci = _yaml(render(parse_config("project: x\nci: {smoke: null, lint: null}\n"))[".github/workflows/ci.yml"])
    names = [s.get("name") for s in ci["jobs"]["test"]["steps"]]
    assert "Smoke run of the pipeline" not in names and "Lint" not in names and "Tests" in names


def test_data_workflow_commits_the_lock_and_calls_training(rendered):
    data = _yaml(rendered["weather"][".github/workflows/data.yml"])
    assert data["on"]["schedule"] == [{"cron": off_minute("0 6 * * *", "weather")}]
    assert data["concurrency"] == {"group": "flowtide-data", "cancel-in-progress": False}
    pull = data["jobs"]["pull"]
    assert pull["outputs"] == {
        "changed": "${{ steps.commit.outputs.changed }}",
        "sha": "${{ steps.commit.outputs.sha }}",
    }
    commit = next(s for s in pull["steps"] if s.get("id") == "commit")
    assert commit["env"]["GIT_AUTHOR_EMAIL"] == "41898282+github-actions[bot]@users.noreply.github.com"
    assert commit["env"]["GIT_COMMITTER_NAME"] == "github-actions[bot]"
    assert "for path in flowtide.lock data/raw/weather.csv; do" in commit["run"]
    assert "git pull --rebase" in commit["run"]
    assert "[skip ci]" in commit["env"]["MESSAGE"]
    train = data["jobs"]["train"]
    assert train["uses"] == "./.github/workflows/train.yml"
    assert train["with"]["sha"] == "${{ needs.pull.outputs.sha }}"
    assert train["if"] == "needs.pull.outputs.changed == 'true'"


def test_store_mode_pulls_each_schedule_and_pushes_blobs(rendered):
    data = _yaml(rendered["store-app"][".github/workflows/data.yml"])
    crons = [c["cron"] for c in data["on"]["schedule"]]
    assert crons == ["8 * * * *", "27 5 * * 1-5"]  # both moved off congested minutes, one line per cron
    steps = data["jobs"]["pull"]["steps"]
    pull = next(s for s in steps if s.get("name", "").startswith("Pull sources"))
    assert f'"{crons[0]}") sources="load" ;;' in pull["run"]
    # a run called by monitor.yml sees monitor's schedule event: only data.yml's own schedule narrows the pull
    assert pull["env"]["SCHEDULE"] == "${{ inputs.reason == '' && github.event.schedule || '' }}"
    assert pull["env"]["AWS_ACCESS_KEY_ID"] == "${{ secrets.AWS_ACCESS_KEY_ID }}"
    assert any(s.get("run") == "flowtide push" for s in steps)
    assert any(s.get("run") == "flowtide fetch" for s in steps)
    token = next(s for s in steps if s.get("id") == "app-token")
    assert token["with"]["app-id"] == "${{ secrets.FLOWTIDE_APP_ID }}"
    checkout = next(s for s in steps if "checkout" in s.get("uses", ""))
    assert checkout["with"]["token"] == "${{ steps.app-token.outputs.token }}"
    # secrets reach the called workflow explicitly (no `secrets: inherit`)
    assert data["jobs"]["train"]["secrets"]["FLOWTIDE_APP_PRIVATE_KEY"] == "${{ secrets.FLOWTIDE_APP_PRIVATE_KEY }}"
    train = _yaml(rendered["store-app"][".github/workflows/train.yml"])
    assert train["on"]["push"]["branches"] == ["trunk"]
    assert set(train["on"]["workflow_call"]["secrets"]) == {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "FLOWTIDE_APP_ID",
        "FLOWTIDE_APP_PRIVATE_KEY",
    }


def test_train_and_deploy(rendered):
    train = _yaml(rendered["weather"][".github/workflows/train.yml"])
    assert set(train["on"]) == {"push", "workflow_dispatch", "workflow_call"}
    assert train["on"]["push"]["paths"] == train_paths(_config("weather"))
    assert {"src/**", "params.yaml", "flowtide.lock", "data/raw/weather.csv"} <= set(train["on"]["push"]["paths"])
    runs = "\n".join(s.get("run", "") for s in train["jobs"]["train"]["steps"])
    assert "flowtide run" in runs and "flowtide gate --md" in runs and "flowtide register" in runs
    assert train["jobs"]["deploy"]["uses"] == "./.github/workflows/deploy.yml"
    deploy = _yaml(rendered["weather"][".github/workflows/deploy.yml"])
    assert deploy["jobs"]["staging"]["environment"] == "staging"
    production = deploy["jobs"]["production"]
    assert production["environment"] == "production" and production["needs"] == "staging"
    assert any("--to production" in s.get("run", "") for s in production["steps"])


def test_monitor_workflow(rendered):
    monitor = _yaml(rendered["weather"][".github/workflows/monitor.yml"])
    job = monitor["jobs"]["monitor"]
    steps = {s.get("id"): s for s in job["steps"] if s.get("id")}
    # canary configured: monitor archives a canary judged worse, and never promotes (no --approve)
    assert "flowtide monitor --json --act > reports/monitor.json" in steps["monitor"]["run"]
    assert steps["cooldown"]["if"] == "steps.monitor.outputs.retrain == 'true'"
    assert steps["cooldown"]["env"]["COOLDOWN_SECONDS"] == "21600"
    assert "canary judged worse" in steps["commit"]["env"]["MESSAGE"]
    assert job["outputs"] == {
        "retrain": "${{ steps.cooldown.outputs.retrain }}",
        "promote": "${{ steps.monitor.outputs.promote }}",
    }
    # the retrain path pulls first: monitor -> data.yml (pull, and train when bytes changed)
    retrain = monitor["jobs"]["retrain"]
    assert retrain["uses"] == "./.github/workflows/data.yml"
    assert retrain["if"] == "needs.monitor.outputs.retrain == 'true'"
    assert retrain["with"] == {"reason": "monitor: drift or a performance drop"}
    data = _yaml(rendered["weather"][".github/workflows/data.yml"])
    assert data["on"]["workflow_call"]["inputs"]["reason"]["required"] is True
    assert data["jobs"]["train"]["with"]["reason"] == "${{ inputs.reason || 'new data' }}"
    assert data["jobs"]["train"]["if"] == "needs.pull.outputs.changed == 'true'"  # same bytes: nothing to learn
    # a promote verdict goes to deploy.yml's production job, alone
    promote = monitor["jobs"]["promote"]
    assert promote["uses"] == "./.github/workflows/deploy.yml"
    assert (
        promote["with"]["to"] == "production" and promote["with"]["version"] == "${{ needs.monitor.outputs.promote }}"
    )
    text = rendered["weather"][".github/workflows/monitor.yml"]
    assert "gh workflow run" not in text and "train.yml" not in text
    store = _yaml(rendered["store-app"][".github/workflows/monitor.yml"])
    runs = "".join(s.get("run", "") for s in store["jobs"]["monitor"]["steps"])
    assert "--act" not in runs and "promote" not in store["jobs"]  # no canary: no verdict to act on
    assert store["jobs"]["monitor"]["permissions"] == {"contents": "read", "actions": "write"}
    assert set(store["jobs"]["retrain"]["secrets"]) == {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "FLOWTIDE_APP_ID",
        "FLOWTIDE_APP_PRIVATE_KEY",
    }


def _jobs(rendered, case: str):
    for rel, text in rendered[case].items():
        for job_id, job in _yaml(text)["jobs"].items():
            yield rel.rsplit("/", 1)[-1], job_id, job


@pytest.mark.parametrize("case", ["weather", "store-app", "no-canary"])
def test_one_road_to_production(rendered, case):
    """Every step that can move a version to production runs in the `production` environment."""
    if case == "no-canary":
        text = (GOLDEN / "weather" / "flowtide.yaml").read_text()
        text = text.replace("deploy: {canary: {weight: 0.1, min_requests: 500}}", "deploy: {}")
        assert "canary" not in text
        rendered = {case: render(parse_config(text))}
    promoting = []
    for name, job_id, job in _jobs(rendered, case):
        for step in job.get("steps", []):
            run = step.get("run", "")
            if "--to production" in run or "--approve" in run or ("monitor" in run and "--act" in run):
                promoting.append((name, job_id))
                if "--act" in run:  # monitor --act only archives: it must not carry the approval flag
                    assert "--approve" not in run
                else:
                    assert job.get("environment") == "production", f"{name}:{job_id} promotes outside the environment"
    assert ("deploy.yml", "production") in promoting
    monitor = _yaml(rendered[case][".github/workflows/monitor.yml"])
    canary = "canary:" in (GOLDEN / case / "flowtide.yaml").read_text() if case != "no-canary" else False
    calls = [j for j in monitor["jobs"].values() if j.get("uses") == "./.github/workflows/deploy.yml"]
    # with a canary, monitor.yml reaches production only by calling deploy.yml's production job
    assert [c["with"]["to"] for c in calls] == (["production"] if canary else [])


def test_deploy_flow_with_and_without_a_canary(rendered):
    deploy = _yaml(rendered["weather"][".github/workflows/deploy.yml"])
    staging, production = deploy["jobs"]["staging"], deploy["jobs"]["production"]
    assert staging["if"] == "inputs.to != 'production'"
    assert staging["outputs"] == {"next": "${{ steps.next.outputs.next }}"}
    assert production["if"] == (
        "!cancelled() && !failure() && (inputs.to == 'production' || needs.staging.outputs.next == 'production')"
    )
    assert deploy["on"]["workflow_dispatch"]["inputs"]["to"]["options"] == ["staging", "production"]
    assert deploy["on"]["workflow_call"]["inputs"]["to"]["default"] == "staging"
    assert production["permissions"] == {"contents": "write", "actions": "read"}
    plain = _yaml(
        render(parse_config("project: x\nmodel: {name: m, path: m.skops, storage: git}\n"))[
            ".github/workflows/deploy.yml"
        ]
    )
    assert "outputs" not in plain["jobs"]["staging"]
    assert plain["jobs"]["production"]["if"] == (
        "!cancelled() && !failure() && (inputs.to == 'production' || needs.staging.result == 'success')"
    )


def test_submodules_are_modules():
    """A package attribute never shadows a submodule: `import ... as m` yields the module, not a function."""
    import types

    import flowtide.workflows.generate as generate_module
    import flowtide.workflows.github.ci as ci_module

    assert isinstance(generate_module, types.ModuleType)
    assert isinstance(ci_module, types.ModuleType)
    assert callable(generate_module.generate) and callable(ci_module.build)


def test_off_minute():
    assert off_minute("0 6 * * *", "weather") == off_minute("0 6 * * *", "weather")
    minute = int(off_minute("0 6 * * *", "weather").split()[0])
    assert minute not in (0, 15, 30, 45)
    assert off_minute("7 6 * * *", "weather") == "7 6 * * *"
    assert off_minute("*/5 * * * *", "weather") == "*/5 * * * *"
    assert {off_minute("0 6 * * *", n) for n in ("a", "b", "c", "d", "e")} != {off_minute("0 6 * * *", "a")}


def test_bad_cooldown_points_at_the_config():
    with pytest.raises(ConfigError) as info:  # at load, before any workflow is rendered
        parse_config("project: x\nmonitor:\n  cooldown: soon\n")
    assert (
        str(info.value)
        == "flowtide.yaml:3:3: monitor.cooldown 'soon' must look like 90 (seconds), 90s, 30m, 1.5h, 7d or 2w"
    )


@pytest.mark.parametrize(("written", "text", "seconds"), [("1.5h", "1.5h", "5400"), ("3600", "3600", "3600")])
def test_cooldown_in_either_spelling(written, text, seconds):
    """`1.5h` (once only `flowtide monitor` took it) and `3600` (once only `ci generate`) work in both."""
    config = parse_config(
        f"project: x\nmodel: {{name: m, path: m.skops}}\nstore: {{remote: s3://b/p}}\nmonitor:\n  cooldown: {written}\n"
    )
    monitor = _yaml(render(config)[".github/workflows/monitor.yml"])
    step = next(s for s in monitor["jobs"]["monitor"]["steps"] if s.get("id") == "cooldown")
    assert (step["env"]["COOLDOWN"], step["env"]["COOLDOWN_SECONDS"]) == (text, seconds)


# --- the real validators ---------------------------------------------------------------


def _written(tmp_path: Path, case: str) -> list[str]:
    root = _project(tmp_path, case)
    assert run_cli("-C", root, "ci", "generate").code == 0
    return root, [f".github/workflows/{name}" for name in WORKFLOW_FILES]


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_check_jsonschema_actionlint_and_zizmor_accept(tmp_path, case):
    root, files = _written(tmp_path, case)
    schema = subprocess.run(
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.github-workflows", *files],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert schema.returncode == 0, schema.stdout + schema.stderr
    lint = subprocess.run([BIN / "actionlint", *files], cwd=root, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    audit = subprocess.run(
        [BIN / "zizmor", "--offline", "--no-progress", ".github/workflows"], cwd=root, capture_output=True, text=True
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr


# --- flowtide ci generate / check -------------------------------------------------------


def test_generate_is_idempotent_and_says_what_changed(tmp_path):
    root = _project(tmp_path)
    first = run_cli("-C", root, "ci", "generate")
    assert first.code == 0
    assert first.out.splitlines() == [
        *(f"wrote .github/workflows/{n}" for n in WORKFLOW_FILES),
        "wrote .github/dependabot.yml",
    ]
    before = {n: (root / ".github/workflows" / n).read_bytes() for n in WORKFLOW_FILES}
    second = run_cli("-C", root, "ci", "generate", "--json")
    assert second.code == 0 and '"changed": []' in second.out
    assert before == {n: (root / ".github/workflows" / n).read_bytes() for n in WORKFLOW_FILES}


def test_check_names_stale_files_with_a_diff(tmp_path):
    root = _project(tmp_path)
    missing = run_cli("-C", root, "ci", "check", "--no-lint")
    assert missing.code == 1
    assert "FAIL .github/workflows/ci.yml: missing; run `flowtide ci generate`" in missing.out
    run_cli("-C", root, "ci", "generate")
    assert run_cli("-C", root, "ci", "check", "--no-lint").code == 0
    config = (root / "flowtide.yaml").read_text().replace('schedule: "0 6 * * *"', 'schedule: "5 7 * * *"')
    (root / "flowtide.yaml").write_text(config)
    stale = run_cli("-C", root, "ci", "check", "--no-lint")
    assert stale.code == 1
    assert "FAIL .github/workflows/data.yml: differs from what flowtide.yaml generates" in stale.out
    assert '+    - cron: "5 7 * * *"' in stale.out
    assert "ok   .github/workflows/ci.yml: matches flowtide.yaml" in stale.out


@pytest.mark.slow
def test_check_runs_actionlint(tmp_path):
    root, _ = _written(tmp_path, "weather")
    ok = run_cli("-C", root, "ci", "check", "--json")
    assert ok.code == 0 and '"validated by": "actionlint, zizmor"' in ok.out
    path = root / ".github/workflows/deploy.yml"
    path.write_text(path.read_text().replace("needs: staging", "needs: stagin"))
    bad = run_cli("-C", root, "ci", "check")
    assert bad.code == 1
    assert "FAIL .github/workflows/deploy.yml: differs" in bad.out
    assert 'job "production" needs job "stagin" which does not exist' in bad.out
    # a hand edit that opens a script-injection hole is caught by zizmor
    path.write_text(
        path.read_text().replace('flowtide package "$MODEL" "$VERSION"', "flowtide package ${{ inputs.model }} 1")
    )
    injected = run_cli("-C", root, "ci", "check", "--json")
    assert injected.code == 1
    assert '"rule": "zizmor:template-injection"' in injected.out


def test_init_writes_the_workflows(tmp_path):
    result = run_cli("init", "--example", "weather", tmp_path / "w")
    assert result.code == 0, result.err
    for name in WORKFLOW_FILES:
        assert f"wrote    .github/workflows/{name}" in result.out
    assert run_cli("-C", tmp_path / "w", "ci", "check", "--no-lint").code == 0


# --- the generated scripts, run for real ------------------------------------------------


def _step(rendered, case: str, name: str, predicate):
    workflow = _yaml(rendered[case][f".github/workflows/{name}"])
    return next(step for _, step in _steps(workflow) if predicate(step))


def test_bot_commit_rebases_and_retries_when_a_push_loses_the_race(rendered, tmp_path):
    from .conftest import git

    step = _step(rendered, "weather", "data.yml", lambda s: s.get("id") == "commit")
    origin = tmp_path / "origin.git"
    seed = tmp_path / "seed"
    seed.mkdir()
    git("init", "-q", "-b", "main", cwd=seed)
    (seed / "flowtide.lock").write_text("{}\n")
    git("add", "-A", cwd=seed)
    git("commit", "-q", "-m", "seed", cwd=seed)
    git("clone", "-q", "--bare", str(seed), str(origin), cwd=tmp_path)
    runner = tmp_path / "runner"
    git("clone", "-q", str(origin), str(runner), cwd=tmp_path)
    # someone else pushes first: the runner's push will be rejected as non-fast-forward
    (seed / "README.md").write_text("other change\n")
    git("add", "-A", cwd=seed)
    git("commit", "-q", "-m", "concurrent", cwd=seed)
    git("push", "-q", str(origin), "HEAD:main", cwd=seed)
    (runner / "flowtide.lock").write_text('{"new": true}\n')
    (runner / "data/raw").mkdir(parents=True)
    (runner / "data/raw/weather.csv").write_text("date\n2012-01-01\n")
    output = tmp_path / "output"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({k: str(v).replace("${{ github.ref_name }}", "main") for k, v in step["env"].items()})
    env["GITHUB_OUTPUT"] = str(output)
    proc = subprocess.run(["bash", "-c", step["run"]], cwd=runner, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "push lost a race with another commit (attempt 1); rebasing on origin/main" in proc.stdout
    log = git("log", "--format=%an|%s", "main", cwd=origin).splitlines()
    assert log == ["github-actions[bot]|data: update flowtide.lock [skip ci]", "Test|concurrent", "Test|seed"]
    sha = git("rev-parse", "main", cwd=origin)
    assert output.read_text().splitlines()[-2:] == ["changed=true", f"sha={sha}"]
    # nothing new: no commit, changed=false
    proc = subprocess.run(["bash", "-c", step["run"]], cwd=runner, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "nothing changed: no commit" in proc.stdout
    assert output.read_text().splitlines()[-2:] == ["changed=false", f"sha={sha}"]


def _fake_gh(tmp_path: Path, answers: dict) -> tuple[Path, Path]:
    """GitHub's API, faked (the only fake allowed): a `gh` that records its calls and answers canned JSON."""
    import json

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    calls, canned = tmp_path / "gh-calls", tmp_path / "gh-answers.json"
    canned.write_text(json.dumps(answers))
    (bin_dir / "gh").write_text(
        f"""#!{sys.executable}
import json, sys
args = sys.argv[1:]
with open({str(calls)!r}, "a") as out:
    out.write(" ".join(args) + "\\n")
answers = json.load(open({str(canned)!r}))
key = " ".join(args[:2]) if args[0] == "run" else args[1].split("?")[0]
if key not in answers:
    sys.exit(1)
print(json.dumps(answers[key]))
"""
    )
    (bin_dir / "gh").chmod(0o755)
    return bin_dir, calls


def _run_step(step: dict, tmp_path: Path, bin_dir: Path, env: dict[str, str], cwd: Path | None = None):
    output, summary = tmp_path / "output", tmp_path / "summary.md"
    output.write_text("")
    full = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    full.update(
        {
            "PATH": f"{bin_dir}{os.pathsep}{BIN}{os.pathsep}{os.environ['PATH']}",
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
            **env,
        }
    )
    proc = subprocess.run(["bash", "-c", step["run"]], cwd=cwd, env=full, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    return outputs, summary.read_text() if summary.exists() else "", proc.stdout


RETRAINED = {"name": "retrain: pull, then train on what is new / pull and check data", "conclusion": "success"}
SKIPPED = {"name": "retrain: pull, then train on what is new", "conclusion": "skipped"}


@pytest.mark.parametrize(
    ("earlier_jobs", "promote", "retrain"),
    [
        ([RETRAINED], "", "false"),  # an earlier monitor run retrained within the cooldown
        ([SKIPPED], "", "true"),  # earlier runs found nothing to retrain for
        ([], "", "true"),  # no earlier run
        ([SKIPPED], "2", "false"),  # a canary is up for promotion: act on that first
    ],
)
def test_monitor_retrains_only_outside_the_cooldown(rendered, tmp_path, earlier_jobs, promote, retrain):
    import datetime

    step = _step(rendered, "weather", "monitor.yml", lambda s: s.get("id") == "cooldown")
    jobs = [{"name": "monitor, archive a canary judged worse", "conclusion": "success"}, *earlier_jobs]
    bin_dir, calls = _fake_gh(
        tmp_path,
        {
            "run list": [{"databaseId": 41}, {"databaseId": 42}] if earlier_jobs else [{"databaseId": 42}],
            "repos/o/r/actions/runs/41/jobs": {"jobs": jobs},
        },
    )
    env = {"GH_TOKEN": "x", "GH_REPO": "o/r", "RUN_ID": "42", "PROMOTE": promote, "RETRAIN_JOB": "retrain"}
    env.update({"COOLDOWN": "6h", "COOLDOWN_SECONDS": step["env"]["COOLDOWN_SECONDS"]})
    outputs, summary, _ = _run_step(step, tmp_path, bin_dir, env)
    assert outputs == {"retrain": retrain}
    recorded = calls.read_text().splitlines() if calls.exists() else []
    if promote:
        assert recorded == [] and summary.startswith("drift or a drop, but the canary v2 is up for promotion")
        return
    since = recorded[0].split("--created >=", 1)[1].split()[0]
    age = datetime.datetime.now(datetime.UTC) - datetime.datetime.fromisoformat(since)
    assert abs(age.total_seconds() - 21600) < 120  # the cooldown window, from GitHub's own run records
    assert recorded[0].startswith("run list --workflow monitor.yml --created >=")
    # this run (42) is never its own reason to wait
    assert recorded[1:] == (["api repos/o/r/actions/runs/41/jobs?per_page=100"] if earlier_jobs else [])
    if retrain == "false":
        assert summary == "monitor run 41 retrained within the cooldown (6h): not retraining again\n"
    else:
        assert summary == "drift or a performance drop: pulling the sources, then training on what is new\n"


def test_monitor_hands_the_verdict_and_the_retrain_decision_on(rendered, tmp_path):
    """The monitor step's own script, on a real `flowtide monitor --json` report written by a stand-in flowtide."""
    import json

    step = _step(rendered, "weather", "monitor.yml", lambda s: s.get("id") == "monitor")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    report = {
        "needs_retraining": True,
        "verdicts": [{"model": "weather", "production": 1, "canary": 2, "verdict": "promote", "reason": "not worse"}],
    }
    (bin_dir / "flowtide").write_text(f"#!/bin/sh\necho '{json.dumps(report)}'\nexit 1\n")
    (bin_dir / "flowtide").chmod(0o755)
    (tmp_path / ".flowtide" / "reports").mkdir(parents=True)
    (tmp_path / ".flowtide" / "reports" / "monitor.md").write_text("## Monitor: drift in wind\n")
    outputs, summary, _ = _run_step(step, tmp_path, bin_dir, {"MODEL": "weather"}, cwd=tmp_path)
    assert outputs == {"exit": "1", "retrain": "true", "promote": "2"}
    assert summary == "## Monitor: drift in wind\n"


def _registered(tmp_path: Path, weather_csv: Path, *, production: bool) -> Path:
    """A project whose weather v1 is staged (and, with ``production``, v1 serves production and v2 is staged)."""
    from flowtide import registry
    from flowtide.project import Project
    from flowtide.registry.gate import evaluate

    from ._models import make_project, train

    root = make_project(tmp_path / "p", weather_csv)
    project = Project.load(root)
    train(root, weather_csv)
    assert evaluate(project).ok
    registry.register(project)
    registry.promote(project, "weather", 1, "staging")
    if production:
        registry.promote(project, "weather", 1, "production")
        train(root, weather_csv, seed=1)
        assert evaluate(project).ok
        registry.register(project)
        registry.promote(project, "weather", 2, "staging")
    return root


@pytest.mark.parametrize(("production", "next_stage"), [(False, "production"), (True, "canary")])
def test_deploy_sends_the_first_version_on_to_production_and_later_ones_to_the_canary(
    rendered, tmp_path, weather_csv, production, next_stage
):
    step = _step(rendered, "weather", "deploy.yml", lambda s: s.get("id") == "next")
    root = _registered(tmp_path, weather_csv, production=production)
    outputs, summary, _ = _run_step(step, tmp_path, tmp_path, {"MODEL": "weather", "VERSION": "2"}, cwd=root)
    assert outputs == {"next": next_stage}
    if production:
        assert summary.startswith("weather v1 serves production: v2 serves as the canary")
    else:
        assert summary.startswith("no version of weather is in production yet")


@pytest.mark.parametrize("approved", [True, False])
def test_the_production_job_records_who_approved_it(rendered, tmp_path, weather_csv, approved):
    import json

    approval = _step(rendered, "weather", "deploy.yml", lambda s: s.get("id") == "approval")
    promote = _step(rendered, "weather", "deploy.yml", lambda s: s.get("name") == "Promote to production")
    reviews = [
        {"state": "rejected", "environments": [{"name": "production"}], "user": {"login": "mallory"}},
        {"state": "approved", "environments": [{"name": "staging"}], "user": {"login": "bob"}},
    ]
    if approved:
        reviews.append({"state": "approved", "environments": [{"name": "production"}], "user": {"login": "alice"}})
    bin_dir, _ = _fake_gh(tmp_path, {"repos/o/r/actions/runs/9/approvals": reviews})
    outputs, _, stdout = _run_step(approval, tmp_path, bin_dir, {"GH_TOKEN": "x", "GH_REPO": "o/r", "RUN_ID": "9"})
    approver = "alice" if approved else "nobody (the environment production has no required reviewers)"
    assert outputs == {"approver": approver}
    assert ("::warning::nobody approved this production deploy" in stdout) is not approved
    root = _registered(tmp_path, weather_csv, production=True)
    env = {"MODEL": "weather", "VERSION": "2", "APPROVER": outputs["approver"]}
    env.update(
        {"RUN_URL": "https://github.com/o/r/actions/runs/9", "WHY": "the canary verdict (monitor.yml) is promote"}
    )
    _run_step(promote, tmp_path, bin_dir, env, cwd=root)
    event = json.loads((root / "flowtide.registry").read_text().splitlines()[-1])
    assert (event["version"], event["to"]) == (2, "production")
    assert event["reason"] == (
        f"approved by {approver} in workflow run https://github.com/o/r/actions/runs/9 "
        "(the canary verdict (monitor.yml) is promote)"
    )


def test_workflow_only_settings_are_validated_with_their_position():
    """Checked at load (config/validate.py), so every command refuses them, not only `ci generate`."""
    with pytest.raises(ConfigError) as info:
        parse_config("project: x\nci:\n  secrets: [AWS_KEY, 'bad name']\n")
    assert str(info.value).startswith("flowtide.yaml:3:22: ci.secrets: 'bad name' is not a valid GitHub secret name")
    with pytest.raises(ConfigError) as info:
        parse_config("project: x\nci: {default_branch: 'a b'}\n")
    assert str(info.value) == "flowtide.yaml:2:6: ci.default_branch 'a b' is not a branch name"


@pytest.mark.parametrize(
    "text",
    [
        "plain",
        "on",
        "yes",
        "3.11",
        "010",
        "a: b",
        "x #y",
        "- item",
        "*glob",
        "!neg",
        "{a}",
        "${{ github.ref }}",
        "trailing ",
        "'quoted'",
        '"double"',
        "tab\there",
        "ünïcode — dash",
        "multi\nline\n",
        "",
    ],
)
def test_the_emitter_round_trips_tricky_strings(text):
    from flowtide.workflows._yaml import dump

    assert _yaml(dump({"key": text, "list": [text]})) == {"key": text, "list": [text]}


@pytest.mark.slow
def test_the_live_weather_example_validates(tmp_path):
    """The example project as shipped today (it evolves; the golden copy above is frozen)."""
    from flowtide.scaffold import EXAMPLES

    root = tmp_path / "live"
    root.mkdir()
    shutil.copy(EXAMPLES / "weather" / "flowtide.yaml", root / "flowtide.yaml")
    assert run_cli("-C", root, "ci", "generate").code == 0
    files = [f".github/workflows/{name}" for name in WORKFLOW_FILES]
    lint = subprocess.run([BIN / "actionlint", *files], cwd=root, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_keepalive_reenables_both_schedules_and_never_fails_the_run(rendered, tmp_path):
    """GitHub's API is faked (a `gh` script that records calls and refuses the first one)."""
    step = _step(rendered, "weather", "monitor.yml", lambda s: s.get("name") == "Keep the schedules enabled")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    (bin_dir / "gh").write_text(f'#!/bin/sh\necho "$*" >> {calls}\ncase "$*" in *data.yml*) exit 1 ;; esac\n')
    (bin_dir / "gh").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "GH_TOKEN": "x", "GH_REPO": "o/r"}
    proc = subprocess.run(["bash", "-e", "-c", step["run"]], env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert calls.read_text().splitlines() == [
        "api --method PUT repos/o/r/actions/workflows/data.yml/enable",
        "api --method PUT repos/o/r/actions/workflows/monitor.yml/enable",
    ]
    assert "::warning::could not re-enable data.yml" in proc.stdout


# --- how CI installs flowtide: one pinned requirement ------------------------------------


def _install_step(config_text: str) -> str:
    ci = _yaml(render(parse_config(config_text))[".github/workflows/ci.yml"])
    steps = ci["jobs"]["test"]["steps"]
    names = [s.get("name") for s in steps]
    install = names.index("Install flowtide (ci.install, pinned)")
    assert names[install + 1] == "Set up the project (ci.setup)"  # flowtide first, then `make install`
    return steps[install]["run"]


def test_every_job_installs_this_flowtide_pinned_with_the_extras_it_needs(rendered):
    from flowtide import __version__

    for case, expected in (
        ("weather", f"'flowtide[sklearn]=={__version__}'"),  # a skops model: gate, monitor and serve load it
        ("store-app", f"'flowtide[onnx,s3]=={__version__}'"),  # s3:// remote, onnx model
    ):
        expected = f"python -m pip install --quiet uv==0.13.9\npython -m uv pip install --python python {expected}\n"
        for rel, text in rendered[case].items():
            workflow = _yaml(text)
            for job_id, job in workflow["jobs"].items():
                runs = [s.get("run") for s in job.get("steps", [])]
                if any(run and "flowtide " in run for run in runs):  # every job that calls flowtide
                    assert expected in runs and "make install" in runs, f"{case} {rel}:{job_id}"
                    assert runs.index(expected) < runs.index("make install")


@pytest.mark.parametrize(
    ("spec", "command"),
    [
        ("flowtide==0.2.0", "python -m pip install flowtide==0.2.0"),
        ("flowtide[s3] == 0.2.0rc1", "python -m pip install 'flowtide[s3]==0.2.0rc1'"),
        (
            "git+https://github.com/acme/flowtide@v0.2.0",
            "python -m pip install git+https://github.com/acme/flowtide@v0.2.0",
        ),
        (
            "flowtide[s3] @ git+https://github.com/acme/flowtide.git@" + "a" * 40,
            "python -m pip install 'flowtide[s3] @ git+https://github.com/acme/flowtide.git@" + "a" * 40 + "'",
        ),
        ("wheels/flowtide-0.2.0-py3-none-any.whl", "python -m pip install ./wheels/flowtide-0.2.0-py3-none-any.whl"),
        (
            "./wheels/flowtide-0.2.0-py3-none-any.whl[s3]",
            "python -m pip install './wheels/flowtide-0.2.0-py3-none-any.whl[s3]'",
        ),
    ],
)
def test_ci_install_takes_a_pinned_index_git_or_wheel_requirement(spec, command):
    # pip installs only the pinned uv; uv installs flowtide (and its dependencies) into the job's Python
    uv = command.replace("python -m pip install ", "python -m uv pip install --python python ")
    assert (
        _install_step(f"project: x\nci:\n  install: '{spec}'\n") == f"python -m pip install --quiet uv==0.13.9\n{uv}\n"
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "flowtide",
            "ci.install 'flowtide' is not pinned: any version published under the name (by whoever controls it "
            "tomorrow) would run in every CI job with its secrets; pin one version: 'flowtide==VERSION'",
        ),
        (
            "flowtide>=0.1",
            "ci.install 'flowtide>=0.1' is a range, not a pin: a new release matching it would change what CI runs "
            "without a commit; pin one exact version: 'flowtide==VERSION'",
        ),
        (
            "flowtide==0.1.*",
            "ci.install 'flowtide==0.1.*' is a range, not a pin: a new release matching it would change what CI "
            "runs without a commit; pin one exact version: 'flowtide==VERSION'",
        ),
        ("flowtidee==0.1.0", "ci.install must install flowtide, not 'flowtidee': write e.g. 'flowtide==VERSION'"),
        (
            "git+https://github.com/acme/flowtide",
            "ci.install 'git+https://github.com/acme/flowtide' names no ref, so CI would install whatever the "
            "default branch holds at that moment; pin a tag (…@v1.2.3) or a 40-hex commit (…@<sha>)",
        ),
        (
            "git+https://github.com/acme/flowtide@main",
            "ci.install 'git+https://github.com/acme/flowtide@main' pins 'main', which looks like a branch (a "
            "branch moves); pin a version tag (…@v1.2.3) or a 40-hex commit",
        ),
        (
            "git+http://example.org/flowtide@v1.0.0",
            "ci.install 'git+http://example.org/flowtide@v1.0.0': only git+https:// URLs are accepted (plain http "
            "can be altered on the way; ssh needs a key on the runner)",
        ),
        (
            "/opt/wheels/flowtide-0.1.0-py3-none-any.whl",
            "ci.install wheel '/opt/wheels/flowtide-0.1.0-py3-none-any.whl' must be a relative path inside the "
            "project (a file committed to the repository), e.g. wheels/flowtide-X.Y.Z-py3-none-any.whl",
        ),
        (
            "../flowtide-0.1.0-py3-none-any.whl",
            "ci.install wheel '../flowtide-0.1.0-py3-none-any.whl' must be a relative path inside the project (a "
            "file committed to the repository), e.g. wheels/flowtide-X.Y.Z-py3-none-any.whl",
        ),
        (
            "wheels/requests-2.0-py3-none-any.whl",
            "ci.install wheel 'requests-2.0-py3-none-any.whl' is not a flowtide wheel "
            "(flowtide-X.Y.Z-py3-none-any.whl)",
        ),
    ],
)
def test_an_unpinned_ci_install_is_a_config_error_that_says_why(spec, message):
    from flowtide import __version__
    from flowtide.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        render(parse_config(f"project: x\nci:\n  install: '{spec}'\n"))
    assert info.value.message == "flowtide.yaml:3:3: " + message.replace("VERSION", __version__)
    assert info.value.exit_code == 2


def test_the_old_install_command_gets_the_migration(tmp_path):
    from flowtide import __version__

    root = tmp_path / "p"
    root.mkdir()
    (root / "flowtide.yaml").write_text("project: p\nci:\n  install: make install\n")
    result = run_cli("-C", root, "ci", "generate")
    assert result.code == 2
    assert result.err == (
        "error: flowtide.yaml:3:3: ci.install is now the requirement CI installs flowtide from, not a shell command "
        "('make install'); move the command to `ci.setup` (the project's own set-up step, default `make install`) "
        f"and drop ci.install to install 'flowtide=={__version__}' from the package index, or set it to a pinned "
        "requirement\n"
    )
    assert not (root / ".github").exists()
    (root / "flowtide.yaml").write_text("project: p\nci:\n  setup: make install\n")
    assert run_cli("-C", root, "ci", "generate").code == 0


def test_the_template_pins_this_flowtide_and_the_tools_flowtide_is_tested_with():
    """One place for the pins (workflows/install.py); the template files and the dev environment agree with it."""
    import importlib.metadata
    import tomllib

    from flowtide import __version__
    from flowtide.scaffold import EXAMPLES, TEMPLATES
    from flowtide.workflows.install import TOOLS, tool_requirements

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == __version__
    for directory in (TEMPLATES, EXAMPLES / "weather"):
        lines = (directory / "requirements.txt").read_text().splitlines()
        assert [line for line in lines if line and not line.startswith("#")] == tool_requirements()
        assert f"\nFLOWTIDE_REQUIREMENT ?= flowtide=={__version__}\n" in (directory / "Makefile").read_text()
    # the pinned tools are the ones this test suite runs the templates with (bump TOOLS when they move)
    assert {name: importlib.metadata.version(name) for name in TOOLS} == TOOLS


def test_make_install_keeps_an_installed_flowtide_and_installs_the_pinned_tools(tmp_path):
    """The template's `make install` where flowtide is already installed (as CI does first): no index needed."""
    from flowtide.scaffold import init

    root = tmp_path / "p"
    init(root)
    unshare = shutil.which("unshare")
    offline = [unshare, "-n"] if unshare and subprocess.run([unshare, "-n", "true"]).returncode == 0 else []
    proc = subprocess.run(
        [*offline, "make", "install", f"PYTHON={sys.executable}", "FLOWTIDE_REQUIREMENT=flowtide==999.0"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "flowtide==999.0" not in proc.stdout + proc.stderr  # flowtide is importable: never reinstalled
    # uv when the environment has it (CI's install step puts it there), pip otherwise
    has_uv = subprocess.run([sys.executable, "-m", "uv", "--version"], capture_output=True).returncode == 0
    installer = f"-m uv pip install --quiet --python {sys.executable}" if has_uv else "-m pip install --quiet"
    assert f"{installer} -r requirements.txt" in proc.stdout


# --- state that outlives the runner ---------------------------------------------------------


def test_workflows_that_would_lose_models_are_refused_with_what_to_add(tmp_path):
    root = _project(tmp_path)
    config = root / "flowtide.yaml"
    config.write_text(config.read_text().replace(", storage: git}", "}"))
    result = run_cli("-C", root, "ci", "generate")
    assert result.code == 2
    assert result.err == (
        "error: flowtide.yaml:26:1: model 'weather' would be lost in CI: a runner's store dies with the runner and "
        "there is no `store.remote`, so the versions train.yml registers could never be deployed; no workflows "
        "written\n"
        "Keep models where they outlive the runner, either in a remote store:\n"
        "  store: {remote: s3://BUCKET/PREFIX}   # + repository secrets AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY\n"
        "or, for artifacts up to model.git_max_mb (25 MB), in train.yml's bot commit:\n"
        "  model: {..., storage: git}\n"
        "then run `flowtide ci generate` again.\n"
    )
    assert not (root / ".github").exists()
    # a remote store keeps them: generated, and train.yml pushes before its commit refers to the blobs
    config.write_text(config.read_text() + "store: {remote: s3://bucket/weather}\n")
    assert run_cli("-C", root, "ci", "generate").code == 0
    train = _yaml((root / ".github/workflows/train.yml").read_text())
    runs = [s.get("run", "") for s in train["jobs"]["train"]["steps"]]
    assert runs.index("flowtide push") < next(i for i, r in enumerate(runs) if "git commit" in r)
    deploy = _yaml((root / ".github/workflows/deploy.yml").read_text())
    assert all("flowtide fetch" in [s.get("run") for s in job["steps"]] for job in deploy["jobs"].values())


def test_store_sources_without_a_remote_are_refused(tmp_path):
    config = parse_config(
        "project: p\nsources:\n  s:\n    url: http://x/y.csv\n    path: d/y.csv\n    storage: store\n"
    )
    with pytest.raises(Exception) as info:
        render(config)
    assert str(info.value).startswith(
        "flowtide.yaml:6:5: sources s use `storage: store` without a `store.remote`: data.yml would commit their "
        "hashes and lose their bytes with the runner; no workflows written\n"
    )


def _run_bot_step(step: dict, cwd: Path, output: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({k: str(v).replace("${{ github.ref_name }}", "main") for k, v in step.get("env", {}).items()})
    env["GITHUB_OUTPUT"] = str(output)
    return subprocess.run(["bash", "-c", step["run"]], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def test_git_storage_commits_the_ignored_model_and_the_run_records(rendered, tmp_path):
    """train.yml's own scripts, run for real: the model (ignored as a stage output) joins the bot commit."""
    from .conftest import git

    train = _yaml(rendered["weather"][".github/workflows/train.yml"])
    steps = {s.get("name", ""): s for s in train["jobs"]["train"]["steps"]}
    keep = steps["Keep the model in git (model.storage: git, at most 25 MB)"]
    commit = steps["Commit and push as the bot"]
    origin, runner = tmp_path / "origin.git", tmp_path / "runner"
    seed = tmp_path / "seed"
    seed.mkdir()
    git("init", "-q", "-b", "main", cwd=seed)
    (seed / ".gitignore").write_text("models/\n.flowtide/\n")
    (seed / "flowtide.lock").write_text("{}\n")
    git("add", "-A", cwd=seed)
    git("commit", "-q", "-m", "seed", cwd=seed)
    git("clone", "-q", "--bare", str(seed), str(origin), cwd=tmp_path)
    git("clone", "-q", str(origin), str(runner), cwd=tmp_path)
    (runner / "models").mkdir()
    (runner / "models/model.skops").write_bytes(b"model bytes")
    (runner / "flowtide.runs").mkdir()
    (runner / "flowtide.runs/20260101-000000-abcd.json").write_text("{}\n")
    (runner / "flowtide.lock").write_text('{"new": true}\n')
    output = tmp_path / "output"
    assert _run_bot_step(keep, runner, output).returncode == 0
    proc = _run_bot_step(commit, runner, output)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    files = git("show", "--name-only", "--format=", "main", cwd=origin).splitlines()
    assert sorted(files) == ["flowtide.lock", "flowtide.runs/20260101-000000-abcd.json", "models/model.skops"]
    # over the limit: the job fails before anything is committed, and says why
    big = dict(keep, env={**keep["env"], "MAX_BYTES": "5"})
    (runner / "models/model.skops").write_bytes(b"a bigger model")
    failed = _run_bot_step(big, runner, output)
    assert failed.returncode == 1
    assert "::error::models/model.skops is 14 bytes, over model.git_max_mb" in failed.stdout


# --- flowtide's own release workflow ---------------------------------------------------------

RELEASE = Path(__file__).parents[1] / ".github" / "workflows" / "release.yml"


def test_flowtide_releases_a_tag_with_trusted_publishing_and_pinned_actions():
    text = RELEASE.read_text(encoding="utf-8")
    release = _yaml(text)
    assert release["on"] == {"push": {"tags": ["v*"]}}
    assert release["permissions"] == {}
    build, publish = release["jobs"]["build"], release["jobs"]["publish"]
    assert build["permissions"] == {"contents": "read"}
    assert publish["needs"] == "build" and publish["environment"]["name"] == "pypi"
    assert publish["permissions"] == {"id-token": "write"}  # OIDC, and nothing else
    assert "password" not in str(publish) and "secrets." not in text  # no token anywhere
    assert publish["steps"][-1]["uses"].startswith(f"{PINS['pypi-publish'].repo}@{PINS['pypi-publish'].sha}")
    for job in release["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:
                repo, _, sha = step["uses"].partition("@")
                assert any(p.repo == repo and p.sha == sha for p in PINS.values()), step["uses"]
            assert "${{" not in step.get("run", "")
    for line in text.splitlines():
        if re.search(r"uses: [\w-]+/[\w-]+@", line):
            pin = next(p for p in PINS.values() if p.sha in line)
            assert line.endswith(f"@{pin.sha} # {pin.version}"), line
    build_run = next(s["run"] for s in build["steps"] if s.get("name", "").startswith("Build"))
    assert "pip install build==1.6.1 hatchling==1.33.0" in build_run  # exact pins for the build tools too


@pytest.mark.parametrize("matches", [True, False])
def test_the_release_refuses_a_tag_that_is_not_the_version(tmp_path, matches):
    from flowtide import __version__

    release = _yaml(RELEASE.read_text(encoding="utf-8"))
    step = next(
        s for s in release["jobs"]["build"]["steps"] if s.get("name") == "The tag is the version being released"
    )
    tag = f"v{__version__}" if matches else "v9.9.9"
    summary = tmp_path / "summary"
    env = {
        **os.environ,
        "TAG": tag,
        "GITHUB_STEP_SUMMARY": str(summary),
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
    }
    proc = subprocess.run(
        ["bash", "-c", step["run"]], cwd=RELEASE.parents[2], env=env, capture_output=True, text=True, timeout=60
    )
    if matches:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert summary.read_text() == f"releasing flowtide {__version__}\n"
    else:
        assert proc.returncode == 1
        assert proc.stdout == (
            f"::error::tag v9.9.9, pyproject.toml version {__version__} and flowtide.__version__ {__version__} "
            f"must agree (tag v{__version__})\n"
        )


@pytest.mark.slow
def test_the_release_workflow_validates():
    """actionlint, zizmor and the workflow JSON Schema, offline, on the file in this repository."""
    root = RELEASE.parents[2]
    rel = ".github/workflows/release.yml"
    for command in (
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.github-workflows", rel],
        [BIN / "actionlint", rel],
        [BIN / "zizmor", "--offline", "--no-progress", rel],
    ):
        proc = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"{command[0]}: {proc.stdout}{proc.stderr}"


def test_a_failed_training_job_commits_only_its_run_records(rendered, tmp_path):
    """The records of a failed job reach the branch; its half-written lock and staged model do not."""
    from .conftest import git

    train = _yaml(rendered["weather"][".github/workflows/train.yml"])
    step = next(s for s in train["jobs"]["train"]["steps"] if s.get("id") == "records")
    assert step["if"] == "failure()"
    seed, origin, runner = tmp_path / "seed", tmp_path / "origin.git", tmp_path / "runner"
    seed.mkdir()
    git("init", "-q", "-b", "main", cwd=seed)
    (seed / ".gitignore").write_text("models/\n")
    (seed / "flowtide.lock").write_text("{}\n")
    git("add", "-A", cwd=seed)
    git("commit", "-q", "-m", "seed", cwd=seed)
    git("clone", "-q", "--bare", str(seed), str(origin), cwd=tmp_path)
    git("clone", "-q", str(origin), str(runner), cwd=tmp_path)
    (seed / "README.md").write_text("pushed meanwhile\n")  # the runner's first push loses the race
    git("add", "-A", cwd=seed)
    git("commit", "-q", "-m", "concurrent", cwd=seed)
    git("push", "-q", str(origin), "HEAD:main", cwd=seed)
    (runner / "flowtide.lock").write_text('{"half": "written"}\n')
    (runner / "models").mkdir()
    (runner / "models/model.skops").write_bytes(b"model")
    git("add", "--force", "models/model.skops", cwd=runner)
    (runner / "flowtide.runs").mkdir()
    (runner / "flowtide.runs/20260101-000000-abcd.json").write_text("{}\n")
    proc = _run_bot_step(step, runner, tmp_path / "output")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert git("log", "--format=%s", "main", cwd=origin).splitlines() == [
        "train: keep the run records of a failed job [skip ci]",
        "concurrent",
        "seed",
    ]
    assert git("show", "--name-only", "--format=", "main", cwd=origin).splitlines() == [
        "flowtide.runs/20260101-000000-abcd.json"
    ]
    assert (runner / "flowtide.lock").read_text() == '{"half": "written"}\n'  # stashed and restored, not pushed


def test_no_monitor_workflow_until_there_is_a_model_to_monitor(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    (root / "flowtide.yaml").write_text("project: p\n")
    first = run_cli("-C", root, "ci", "generate")
    assert first.code == 0, first.err
    assert first.out.splitlines() == [
        *(f"wrote .github/workflows/{n}" for n in WORKFLOW_FILES if n != "monitor.yml"),
        "wrote .github/dependabot.yml",
        "no monitor.yml: flowtide.yaml declares no model to monitor; it is written once a model: section exists",
    ]
    assert not (root / ".github/workflows/monitor.yml").exists()
    # nor a data-check step in ci.yml while there are no checks: `flowtide check` would fail every push
    assert "Data checks" not in (root / ".github/workflows/ci.yml").read_text()
    assert run_cli("-C", root, "ci", "check", "--no-lint").code == 0
    # a model appears: regenerating adds the monitor workflow
    (root / "flowtide.yaml").write_text("project: p\nmodel: {name: m, path: models/m.skops, storage: git}\n")
    assert "wrote .github/workflows/monitor.yml" in run_cli("-C", root, "ci", "generate").out.splitlines()
    assert (root / ".github/workflows/monitor.yml").is_file()
    # and goes with it, since flowtide wrote it; the check names a left-over one first
    (root / "flowtide.yaml").write_text("project: p\n")
    stale = run_cli("-C", root, "ci", "check", "--no-lint")
    assert stale.code == 1
    assert (
        "FAIL .github/workflows/monitor.yml: no longer generated from flowtide.yaml; run `flowtide ci generate`"
        in stale.out
    )
    again = run_cli("-C", root, "ci", "generate")
    assert "removed .github/workflows/monitor.yml (no longer generated from flowtide.yaml)" in again.out.splitlines()
    assert not (root / ".github/workflows/monitor.yml").exists()
    # a monitor.yml the user wrote is theirs
    (root / ".github/workflows/monitor.yml").write_text("name: my own monitor\n")
    assert "removed" not in run_cli("-C", root, "ci", "generate").out
    assert (root / ".github/workflows/monitor.yml").read_text() == "name: my own monitor\n"
