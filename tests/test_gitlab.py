"""GitLab CI: `.gitlab-ci.yml` golden files, GitLab's schema, `ci generate/check/simulate --provider gitlab`.

The pipeline itself runs in tests/test_gitlab_local.py (gitlab-ci-local); here: what is written,
that it validates, that drift is told, how the rules decide per event, and the merge-request note
job's script against a real HTTP server standing in for GitLab's API.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from flowtide.config import parse_config
from flowtide.errors import ConfigError
from flowtide.project import Project
from flowtide.workflows.generate import WORKFLOW_FILES
from flowtide.workflows.gitlab import scripts
from flowtide.workflows.gitlab.pipeline import GITLAB_FILE, HEADER, render
from flowtide.workflows.gitlab.simulate import evaluate
from flowtide.workflows.provider import simulate

from .conftest import run_cli

WORKFLOWS = Path(__file__).parent / "golden" / "workflows"
GOLDEN = Path(__file__).parent / "golden" / "gitlab"
CASES = ["weather", "store-app"]
BIN = Path(sys.executable).parent
UPDATE = os.environ.get("FLOWTIDE_UPDATE_GOLDEN") == "1"


def _config(case: str, extra: str = ""):
    return parse_config((WORKFLOWS / case / "flowtide.yaml").read_text(encoding="utf-8") + extra)


def _project(tmp_path: Path, case: str = "weather", provider: bool = True) -> Path:
    root = tmp_path / case
    root.mkdir(parents=True)
    text = (WORKFLOWS / case / "flowtide.yaml").read_text(encoding="utf-8")
    if provider:
        text = (
            text.replace("ci: {", "ci: {provider: gitlab, ") if "ci: {" in text else text + "ci: {provider: gitlab}\n"
        )
    (root / "flowtide.yaml").write_text(text)
    return root


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return {case: render(_config(case))[GITLAB_FILE] for case in CASES}


# --- what is written ----------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_golden(rendered, case):
    golden = GOLDEN / f"{case}.gitlab-ci.yml"
    if UPDATE:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(rendered[case], encoding="utf-8")
    assert rendered[case] == golden.read_text(encoding="utf-8"), f"{case} changed: FLOWTIDE_UPDATE_GOLDEN=1 to accept"


def test_render_is_byte_identical_and_says_it_is_generated(rendered):
    assert render(_config("weather"))[GITLAB_FILE] == rendered["weather"]
    assert rendered["weather"].startswith(f"# {HEADER}\n")


@pytest.mark.parametrize("case", CASES)
def test_gitlab_schema_accepts_the_golden_files(case):
    proc = subprocess.run(
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.gitlab-ci", GOLDEN / f"{case}.gitlab-ci.yml"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _yaml(text: str) -> dict:
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(text)


def test_the_loop_is_all_there(rendered):
    data = _yaml(rendered["weather"])
    assert data["stages"] == ["test", "monitor", "data", "train", "staging", "production"]
    # the bot's pushes start nothing, and their messages say [skip ci] too
    assert data["workflow"]["rules"][0] == {
        "if": '$CI_PIPELINE_SOURCE == "push" && $CI_COMMIT_AUTHOR =~ /^flowtide\\[bot\\] </',
        "when": "never",
    }
    assert evaluate(
        data["workflow"]["rules"][0]["if"],
        {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_AUTHOR": scripts.BOT_NAME + " <x@y>"},
    )
    messages = [line for line in rendered["weather"].splitlines() if "bot_commit reports/" in line]
    assert len(messages) == 6 and all("[skip ci]" in line for line in messages)
    # training on code changes only (rules: changes), production manual, protected, one at a time
    push_rule = data["train"]["rules"][3]
    assert push_rule["if"] == '$CI_PIPELINE_SOURCE == "push" && $CI_COMMIT_BRANCH == "main"'
    assert {"src/**", "params.yaml", "flowtide.lock", "flowtide.yaml"} <= set(push_rule["changes"])
    production = data["production"]
    assert production["environment"] == {"name": "production", "deployment_tier": "production"}
    assert production["resource_group"] == "production" and data["staging"]["resource_group"] == "staging"
    assert {rule.get("when") for rule in production["rules"]} == {"manual", "never"}
    assert 'flowtide promote "$MODEL" "$version" --to production --reason "$reason"' in rendered["weather"]
    # the schedules to create, with their variables, are in the header
    assert '#     "flowtide data: weather"  cron "29 6 * * *"  variables FLOWTIDE_SCHEDULE=data' in rendered["weather"]
    assert '#     "flowtide monitor"  cron "59 * * * *"  variables FLOWTIDE_SCHEDULE=monitor' in rendered["weather"]
    store = rendered["store-app"]
    assert "FLOWTIDE_SCHEDULE=data FLOWTIDE_SOURCES=load" in store  # two crons: each pulls its own sources
    assert "flowtide fetch" in store and "flowtide push" in store


def test_no_secret_in_any_script_only_variable_references(rendered):
    for text in rendered.values():
        assert "glpat-" not in text
        data = _yaml(text)
        for name in (scripts.PUSH_TOKEN, scripts.API_TOKEN, "AWS_SECRET_ACCESS_KEY"):
            # never given a value in the file (they are masked project variables), only read
            assert name not in data["variables"] and f"{name}=" not in text
            assert not any(name in (job.get("variables") or {}) for job in data.values() if isinstance(job, dict))
        assert "$FLOWTIDE_PUSH_TOKEN" in text
        # the token reaches git through a credential helper, never a URL
        assert "://$" not in text and "@$CI_SERVER" not in text


def test_an_image_must_be_pinned_by_digest():
    with pytest.raises(ConfigError) as caught:
        render(_config("weather", "ci: {image: 'python:3.11'}\n"))
    assert "ci.image 'python:3.11' is not pinned by digest" in caught.value.message
    assert caught.value.line is not None
    digest = "python:3.11@sha256:" + "ab" * 32
    text = render(_config("weather", f"ci: {{image: '{digest}'}}\n"))[GITLAB_FILE]
    assert f"  image: {digest}\n" in text


# --- flowtide ci generate / check --------------------------------------------------------------


def test_generate_check_and_drift(tmp_path):
    root = _project(tmp_path)
    missing = run_cli("-C", root, "ci", "check", "--no-lint")
    assert missing.code == 1 and "FAIL .gitlab-ci.yml: missing; run `flowtide ci generate`" in missing.out
    first = run_cli("-C", root, "ci", "generate")
    assert first.code == 0 and first.out.splitlines() == ["wrote .gitlab-ci.yml"]
    before = (root / GITLAB_FILE).read_bytes()
    again = run_cli("-C", root, "ci", "generate", "--json")
    assert again.code == 0 and '"changed": []' in again.out and (root / GITLAB_FILE).read_bytes() == before
    ok = run_cli("-C", root, "ci", "check", "--json")
    assert ok.code == 0, ok.out
    assert '"validated by": "check-jsonschema vendor.gitlab-ci"' in ok.out
    # the config moved on: the schedule in the header differs
    config = root / "flowtide.yaml"
    config.write_text(config.read_text().replace('schedule: "0 6 * * *"', 'schedule: "5 7 * * *"'))
    stale = run_cli("-C", root, "ci", "check", "--no-lint")
    assert stale.code == 1
    assert "FAIL .gitlab-ci.yml: differs from what flowtide.yaml generates" in stale.out
    assert '+#     "flowtide data: weather"  cron "5 7 * * *"  variables FLOWTIDE_SCHEDULE=data' in stale.out


def test_check_reports_what_gitlab_schema_refuses(tmp_path):
    root = _project(tmp_path)
    assert run_cli("-C", root, "ci", "generate").code == 0
    path = root / GITLAB_FILE
    path.write_text(path.read_text().replace("  resource_group: staging\n", "  resource_groups: staging\n"))
    bad = run_cli("-C", root, "ci", "check", "--json")
    assert bad.code == 1
    findings = json.loads(bad.out)["findings"]
    schema = [f for f in findings if f["rule"] == "schema"]
    assert schema and schema[0]["target"].endswith(".gitlab-ci.yml:$.staging")
    assert "'resource_groups' was unexpected" in schema[0]["message"]


def test_switching_provider_removes_only_flowtides_github_workflows(tmp_path):
    root = _project(tmp_path, provider=False)
    assert run_cli("-C", root, "ci", "generate").code == 0
    own = root / ".github/workflows/release.yml"
    own.write_text("name: release\non: push\njobs: {}\n")  # the user's: no flowtide header
    # --provider only tries GitLab out: GitHub's files stay while ci.provider says github
    tried = run_cli("-C", root, "ci", "generate", "--provider", "gitlab")
    assert tried.code == 0 and (root / ".github/workflows/data.yml").is_file() and (root / GITLAB_FILE).is_file()
    config = root / "flowtide.yaml"
    config.write_text(config.read_text() + "ci: {provider: gitlab}\n")
    stale = run_cli("-C", root, "ci", "check", "--no-lint")
    assert stale.code == 1
    assert "FAIL .github/workflows/data.yml: generated for another CI provider, but ci.provider is gitlab" in stale.out
    switched = run_cli("-C", root, "ci", "generate")
    assert switched.code == 0
    assert "removed .github/workflows/train.yml (no longer generated from flowtide.yaml)" in switched.out
    assert "removed .github/dependabot.yml (no longer generated from flowtide.yaml)" in switched.out
    assert not (root / ".github/workflows/train.yml").exists() and own.is_file()
    assert run_cli("-C", root, "ci", "check", "--no-lint").code == 0


def test_switching_between_github_and_forgejo_keeps_the_chosen_ones_files_and_removes_the_others(tmp_path):
    root = _project(tmp_path, provider=False)
    assert run_cli("-C", root, "ci", "generate").code == 0
    config = root / "flowtide.yaml"
    plain = config.read_text()
    config.write_text(plain + "ci: {provider: forgejo}\n")
    to_forgejo = run_cli("-C", root, "ci", "generate")
    assert to_forgejo.code == 0, to_forgejo.err
    assert sorted(p.name for p in (root / ".forgejo/workflows").iterdir()) == sorted(WORKFLOW_FILES)
    assert not (root / ".github").exists()  # flowtide's workflows and dependabot.yml went, and their empty directories
    assert run_cli("-C", root, "ci", "check", "--no-lint").code == 0
    # trying GitHub out only writes; the configured provider's files stay
    assert run_cli("-C", root, "ci", "generate", "--provider", "github").code == 0
    assert (root / ".github/workflows/data.yml").is_file() and (root / ".forgejo/workflows/data.yml").is_file()
    config.write_text(plain)
    back = run_cli("-C", root, "ci", "generate")
    assert back.code == 0 and "removed .forgejo/workflows/data.yml" in back.out
    assert not (root / ".forgejo").exists() and (root / ".github/workflows/data.yml").is_file()
    assert run_cli("-C", root, "ci", "check", "--no-lint").code == 0


def test_an_unknown_provider_is_a_usage_error(tmp_path):
    root = _project(tmp_path)
    result = run_cli("-C", root, "ci", "generate", "--provider", "jenkins")
    assert result.code == 2 and "invalid choice: 'jenkins'" in result.err


# --- which jobs an event runs ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    root = _project(tmp_path_factory.mktemp("gitlab-sim"))
    assert run_cli("-C", root, "ci", "generate").code == 0
    return Project.load(root)


def _jobs(plan) -> list[tuple[str, str | None]]:
    return [(job.id, job.condition) for job in plan.jobs]


def test_a_push_of_docs_tests_and_a_push_of_code_trains(project):
    (docs,) = simulate(project, "push", paths=["README.md"]).workflows
    assert docs.fired and _jobs(docs) == [("test", None)]
    (code,) = simulate(project, "push", paths=["src/train.py"]).workflows
    assert _jobs(code) == [
        ("test", None),
        ("train", None),
        ("train-records", "on_failure"),
        ("staging", None),
        ("production", "manual"),
    ]
    (branch,) = simulate(project, "push", paths=["src/train.py"], branch="feature").workflows
    assert _jobs(branch) == [("test", None)]  # training and deployment only from the default branch


def test_a_merge_request_gets_the_tests_and_the_metrics_note(project):
    (plan,) = simulate(project, "pull_request").workflows
    assert _jobs(plan) == [("test", None), ("metrics-note", None)]
    note = next(job for job in plan.jobs if job.id == "metrics-note")
    assert note.needs == ["test"]


def test_each_schedule_runs_its_loop(project):
    data, monitor = simulate(project, "schedule").workflows
    assert data.file == ".gitlab-ci.yml (schedule, FLOWTIDE_SCHEDULE=data)"
    assert [job.id for job in data.jobs] == ["pull", "train", "train-records", "staging", "production"]
    assert next(job for job in data.jobs if job.id == "pull").needs == []  # monitor is optional, and absent
    assert [job.id for job in monitor.jobs] == ["monitor", "pull", "train", "train-records", "staging", "production"]
    (elsewhere,) = simulate(project, "schedule", workflow="data", branch="feature").workflows
    assert not elsewhere.fired and "no job's rules match" in elsewhere.reason
    listed = run_cli("-C", project.root, "ci", "simulate", "workflow_dispatch")
    assert listed.code == 0 and ".gitlab-ci.yml (web): fires" in listed.out
    assert "  job train" in listed.out and "job pull" not in listed.out


@pytest.mark.parametrize(
    ("expression", "variables", "expected"),
    [
        ('$A == "x" && $B == "y"', {"A": "x", "B": "y"}, True),
        ('$A == "x" && $B == "y"', {"A": "x"}, False),
        ('$A == "x" || $B == "y" && $C', {"A": "x"}, True),  # && binds tighter
        ('($A == "x" || $B == "y") && $C', {"A": "x"}, False),
        ("$A", {"A": ""}, False),
        ("$A != null", {"A": "v"}, True),
        ("$A =~ /^flowtide\\[bot\\] </", {"A": "flowtide[bot] <a@b>"}, True),
        ("$A !~ /^ab/i", {"A": "ABC"}, False),
    ],
)
def test_rule_expressions(expression, variables, expected):
    assert evaluate(expression, variables) is expected


# --- the merge-request note, against a real HTTP server -------------------------------------------


class _FakeGitLab(BaseHTTPRequestHandler):
    notes: list[dict] = []
    requests: list[tuple[str, str, str, dict | None]] = []

    def _answer(self, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self) -> dict | None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.requests.append((self.command, self.path, self.headers.get("PRIVATE-TOKEN", ""), body))
        return body

    def do_GET(self):
        self._record()
        self._answer(self.notes)

    def do_POST(self):
        body = self._record()
        self.notes.append({"id": 7, "body": body["body"], "author": {"bot": True}})
        self._answer({"id": 7})

    def do_PUT(self):
        body = self._record()
        self.notes[0]["body"] = body["body"]
        self._answer({"id": 7})

    def log_message(self, *args):
        pass


def test_the_metrics_note_is_created_once_then_updated(tmp_path):
    server = HTTPServer(("127.0.0.1", 0), _FakeGitLab)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        (tmp_path / "reports").mkdir()
        env = {
            "PATH": os.environ["PATH"],
            "CI_API_V4_URL": f"http://127.0.0.1:{server.server_port}/api/v4",
            "CI_PROJECT_ID": "42",
            "CI_MERGE_REQUEST_IID": "5",
            "FLOWTIDE_API_TOKEN": "token-from-a-masked-variable",
        }
        for diff in ("accuracy 0.70 -> 0.72", "accuracy 0.70 -> 0.75"):
            (tmp_path / "reports" / "diff.md").write_text(diff)
            proc = subprocess.run(
                ["bash", "-c", scripts.NOTE], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
            )
            assert proc.returncode == 0, proc.stderr
        assert "token-from-a-masked-variable" not in proc.stdout + proc.stderr
        calls = [(method, path, token) for method, path, token, _ in _FakeGitLab.requests]
        notes = "/api/v4/projects/42/merge_requests/5/notes"
        assert calls == [
            ("GET", f"{notes}?per_page=100&sort=asc", "token-from-a-masked-variable"),
            ("POST", notes, "token-from-a-masked-variable"),
            ("GET", f"{notes}?per_page=100&sort=asc", "token-from-a-masked-variable"),
            ("PUT", f"{notes}/7", "token-from-a-masked-variable"),
        ]
        assert _FakeGitLab.notes[0]["body"] == "<!-- flowtide:metrics-diff -->\naccuracy 0.70 -> 0.75"
        # without the token (a fork's pipeline): no call, no failure
        del env["FLOWTIDE_API_TOKEN"]
        quiet = subprocess.run(["bash", "-c", scripts.NOTE], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert quiet.returncode == 0 and "no FLOWTIDE_API_TOKEN" in quiet.stdout and len(_FakeGitLab.requests) == 4
    finally:
        server.shutdown()
        server.server_close()
    assert shutil.which("bash")


# --- flowtide doctor ----------------------------------------------------------------------------


def _doctor(root: Path) -> dict[str, str]:
    result = run_cli("-C", root, "doctor", "--json")
    return {f["rule"]: f["status"] for f in json.loads(result.out)["findings"] if f["details"].get("level") == 2}


def test_doctor_grades_a_gitlab_project_as_it_grades_a_github_one(tmp_path):
    github, gitlab = _project(tmp_path / "a", provider=False), _project(tmp_path / "b")
    for root in (github, gitlab):
        (root / "tests").mkdir()
        (root / "tests" / "test_x.py").write_text("def test_x():\n    assert True\n")
        assert run_cli("-C", root, "ci", "generate").code == 0
    on_github, on_gitlab = _doctor(github), _doctor(gitlab)
    assert set(on_gitlab) == set(on_github) - {"pinned actions", "no fork code with secrets"} | {
        "pinned images",
        "no secret in the file",
    }
    assert set(on_gitlab.values()) == set(on_github.values()) == {"pass"}
    # what each piece catches when a hand edit breaks it
    path = gitlab / GITLAB_FILE
    text = path.read_text()
    edited = text.replace("      when: manual\n", "").replace(
        "  FLOWTIDE_SOURCES:\n", "  FLOWTIDE_PUSH_TOKEN: glpat-oops\n  FLOWTIDE_SOURCES:\n"
    )
    edited = edited.replace(
        "extends: .flowtide\n  stage: staging\n", "extends: .flowtide\n  image: python:3.11\n  stage: staging\n"
    )
    path.write_text(edited)
    broken = _doctor(gitlab)
    assert {rule for rule, status in broken.items() if status != "pass"} == {
        "workflows up to date",
        "pinned images",
        "approval on production",
        "no secret in the file",
    }
    report = json.loads(run_cli("-C", gitlab, "doctor", "--json").out)
    messages = {f["rule"]: f["message"] for f in report["findings"]}
    assert "images not pinned by digest (staging: python:3.11)" in messages["pinned images"]
    assert "(variables: FLOWTIDE_PUSH_TOKEN)" in messages["no secret in the file"]
    assert (
        "production job without a manual run in the environment `production` (production)"
        in messages["approval on production"]
    )


def test_init_in_a_gitlab_project_writes_its_pipeline_not_githubs(tmp_path):
    root = _project(tmp_path)
    result = run_cli("init", root)
    assert result.code == 0, result.err
    assert "wrote    .gitlab-ci.yml" in result.out
    assert not (root / ".github").exists()
    assert run_cli("-C", root, "ci", "check", "--no-lint").code == 0
