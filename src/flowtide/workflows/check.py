"""`flowtide ci check`: are the workflow files what flowtide.yaml generates, and are they valid?

Out of date (missing, edited by hand, or the config changed) is reported per
file with a short unified diff; validity and security come from actionlint and
zizmor when they are on PATH or next to the running Python (the venv's bin);
each is skipped when absent.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from flowtide.report import Finding, Report

from . import dependabot
from .generate import left_over, render, workflow_dir

if TYPE_CHECKING:
    from flowtide.project import Project

_DIFF_LINES = 40


def find_binary(name: str) -> str | None:
    """``name`` on PATH, or in the bin directory of the running interpreter (a venv not activated)."""
    found = shutil.which(name)
    if found:
        return found
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None


def short_diff(old: str | None, new: str, name: str, limit: int = _DIFF_LINES) -> str:
    lines = list(
        difflib.unified_diff(
            (old or "").splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"{name} (on disk)" if old is not None else "/dev/null",
            tofile=f"{name} (from flowtide.yaml)",
            n=1,
        )
    )
    if len(lines) > limit:
        lines = [*lines[:limit], f"... {len(lines) - limit} more diff lines\n"]
    return "".join(lines)


def check(project: Project, *, lint: bool = True) -> Report:
    """A report with one finding per workflow (up to date or not) plus actionlint's findings."""
    report = Report(kind="ci-check", title="workflows")
    if project.config.ci.provider == "forgejo":  # no Dependabot on Forgejo
        expected, extra = render(project.config), {}
    else:
        expected = dependabot.keep_newer_pins(project.root, render(project.config))
        extra = {dependabot.DEPENDABOT: dependabot.render()}
    stale = 0
    for rel, text in {**expected, **extra}.items():
        path = project.root / rel
        try:
            current: str | None = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = None
        if rel == dependabot.DEPENDABOT and not dependabot.is_ours(current):
            report.findings.append(Finding("pass", rel, "up-to-date", "yours (no flowtide header): left as it is"))
            continue
        if current == text:
            report.findings.append(Finding("pass", rel, "up-to-date", "matches flowtide.yaml"))
            continue
        stale += 1
        message = "missing" if current is None else "differs from what flowtide.yaml generates"
        report.findings.append(
            Finding(
                "fail",
                rel,
                "up-to-date",
                f"{message}; run `flowtide ci generate`",
                details={"diff": short_diff(current, text, rel)},
            )
        )
    for rel in left_over(project.root, expected, workflow_dir(project.config)):
        stale += 1
        report.findings.append(
            Finding("fail", rel, "up-to-date", "no longer generated from flowtide.yaml; run `flowtide ci generate`")
        )
    validators: list[str] = []
    if lint:
        existing = [rel for rel in expected if (project.root / rel).is_file()]
        for name, run in (("actionlint", actionlint), ("zizmor", zizmor)):
            binary = find_binary(name)
            if binary and existing:
                report.findings += run(binary, project.root, existing)
                validators.append(name)
    linted = ", ".join(validators) or "nothing (neither actionlint nor zizmor found)"
    report.summary = {"files": len(expected), "out of date": stale, "validated by": linted}
    return report


def actionlint(binary: str, root: Path, files: list[str]) -> list[Finding]:
    """Run actionlint on ``files`` (explicit arguments: it needs no git repo then)."""
    proc = subprocess.run(
        [binary, "-format", "{{json .}}", *files],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode not in (0, 1):
        return [Finding("fail", "actionlint", "valid", f"actionlint failed to run: {proc.stderr.strip()[-500:]}")]
    try:
        errors = json.loads(proc.stdout or "[]") or []
    except ValueError:
        return [Finding("fail", "actionlint", "valid", f"unreadable actionlint output: {proc.stdout[:300]}")]
    findings = [
        Finding(
            "fail",
            f"{e.get('filepath')}:{e.get('line')}:{e.get('column')}",
            f"actionlint:{e.get('kind', '')}",
            e.get("message", ""),
        )
        for e in errors
    ]
    if not findings:
        findings.append(Finding("pass", ", ".join(files), "valid", "actionlint found no problem"))
    return findings


def zizmor(binary: str, root: Path, files: list[str]) -> list[Finding]:
    """Run zizmor's security audits offline; inline `# zizmor: ignore[...]` comments are honoured."""
    proc = subprocess.run(
        [binary, "--offline", "--no-progress", "--format", "json", *files],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    try:
        results = json.loads(proc.stdout or "[]")
    except ValueError:
        return [Finding("fail", "zizmor", "secure", f"zizmor failed to run: {proc.stderr.strip()[-500:]}")]
    findings = []
    for result in results:
        if result.get("ignored"):
            continue
        location = (result.get("locations") or [{}])[0]
        path = location.get("symbolic", {}).get("key", {}).get("Local", {}).get("verbatim_path", "?")
        row = location.get("concrete", {}).get("location", {}).get("start_point", {}).get("row", -1) + 1
        findings.append(
            Finding("fail", f"{path}:{row}", f"zizmor:{result.get('ident')}", result.get("desc", ""), details=result)
        )
    if not findings:
        findings.append(Finding("pass", ", ".join(files), "secure", "zizmor found no problem"))
    return findings
