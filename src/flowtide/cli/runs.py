"""`flowtide runs`: list recorded pipeline runs, or show one (`flowtide runs show ID`)."""

from __future__ import annotations

import time

from ._output import DIRTY_NOTE, add_json_flag, commit_label, console, load_project, print_json, table

DESCRIPTION = "List the recorded pipeline runs (newest first), or show one with `flowtide runs show ID`."


def configure(parser) -> None:
    parser.add_argument("-n", "--limit", type=int, default=20, metavar="N", help="show the N newest runs (0: all)")
    add_json_flag(parser)
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    show = sub.add_parser(
        "show",
        help="show one run: params, metrics, stages, data, commit",
        description="Show one recorded run: its params, metrics, stages (ran, restored or skipped), "
        "data hashes and git commit.",
    )
    show.add_argument("run_id", metavar="ID", help="a run id, a unique prefix of one, or `latest`")
    add_json_flag(show)


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else ""


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _text(value) -> str:
    """A value from a run record, shown as text (tables print plain text: records committed by others are
    input, never rich markup)."""
    return _fmt(value)


def run(args) -> int:
    import sys

    project = load_project(args)
    warnings: list[str] = []
    try:
        return _show(project, args, warnings) if args.action == "show" else _list(project, args, warnings)
    finally:
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)


def _show(project, args, warnings: list[str]) -> int:
    from flowtide.pipeline.runs import get_run

    record = get_run(project, args.run_id, warnings=warnings)
    if args.json:
        print_json(record.to_dict())
        return 0
    out = console()
    seconds = (record.finished or record.started) - record.started
    commit = commit_label(record.git_commit, record.git_dirty)
    out.print(f"[bold]run {record.id}[/]  {record.status}  {_when(record.started)}  {seconds:.1f} s")
    out.print(f"commit: {commit or '(not in git)'}   executor: {record.executor}   kind: {record.kind}")
    if record.git_dirty:
        out.print(DIRTY_NOTE, style="dim")
    if record.url:
        out.print(f"CI run: {record.url}", markup=False)
    if record.message:
        out.print(record.message, style="red", markup=False)
    rows = [
        [
            _text(name),
            _text(info.get("status", "")),
            _text(info.get("seconds", "")),
            _text("; ".join(map(str, info.get("reasons", [])))),
        ]
        for name, info in record.stages.items()
    ]
    out.print(table("stages", ["stage", "status", "seconds", "why"], rows, under=["why"]))
    if record.metrics:
        out.print(table("metrics", ["metric", "value"], [[_text(k), _text(v)] for k, v in record.metrics.items()]))
    if record.params:
        out.print(table("params", ["param", "value"], [[_text(k), _text(v)] for k, v in record.params.items()]))
    if record.data:
        out.print(
            table(
                "data", ["source", "hash"], [[_text(k), _text(v or "")] for k, v in record.data.items()], keep=["hash"]
            )
        )
    return 0


def _list(project, args, warnings: list[str]) -> int:
    from flowtide.pipeline.runs import list_runs

    records = list_runs(project, args.limit or None, warnings=warnings)
    if args.json:
        print_json([r.to_dict() for r in records])
        return 0
    if not records:
        print("No runs recorded yet; `flowtide run` records one each time a stage runs.")
        return 0
    metric_names: list[str] = []
    for record in records:
        for key in record.metrics:
            if key not in metric_names and len(metric_names) < 4:
                metric_names.append(key)
    ci = any(r.url for r in records)
    rows = []
    for r in records:
        ran = [n for n, s in r.stages.items() if s.get("status") in ("ran", "restored")]
        commit = commit_label(r.git_commit, r.git_dirty)
        rows.append(
            [r.id, _when(r.started)[:16], r.status, commit, _text(", ".join(ran))]
            + [_text(r.metrics[m]) if m in r.metrics else "" for m in metric_names]
            + ([r.url or "(local)"] if ci else [])
        )
    columns = ["run", "started", "status", "commit", "stages run", *map(_text, metric_names)]
    # a run id, a commit and a URL are only useful whole (and copyable): the other columns wrap first
    grid = table(None, [*columns, *(["CI run"] if ci else [])], rows, keep=["run", "started", "commit", "CI run"])
    out = console()
    out.print(grid)
    if any(r.git_dirty for r in records):
        out.print(DIRTY_NOTE, style="dim")
    return 0
