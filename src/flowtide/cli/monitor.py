"""`flowtide monitor`: drift, live performance and canary verdicts from the prediction log."""

from __future__ import annotations

from ._output import add_json_flag, load_project, render_report

DESCRIPTION = (
    "Analyse logged predictions and feedback per model version over a time window: input drift against "
    "the training data, prediction drift, live performance, and the canary verdict (promote / rollback / "
    "wait, a non-inferiority test with margin deploy.canary.margin). Only versions in production or staging "
    "can fail the run; archived ones are history. Exit 1 on drift or a performance drop below the `monitor:` "
    "thresholds; exit 3 when nothing failed but a served version could not be judged (no or too few "
    "predictions): not judged is not passed. Reports are also written to .flowtide/reports/monitor.{json,md,html}."
)


def configure(parser) -> None:
    parser.add_argument(
        "--window", metavar="SPAN", help="time window ending now, e.g. 1h, 1d, 7d (default monitor.window)"
    )
    add_json_flag(parser)
    parser.add_argument("--md", action="store_true", help="print Markdown (also appended to $GITHUB_STEP_SUMMARY)")
    parser.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report to FILE")
    parser.add_argument("--log-dir", action="append", metavar="DIR", help="extra prediction log directory (repeatable)")
    parser.add_argument(
        "--trigger", action="store_true", help="retrain (pull, run, gate, register, stage) on drift or a drop"
    )
    parser.add_argument(
        "--act", action="store_true", help="act on the canary verdict: archive a canary judged worse (rollback)"
    )
    parser.add_argument(
        "--approve",
        action="store_true",
        help="with --act: also promote a canary judged not worse to production; you are the approver (recorded)",
    )


def run(args) -> int:
    from flowtide.errors import UsageError
    from flowtide.monitor import monitor

    project = load_project(args)
    if args.approve and not args.act:
        raise UsageError("--approve needs --act (it approves what the canary verdict says)")
    approve = "the person running `flowtide monitor --act --approve`" if args.approve else None
    result = monitor(
        project, window=args.window, logs=args.log_dir, trigger=args.trigger, act=args.act, approve=approve
    )
    report = result.report
    try:
        report.write(project.state_dir / "reports", "monitor")
    except OSError:
        pass
    extra = {
        "actions": result.actions,
        "retrained": result.retrained,
        "drifted": result.drifted,
        "needs_retraining": result.needs_retraining,
        "verdicts": result.verdict_dicts(),
    }
    render_report(report, args, extra_json=extra)
    if not (args.json or args.md):
        for line in result.actions:
            print(line)
    return result.exit_code
