"""`flowtide doctor`: the repository's MLOps maturity (0 / 1 / 2) and the command that adds each missing piece."""

from __future__ import annotations

import os
import sys

from ._output import add_json_flag

DESCRIPTION = (
    "Grade the repository's MLOps maturity: 0 manual, 1 automated training pipeline, 2 automated CI/CD of the "
    "pipeline, naming each missing piece and the command that adds it. Exit 0 (it is advice) unless --strict."
)


def configure(parser) -> None:
    add_json_flag(parser)
    parser.add_argument("--md", action="store_true", help="print Markdown")
    parser.add_argument("--strict", action="store_true", help="exit 1 unless the repository is at level 2")


def run(args) -> int:
    from flowtide.config import find_root
    from flowtide.errors import ConfigError
    from flowtide.workflows.doctor import doctor

    start = args.project or os.getcwd()
    try:
        root = find_root(start)
    except ConfigError:  # not a flowtide project yet: grade the directory as it is
        root = start
    report = doctor(root)
    if args.json:
        sys.stdout.write(report.to_json())
    elif args.md:
        sys.stdout.write(report.to_markdown())
    else:
        level = report.summary["level"]
        print(report.title)
        for finding in report.findings:
            mark = {"pass": "ok  ", "warn": "warn", "fail": "miss"}.get(finding.status, finding.status)
            print(f"{mark} [{finding.target}] {finding.rule}: {finding.message}")
        print(f"level {level} of 2" + ("" if level == 2 else "; fix the `miss` lines above to reach the next level"))
    if args.strict and report.summary["level"] < 2:
        return 1
    return 0
