"""Step and job builders shared by the generated workflows: checkout, setup, bot commits, permissions.

Private to the workflows package; each function returns plain dicts that
``_yaml.dump`` writes in insertion order, so the output is stable.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from ._yaml import Comment, Q, Trailing
from .pinned_actions import PINS

if TYPE_CHECKING:
    from flowtide.config import Config

BOT_NAME = "github-actions[bot]"
BOT_EMAIL = "41898282+github-actions[bot]@users.noreply.github.com"
SKIP_CI = "[skip ci]"
APP_SECRETS = ("FLOWTIDE_APP_ID", "FLOWTIDE_APP_PRIVATE_KEY")


def _app(config: Config) -> bool:
    return config.ci.token == "app"


def _store(config: Config) -> bool:
    return bool(config.store.remote)


def _secret(name: str) -> str:
    return "${{ secrets." + name + " }}"


def _store_env(config: Config) -> dict[str, str]:
    """Store credentials for one step (never job-wide, so third-party actions don't see them)."""
    if not _store(config):
        return {}
    return {name: _secret(name) for name in config.ci.secrets}


def _flowtide(config: Config, name: str, command: str, *, store: bool = False, **extra: Any) -> dict[str, Any]:
    step: dict[str, Any] = {"name": name}
    step.update(extra)
    env = {**(step.pop("env", None) or {}), **(_store_env(config) if store else {})}
    if env:
        step["env"] = env
    step["run"] = command
    return step


def _app_token_step() -> dict[str, Any]:
    return {
        "name": "GitHub App token (its pushes pass branch protection and start workflows)",
        "id": "app-token",
        "uses": _pinned("create-github-app-token"),
        # scoped down to this repository's contents: all the job does with it is push
        "with": {
            "app-id": _secret(APP_SECRETS[0]),
            "private-key": _secret(APP_SECRETS[1]),
            "permission-contents": "write",
        },
    }


def _pinned(name: str) -> Trailing:
    pin = PINS[name]
    return Trailing(f"{pin.repo}@{pin.sha}", pin.version)


def _checkout(config: Config, *, push: bool = False, ref: str | None = None, depth: int | None = None) -> list[dict]:
    """Checkout; credentials are kept only in jobs that push back."""
    steps: list[dict] = []
    options: dict[str, Any] = {}
    if ref:
        options["ref"] = ref
    if depth is not None:
        options["fetch-depth"] = depth
    if push and _app(config):
        steps.append(_app_token_step())
        options["token"] = "${{ steps.app-token.outputs.token }}"
    options["persist-credentials"] = push
    step: dict[str, Any] = {"uses": _pinned("checkout"), "with": options}
    if push:
        # this job commits and pushes, so it keeps the token in .git/config on purpose
        step = {Comment("zizmor: ignore[artipacked] -- this job pushes its commit back"): None, **step}
        step = {"name": "Check out (with push credentials)", **step}
    else:
        step = {"name": "Check out", **step}
    steps.append(step)
    return steps


def _setup(config: Config) -> list[dict]:
    """Python, then flowtide from the pinned `ci.install`, then the project's own `ci.setup` (make install)."""
    from .install import install_spec

    deps = "\n".join(config.ci.dependency_files) + ("\n" if len(config.ci.dependency_files) > 1 else "")
    steps: list[dict] = [
        {
            "name": "Set up Python",
            "uses": _pinned("setup-python"),
            "with": {
                "python-version": Q(config.ci.python),
                "cache": "pip",
                "cache-dependency-path": deps if len(config.ci.dependency_files) > 1 else deps.strip(),
            },
        },
        {"name": "Install flowtide (ci.install, pinned)", "run": install_spec(config).command},
    ]
    if config.ci.setup:
        steps.append({"name": "Set up the project (ci.setup)", "run": config.ci.setup})
    return steps


def _fetch(config: Config) -> list[dict]:
    if not _store(config):
        return []
    return [_flowtide(config, "Fetch data and models from the remote store", "flowtide fetch", store=True)]


def _commit(config: Config, paths: list[str], message: str, *, tags: bool = False) -> dict[str, Any]:
    """Commit ``paths`` as the bot and push, rebasing and retrying when another push won the race.

    Outputs ``changed`` (true/false) and ``sha`` (the commit now at the head).
    """
    quoted = " ".join(shlex.quote(p) for p in paths)
    push_tags = '\n  git push --quiet origin --tags || echo "could not push tags (ignored)"' if tags else ""
    script = f"""set -euo pipefail
for path in {quoted}; do
  if [ -e "$path" ] || git ls-files --error-unmatch -- "$path" >/dev/null 2>&1; then
    git add -A -- "$path"
  fi
done
if git diff --cached --quiet; then
  echo "nothing changed: no commit"
  echo "changed=false" >> "$GITHUB_OUTPUT"
  echo "sha=$(git rev-parse HEAD)" >> "$GITHUB_OUTPUT"
  exit 0
fi
git commit --quiet --message "$MESSAGE"
for attempt in 1 2 3 4 5; do
  if git push --quiet origin "HEAD:refs/heads/$BRANCH"; then{push_tags}
    echo "changed=true" >> "$GITHUB_OUTPUT"
    echo "sha=$(git rev-parse HEAD)" >> "$GITHUB_OUTPUT"
    echo "pushed $(git rev-parse --short HEAD) to $BRANCH"
    exit 0
  fi
  echo "push lost a race with another commit (attempt $attempt); rebasing on origin/$BRANCH"
  sleep $((attempt * 3))
  git pull --rebase --autostash --quiet origin "$BRANCH"
done
echo "::error::could not push to $BRANCH after 5 attempts"
exit 1
"""
    return {
        "name": "Commit and push as the bot",
        "id": "commit",
        # the identity as env (not git config): it wins over anything the runner has set
        "env": {
            "BRANCH": "${{ github.ref_name }}",
            "MESSAGE": message,
            "GIT_AUTHOR_NAME": BOT_NAME,
            "GIT_AUTHOR_EMAIL": BOT_EMAIL,
            "GIT_COMMITTER_NAME": BOT_NAME,
            "GIT_COMMITTER_EMAIL": BOT_EMAIL,
        },
        "run": script,
    }


def _permissions(config: Config, *, push: bool = False, **extra: str) -> dict[str, Any]:
    # with an App token the push uses the App's permissions, so GITHUB_TOKEN only reads
    if push and not _app(config):
        perms: dict[str, Any] = {"contents": Trailing("write", "commit and push back as the bot")}
    else:
        perms = {"contents": Trailing("read", "check out the repository")}
    for scope, reason in extra.items():
        perms[scope] = Trailing("write", reason)
    return perms


def _caller_permissions(config: Config) -> dict[str, Any]:
    # a called workflow gets at most what its caller job grants (data -> train -> deploy nest)
    if _app(config):
        perms: dict[str, Any] = {"contents": Trailing("read", "the called jobs push with the App token")}
    else:
        perms = {"contents": Trailing("write", "the called jobs commit and push back")}
    if config.model:
        perms["actions"] = Trailing("read", "deploy.yml's production job reads who approved it")
    return perms


def _job(
    config: Config,
    name: str,
    steps: list,
    *,
    permissions: dict,
    train: bool = False,
    extra: dict | None = None,
    **keys: Any,
) -> dict:
    job: dict[Any, Any] = {"name": name}
    job.update(keys)
    job.update(extra or {})
    job["runs-on"] = config.ci.runs_on
    job["timeout-minutes"] = config.ci.train_timeout_minutes if train else config.ci.timeout_minutes
    job["permissions"] = permissions
    job["steps"] = steps
    return job


def _call_secrets(config: Config) -> list[str]:
    """Secrets a reusable workflow (train, deploy) needs from its caller."""
    names = list(config.ci.secrets) if _store(config) else []
    if _app(config):
        names += APP_SECRETS
    return names


def _pass_secrets(config: Config) -> dict[str, str]:
    return {name: _secret(name) for name in _call_secrets(config)}


def _declare_secrets(config: Config) -> dict[str, Any]:
    return {name: {"required": True} for name in _call_secrets(config)}


def _registry_file() -> str:
    try:
        from flowtide.registry import REGISTRY_FILE
    except ImportError:  # the registry area has not landed: its documented file name
        return "flowtide.registry"
    return REGISTRY_FILE


def _model_name(config: Config) -> str:
    return config.model.name if config.model else ""
