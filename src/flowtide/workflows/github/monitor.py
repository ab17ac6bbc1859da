"""monitor.yml: on a schedule, analyse drift and live performance; retrain (pull, then train), promote or archive a canary."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._steps import (
    SKIP_CI,
    _call_secrets,
    _caller_permissions,
    _checkout,
    _commit,
    _fetch,
    _job,
    _model_name,
    _pass_secrets,
    _permissions,
    _pinned,
    _registry_file,
    _setup,
    _store_env,
)
from .._yaml import Comment, Q, Trailing
from .schedules import off_minute

if TYPE_CHECKING:
    from flowtide.config import Config


_RETRAIN_JOB = "retrain"

# what the analysis found, for the jobs below (the JSON report is the machine-readable rendering)
_MONITOR_OUTPUTS = """python - >> "$GITHUB_OUTPUT" <<'PY'
import json, os
report = json.load(open("reports/monitor.json"))
promote = [v["canary"] for v in report.get("verdicts") or []
           if v["verdict"] == "promote" and v["model"] == os.environ["MODEL"]]
print("retrain=" + ("true" if report.get("needs_retraining") else "false"))
print("promote=" + (str(promote[0]) if promote else ""))
PY
"""

# the cooldown's state is GitHub's own record: monitor runs whose retrain job ran (the caller
# job's name prefixes its called jobs' names in the jobs API; a skipped call is one skipped job)
_COOLDOWN = """set -euo pipefail
if [ -n "$PROMOTE" ]; then
  echo "drift or a drop, but the canary v$PROMOTE is up for promotion: no retraining in this run" | tee -a "$GITHUB_STEP_SUMMARY"
  echo "retrain=false" >> "$GITHUB_OUTPUT"
  exit 0
fi
since=$(date -u -d "@$(( $(date +%s) - COOLDOWN_SECONDS ))" +%Y-%m-%dT%H:%M:%SZ)
runs=$(gh run list --workflow monitor.yml --created ">=$since" --limit 100 --json databaseId)
for id in $(echo "$runs" | python -c 'import json, sys; print(*[r["databaseId"] for r in json.load(sys.stdin)])'); do
  if [ "$id" = "$RUN_ID" ]; then continue; fi
  if gh api "repos/$GH_REPO/actions/runs/$id/jobs?per_page=100" | python -c '
import json, os, sys
jobs = json.load(sys.stdin).get("jobs") or []
ran = [j for j in jobs if j["name"].startswith(os.environ["RETRAIN_JOB"]) and j.get("conclusion") != "skipped"]
sys.exit(0 if ran else 1)
'; then
    echo "monitor run $id retrained within the cooldown ($COOLDOWN): not retraining again" | tee -a "$GITHUB_STEP_SUMMARY"
    echo "retrain=false" >> "$GITHUB_OUTPUT"
    exit 0
  fi
done
echo "drift or a performance drop: pulling the sources, then training on what is new" | tee -a "$GITHUB_STEP_SUMMARY"
echo "retrain=true" >> "$GITHUB_OUTPUT"
"""


def build(config: Config) -> dict:
    cron = off_minute(config.monitor.schedule, "monitor")
    cooldown = config.monitor.cooldown.whole_seconds  # a Duration, checked when the config loaded
    model = _model_name(config)
    canary = config.deploy.canary is not None and bool(model)
    # with a canary, the same analysis archives a canary judged worse; a promote verdict goes to deploy.yml
    act = " --act" if canary else ""
    steps: list = [
        *_checkout(config, push=canary),
        *_setup(config),
        *_fetch(config),
        {
            "name": "Monitor drift and live performance" + (", archive a canary judged worse" if canary else ""),
            "id": "monitor",
            "env": {"MODEL": model, **_store_env(config)},
            "run": f"""set +e
mkdir -p reports
flowtide monitor --json{act} > reports/monitor.json
code=$?
set -e
echo "exit=$code" >> "$GITHUB_OUTPUT"
# for people: the Markdown rendering of the same report, in the job summary
if [ -f .flowtide/reports/monitor.md ]; then
  cp .flowtide/reports/monitor.md reports/monitor.md
  cat reports/monitor.md >> "$GITHUB_STEP_SUMMARY"
fi
# 1: drift or a performance drop (handled below); 3: a served version could not be judged
# (no or too few predictions): a warning, not a trigger; anything else is a real failure
if [ "$code" -eq 3 ]; then
  echo "::warning title=monitor: not judged::a served version has no or too few predictions in the window; see the job summary"
