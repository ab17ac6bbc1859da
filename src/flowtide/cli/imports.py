"""`flowtide import dvc | gto`: the way in from DVC pipelines and GTO's tag registry (and a pointer for CML)."""

from __future__ import annotations

import argparse
import os
import sys

from ._output import add_json_flag, load_project, print_json

DESCRIPTION = (
    "Import a DVC project (dvc.yaml, params.yaml, dvc.lock, *.dvc files and the DVC cache) as flowtide.yaml, "
    "flowtide.lock and the store, or GTO's git tags as flowtide.registry events. DVC and GTO need not be "
    "installed: their files and tags are read directly."
)


def configure(parser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="KIND", required=True)
    dvc = sub.add_parser(
        "dvc",
        help="dvc.yaml + dvc.lock + *.dvc files + the DVC cache → flowtide.yaml, flowtide.lock, the store",
        description="Turn dvc.yaml's stages (foreach and matrix expanded, ${...} interpolated) into `stages:`, "
        "*.dvc-tracked files and import-url into `sources:`, copy the DVC cache's objects into the store (each "
        "proven against DVC's MD5 first) and write flowtide.lock so that `flowtide status` says up to date for every "
        "stage DVC considers up to date. Nothing is written unless every object checks out.",
    )
    dvc.add_argument("--force", action="store_true", help="replace an existing flowtide.yaml and flowtide.lock")
    dvc.add_argument("--dry-run", action="store_true", help="prove the objects and print flowtide.yaml; write nothing")
    add_json_flag(dvc)
    gto = sub.add_parser(
        "gto",
        help="GTO's tags (name@vX.Y.Z, name#stage#N) → flowtide.registry events",
        description="Append one flowtide.registry event per GTO tag not imported yet: registrations (with the "
        "tagged commit, the tagger and the date; the artifact's bytes at that commit go into the store) and stage "
        "assignments, unassignments, deregistrations and deprecations as promotions. Running it again adds nothing.",
    )
    gto.add_argument(
        "--stage",
        action="append",
        default=[],
        metavar="GTO=FLOWTIDE",
        help="map a GTO stage to candidate, staging, production, archived or skip (prod and staging map themselves)",
    )
    gto.add_argument("--dry-run", action="store_true", help="print the events; append nothing")
    add_json_flag(gto)
    for p in (dvc, gto):
        p.add_argument(
            "-C", "--project", dest="project", metavar="DIR", default=argparse.SUPPRESS, help="run as if started in DIR"
        )


def run(args) -> int:
    return _dvc(args) if args.action == "dvc" else _gto(args)


def _dvc(args) -> int:
    from flowtide.importers.dvc import import_dvc

    result = import_dvc(args.project or os.getcwd(), force=args.force, dry_run=args.dry_run)
    if args.json:
        print_json(result.to_dict())
        return 0
    if args.dry_run:
        sys.stdout.write(result.config_text)
        print()
    verb = "wrote" if result.written else "would write"
    print(
        f"{verb} flowtide.yaml: {len(result.sources)} source(s), {len(result.stages)} stage(s); flowtide.lock: "
        f"{len(result.locked)} stage(s) up to date"
    )
    print(f"store: {result.blobs} blob(s), {result.bytes:,} bytes, each proven against the MD5 DVC recorded")
    for name, reasons in result.stale.items():
        print(f"stale: {name} ({'; '.join(reasons)}): DVC would re-run it too; `flowtide run` will")
    for path in result.restored:
        print(f"restored: {path} (from the store)")
    for path in result.modified:
        print(f"modified: {path} differs from DVC's record; left as it is (`flowtide status` will say so)")
    for note in result.notes:
        print(f"note: {note}")
    for use in result.cml:
        print(f"CML: {use}")
    if result.cml:
        from flowtide.workflows.cml import POINTER

        print(POINTER)
    if result.written:
        print(
            "Next: `flowtide status`, then commit flowtide.yaml and flowtide.lock; `flowtide import gto` for GTO tags."
        )
    return 0


def _gto(args) -> int:
    from flowtide.errors import UsageError
    from flowtide.importers.gto import import_gto

    stages = {}
    for item in args.stage:
        gto, sep, ours = item.partition("=")
        if not sep or not gto or not ours:
            raise UsageError(f"--stage {item!r}: write GTO=FLOWTIDE, e.g. --stage dev=staging")
        stages[gto] = ours
    project = load_project(args)
    result = import_gto(project, stages=stages, dry_run=args.dry_run)
    if args.json:
        print_json(result.to_dict())
        return 0
    verb = "appended" if result.written else "would append"
    for event in result.events:
        what = f"v{event['version']}"
        move = "registered" if event["event"] == "register" else f"{event['from']} → {event['to']}"
        print(f"{event['gto']['tag']:<32} {event['model']} {what} {move}  ({event['at']}, {event['by']})")
    print(f"{verb} {len(result.events)} event(s) to flowtide.registry; {len(result.skipped)} tag(s) already imported")
    for note in result.notes:
        print(f"note: {note}")
    return 0
