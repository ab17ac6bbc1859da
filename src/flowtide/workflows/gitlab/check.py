"""`flowtide ci check` for GitLab: is `.gitlab-ci.yml` what flowtide.yaml generates, and valid?

Validity comes from check-jsonschema's built-in GitLab CI schema (``vendor.gitlab-ci``), run
when it is on PATH or next to the running Python; skipped (and said so) when absent.
"""

from __future__ import annotations

import json
import subprocess
from typing import TYPE_CHECKING

from flowtide.report import Finding, Report

from ..check import find_binary, short_diff
from .pipeline import render

if TYPE_CHECKING:
    from pathlib import Path

    from flowtide.project import Project


def check(project: Project, *, lint: bool = True) -> Report:
    report = Report(kind="ci-check", title="GitLab CI")
    expected = render(project.config)
    stale = 0
    for rel, text in expected.items():
        try:
            current: str | None = (project.root / rel).read_text(encoding="utf-8")
        except FileNotFoundError:
            current = None
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
    validated = "nothing (check-jsonschema not found)"
    existing = [rel for rel in expected if (project.root / rel).is_file()]
    binary = find_binary("check-jsonschema") if lint else None
    if binary and existing:
        report.findings += schema(binary, project.root, existing)
        validated = "check-jsonschema vendor.gitlab-ci"
    report.summary = {"files": len(expected), "out of date": stale, "validated by": validated}
    return report


def schema(binary: str, root: Path, files: list[str]) -> list[Finding]:
    """Validate ``files`` against GitLab's CI schema (the copy check-jsonschema ships: offline)."""
    proc = subprocess.run(
        [binary, "--builtin-schema", "vendor.gitlab-ci", "--output-format", "json", *files],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    try:
        result = json.loads(proc.stdout or "{}")
    except ValueError:
        result = None
    if not isinstance(result, dict) or "status" not in result:
        return [Finding("fail", "check-jsonschema", "valid", f"check-jsonschema failed: {proc.stderr.strip()[-500:]}")]
    findings = [
        Finding("fail", f"{e.get('filename')}:{e.get('path')}", "schema", str(e.get("message", "")))
        for e in result.get("errors") or []
    ]
    findings += [
        Finding("fail", str(e.get("filename", "?")), "schema", str(e.get("message", "unparsable")))
        for e in result.get("parse_errors") or []
    ]
    if not findings:
        findings.append(Finding("pass", ", ".join(files), "valid", "GitLab's CI schema accepts it"))
    return findings
