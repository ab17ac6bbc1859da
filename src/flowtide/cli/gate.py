"""`flowtide gate`: judge the current metrics and model tests against `gates:`."""

from __future__ import annotations

from ._output import add_json_flag, load_project, render_report

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
    from flowtide.registry.gate import evaluate

    project = load_project(args)
    report = evaluate(project, run_tests=not args.no_tests)
    render_report(report, args)
    return 0 if report.ok else 1
