"""`flowtide doctor`: a repository's MLOps maturity on the usual 0 / 1 / 2 scale, and what is missing.

Level 0 is a manual process; level 1 an automated training pipeline (pipeline
stages, data checks, quality gates, a model registry); level 2 adds automated
CI/CD of the pipeline itself (tests, scheduled data, generated and pinned
workflows, approval before production, monitoring). Each missing piece is a
finding that names the command or config key that adds it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flowtide.config import CONFIG_FILE
from flowtide.report import Finding, Report, Table

from .generate import WORKFLOW_DIR, WORKFLOW_FILES, workflow_dir

_USES = re.compile(r"^\s*(?:-\s*)?uses:\s*['\"]?([^\s'\"#]+)", re.M)
_PINNED = re.compile(r"@[0-9a-f]{40}$")
_LARGE = 50 * 1024 * 1024  # GitHub warns above 50 MB and refuses files above 100 MB

LEVELS = {
    0: "manual process",
    1: "automated training pipeline",
    2: "automated CI/CD of the pipeline",
}


def _piece(level: int, ok: bool, rule: str, good: str, fix: str, *, warn: bool = False) -> Finding:
    status = "pass" if ok else ("warn" if warn else "fail")
    return Finding(status, f"level {level}", rule, good if ok else fix, details={"level": level})


def doctor(root: str | Path) -> Report:
    """Inspect the repository at ``root`` (a flowtide project or not) and grade it."""
    root = Path(root).resolve()
    findings: list[Finding] = []
    config = None
    if (root / CONFIG_FILE).is_file():
        from flowtide.project import Project

        project = Project.load(root)
        config = project.config
    findings.append(
        _piece(
            1,
            config is not None,
            "project",
            f"{CONFIG_FILE} found",
            f"no {CONFIG_FILE}: run `flowtide import dvc` (this is a DVC project)"
            if (root / "dvc.yaml").is_file() or (root / ".dvc").is_dir()
            else f"no {CONFIG_FILE}: run `flowtide init` (or `flowtide init --example weather` to see one)",
        )
    )
    if config is not None:
        findings += _pipeline(root, config)
    findings += _cicd(root, config)
    level = _level(findings)
    report = Report(kind="doctor", title=f"MLOps maturity: level {level} ({LEVELS[level]})", findings=findings)
    missing = [f for f in findings if f.status != "pass"]
    report.summary = {"level": level, "meaning": LEVELS[level], "missing": len(missing)}
    report.tables.append(
        Table(
            "what to do next",
            ["level", "missing", "how to add it"],
            [[f.details["level"], f.rule, f.message] for f in missing],
        )
    )
    # advice, not a judgement: only failures of the level reached would make `ok` false
    return report


def _level(findings: list[Finding]) -> int:
    def complete(level: int) -> bool:
        return all(f.status != "fail" for f in findings if f.details.get("level") == level)

    if not complete(1):
        return 0
    return 2 if complete(2) else 1


def _pipeline(root: Path, config: Any) -> list[Finding]:
    git_sources = [n for n, s in config.sources.items() if s.storage == "git"]
    large = [
        config.sources[n].path
        for n in git_sources
        if (root / config.sources[n].path).is_file() and (root / config.sources[n].path).stat().st_size > _LARGE
    ]
    store_sources = [n for n, s in config.sources.items() if s.storage == "store"]
    return [
        _piece(
            1,
            bool(config.sources),
            "data sources",
            f"{len(config.sources)} source(s) pulled into flowtide.lock",
            "no `sources:`: declare where data comes from, then `flowtide pull`",
        ),
        _piece(
            1,
            bool(config.stages),
            "pipeline",
            f"{len(config.stages)} stage(s)",
            "no `stages:`: describe the training pipeline in flowtide.yaml, then `flowtide run`",
        ),
        _piece(
            1,
            bool(config.checks),
            "data checks",
            f"checks on {', '.join(sorted(config.checks))}",
            "no data checks: add `checks:` (start from `flowtide check --infer SOURCE`)",
        ),
        _piece(
            1,
            config.model is not None,
            "model registry",
            f"model {config.model.name if config.model else ''!r} versioned in flowtide.registry",
            "no `model:`: add `model: {name, path, format}` so `flowtide register` can version it",
        ),
        _piece(
            1,
            bool(config.gates),
            "gates",
            f"{len(config.gates)} quality gate(s)",
            'no gates: add `gates: ["accuracy >= 0.8"]`; `flowtide gate` enforces them',
        ),
        _piece(
            2,
            not large,
            "large data in git",
            "no data file over 50 MB committed to git",
            f"{', '.join(large)} over 50 MB in git: use `storage: store` and a `store: {{remote: s3://...}}`",
            warn=True,
        ),
        _piece(
            2,
            not store_sources or bool(config.store.remote),
            "remote store",
            "a remote store holds the data" if config.store.remote else "all data is committed to git",
            f"sources {', '.join(store_sources)} use `storage: store` but there is no `store: {{remote: ...}}`: "
            "CI cannot fetch their bytes",
        ),
        _piece(
            2,
            any(s.schedule for s in config.sources.values()),
            "schedule",
            "sources are pulled on a schedule",
            'no source has a `schedule:`: add a cron (e.g. `schedule: "0 6 * * *"`) and `flowtide ci generate`',
        ),
        _piece(
            2,
            config.monitor.drift is not None or config.monitor.performance is not None,
            "monitoring",
            "monitor drift / performance configured",
            "no `monitor:` rules: add `monitor: {drift: {...}, performance: {metric: accuracy, min: ...}}` "
            "(a regressor: `{metric: rmse, max: ...}`)",
        ),
    ]


def _provider(root: Path, config: Any) -> str:
    if config is not None:
        return config.ci.provider
    if (root / WORKFLOW_DIR).is_dir():
        return "github"
    if (root / ".gitlab-ci.yml").is_file():
        return "gitlab"
    return "forgejo" if (root / ".forgejo/workflows").is_dir() else "github"


def _cicd(root: Path, config: Any) -> list[Finding]:
    tests = root / "tests"
    has_tests = tests.is_dir() and any(tests.rglob("test_*.py"))
    findings = [
        _piece(
            2,
            has_tests,
            "tests",
            "tests/ holds pytest tests",
            "no tests: add tests/test_*.py (`flowtide init` writes a starter) and run them in CI via `make test`",
        )
    ]
    provider = _provider(root, config)
    if provider == "gitlab":
        return findings + _gitlab(root, config)
    directory = root / (".forgejo/workflows" if provider == "forgejo" else WORKFLOW_DIR)
    files = sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")]) if directory.is_dir() else []
    # without a model there is nothing to monitor, and `ci generate` writes no monitor.yml
    wanted = [name for name in WORKFLOW_FILES if name != "monitor.yml" or getattr(config, "model", True) is not None]
    missing = [name for name in wanted if not (directory / name).is_file()]
    findings.append(
        _piece(
            2,
            not missing,
            "workflows",
            "ci, data, train, deploy and monitor workflows present",
            f"missing {', '.join(missing)}: run `flowtide ci generate`",
        )
    )
    from .cml import POINTER, find_cml

    cml = find_cml(root)
    if cml:
        where = ", ".join(f"{use.file}:{use.line}" for use in cml[:3]) + (" …" if len(cml) > 3 else "")
        findings.append(_piece(2, False, "CML", "", f"CML steps ({where}): {POINTER}", warn=True))
    if config is not None:
        findings.append(_install(root, config))
        findings.append(_state(config))
    if config is not None and not missing:
        from flowtide.errors import ConfigError
        from flowtide.project import Project

        from .check import check

        try:
            stale = [f.target for f in check(Project.load(root), lint=False).findings if f.status == "fail"]
            fix = f"{', '.join(stale)} out of date with flowtide.yaml: run `flowtide ci generate`"
        except ConfigError as exc:  # flowtide.yaml asks for workflows flowtide refuses to write
            stale, fix = [workflow_dir(config)], f"flowtide.yaml cannot generate them: {exc.message}"
        findings.append(_piece(2, not stale, "workflows up to date", "workflows match flowtide.yaml", fix))
    unpinned: list[str] = []
    for path in files:
        for uses in _USES.findall(path.read_text(encoding="utf-8")):
            if uses.startswith(("./", "docker://")) or _PINNED.search(uses):
                continue
            unpinned.append(f"{path.name}: {uses}")
    findings.append(
        _piece(
            2,
            bool(files) and not unpinned,
            "pinned actions",
            "every action is pinned to a full commit SHA",
            (
                f"unpinned actions ({'; '.join(unpinned[:5])}): pin each to a 40-hex commit SHA"
                if unpinned
                else "no workflows"
            )
            + " — `flowtide ci generate` writes pinned ones",
        )
    )
    findings.append(_approval(files, forgejo=provider == "forgejo"))
    findings.append(_fork_code_with_secrets(files))
    return findings


def _gitlab(root: Path, config: Any) -> list[Finding]:
    """The same grades for a GitLab project (`.gitlab-ci.yml`); without a flowtide.yaml, only that a file exists."""
    if config is None:
        from .gitlab.pipeline import GITLAB_FILE

        return [_piece(2, False, "workflows", "", f"{GITLAB_FILE} found, but no flowtide.yaml generated it")]
    from .gitlab.grade import findings

    graded = findings(root, config)
    return [graded[0], _install(root, config), _state(config), *graded[1:]]


def _install(root: Path, config: Any) -> Finding:
    """CI must be able to install one pinned flowtide (and the pinned tools) on a fresh runner."""
    from .install import install_spec, problems

    found = problems(root, config)
    good = ""
    if not found:
        good = f"CI installs {install_spec(config).describe()}; the tools in requirements files are pinned"
    return _piece(
        2,
        not found,
        "pinned install",
        good,
        "; ".join(found[:5])
        + (f" (and {len(found) - 5} more)" if len(found) > 5 else "")
        + " — a fresh runner could not install a pinned flowtide (see `ci.install` in `flowtide schema`)",
    )


_HOSTED = re.compile(r"^(ubuntu|windows|macos)-", re.I)


def _state(config: Any) -> Finding:
    """What CI registers must outlive the runner: a remote store, or models committed to git."""
    model, remote = config.model, config.store.remote
    if model is None:
        return _piece(2, True, "models outlive the runner", "no model to keep", "")
    if remote:
        local = "://" not in remote or remote.startswith("file://")
        hosted = bool(_HOSTED.match(config.ci.runs_on))
        return _piece(
            2,
            not (local and hosted),
            "models outlive the runner",
            f"models, stage outputs and prediction logs go to the remote store {remote}",
            f"store.remote {remote!r} is a directory on the runner, and `ci.runs_on: {config.ci.runs_on}` runners "
            "are thrown away after each job, with the models CI registers: use an object store "
            "(`store: {remote: s3://BUCKET/PREFIX}`), or self-hosted runners (`ci.runs_on`) that share the directory",
        )
    if model.storage == "git":
        return _piece(
            2,
            True,
            "models outlive the runner",
            f"train.yml commits the model (up to {model.git_max_mb:g} MB) with the bot commit (model.storage: git)",
            "",
        )
    return _piece(
        2,
        False,
        "models outlive the runner",
        "",
        f"CI would lose model {model.name!r}: no `store.remote`, so the versions train.yml registers stay in the "
        "runner's store and die with it — add `store: {remote: s3://BUCKET/PREFIX}`, or `storage: git` under "
        "`model:` for small artifacts, then `flowtide ci generate`",
    )


def _load(path: Path) -> dict:
    from ruamel.yaml import YAML

    try:
        data = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    except Exception:  # an unparsable workflow is actionlint's business, not ours
        return {}
    return data if isinstance(data, dict) else {}


def _fork_code_with_secrets(files: list[Path]) -> Finding:
    """`pull_request_target` runs with secrets and a write token: checking out the PR's head there runs fork code."""
    risky: list[str] = []
    for path in files:
        data = _load(path)
        on = data.get("on", data.get(True))
        events = on if isinstance(on, (list, dict)) else [on]
        if "pull_request_target" not in events:
            continue
        for job_id, job in (data.get("jobs") or {}).items():
            for step in (job or {}).get("steps") or []:
                ref = str(((step or {}).get("with") or {}).get("ref", ""))
                if "actions/checkout" in str((step or {}).get("uses", "")) and ("head" in ref or "merge" in ref):
                    risky.append(f"{path.name}: {job_id}")
    return _piece(
        2,
        not risky,
        "no fork code with secrets",
        "no pull_request_target workflow checks out pull request code",
        f"pull_request_target checks out the PR's code ({', '.join(risky)}): a fork's code runs with secrets "
        "and a write token — use `pull_request` (as the generated ci.yml does)",
    )


