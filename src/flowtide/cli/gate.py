"""`flowtide gate`: judge the current metrics and model tests against `gates:`."""

from __future__ import annotations

import os

from ._output import add_json_flag, load_project

DESCRIPTION = (
    "Evaluate the quality gates of flowtide.yaml (absolute rules and rules relative to production) "
    "and the model tests on the current metrics. Exit 1 if any fails."
)


def configure(parser) -> None:
    add_json_flag(parser)
    parser.add_argument("--md", action="store_true", help="print Markdown (PR comment / job summary)")
    parser.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report to FILE")
    parser.add_argument("--no-tests", action="store_true", help="skip the model tests (the verdict is not registrable)")


def run(args) -> int:
    from flowtide.gate import evaluate

    project = load_project(args)
    report = evaluate(project, run_tests=not args.no_tests)
    write_report(report, args)
    return 0 if report.ok else 1


def write_report(report, args) -> None:
    """Render a Report as --json, --md (also to $GITHUB_STEP_SUMMARY) or a terminal table."""
    if args.html:
        from flowtide.atomic import atomic_write

        atomic_write(args.html, report.to_html(), fsync=False)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary and args.md:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(report.to_markdown() + "\n")
    if args.json:
        print(report.to_json(), end="")
    elif args.md:
        print(report.to_markdown(), end="")
    else:
        report.render_terminal()
