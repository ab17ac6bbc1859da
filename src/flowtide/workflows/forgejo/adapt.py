"""What changes from the GitHub workflows to Forgejo's: approval, cooldown state, PR comment, bot, artifacts.

Each function takes one workflow as the GitHub builder made it (a plain mapping) and returns
the Forgejo form; ``render`` applies them before inlining the called workflows. docs/forgejo.md
gives the reasons at length; the comments here say which Forgejo fact each change answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._steps import _job, _model_name, _permissions
from .._yaml import Comment, Trailing

if TYPE_CHECKING:
    from flowtide.config import Config

# The automatic token pushes as Forgejo's actions user; the commit's author is only a label,
# given the instance's default no-reply domain so that it links to no real account.
BOT_NAME = "forgejo-actions"
BOT_EMAIL = "forgejo-actions@noreply.localhost"
APPROVERS_VARIABLE = "FLOWTIDE_APPROVERS"

_ARTIFACT_ACTIONS = ("actions/upload-artifact@", "actions/download-artifact@")

# Forgejo has no environments with required reviewers: production is a workflow_dispatch of
# deploy.yml (which only users with write access may start), from the default branch's
# reviewed workflow, by a user the repository variable names.
_APPROVAL = f"""set -euo pipefail
if [ "$REF" != "$DEFAULT_REF" ]; then
  echo "::error::production deploys run only from $DEFAULT_REF (its workflow is the reviewed one); this run is on $REF"
  exit 1
fi
if [ -z "$APPROVERS" ]; then
  echo "::error::nobody may deploy to production: set the repository variable {APPROVERS_VARIABLE} (Settings -> Actions -> Variables) to the approvers' user names, separated by spaces or commas"
  exit 1
fi
for approver in $(echo "$APPROVERS" | tr ',' ' '); do
  if [ "$approver" = "$ACTOR" ]; then
    echo "$ACTOR is an approver ({APPROVERS_VARIABLE}) and dispatched this deploy" | tee -a "$GITHUB_STEP_SUMMARY"
    echo "approver=$ACTOR" >> "$GITHUB_OUTPUT"
    exit 0
  fi
done
echo "::error::$ACTOR is not an approver ({APPROVERS_VARIABLE}: $APPROVERS): only an approver can deploy to production"
exit 1
"""

# Forgejo has no API listing a run's jobs the way GitHub's does; the cooldown's state is the
# repository's own history instead: the bot's last training commit.
_COOLDOWN = """set -euo pipefail
if [ -n "$PROMOTE" ]; then
  echo "drift or a drop, but the canary v$PROMOTE is up for promotion: no retraining in this run" | tee -a "$GITHUB_STEP_SUMMARY"
  echo "retrain=false" >> "$GITHUB_OUTPUT"
  exit 0
fi
last=$(git log -1 --format=%ct --grep='^train: register' HEAD || true)
now=$(date +%s)
if [ -n "$last" ] && [ $(( now - last )) -lt "$COOLDOWN_SECONDS" ]; then
  echo "the last training commit is $(( (now - last) / 60 )) min old, within the cooldown ($COOLDOWN): not retraining again" | tee -a "$GITHUB_STEP_SUMMARY"
  echo "retrain=false" >> "$GITHUB_OUTPUT"
  exit 0
fi
echo "drift or a performance drop: pulling the sources, then training on what is new" | tee -a "$GITHUB_STEP_SUMMARY"
echo "retrain=true" >> "$GITHUB_OUTPUT"
"""

# Forgejo's REST API (/api/v1): list, edit or create the one comment carrying the marker.
_COMMENT = """python - <<'PY'
import json, os, urllib.request

api, repo, number = os.environ["API"].rstrip("/"), os.environ["REPO"], os.environ["NUMBER"]
marker = "<!-- flowtide:metrics-diff -->"
body = f"{marker}\\n{os.environ['BODY']}"[:65000]
bots = {"forgejo-actions", "gitea-actions"}


