"""`flowtide fetch`: download what the working tree needs from the remote store and materialise it."""

from __future__ import annotations

from . import _output
from ._output import human_size
from .push import add_transfer_flags, show_progress

DESCRIPTION = (
    "Download the blobs the working tree needs (sources with storage: store, stage outputs, model "
    "versions) into the local store, verifying each hash, and write the files. A re-run transfers nothing."
)


def configure(parser) -> None:
    parser.add_argument(
        "targets",
        nargs="*",
        metavar="TARGET",
        help="source, stage or model names, or paths (default: everything)",
    )
    add_transfer_flags(parser)
    _output.add_json_flag(parser)


def run(args) -> int:
    from flowtide.transfer import fetch

    from ._progress import bars

    project = _output.load_project(args)
    with bars(show_progress(args)) as on_progress:
        result = fetch(project, args.targets or None, jobs=args.jobs, on_progress=on_progress)
    if args.json:
        _output.print_json(result.to_dict())
        return 0
    for digest in result.corrupt:
        print(f"blob {digest[:12]} in the local store was corrupt: quarantined and downloaded again")
    if result.downloaded:
        print(f"downloaded {len(result.downloaded)} blob(s), {human_size(result.bytes)}, from {result.remote}")
    for path in result.materialized:
        print(f"wrote {path}")
    if not result.downloaded and not result.materialized:
        print(
            f"nothing to fetch: {len(result.up_to_date)} file(s) up to date, "
            f"{len(result.present)} blob(s) already in the local store"
        )
    return 0
