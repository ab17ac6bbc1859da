"""`flowtide fsck`: check every stored blob against its hash; quarantine and repair the corrupt ones."""

from __future__ import annotations

from . import _output
from ._output import human_size

DESCRIPTION = (
    "Re-hash every blob in the local store (and with --remote every blob on the remote store) and compare "
    "it with its name. Corrupt local blobs are moved to the store's quarantine/ directory, never deleted; "
    "--repair puts good bytes back from a working-tree file the lock or registry names, or from the remote. "
    "Exit 1 if any corrupt blob remains."
)


def configure(parser) -> None:
    parser.add_argument("--remote", action="store_true", help="also download and check every remote blob")
    parser.add_argument(
        "--repair",
        action="store_true",
        help="restore corrupt blobs from a good copy (working tree, remote; a remote one from the local store)",
    )
    _output.add_json_flag(parser)


def run(args) -> int:
    from flowtide.fsck import fsck

    project = _output.load_project(args)
    result = fsck(project, remote=args.remote, repair=args.repair)
    if args.json:
        _output.print_json(result.to_dict())
        return 0 if result.ok else 1
    print(f"local store: checked {result.checked} blob(s), {human_size(result.bytes)}")
    if result.remote:
        print(f"remote {result.remote}: checked {result.remote_checked} blob(s)")
    for damage in result.damaged:
        used = f" ({', '.join(damage.used_by)})" if damage.used_by else ""
        what = f"hashes to {damage.actual[:12]}" if damage.actual else damage.detail
        print(f"CORRUPT {damage.where} blob {damage.digest[:12]}{used}: {what}")
        if damage.quarantined:
            print(f"  quarantined: {damage.quarantined}")
        if damage.repaired_from:
            print(f"  repaired from {damage.repaired_from}")
        elif args.repair:
            print("  not repaired: no good copy in the working tree, the remote store or the local store")
    if result.ok:
        print("no corrupt blobs remain" if result.damaged else "all blobs intact")
        return 0
    count = len(result.unrepaired)
    hint = "" if args.repair else "; run `flowtide fsck --repair` to restore them from a good copy"
    print(f"{count} corrupt blob(s) remain{hint}")
    return 1
