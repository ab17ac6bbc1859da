"""train.yml: on changes of data, params or code (or called by data.yml), run, gate, register the candidate, commit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowtide.pipeline.runs import RUNS_DIR

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
    _model_name,
    _pass_secrets,
    _permissions,
    _pinned,
    _registry_file,
    _setup,
    _store,
)
from .._yaml import Comment, Q, Trailing

if TYPE_CHECKING:
    from flowtide.config import Config


_REGISTER = """set -euo pipefail
mkdir -p reports
flowtide register --require-gates --json > reports/register.json
python - <<'PY'
import json, os
result = json.load(open("reports/register.json"))
version = result.get("version") or ""
if version:
    said = f"registered {result.get('model')} v{version}"
else:  # identical bytes: nothing new to deploy
    said = f"not registered: these bytes are already {result.get('model')} v{result.get('existing')} ({result.get('existing_stage')})"
print(said)
with open(os.environ["GITHUB_STEP_SUMMARY"], "a") as summary:
    summary.write(said + "\\n")
with open(os.environ["GITHUB_OUTPUT"], "a") as output:
    output.write(f"version={version}\\n")
PY
"""


def train_paths(config: Config) -> list[str]:
    """What retrains on push: stage deps, the params file, the lock, the config, src/**."""
    paths: list[str] = ["src/**", config.params, "flowtide.lock", "flowtide.yaml"]
    for _, stage in sorted(config.stages.items()):
        for dep in stage.deps:
            paths.append(dep)
            if "." not in dep.rsplit("/", 1)[-1]:  # probably a directory: match what is below it too
                paths.append(dep.rstrip("/") + "/**")
    seen: list[str] = []
    for path in paths:
        if path not in seen:
            seen.append(path)
    return seen


def build(config: Config) -> dict:
    branch = config.ci.default_branch
    model = _model_name(config)
    metrics = sorted({m for _, s in sorted(config.stages.items()) for m in s.metrics})
    steps: list = [
        *_checkout(config, push=True, ref="${{ inputs.sha }}"),
        *_setup(config),
        *_fetch(config),
        {
            "name": "Why this run",
            "env": {"REASON": "${{ inputs.reason }}", "EVENT": "${{ github.event_name }}"},
            "run": 'echo "training: ${REASON:-$EVENT}" | tee -a "$GITHUB_STEP_SUMMARY"\n',
        },
        _flowtide(config, "Run the pipeline", "flowtide run", store=True),
    ]
    outputs: dict[str, str] = {"sha": "${{ steps.commit.outputs.sha }}"}
    if model:
        steps += [
            _flowtide(config, "Quality gates", "mkdir -p reports\nflowtide gate --md --html reports/gate.html"),
            _flowtide(config, "Register the candidate", _REGISTER, store=True, id="register"),
            {
                "name": "Hand the model to the deploy jobs",
                "uses": _pinned("upload-artifact"),
                "with": {"name": "model", "path": config.model.path, "if-no-files-found": "error", "retention-days": 7},
            },
        ]
        outputs["version"] = "${{ steps.register.outputs.version }}"
    commit_paths = ["flowtide.lock", _registry_file(), *metrics, RUNS_DIR]
    if _store(config):
        # auto_push already uploaded what run and register made (unless store.auto_push is off): this
        # catches the rest before the commit below refers to it
        steps.append(_flowtide(config, "Push new blobs before the commit refers to them", "flowtide push", store=True))
    if model and config.model.storage == "git":
        steps.append(_keep_model_in_git(config))  # staged there: `git add` without --force refuses ignored paths
    steps.append(
        {
            "name": "Upload reports",
            "if": "always()",
            "uses": _pinned("upload-artifact"),
            "with": {"name": "reports", "path": "reports/", "if-no-files-found": "ignore"},
        }
    )
    steps.append(
        _commit(config, commit_paths, f"train: register {model or 'pipeline outputs'} {SKIP_CI}", tags=bool(model))
    )
    failed = _commit(config, [RUNS_DIR], f"train: keep the run records of a failed job {SKIP_CI}")
    failed = {
        "name": "Keep the run records of a failed job",
        "id": "records",
        Comment("only the records (flowtide.runs/): a failed job's lock, registry and outputs are not committed"): None,
        "if": "failure()",
        **{key: value for key, value in failed.items() if key not in ("name", "id")},
    }
    failed["run"] = failed["run"].replace(
        "set -euo pipefail\n", "set -euo pipefail\ngit reset --quiet  # unstage what the failed steps staged\n", 1
    )
    steps.append(failed)
    jobs: dict[Any, Any] = {
        "train": _job(
            config,
            "run, gate, register",
            steps,
            permissions=_permissions(config, push=True),
            train=True,
            outputs=outputs,
        )
    }
    if model:
        jobs["deploy"] = {
            "name": "deploy the candidate",
            "needs": "train",
            "if": "needs.train.outputs.version != ''",
            # the `$/` self-repository spelling zizmor suggests is not understood by act or actionlint
            "uses": Trailing("./.github/workflows/deploy.yml", "zizmor: ignore[self-repository]"),
            "permissions": _caller_permissions(config),
            "with": {"model": model, "version": "${{ needs.train.outputs.version }}"},
        }
        if _call_secrets(config):
            jobs["deploy"]["secrets"] = _pass_secrets(config)
    call: dict[str, Any] = {
        "inputs": {
            "sha": {"description": "commit to train (default: the caller's)", "type": "string", "default": ""},
            "reason": {"description": "why training was started", "type": "string", "default": "called"},
        }
    }
    if _call_secrets(config):
        call["secrets"] = _declare_secrets(config)
    return {
        "name": "train",
        "on": {
            Comment(
                "loop prevention: pushes made with GITHUB_TOKEN start no workflow; with an App token the\n"
                "bot's commits carry [skip ci], and the paths below limit training to real changes"
            ): None,
            "push": {"branches": [branch], "paths": train_paths(config)},
            "workflow_dispatch": {
                "inputs": {"reason": {"description": "why training was started", "type": "string", "default": "manual"}}
            },
            "workflow_call": call,
        },
        "permissions": {},
        "concurrency": {"group": "flowtide-train", "cancel-in-progress": False},
        "jobs": jobs,
    }


def _keep_model_in_git(config: Config) -> dict[str, Any]:
    """model.storage: git — the artifact joins the bot commit (force-added: stage outputs are often ignored)."""
    limit = int(config.model.git_max_mb * 1024 * 1024)
    return {
        "name": f"Keep the model in git (model.storage: git, at most {config.model.git_max_mb:g} MB)",
        "env": {"MODEL_PATH": config.model.path, "MAX_BYTES": Q(str(limit))},
        "run": """set -euo pipefail
size=$(stat -c %s "$MODEL_PATH")
if [ "$size" -gt "$MAX_BYTES" ]; then
  echo "::error::$MODEL_PATH is $size bytes, over model.git_max_mb: it cannot be kept in git; set store.remote"
  exit 1
fi
git add --force -- "$MODEL_PATH"
""",
    }