def _approval(files: list[Path], *, forgejo: bool = False) -> Finding:
    """Every job that promotes to production must wait for a person.

    On GitHub it runs in an Environment (given required reviewers there); Forgejo has no such
    protection, so there the job must check that an approver dispatched it (``forgejo.adapt``).
    """
    unprotected: list[str] = []
    promoting = 0
    for path in files:
        data = _load(path)
        for job_id, job in (data.get("jobs") or {}).items():
            job = job or {}
            text = " ".join(str((s or {}).get("run", "")) for s in job.get("steps") or [])
            if "--to production" in text or str(job_id) == "production":
                promoting += 1
                if not (_approved_dispatch(job) if forgejo else job.get("environment")):
                    unprotected.append(f"{path.name}: {job_id}")
    ok = promoting > 0 and not unprotected
    if promoting == 0:
        fix = "no workflow promotes to production: `flowtide ci generate` writes deploy.yml with an approval job"
    elif forgejo:
        fix = (
            f"production job without the approver check ({', '.join(unprotected)}): anyone who can start it "
            "releases — `flowtide ci generate` writes one that only an approver's dispatch passes"
        )
    else:
        fix = (
            f"production job without `environment:` ({', '.join(unprotected)}): nobody approves the release — "
            "`flowtide ci generate`, then add required reviewers to the `production` environment on GitHub"
        )
    good = (
        "production jobs run only when an approver (FLOWTIDE_APPROVERS) dispatches them from the default branch"
        if forgejo
        else "production jobs run in a GitHub environment (give it required reviewers on GitHub)"
    )
    return _piece(2, ok, "approval on production", good, fix)


def _approved_dispatch(job: dict) -> bool:
    """A Forgejo production job: dispatched only, and its first steps fail unless the actor is an approver."""
    from .forgejo import APPROVERS_VARIABLE

    if "workflow_dispatch" not in str(job.get("if", "")):
        return False
    for step in job.get("steps") or []:
        step = step or {}
        env = step.get("env") or {}
        if str(step.get("uses", "")):
            return False  # an action ran before the approval
        if env.get("ACTOR") == "${{ github.actor }}" and APPROVERS_VARIABLE in str(env.get("APPROVERS", "")):
            return True
    return False
