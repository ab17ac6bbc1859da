"""data.yml: on the sources' schedules (or called by monitor.yml), pull and check, commit the lock, then call training."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._steps import (
    SKIP_CI,
    _call_secrets,
    _caller_permissions,
    _checkout,
    _commit,
    _declare_secrets,
    _fetch,
    _flowtide,
    _job,
    _pass_secrets,
    _permissions,
    _setup,
    _store,
)
from .._yaml import Comment, Q, Trailing
from .schedules import source_schedules

if TYPE_CHECKING:
    from flowtide.config import Config


def build(config: Config) -> dict:
    crons = source_schedules(config)
    git_paths = [s.path for _, s in sorted(config.sources.items()) if s.storage == "git"]
    on: dict[Any, Any] = {}
    if crons:
        on[
            Comment(
                "crons are moved off the top of the hour (and :15 :30 :45), when GitHub's scheduler is\n"
                "congested and starts runs late or drops them; the minute is derived from the source name"
            )
        ] = None
        on["schedule"] = [{"cron": Q(cron)} for cron in crons]
    on["workflow_dispatch"] = None
    call: dict[str, Any] = {
        "inputs": {
            "reason": {
                "description": "why the caller wants fresh data (monitor.yml: drift or a drop); every source is pulled",
                "type": "string",
                "required": True,
            }
        }
    }
    if _call_secrets(config):
        call["secrets"] = _declare_secrets(config)
    on[Comment("monitor.yml calls this workflow to pull before it retrains")] = None
    on["workflow_call"] = call
    scheduled = sorted(n for names in crons.values() for n in names)
    if not crons or (len(crons) == 1 and scheduled == sorted(config.sources)):
        pull = "flowtide pull"
    else:
        cases = "\n".join(f'  "{cron}") sources="{" ".join(names)}" ;;' for cron, names in crons.items())
        pull = f"""set -euo pipefail
# a schedule pulls only its own sources; a manual dispatch or a caller pulls every source
case "$SCHEDULE" in
{cases}
  *) sources="" ;;
esac
flowtide pull $sources"""
    pull_step = _flowtide(config, "Pull sources (runs the data checks)", pull, store=True)
    if "$SCHEDULE" in pull:
        # a called run sees its caller's event (monitor.yml's schedule): only data.yml's own schedule narrows the pull
        pull_step["env"] = {
            "SCHEDULE": "${{ inputs.reason == '' && github.event.schedule || '' }}",
            **pull_step.get("env", {}),
        }
    steps = [*_checkout(config, push=True), *_setup(config), *_fetch(config), pull_step]
    if _store(config):
        steps.append(_flowtide(config, "Push new blobs before the lock refers to them", "flowtide push", store=True))
    steps.append(_commit(config, ["flowtide.lock", *git_paths], f"data: update flowtide.lock {SKIP_CI}"))
    steps.append(
        {
            "name": "Nothing new to learn from",
            "if": "inputs.reason != '' && steps.commit.outputs.changed != 'true'",
            "env": {"REASON": "${{ inputs.reason }}"},
            # the pipeline cache would restore the same model from the same bytes: training would learn nothing
            "run": 'echo "$REASON: no source has new bytes, so there is nothing new to learn from; training skipped" '
            '| tee -a "$GITHUB_STEP_SUMMARY"\n',
        }
    )
    jobs: dict[Any, Any] = {
        "pull": _job(
            config,
            "pull and check data",
            steps,
            permissions=_permissions(config, push=True),
            outputs={"changed": "${{ steps.commit.outputs.changed }}", "sha": "${{ steps.commit.outputs.sha }}"},
        ),
        "train": {
            "name": "train on the new data",
            "needs": "pull",
            "if": "needs.pull.outputs.changed == 'true'",
            Comment(
                "a push made with GITHUB_TOKEN starts no workflow, so training is called here\n"
                "(the data commit also carries [skip ci], so an App-token push does not train twice)"
            ): None,
            # the `$/` self-repository spelling zizmor suggests is not understood by act or actionlint
            "uses": Trailing("./.github/workflows/train.yml", "zizmor: ignore[self-repository]"),
            "permissions": _caller_permissions(config),
            "with": {"sha": "${{ needs.pull.outputs.sha }}", "reason": "${{ inputs.reason || 'new data' }}"},
        },
    }
    if _call_secrets(config):
        jobs["train"]["secrets"] = _pass_secrets(config)
    return {
        "name": "data",
        "on": on,
        "permissions": {},
        Comment("one data run at a time: two pulls racing to commit the lock would conflict"): None,
        "concurrency": {"group": "flowtide-data", "cancel-in-progress": False},
        "jobs": jobs,
    }
