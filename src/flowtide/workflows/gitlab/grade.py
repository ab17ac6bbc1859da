"""What `flowtide doctor` checks in a GitLab project's `.gitlab-ci.yml` (level 2: CI/CD of the pipeline).

The same pieces as for GitHub, in GitLab's terms: the loop's jobs present and up to date,
images pinned by digest, production behind a manual job in the protected `production`
environment, and no secret written into the file (they belong in masked CI/CD variables).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from flowtide.report import Finding

from .pipeline import GITLAB_FILE, render

if TYPE_CHECKING:
    from pathlib import Path

_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|PRIVATE_KEY|ACCESS_KEY", re.I)
_NOT_JOBS = {"workflow", "stages", "variables", "default", "include", "image", "services", "cache", "spec"}


def _piece(ok: bool, rule: str, good: str, fix: str) -> Finding:
    return Finding("pass" if ok else "fail", "level 2", rule, good if ok else fix, details={"level": 2})


def _load(path: Path) -> dict[str, Any]:
    from ruamel.yaml import YAML

    try:
        data = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    except Exception:  # an unparsable file is `flowtide ci check`'s (the schema's) business
        return {}
    return data if isinstance(data, dict) else {}


def _jobs(data: dict[str, Any]) -> dict[str, dict]:
    return {
        str(name): job
        for name, job in data.items()
        if name not in _NOT_JOBS and not str(name).startswith(".") and isinstance(job, dict)
    }


def findings(root: Path, config: Any) -> list[Finding]:
    path = root / GITLAB_FILE
    data = _load(path) if path.is_file() else {}
    jobs = _jobs(data)
    wanted = ["test", "pull", "train", "staging", "production"] + (["monitor"] if config.model is not None else [])
    missing = [name for name in wanted if name not in jobs]
    out = [
        _piece(
            not missing,
            "workflows",
            f"{GITLAB_FILE} runs the loop: {', '.join(wanted)}",
            (f"{GITLAB_FILE} lacks the jobs {', '.join(missing)}" if path.is_file() else f"no {GITLAB_FILE}")
            + ": run `flowtide ci generate` (ci.provider: gitlab)",
        )
    ]
    if path.is_file():
        from flowtide.errors import ConfigError

        try:
            current = path.read_text(encoding="utf-8")
            fresh = render(config)[GITLAB_FILE] == current
            fix = f"{GITLAB_FILE} out of date with flowtide.yaml: run `flowtide ci generate`"
        except ConfigError as exc:
            fresh, fix = False, f"flowtide.yaml cannot generate it: {exc.message}"
        out.append(_piece(fresh, "workflows up to date", f"{GITLAB_FILE} matches flowtide.yaml", fix))
    out.append(_images(data, jobs))
    out.append(_approval(jobs))
    out.append(_no_secrets(data, jobs))
    return out


def _images(data: dict[str, Any], jobs: dict[str, dict]) -> Finding:
    named: list[tuple[str, str]] = []
    for where, holder in [("(top level)", data), ("default", data.get("default") or {}), *data.items()]:
        if not isinstance(holder, dict):
            continue
        image = holder.get("image")
        name = image.get("name") if isinstance(image, dict) else image
        if name:
            named.append((str(where), str(name)))
        for service in holder.get("services") or []:
            service_name = service.get("name") if isinstance(service, dict) else service
            if service_name:
                named.append((str(where), str(service_name)))
    unpinned = sorted({f"{where}: {name}" for where, name in named if not _DIGEST.search(name)})
    return _piece(
        bool(jobs) and not unpinned,
        "pinned images",
        "every image is pinned by digest" if named else "jobs run on the runner's own shell (no image to pin)",
        (
            f"images not pinned by digest ({'; '.join(unpinned[:5])}): pin each as NAME@sha256:<digest> "
            "(`ci.image` in flowtide.yaml)"
            if unpinned
            else f"no {GITLAB_FILE} jobs"
        ),
    )


def _manual(job: dict) -> bool:
    if job.get("when") == "manual":
        return True
    rules = job.get("rules") or []
    return bool(rules) and all((rule or {}).get("when") in ("manual", "never") for rule in rules)


def _approval(jobs: dict[str, dict]) -> Finding:
    unprotected, promoting = [], 0
    for name, job in jobs.items():
        script = " ".join(str(line) for line in job.get("script") or [])
        if "--to production" in script or name == "production":
            promoting += 1
            environment = job.get("environment")
            env_name = environment.get("name") if isinstance(environment, dict) else environment
            if env_name != "production" or not _manual(job):
                unprotected.append(name)
    if promoting == 0:
        fix = f"no job promotes to production: `flowtide ci generate` writes {GITLAB_FILE} with a manual production job"
    else:
        fix = (
            f"production job without a manual run in the environment `production` ({', '.join(unprotected)}): nobody "
            "approves the release — `flowtide ci generate`, then protect `production` with required approval"
        )
    return _piece(
        promoting > 0 and not unprotected,
        "approval on production",
        "production is a manual job in the environment `production` (protect it with required approval on GitLab)",
        fix,
    )


def _no_secrets(data: dict[str, Any], jobs: dict[str, dict]) -> Finding:
    """A value written into the file for a secret-looking variable is readable by everyone who can read the repo."""
    written: list[str] = []
    holders = [("variables", data.get("variables") or {})]
    holders += [(name, job.get("variables") or {}) for name, job in jobs.items()]
    for where, variables in holders:
        if not isinstance(variables, dict):
            continue
        for key, value in variables.items():
            text = value.get("value") if isinstance(value, dict) else value
            if _SECRET_NAME.search(str(key)) and text and not str(text).startswith("$"):
                written.append(f"{where}: {key}")
    return _piece(
        not written,
        "no secret in the file",
        "no token or password is written into the file (they are CI/CD variables)",
        f"secret-looking values written into {GITLAB_FILE} ({', '.join(written[:5])}): move them to masked, protected "
        "CI/CD variables (Settings > CI/CD > Variables) and rotate them",
    )
