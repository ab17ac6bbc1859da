"""`flowtide check`: run data checks (rules and drift) and render the report four ways."""

from __future__ import annotations

import sys

from ._output import add_json_flag, load_project, render_report

DESCRIPTION = (
    "Run the data checks of flowtide.yaml (`checks:`) on sources and stage outputs: table and column "
    "rules in one pass, drift against a reference. Exit 1 if a rule fails. Reports are also written to "
    ".flowtide/reports/check.{json,md,html}."
)


def configure(parser) -> None:
    parser.add_argument(
        "targets", nargs="*", metavar="TARGET", help="source name, checks key or data path (default: all)"
    )
    add_json_flag(parser)
    parser.add_argument(
        "--md", action="store_true", help="print Markdown (for a PR comment; appended to $GITHUB_STEP_SUMMARY)"
    )
    parser.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report to FILE")
    parser.add_argument("--reference", metavar="PATH", help="drift reference: a data file or a store digest")
    parser.add_argument(
        "--fail-on-drift", action="store_true", help="treat drift as a failure (exit 1), as `drift: {block: true}` does"
    )
    parser.add_argument("--infer", metavar="TARGET", help="print a proposed `columns:` section for TARGET and exit")


def run(args) -> int:
    project = load_project(args)
    if args.infer:
        from flowtide.checks import infer

        text = infer(project, args.infer)
        if args.json:
            from flowtide.config import parse_yaml

            from ._output import print_json

            data, _ = parse_yaml(text, "inferred")
            print_json(data)
        else:
            sys.stdout.write(text)
        return 0
    from flowtide.checks import run_checks

    report = run_checks(
        project, args.targets or None, reference=args.reference, fail_on_drift=True if args.fail_on_drift else None
    )
    try:
        report.write(project.state_dir / "reports", "check")
    except OSError:
        pass  # a read-only checkout still gets its report on stdout
    render_report(report, args)
    return 0 if report.ok else 1
