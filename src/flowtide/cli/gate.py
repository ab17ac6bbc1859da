"""`flowtide gate`: judge the current metrics and model tests against `gates:`."""

from __future__ import annotations

from ._output import add_json_flag, load_project, render_report

DESCRIPTION = (
    "Evaluate the quality gates of flowtide.yaml (absolute rules and rules relative to production) "
    "and the model tests on the current metrics. A relative rule compares with production re-scored "
    "on the candidate's evaluation data (the stage that writes the metric, re-run in a scratch copy "
    "with production's artifact; cached), or else with production's recorded metrics, with a warning. "
    "Exit 1 if any fails."
)


def configure(parser) -> None:
    add_json_flag(parser)
    parser.add_argument("--md", action="store_true", help="print Markdown (PR comment / job summary)")
    parser.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report to FILE")
    parser.add_argument("--no-tests", action="store_true", help="skip the model tests (the verdict is not registrable)")
    parser.add_argument(
        "--no-rescore",
        action="store_true",
        help="compare relative rules with production's recorded metrics instead of re-scoring it on the same data",
    )


def run(args) -> int:
    from flowtide.registry.gate import evaluate

    from ._output import console

    project = load_project(args)
    err = console(stderr=True)
    report = evaluate(
        project,
        run_tests=not args.no_tests,
        rescore=not args.no_rescore,
        log=lambda line: err.print(line, markup=False),
    )
    render_report(report, args)
    return 0 if report.ok else 1