def call(method, path, data=None):
    request = urllib.request.Request(
        f"{api}/repos/{repo}{path}",
        data=None if data is None else json.dumps(data).encode(),
        method=method,
        headers={"Authorization": f"token {os.environ['TOKEN']}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


try:
    previous = None
    for page in range(1, 31):
        comments = call("GET", f"/issues/{number}/comments?page={page}&limit=50")
        previous = next((c for c in comments if (c.get("user") or {}).get("login") in bots
                         and marker in (c.get("body") or "")), None)
        if previous or len(comments) < 50:
            break
    if previous:
        call("PATCH", f"/issues/comments/{previous['id']}", {"body": body})
    else:
        call("POST", f"/issues/{number}/comments", {"body": body})
except Exception as exc:  # a comment is a courtesy: the checks above decide the job
    print(f"::warning::could not comment on the pull request: {exc}")
PY
"""

# Forgejo shows no job summary page; flowtide's steps still append to the file (and print the
# same text in the log), so every job gets one even where a runner sets none.
_SUMMARY = """if [ -z "${GITHUB_STEP_SUMMARY:-}" ]; then
  echo "GITHUB_STEP_SUMMARY=${RUNNER_TEMP:-/tmp}/flowtide-summary-$GITHUB_JOB.md" >> "$GITHUB_ENV"
fi
"""


def _uses(step: dict) -> str:
    uses = step.get("uses")
    return str(uses.value if isinstance(uses, Trailing) else uses or "")


def _steps(job: dict, config: Config) -> list:
    steps: list = [{"name": "Job summary file (Forgejo shows the log; flowtide writes both)", "run": _SUMMARY}]
    for step in job.get("steps") or []:
        if _uses(step).startswith(_ARTIFACT_ACTIONS):
            # GitHub's artifact actions v4+ refuse any server but GitHub's; nothing here needs them:
            # the model reaches the deploy jobs through git (model.storage: git) or the remote store
            continue
        if str(step.get("name", "")).startswith("Keep the schedules enabled"):
            continue  # GitHub disables idle schedules after 60 days; Forgejo does not
        step = dict(step)
        env = step.get("env")
        if isinstance(env, dict) and "GIT_AUTHOR_NAME" in env:
            step["env"] = {
                **env,
                "GIT_AUTHOR_NAME": BOT_NAME,
                "GIT_AUTHOR_EMAIL": BOT_EMAIL,
                "GIT_COMMITTER_NAME": BOT_NAME,
                "GIT_COMMITTER_EMAIL": BOT_EMAIL,
            }
        steps.append(step)
    return steps


def jobs(workflow: dict, config: Config) -> dict:
    """Every runner job with Forgejo's steps (reusable-workflow calls are left to ``inline``)."""
    out = dict(workflow)
    out["jobs"] = {
        job_id: job if "uses" in job else {**job, "steps": _steps(job, config)}
        for job_id, job in (workflow.get("jobs") or {}).items()
    }
    return out


def ci(workflow: dict, config: Config) -> dict:
    """The PR comment goes through Forgejo's API, from the test job (GitHub's github-script speaks GitHub's)."""
    test = dict(workflow["jobs"]["test"])
    test.pop("outputs", None)
    steps = list(test["steps"])
    at = next(i for i, step in enumerate(steps) if step.get("id") == "diff") + 1
    steps.insert(
        at,
        {
            "name": "Metrics diff as one PR comment",
            Comment("same-repo PRs only: a fork's token only reads, and fork code never runs with secrets"): None,
            "if": "github.event_name == 'pull_request' && github.event.pull_request.head.repo.full_name == "
            "github.repository && steps.diff.outputs.markdown != ''",
            "env": {
                "BODY": "${{ steps.diff.outputs.markdown }}",
                "TOKEN": "${{ github.token }}",
                "API": "${{ github.api_url }}",
                "REPO": "${{ github.repository }}",
                "NUMBER": "${{ github.event.pull_request.number }}",
            },
            "run": _COMMENT,
        },
    )
    test["steps"] = steps
    return {**workflow, "jobs": {"test": test}}


def deploy(workflow: dict, config: Config) -> dict:
    """Production by dispatch from an approver; staging says what to do next; no environments."""
    canary = config.deploy.canary is not None
    jobs = dict(workflow["jobs"])
    staging = {k: v for k, v in jobs["staging"].items() if k != "environment"}
    staging["steps"] = [
        *staging["steps"],
        {
            "name": "Production waits for an approver",
            **({"if": "steps.next.outputs.next == 'production'"} if canary else {}),
            "env": {"MODEL": "${{ inputs.model }}", "VERSION": "${{ inputs.version }}"},
            "run": f"""echo "::notice title=production waits for an approver::$MODEL v$VERSION is in staging. An approver \
({APPROVERS_VARIABLE}) puts it in production: run the deploy workflow (Actions -> deploy -> Run workflow) on the \
default branch with version $VERSION and to: production" | tee -a "$GITHUB_STEP_SUMMARY"
""",
        },
    ]
    for step in staging["steps"]:
        if step.get("id") == "next":
            step["run"] = (
                step["run"]
                .replace("goes on to the production job (approval)", "waits for an approver to deploy it to production")
                .replace(
                    "its verdict (monitor.yml) calls the production job", "its verdict (monitor.yml) asks an approver"
                )
            )
    production = jobs["production"]
    steps, approval = [], None
    for step in production["steps"]:
        if step.get("id") == "approval":
            approval = {
                "name": f"Approval: the dispatcher is in {APPROVERS_VARIABLE}, on the default branch",
                "id": "approval",
                "env": {
                    "ACTOR": "${{ github.actor }}",
                    "APPROVERS": "${{ vars." + APPROVERS_VARIABLE + " }}",
                    "REF": "${{ github.ref }}",
                    "DEFAULT_REF": f"refs/heads/{config.ci.default_branch}",
                },
                "run": _APPROVAL,
            }
            continue
        if isinstance(step.get("env"), dict) and "RUN_URL" in step["env"]:
            # Forgejo's run pages are numbered per repository (the run number), not by run id
            run_url = step["env"]["RUN_URL"].replace("github.run_id", "github.run_number")
            step = {**step, "env": {**step["env"], "RUN_URL": run_url}}
        steps.append(step)
    steps.insert(0, approval)  # before anything is installed: a refusal costs seconds
    production = {
        k: v for k, v in production.items() if k not in ("environment", "needs", "if") and not isinstance(k, Comment)
    }
    production["permissions"] = {k: v for k, v in production["permissions"].items() if k != "actions"}
    production = {
        "name": production.pop("name"),
        Comment(
            "one road to production: an approver dispatches this workflow with to: production (Forgejo has\n"
            f"no required reviewers; dispatching needs write access, and {APPROVERS_VARIABLE} names who may)"
        ): None,
        "if": "github.event_name == 'workflow_dispatch' && inputs.to == 'production'",
        **production,
        "steps": steps,
    }
    production["name"] = "promote to production (an approver dispatched it)"
    jobs["staging"], jobs["production"] = staging, production
    on = dict(workflow["on"])
    dispatch = {**on["workflow_dispatch"]["inputs"]}
    dispatch["to"] = {
        **dispatch["to"],
        "description": f"staging, or production (only an approver named in {APPROVERS_VARIABLE} may)",
    }
    on["workflow_dispatch"] = {"inputs": dispatch}
    return {**workflow, "on": on, "jobs": jobs}


def monitor(workflow: dict, config: Config) -> dict:
    """The cooldown from git history; a promote verdict asks an approver instead of deploying."""
    jobs = dict(workflow["jobs"])
    job = dict(jobs["monitor"])
    steps = []
    for step in job["steps"]:
        if _uses(step).startswith("actions/checkout@"):
            step = {**step, "with": {**step["with"], "fetch-depth": 0}}  # the cooldown reads the history
        if step.get("id") == "cooldown":
            env = step["env"]
            step = {
                **step,
                "env": {key: env[key] for key in ("PROMOTE", "COOLDOWN", "COOLDOWN_SECONDS")},
                "run": _COOLDOWN,
            }
        steps.append(step)
    job["steps"] = steps
    if "permissions" in job:
        job["permissions"] = {k: v for k, v in job["permissions"].items() if k != "actions"}
    jobs["monitor"] = job
    if "promote" in jobs:
        jobs["promote"] = _job(
            config,
            "the canary's verdict is promote: production waits for an approver",
            [
                {
                    "name": "Ask an approver",
                    "env": {"MODEL": _model_name(config), "VERSION": "${{ needs.monitor.outputs.promote }}"},
                    "run": f"""echo "::notice title=promote the canary::$MODEL v$VERSION did better than production as the \
canary. An approver ({APPROVERS_VARIABLE}) puts it in production: run the deploy workflow on the default branch with \
version $VERSION and to: production" | tee -a "$GITHUB_STEP_SUMMARY"
""",
                }
            ],
            permissions=_permissions(config),
            needs="monitor",
            extra={"if": "needs.monitor.outputs.promote != ''"},
        )
    return {**workflow, "jobs": jobs}


def for_inlining(deploy_workflow: dict) -> dict:
    """deploy.yml as data.yml and train.yml run it: staging only (production is the approver's dispatch)."""
    return {**deploy_workflow, "jobs": {"staging": deploy_workflow["jobs"]["staging"]}}


def drop_calls(workflow: dict) -> dict:
    """Triggers without `workflow_call` (and its comment): nothing calls a Forgejo workflow, its callers hold its jobs."""
    items = list((workflow.get("on") or {}).items())
    on: dict[Any, Any] = {}
    for index, (key, value) in enumerate(items):
        follows = items[index + 1][0] if index + 1 < len(items) else None
        if key == "workflow_call" or (isinstance(key, Comment) and follows == "workflow_call"):
            continue
        on[key] = value
    return {**workflow, "on": on}


def tidy(jobs: dict) -> dict:
    """A checkout `ref` that inlining left empty (train.yml pushed: no commit handed over) is left out."""
    out = {}
    for job_id, job in jobs.items():
        steps = []
        for step in job.get("steps") or []:
            options = step.get("with")
            if _uses(step).startswith("actions/checkout@") and isinstance(options, dict) and options.get("ref") == "":
                step = {**step, "with": {k: v for k, v in options.items() if k != "ref"}}
            steps.append(step)
        out[job_id] = {**job, "steps": steps} if "steps" in job else job
    return out
