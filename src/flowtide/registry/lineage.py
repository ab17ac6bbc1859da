"""What a registration records besides the artifact: who, when, which commit, data, params, metrics."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from .log import GATE_RESULTS

if TYPE_CHECKING:
    from ..project import Project


def now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _git_run(project: Project, *args: str) -> tuple[int, str]:
    """(exit code, stdout or else stderr) of a git command in the project; (-1, reason) if git did not run."""
    import subprocess

    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=project.root,
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, **dict(project.env)},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return -1, str(exc)
    return proc.returncode, (
        proc.stdout.strip() if proc.returncode == 0 else proc.stderr.strip() or proc.stdout.strip()
    )


def _git(project: Project, *args: str) -> str | None:
    code, text = _git_run(project, *args)
    return text if code == 0 else None


def is_git_repo(project: Project) -> bool:
    return any((p / ".git").exists() for p in (project.root, *project.root.parents))


def actor(project: Project) -> dict[str, Any]:
    """Who or what acts: in GitHub Actions the actor, the run URL and who triggered it; else the git user.

    ``by`` is GITHUB_ACTOR (whose action started the run); ``triggered_by`` is
    GITHUB_TRIGGERING_ACTOR when it differs (a re-run, a dispatch by another
    person); ``run_url`` links the run (and its attempt), where GitHub shows the
    environment approval and its reviewers; ``workflow`` names the workflow.
    """
    env = project.env
    out: dict[str, Any] = {}
    ci_actor = env.get("GITHUB_ACTOR") or env.get("GITHUB_TRIGGERING_ACTOR")
    if ci_actor:
        out["by"] = ci_actor
        triggering = env.get("GITHUB_TRIGGERING_ACTOR")
        if triggering and triggering != ci_actor:
            out["triggered_by"] = triggering
        if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
            server = env.get("GITHUB_SERVER_URL") or "https://github.com"
            forgejo = env.get("FORGEJO_ACTIONS") == "true"  # Forgejo numbers its run pages per repository
            run = env.get("GITHUB_RUN_NUMBER", "") if forgejo else env["GITHUB_RUN_ID"]
            url = f"{server.rstrip('/')}/{env['GITHUB_REPOSITORY']}/actions/runs/{run}"
            attempt = env.get("GITHUB_RUN_ATTEMPT")
            if attempt and attempt != "1" and not forgejo:
                url += f"/attempts/{attempt}"
            out["run_url"] = url
        if env.get("GITHUB_WORKFLOW"):
            out["workflow"] = env["GITHUB_WORKFLOW"]
        return out
    name = env.get("GIT_AUTHOR_NAME") or env.get("GIT_COMMITTER_NAME")
    email = env.get("GIT_AUTHOR_EMAIL") or env.get("GIT_COMMITTER_EMAIL")
    if not name and is_git_repo(project):
        name = _git(project, "config", "user.name")
        email = _git(project, "config", "user.email")
    if not name:
        import getpass

        try:
            name = getpass.getuser()
        except Exception:  # no user database entry (containers)
            name = "unknown"
    out["by"] = f"{name} <{email}>" if email else name
    return out


def _commit(project: Project) -> tuple[str | None, bool]:
    """HEAD and whether tracked files differ from it (the same test as the pipeline's run records)."""
    if not is_git_repo(project):
        return None, False
    from ..pipeline.runs import git_state

    head, dirty = git_state(project.root)
    return head, bool(dirty) or head is None


def _tag(project: Project, tag: str, commit: str | None, message: str) -> str | None:
    """Create the version's tag; return a warning instead of failing."""
    if not commit:
        return f"no git tag {tag}: the project has no commit yet"
    code, text = _git_run(project, "tag", "-a", tag, "-m", message, commit)
    return None if code == 0 else f"could not create git tag {tag}: {text}"


def _model_config(project: Project, model: str | None = None):
    config = project.config.model
    if config is None:
        raise project.config.error(
            "no `model:` section: flowtide does not know which file is the model",
            hint="Add `model: {name: NAME, path: models/model.skops, format: skops}` to flowtide.yaml.",
        )
    if model is not None and model != config.name:
        raise UsageError(f"unknown model {model!r}: flowtide.yaml declares model {config.name!r}")
    return config


def read_gate_results(project: Project) -> dict[str, Any]:
    """Saved gate verdicts by artifact hash; entries that are not (hex digest -> mapping) are input errors: dropped.

    Only `flowtide gate` on this machine writes them. A copy that git tracks came with a checkout (a pull
    request can force-add it to claim that a model passed): it is not a verdict, and nothing is read.
    """
    from ..validators import is_digest

    path = project.root / ".flowtide" / GATE_RESULTS
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    if is_git_repo(project):
        code, _ = _git_run(project, "ls-files", "--error-unmatch", "--", str(path.relative_to(project.root)))
        if code == 0:
            return {}
    try:
        saved = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(saved, dict):
        return {}
    return {digest: result for digest, result in saved.items() if is_digest(digest) and isinstance(result, dict)}


def read_metrics(project: Project) -> dict[str, Any]:
    """The current metrics: the stages' metrics files flattened and merged (the pipeline's own reader)."""
    from ..pipeline.metrics import collect, merged

    return merged(collect(project))


def _lineage(project: Project, model_path: str) -> tuple[dict[str, str], dict[str, Any]]:
    """(data path -> hash, stage records) from the lock, for the stage(s) behind the artifact."""
    lock = project.read_lock()
    data: dict[str, str] = {}
    for entry in lock.sources.values():
        if entry.get("path") and entry.get("hash"):
            data[entry["path"]] = entry["hash"]
    stages: dict[str, Any] = {}
    for name, entry in lock.stages.items():
        if not isinstance(entry, dict):
            continue
        stages[name] = {k: entry[k] for k in ("deps", "params", "outs", "fingerprint") if k in entry}
        deps = entry.get("deps")
        if isinstance(deps, dict):
            for path, value in deps.items():
                digest = value.get("hash") if isinstance(value, dict) else value
                if isinstance(digest, str) and not path.endswith(".py") and path != model_path:
                    data.setdefault(path, digest)
    return data, stages
