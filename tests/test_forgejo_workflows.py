"""Generated Forgejo Actions workflows: golden files, invariants, real validators, their own scripts, the doctor.

The end-to-end run under act is tests/test_forgejo_act.py; the GitHub twin of this file is test_workflows.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowtide.config import parse_config
from flowtide.errors import ConfigError
from flowtide.workflows._yaml import HEADER
from flowtide.workflows.forgejo import BOT_EMAIL, BOT_NAME, WORKFLOW_DIR, WORKFLOW_FILES, render
from flowtide.workflows.forgejo.inline import fold, never

from .conftest import git, run_cli

GOLDEN = Path(__file__).parent / "golden"
CASES = ["weather", "store-app"]
BIN = Path(sys.executable).parent
UPDATE = os.environ.get("FLOWTIDE_UPDATE_GOLDEN") == "1"  # regenerate the golden files on purpose


def _config_text(case: str) -> str:
    """The GitHub golden cases' flowtide.yaml, on Forgejo (store-app's GitHub App token has no Forgejo twin)."""
    text = (GOLDEN / "workflows" / case / "flowtide.yaml").read_text(encoding="utf-8")
    if "ci: {token: app," in text:
        return text.replace("ci: {token: app,", "ci: {provider: forgejo,")
    assert "\nci:" not in text
    return text + "ci: {provider: forgejo}\n"


def _yaml(text: str):
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(text)


@pytest.fixture(scope="module")
def rendered() -> dict[str, dict[str, str]]:
    return {case: render(parse_config(_config_text(case))) for case in CASES}


def _written(tmp_path: Path, case: str) -> Path:
    root = tmp_path / case
    root.mkdir()
    (root / "flowtide.yaml").write_text(_config_text(case), encoding="utf-8")
    result = run_cli("-C", root, "ci", "generate")
    assert result.code == 0, result.err
    return root


def _steps(workflow: dict):
    for job_id, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield job_id, step


def _step(rendered, case: str, name: str, predicate) -> dict:
    workflow = _yaml(rendered[case][f"{WORKFLOW_DIR}/{name}"])
    return next(step for _, step in _steps(workflow) if predicate(step))


# --- golden files, determinism, invariants --------------------------------------------------


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("name", WORKFLOW_FILES)
def test_golden(rendered, case, name):
    text = rendered[case][f"{WORKFLOW_DIR}/{name}"]
    golden = GOLDEN / "forgejo" / case / name
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8"), f"{case}/{name} changed: FLOWTIDE_UPDATE_GOLDEN=1 to accept"


def test_render_is_deterministic(rendered):
    for case in CASES:
        again = render(parse_config(_config_text(case)))
        assert again == rendered[case]
        assert list(again) == [f"{WORKFLOW_DIR}/{name}" for name in WORKFLOW_FILES]


@pytest.mark.parametrize("case", CASES)
def test_self_contained_pinned_and_without_github_only_parts(rendered, case):
    for rel, text in rendered[case].items():
        assert text.startswith(f"# {HEADER}\n"), rel
        workflow = _yaml(text)
        # nothing is called: Forgejo's expanded calls take no inputs, so the callers hold the jobs
        assert "workflow_call" not in workflow["on"], rel
        for job_id, job in workflow["jobs"].items():
            assert "uses" not in job and "environment" not in job, f"{rel}:{job_id}"
            assert job["runs-on"] == "ubuntu-latest" and isinstance(job["timeout-minutes"], int)
            assert job["steps"][0]["name"].startswith("Job summary file"), f"{rel}:{job_id}"
        for job_id, step in _steps(workflow):
            if "uses" in step:
                repo, _, sha = step["uses"].partition("@")
                assert repo in ("actions/checkout", "actions/setup-python"), f"{rel}:{job_id} uses {repo}"
                assert re.fullmatch(r"[0-9a-f]{40}", sha), f"{rel}:{job_id} {step['uses']} is not SHA-pinned"
            run = step.get("run", "")
            assert not re.search(r"(^|\s)gh ", run), f"{rel}:{job_id} calls GitHub's CLI"
            assert "inputs." not in str(step.get("env", {})) or rel.endswith(("deploy.yml", "train.yml"))
            env = step.get("env") or {}
            if "GIT_AUTHOR_NAME" in env:
                assert (env["GIT_AUTHOR_NAME"], env["GIT_AUTHOR_EMAIL"]) == (BOT_NAME, BOT_EMAIL)
        # what inlining leaves is tidy: no literal-only expression, no `inputs.*` a trigger does not declare
        assert not re.search(r"\$\{\{\s*'", text), rel
        dispatched = set((workflow["on"].get("workflow_dispatch") or {}).get("inputs") or {})
        assert set(re.findall(r"inputs\.([\w-]+)", text)) <= dispatched, rel


def test_the_schedule_runs_the_whole_chain_in_one_workflow(rendered):
    data = _yaml(rendered["weather"][f"{WORKFLOW_DIR}/data.yml"])
    assert list(data["jobs"]) == ["pull", "train", "staging"]
    train, staging = data["jobs"]["train"], data["jobs"]["staging"]
    assert (train["needs"], train["if"]) == ("pull", "needs.pull.outputs.changed == 'true'")
    assert staging["needs"] == ["pull", "train"]
    assert staging["if"] == "needs.pull.outputs.changed == 'true' && needs.train.outputs.version != ''"
    checkout = next(s for s in train["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["ref"] == "${{ needs.pull.outputs.sha }}"  # the commit the pull made
    version = next(s for s in staging["steps"] if s["name"] == "Package")["env"]["VERSION"]
    assert version == "${{ needs.train.outputs.version }}"
    # the called workflow's "no new bytes" note only ever ran for a caller: gone from the top level
    assert "Nothing new to learn from" not in rendered["weather"][f"{WORKFLOW_DIR}/data.yml"]
    monitor = _yaml(rendered["weather"][f"{WORKFLOW_DIR}/monitor.yml"])
    assert list(monitor["jobs"]) == ["monitor", "pull", "train", "staging", "promote"]
    assert monitor["jobs"]["train"]["if"] == (
        "needs.monitor.outputs.retrain == 'true' && needs.pull.outputs.changed == 'true'"
    )


def test_production_is_only_an_approvers_dispatch(rendered):
    for case in CASES:
        texts = rendered[case]
        deploy = _yaml(texts[f"{WORKFLOW_DIR}/deploy.yml"])
        assert set(deploy["on"]) == {"workflow_dispatch"}
        production = deploy["jobs"]["production"]
        assert production["if"] == "github.event_name == 'workflow_dispatch' && inputs.to == 'production'"
        assert "needs" not in production
        # the approver check comes before anything runs that the repository's code could influence
        assert production["steps"][1]["id"] == "approval"
        for rel, text in texts.items():
            if not rel.endswith("deploy.yml"):
                assert "--to production" not in text, rel  # no other road to production


APPROVAL_CASES = [
    ("alice", "bob, alice", "refs/heads/main", 0, "approver=alice"),
    ("alice", "alice,bob", "refs/heads/main", 0, "approver=alice"),
    ("mallory", "bob, alice", "refs/heads/main", 1, "mallory is not an approver (FLOWTIDE_APPROVERS: bob, alice)"),
    ("ali", "alice", "refs/heads/main", 1, "ali is not an approver"),
    ("alice", "", "refs/heads/main", 1, "nobody may deploy to production: set the repository variable"),
    ("alice", "alice", "refs/heads/feature", 1, "production deploys run only from refs/heads/main"),
]


def _run(step: dict, tmp_path: Path, env: dict[str, str], cwd: Path | None = None):
    output, summary = tmp_path / "output", tmp_path / "summary.md"
    output.write_text("")
    full = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    full.update({"GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary), **env})
    proc = subprocess.run(["bash", "-c", step["run"]], cwd=cwd, env=full, capture_output=True, text=True, timeout=60)
    return proc, output.read_text(), summary.read_text() if summary.exists() else ""


@pytest.mark.parametrize(("actor", "approvers", "ref", "code", "said"), APPROVAL_CASES)
def test_the_approval_step(rendered, tmp_path, actor, approvers, ref, code, said):
    step = _step(rendered, "weather", "deploy.yml", lambda s: s.get("id") == "approval")
    assert step["env"]["APPROVERS"] == "${{ vars.FLOWTIDE_APPROVERS }}"
    env = {"ACTOR": actor, "APPROVERS": approvers, "REF": ref, "DEFAULT_REF": step["env"]["DEFAULT_REF"]}
    proc, outputs, _ = _run(step, tmp_path, env)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert said in (outputs if code == 0 else proc.stdout)


@pytest.mark.parametrize(
    ("age_hours", "promote", "retrain", "said"),
    [
        (1, "", "false", "the last training commit is 60 min old, within the cooldown (6h): not retraining again"),
        (7, "", "true", "drift or a performance drop: pulling the sources, then training on what is new"),
        (None, "", "true", "drift or a performance drop: pulling the sources, then training on what is new"),
        (7, "2", "false", "drift or a drop, but the canary v2 is up for promotion: no retraining in this run"),
    ],
)
def test_the_cooldown_reads_the_last_training_commit(rendered, tmp_path, age_hours, promote, retrain, said):
    step = _step(rendered, "weather", "monitor.yml", lambda s: s.get("id") == "cooldown")
    repo = tmp_path / "repo"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    git("commit", "-q", "--allow-empty", "-m", "start", cwd=repo)
    if age_hours is not None:
        when = f"@{int(time.time()) - age_hours * 3600 - 30} +0000"
        subprocess.run(
            ["git", "commit", "-q", "--allow-empty", "-m", "train: register weather [skip ci]"],
            cwd=repo,
            check=True,
            env={**os.environ, "GIT_COMMITTER_DATE": when, "GIT_AUTHOR_DATE": when},
        )
    git("commit", "-q", "--allow-empty", "-m", "train: keep the run records of a failed job [skip ci]", cwd=repo)
    env = {k: str(v) for k, v in step["env"].items()}
    env["PROMOTE"] = promote
    assert (env["COOLDOWN"], env["COOLDOWN_SECONDS"]) == ("6h", "21600")
    proc, outputs, summary = _run(step, tmp_path, env, cwd=repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert outputs == f"retrain={retrain}\n"
    assert summary == said + "\n"


def test_the_pr_comment_goes_through_forgejos_api(rendered):
    ci = _yaml(rendered["weather"][f"{WORKFLOW_DIR}/ci.yml"])
    assert list(ci["jobs"]) == ["test"]
    comment = next(s for s in ci["jobs"]["test"]["steps"] if s["name"] == "Metrics diff as one PR comment")
    assert comment["env"]["API"] == "${{ github.api_url }}"
    assert "github.event.pull_request.head.repo.full_name == github.repository" in comment["if"]
    assert "/issues/comments/" in comment["run"] and "::warning::could not comment" in comment["run"]


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_check_jsonschema_actionlint_zizmor_and_ci_check_accept(tmp_path, case):
    root = _written(tmp_path, case)
    files = [f"{WORKFLOW_DIR}/{name}" for name in WORKFLOW_FILES]
    for command in (
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.github-workflows", *files],
        [BIN / "actionlint", *files],
        [BIN / "zizmor", "--offline", "--no-progress", *files],
    ):
        proc = subprocess.run(command, cwd=root, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    checked = run_cli("-C", root, "ci", "check")
    assert checked.code == 0, checked.out
    assert "actionlint found no problem" in checked.out and "zizmor found no problem" in checked.out
    assert not (root / ".github").exists()  # no Dependabot on Forgejo


def test_check_names_a_drifted_forgejo_file(tmp_path):
    root = _written(tmp_path, "weather")
    path = root / WORKFLOW_DIR / "train.yml"
    path.write_text(path.read_text().replace("timeout-minutes: 120", "timeout-minutes: 5"))
    checked = run_cli("-C", root, "ci", "check", "--no-lint")
    assert checked.code == 1
    assert f"FAIL {WORKFLOW_DIR}/train.yml: differs from what flowtide.yaml generates" in checked.out
    assert "-    timeout-minutes: 5" in checked.out and "+    timeout-minutes: 120" in checked.out


def test_switching_provider_removes_the_other_providers_files(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    text = _config_text("weather")
    (root / "flowtide.yaml").write_text(text.replace("ci: {provider: forgejo}\n", ""))
    assert run_cli("-C", root, "ci", "generate").code == 0
    (root / ".github" / "workflows" / "mine.yml").write_text("name: mine\n")  # the user's own: kept
    (root / "flowtide.yaml").write_text(text)
    result = run_cli("-C", root, "ci", "generate")
    assert "removed .github/workflows/train.yml (no longer generated from flowtide.yaml)" in result.out
    assert sorted(p.name for p in (root / ".github" / "workflows").iterdir()) == ["mine.yml"]
    assert sorted(p.name for p in (root / WORKFLOW_DIR).iterdir()) == sorted(WORKFLOW_FILES)


def test_a_github_app_token_is_refused_with_the_fix():
    text = _config_text("store-app").replace("ci: {provider: forgejo,", "ci: {provider: forgejo, token: app,")
    with pytest.raises(ConfigError) as caught:
        render(parse_config(text))
    assert "ci.token: app asks for a GitHub App token, which Forgejo does not have" in str(caught.value)


def test_doctor_grades_forgejo_approval(tmp_path):
    root = _written(tmp_path, "weather")
    git("init", "-q", "-b", "main", cwd=root)

    def approval() -> dict:
        import json

        report = json.loads(run_cli("-C", root, "doctor", "--json").out)
        return next(f for f in report["findings"] if f["rule"] == "approval on production")

    assert approval()["status"] == "pass"
    assert "an approver (FLOWTIDE_APPROVERS) dispatches them" in approval()["message"]
    deploy = root / WORKFLOW_DIR / "deploy.yml"
    # the approval check taken out by hand: anyone who may dispatch would release
    text = deploy.read_text().replace("ACTOR: ${{ github.actor }}", "ACTOR: someone")
    deploy.write_text(text)
    finding = approval()
    assert finding["status"] == "fail"
    assert finding["message"].startswith("production job without the approver check (deploy.yml: production)")


@pytest.mark.parametrize(
    ("expression", "folded"),
    [
        ("'' == '' && github.event.schedule || ''", "github.event.schedule || ''"),
        ("'' != '' && steps.commit.outputs.changed != 'true'", "false && steps.commit.outputs.changed != 'true'"),
        ("'monitor: drift' || 'new data'", "'monitor: drift'"),
        ("(needs.train.outputs.version != '') && ('staging' != 'production')", "needs.train.outputs.version != ''"),
        ("false && github.event.schedule || ''", "''"),
        ("false && a == b || c", "false && a == b || c"),  # `false && a` is not a whole operand there
        ("needs.x.outputs.y == 'true'", "needs.x.outputs.y == 'true'"),
    ],
)
def test_fold(expression, folded):
    assert fold(expression) == folded


def test_never():
    assert never("'' != '' && steps.commit.outputs.changed != 'true'")
    assert not never("false && a || b")
    assert not never(None)


def test_run_links_point_at_forgejos_run_pages(tmp_path):
    """Forgejo's run pages are /actions/runs/RUN_NUMBER (the per-repository index), not the instance-wide run id."""
    from flowtide.pipeline.runs import ci_run_url
    from flowtide.project import Project
    from flowtide.registry.lineage import actor

    env = {
        "GITHUB_ACTIONS": "true",
        "FORGEJO_ACTIONS": "true",
        "GITHUB_SERVER_URL": "https://code.example.org",
        "GITHUB_REPOSITORY": "team/weather",
        "GITHUB_RUN_ID": "48213",
        "GITHUB_RUN_NUMBER": "17",
        "GITHUB_RUN_ATTEMPT": "2",
        "GITHUB_ACTOR": "alice",
    }
    assert ci_run_url(env) == "https://code.example.org/team/weather/actions/runs/17"
    (tmp_path / "flowtide.yaml").write_text("project: p\n")
    said = actor(Project.load(tmp_path, env=env))
    assert (said["by"], said["run_url"]) == ("alice", "https://code.example.org/team/weather/actions/runs/17")
    github = {k: v for k, v in env.items() if k != "FORGEJO_ACTIONS"}
    assert ci_run_url(github) == "https://code.example.org/team/weather/actions/runs/48213"
