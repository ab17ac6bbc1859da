"""`flowtide gc`: remove store entries nothing references (local; remote with --remote)."""

from __future__ import annotations

from . import _output
from ._output import human_size

DESCRIPTION = (
    "Remove blobs from the local store that neither the lock (of the working tree and HEAD) nor the "
    "registry references. With --remote also from the remote store: run with --dry-run first to review "
    "the list (then `gc --remote` deletes exactly that list), or pass --yes."
)


def configure(parser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="list what would be removed; remove nothing")
    parser.add_argument("--remote", action="store_true", help="also collect garbage on the remote store")
    parser.add_argument("--yes", action="store_true", help="with --remote: delete without a previous --dry-run")
    parser.add_argument(
        "--all-commits",
        action="store_true",
        help="keep blobs referenced by the lock of any commit (remote gc always does)",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long to wait for pull, run, push, fetch or register in this project to finish (default: 30)",
    )
    _output.add_json_flag(parser)


def run(args) -> int:
    from flowtide.transfer import gc

    project = _output.load_project(args)
    result = gc(
        project, dry_run=args.dry_run, remote=args.remote, yes=args.yes, all_commits=args.all_commits, wait=args.wait
    )
    if args.json:
        _output.print_json(result.to_dict())
        return 0
    verb = "would remove" if result.dry_run else "removed"
    print(
        f"local store: {verb} {len(result.local_removed)} blob(s), {human_size(result.local_bytes)}; "
        f"kept {result.local_kept}"
    )
    if result.remote:
        print(
            f"remote {result.remote}: {verb} {len(result.remote_removed)} blob(s), "
            f"{human_size(result.remote_bytes)}; kept {result.remote_kept}"
        )
        if result.dry_run and result.remote_removed:
            print("run `flowtide gc --remote` to delete exactly these")
    return 0
