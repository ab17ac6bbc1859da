"""`flowtide pull`: fetch sources, check them, store the bytes and update the lock."""

from __future__ import annotations

import sys

from ._output import add_json_flag, human_size, load_project, print_json

DESCRIPTION = (
    "Fetch each source (all by default), check the new bytes, store them by content hash, "
    "write them to the source's path and record them in flowtide.lock. The lock changes only "
    "when bytes changed; a failed fetch leaves data and lock untouched (exit 1)."
)


def configure(parser) -> None:
    parser.add_argument("sources", nargs="*", metavar="SOURCE", help="source names (default: all)")
    parser.add_argument("--no-check", action="store_true", help="accept new bytes without running their checks")
    parser.add_argument(
        "--progress",
        action="store_true",
        default=None,
        help="show a progress bar for large downloads (default: when stderr is a terminal)",
    )
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="never show a progress bar")
    add_json_flag(parser)


def run(args) -> int:
    from flowtide.data.pull import pull

    from ._progress import PULL_MIN_BYTES, bars

    project = load_project(args)
    progress = args.progress if args.progress is not None else (sys.stderr.isatty() and not args.json)
    with bars(progress, min_bytes=PULL_MIN_BYTES) as on_progress:
        result = pull(project, args.sources or None, check=not args.no_check, on_progress=on_progress)
    if args.json:
        print_json(result.to_dict())
    else:
        _render(result)
    for item in result.results:
        if item.status in ("failed", "quarantined"):
            text = item.message
            if item.status == "quarantined":
                text = f"source {item.name!r} ({item.url}): {item.message}"
            print(f"error: {text}", file=sys.stderr)
    if not result.ok:
        print(
            "The previous data files and flowtide.lock are unchanged; fix the source and pull again.", file=sys.stderr
        )
    return 0 if result.ok else 1


def _render(result) -> None:
    for item in result.results:
        short = (item.hash or "")[:12] or "-"
        size = human_size(item.size) if item.size is not None else "-"
        detail = ""
        if item.status == "changed":
            notes = [f"was {item.previous_hash[:12]}"] if item.previous_hash else []
            if item.report is not None:
                notes.append("checks passed")
            detail = f" ({', '.join(notes)})" if notes else ""
        elif item.status == "unchanged":
            detail = f" ({item.message})" if item.message else ""
        elif item.status in ("failed", "quarantined"):
            detail = " (see below)"
        print(f"{item.name:<16} {item.status:<11} {size:>10}  {short}  {item.path}{detail}")
    if result.lock_written:
        print("flowtide.lock updated")
