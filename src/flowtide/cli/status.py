"""`flowtide status`: list stale stages and why (exit 1 if any)."""

from __future__ import annotations

from ._output import add_json_flag, load_project, print_json

DESCRIPTION = "List the stages that `flowtide run` would run, and why. Exit 1 if any is stale."


def configure(parser) -> None:
    add_json_flag(parser)


def run(args) -> int:
    from flowtide.pipeline.snapshot import unchanged

    # nothing changed since the last clean check: answer from a few stat calls, without loading the config
    if unchanged(args.project) is not None:
        if args.json:
            print_json({"ok": True, "stale": []})
        else:
            print("Everything is up to date.")
        return 0
    from flowtide.pipeline.engine import status

    project = load_project(args)
    stale = status(project)
    if args.json:
        print_json(
            {
                "ok": not stale,
                "stale": [{"stage": s.name, "reasons": s.reasons, "restorable": s.restorable} for s in stale],
            }
        )
    elif not stale:
        print("Everything is up to date.")
    else:
        for item in stale:
            print(f"{item.name}:")
            for reason in item.reasons:
                print(f"    {reason}")
            if item.restorable:
                print("    (its outputs for this state are in the cache: `flowtide run` restores them)")
    return 1 if stale else 0
