"""deploy.yml: package and promote to staging; production behind the approved `production` environment."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from .._steps import (
    SKIP_CI,
    _call_secrets,
    _checkout,
    _commit,
    _declare_secrets,
    _fetch,
    _flowtide,
    _job,
    _model_name,
    _permissions,
    _pinned,
    _registry_file,
    _setup,
    _store,
)
from .._yaml import Comment, Trailing

if TYPE_CHECKING:
    from flowtide.config import Config


_MODEL_VERSION = "${{ inputs.model }} v${{ inputs.version }}"
_RUN_URL = "${{ github.server_url }}/${{ github.repository }}/actions/runs/${{ github.run_id }}"

# which version serves in production now (empty: none), read before this run moves anything
_NEXT_STAGE = """set -euo pipefail
production=$(flowtide models "$MODEL" --json | python -c '
import json, os, sys
versions = json.load(sys.stdin).get(os.environ["MODEL"], [])
print(next((v["version"] for v in versions if v["stage"] == "production"), ""))
')
if [ -z "$production" ]; then
  echo "no version of $MODEL is in production yet: v$VERSION goes on to the production job (approval)" | tee -a "$GITHUB_STEP_SUMMARY"
  echo "next=production" >> "$GITHUB_OUTPUT"
else
  echo "$MODEL v$production serves production: v$VERSION serves as the canary; its verdict (monitor.yml) calls the production job" | tee -a "$GITHUB_STEP_SUMMARY"
  echo "next=canary" >> "$GITHUB_OUTPUT"
fi
"""

# the approver of this run's `production` environment, from GitHub's deployment reviews
_APPROVER = """set -euo pipefail
approver=$(gh api "repos/$GH_REPO/actions/runs/$RUN_ID/approvals" | python -c '
import json, sys
reviews = [r for r in json.load(sys.stdin) if r.get("state") == "approved"
           and any(e.get("name") == "production" for e in r.get("environments") or [])]
print(reviews[-1]["user"]["login"] if reviews else "")
') || approver=""
if [ -z "$approver" ]; then
  echo "::warning::nobody approved this production deploy: give the environment 'production' required reviewers (Settings -> Environments)"
  approver="nobody (the environment production has no required reviewers)"
fi
echo "approver=$approver" >> "$GITHUB_OUTPUT"
"""

_PROMOTE_PRODUCTION = """set -euo pipefail
reason="approved by $APPROVER in workflow run $RUN_URL"
if [ -n "$WHY" ]; then reason="$reason ($WHY)"; fi
flowtide promote "$MODEL" "$VERSION" --to production --reason "$reason"
"""


def build(config: Config) -> dict:
    model = _model_name(config)
    canary = config.deploy.canary is not None
    model_input: dict[str, Any] = {"description": "model name", "type": "string"}
    if model:
        model_input["default"] = model
    else:
        model_input["required"] = True
    version_input = {"description": "version to deploy (3 or v3)", "type": "string", "required": True}
    to_help = "staging (then the production job when nothing serves yet or without a canary), or production alone"
    reason_input = {"description": "why (recorded with the promotion)", "type": "string", "default": ""}
    env = {"MODEL": "${{ inputs.model }}", "VERSION": "${{ inputs.version }}"}
    handoff: list[dict] = []
    if not _store(config) and config.model:
        handoff.append(
            {
                "name": "The model from the training job",
                Comment(
                    "a called deploy gets the model its training job uploaded in this run; without a\n"
                    "remote store, a manual run can only package what is in the working tree"
                ): None,
                "if": "github.event_name != 'workflow_dispatch'",
                "uses": _pinned("download-artifact"),
                "with": {"name": "model", "path": str(PurePosixPath(config.model.path).parent)},
            }
        )
    next_stage: list[dict] = []
    if canary:
        next_stage.append(_flowtide(config, "Where this version goes next", _NEXT_STAGE, id="next", env=dict(env)))
    staging_steps = [
        *_checkout(config, push=True, ref="${{ github.ref }}"),
        *_setup(config),
        *_fetch(config),
        *handoff,
        *next_stage,
        _flowtide(config, "Package", 'flowtide package "$MODEL" "$VERSION"', store=True, env=dict(env)),
        {
            "name": "Upload the package",
            "uses": _pinned("upload-artifact"),
            "with": {"name": "package", "path": "dist/", "if-no-files-found": "ignore"},
        },
        _flowtide(
            config, "Promote to staging", 'flowtide promote "$MODEL" "$VERSION" --to staging', store=True, env=dict(env)
        ),
        _commit(config, [_registry_file()], f"deploy: {_MODEL_VERSION} to staging {SKIP_CI}"),
    ]
    production_steps = [
        *_checkout(config, push=True, ref="${{ github.ref }}"),
        *_setup(config),
        *_fetch(config),
        {
            "name": "Who approved",
            "id": "approval",
            "env": {
                "GH_TOKEN": "${{ github.token }}",
                "GH_REPO": "${{ github.repository }}",
                "RUN_ID": "${{ github.run_id }}",
            },
            "run": _APPROVER,
        },
        _flowtide(
            config,
            "Promote to production",
            _PROMOTE_PRODUCTION,
            store=True,
            env={
                **env,
                "APPROVER": "${{ steps.approval.outputs.approver }}",
                "RUN_URL": _RUN_URL,
                "WHY": "${{ inputs.reason }}",
            },
        ),
        _commit(config, [_registry_file()], f"deploy: {_MODEL_VERSION} to production {SKIP_CI}"),
    ]
    call: dict[str, Any] = {
        "inputs": {
            "model": dict(model_input),
            "version": dict(version_input),
            "to": {"description": to_help, "type": "string", "default": "staging"},
            "reason": dict(reason_input),
        }
    }
    if _call_secrets(config):
        call["secrets"] = _declare_secrets(config)
    dispatch = {
        "model": dict(model_input),
        "version": dict(version_input),
        "to": {"description": to_help, "type": "choice", "options": ["staging", "production"], "default": "staging"},
        "reason": dict(reason_input),
    }
    if canary:
        after_staging = "needs.staging.outputs.next == 'production'"
        rule = (
            "after staging only while nothing serves production (the first version); a later version\n"
            "serves as the canary, and its promote verdict (monitor.yml) calls this job with to: production"
        )
    else:
        after_staging = "needs.staging.result == 'success'"
        rule = "after staging (no canary configured), or alone with to: production"
    staging_keys: dict[str, Any] = {"if": "inputs.to != 'production'", "environment": "staging"}
    if canary:
        staging_keys["outputs"] = {"next": "${{ steps.next.outputs.next }}"}
    return {
        "name": "deploy",
        "on": {"workflow_call": call, "workflow_dispatch": {"inputs": dispatch}},
        "permissions": {},
        "concurrency": {"group": "flowtide-deploy", "cancel-in-progress": False},
        "jobs": {
            "staging": _job(
                config,
                "package and promote to staging",
                staging_steps,
                permissions=_permissions(config, push=True),
                **staging_keys,
            ),
            "production": _job(
                config,
                "promote to production (after approval)",
                production_steps,
                permissions={
                    **_permissions(config, push=True),
                    "actions": Trailing("read", "who approved this run (deployment reviews)"),
                },
                needs="staging",
                extra={
                    Comment(rule): None,
                    "if": f"!cancelled() && !failure() && (inputs.to == 'production' || {after_staging})",
                    Comment(
                        "create the environment `production` with required reviewers in the repository\n"
                        "settings: an environment that does not exist is created silently WITHOUT protection"
                    ): None,
                    "environment": "production",
                },
            ),
        },
    }
