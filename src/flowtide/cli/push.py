"""`flowtide push`: upload the blobs the lock and the registry reference to the remote store."""

from __future__ import annotations

import sys

from . import _output

DESCRIPTION = (
    "Upload every blob the lock (sources, stage outputs) and the registry (model versions) reference "
    "and the remote store (store.remote in flowtide.yaml) lacks. A re-run uploads nothing."
)


def add_transfer_flags(parser) -> None:
    parser.add_argument("-j", "--jobs", type=int, default=None, metavar="N", help="parallel transfers (store.jobs)")
    parser.add_argument("--progress", action="store_true", help="show a progress bar even when stderr is no TTY")


def configure(parser) -> None:
    add_transfer_flags(parser)
    _output.add_json_flag(parser)


def show_progress(args) -> bool:
    return bool(args.progress or (not args.json and sys.stderr.isatty()))


def run(args) -> int:
    from flowtide.transfer import push

    from ._progress import bars

    project = _output.load_project(args)
    with bars(show_progress(args)) as on_progress:
        result = push(project, jobs=args.jobs, on_progress=on_progress)
    if args.json:
        _output.print_json(result.to_dict())
    elif result.pushed:
        print(
            f"pushed {len(result.pushed)} blob(s), {_output.human_size(result.bytes)}, to {result.remote}"
            f" ({len(result.present)} already there)"
        )
    else:
        print(f"nothing to push: all {len(result.present)} referenced blob(s) are already on {result.remote}")
    return 0