elif [ "$code" -gt 1 ]; then exit "$code"; fi
{_MONITOR_OUTPUTS}""",
        },
        {
            "name": "Retrain (drift or drop), unless a monitor run retrained within the cooldown",
            "id": "cooldown",
            "if": "steps.monitor.outputs.retrain == 'true'",
            "env": {
                "GH_TOKEN": "${{ github.token }}",
                "GH_REPO": "${{ github.repository }}",
                "RUN_ID": "${{ github.run_id }}",
                "PROMOTE": "${{ steps.monitor.outputs.promote }}",
                "RETRAIN_JOB": _RETRAIN_JOB,
                "COOLDOWN": config.monitor.cooldown.text,
                "COOLDOWN_SECONDS": Q(str(cooldown)),
            },
            "run": _COOLDOWN,
        },
    ]
    if canary:
        steps.append(_commit(config, [_registry_file()], f"monitor: archive the canary judged worse {SKIP_CI}"))
    steps += [
        {
            "name": "Keep the schedules enabled",
            Comment(
                "GitHub disables schedules after 60 days without repository activity (public repos);\n"
                "re-enabling through the API keeps data.yml and monitor.yml alive"
            ): None,
            "env": {"GH_TOKEN": "${{ github.token }}", "GH_REPO": "${{ github.repository }}"},
            # the REST call (not `gh workflow enable`, which only looks at disabled workflows) succeeds
            # on an enabled workflow too; a failure here must not fail the monitoring run
            "run": """for workflow in data.yml monitor.yml; do
  gh api --method PUT "repos/$GH_REPO/actions/workflows/$workflow/enable" \\
    || echo "::warning::could not re-enable $workflow (its schedule may be disabled after 60 days without activity)"
done
""",
        },
        {
            "name": "Upload reports",
            "if": "always()",
            "uses": _pinned("upload-artifact"),
            "with": {"name": "monitor", "path": "reports/", "if-no-files-found": "ignore"},
        },
    ]
    outputs = {"retrain": "${{ steps.cooldown.outputs.retrain }}", "promote": "${{ steps.monitor.outputs.promote }}"}
    jobs: dict[Any, Any] = {
        "monitor": _job(
            config,
            "monitor" + (", archive a canary judged worse" if canary else ""),
            steps,
            permissions=_permissions(config, push=canary, actions="list earlier monitor runs, keep schedules enabled"),
            outputs=outputs,
        ),
        _RETRAIN_JOB: {
            "name": f"{_RETRAIN_JOB}: pull, then train on what is new",
            "needs": "monitor",
            "if": "needs.monitor.outputs.retrain == 'true'",
            Comment(
                "pull first (data.yml), so training sees new source bytes and newly labelled traffic;\n"
                "data.yml trains only when some source changed (same bytes would give the same model)"
            ): None,
            "uses": Trailing("./.github/workflows/data.yml", "zizmor: ignore[self-repository]"),
            "permissions": _caller_permissions(config),
            "with": {"reason": "monitor: drift or a performance drop"},
        },
    }
    if _call_secrets(config):
        jobs[_RETRAIN_JOB]["secrets"] = _pass_secrets(config)
    if canary:
        jobs["promote"] = {
            "name": "promote the canary: deploy.yml's production job (approval)",
            "needs": "monitor",
            "if": "needs.monitor.outputs.promote != ''",
            Comment(
                "one road to production: a promote verdict goes through the approved production job,\n"
                "never straight from here (monitor itself only archives a canary judged worse)"
            ): None,
            "uses": Trailing("./.github/workflows/deploy.yml", "zizmor: ignore[self-repository]"),
            "permissions": _caller_permissions(config),
            "with": {
                "model": model,
                "version": "${{ needs.monitor.outputs.promote }}",
                "to": "production",
                "reason": "the canary verdict (monitor.yml) is promote",
            },
        }
        if _call_secrets(config):
            jobs["promote"]["secrets"] = _pass_secrets(config)
    return {
        "name": "monitor",
        "on": {"schedule": [{"cron": Q(cron)}], "workflow_dispatch": None},
        "permissions": {},
        "concurrency": {"group": "flowtide-monitor", "cancel-in-progress": False},
        "jobs": jobs,
    }
