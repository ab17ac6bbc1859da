"""`flowtide diff`: compare metrics, params and plots between git revisions."""

from __future__ import annotations

from ._output import add_json_flag, load_project, render_report

DESCRIPTION = (
    "Compare metrics and params of two git revisions: `flowtide diff` is HEAD vs the working tree, "
    "`flowtide diff main` is main vs the working tree, `flowtide diff A B` compares two commits. "
    "--md prints a Markdown table for a PR comment (and appends it to $GITHUB_STEP_SUMMARY), "
    "--html FILE writes a page with the plots of both revisions overlaid."
)


def configure(parser) -> None:
    parser.add_argument("rev_a", nargs="?", metavar="REV_A", help="the baseline revision (default: HEAD)")
    parser.add_argument("rev_b", nargs="?", metavar="REV_B", help="the revision to compare (default: working tree)")
    parser.add_argument("--base", metavar="REV", help="same as REV_A (e.g. --base main in a pull request)")
    parser.add_argument("--all", action="store_true", help="list unchanged params too")
    parser.add_argument("--md", action="store_true", help="print Markdown (for a PR comment or job summary)")
    parser.add_argument("--html", metavar="FILE", help="write a self-contained HTML page with the plots diff")
    add_json_flag(parser)


def run(args) -> int:
    from flowtide.pipeline.compare import diff

    project = load_project(args)
    rev_a, rev_b = args.rev_a, args.rev_b
    if args.base:
        rev_a, rev_b = args.base, args.rev_a if args.rev_a else args.rev_b
    report = diff(project, rev_a, rev_b, all_params=args.all, plots=bool(args.html))
    render_report(report, args)
    if args.html and not (args.json or args.md):
        print(f"plots diff written to {args.html}")
    return 0
