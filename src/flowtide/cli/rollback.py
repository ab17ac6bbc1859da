"""`flowtide rollback MODEL`: return production to the previous production version."""

from __future__ import annotations

import sys

from ._output import add_json_flag, load_project, print_json

DESCRIPTION = "Return production to the previous production version and archive the current one (audited)."


def configure(parser) -> None:
    parser.add_argument("model", help="model name")
    parser.add_argument("--reason", help="why (recorded in the registry)")
    add_json_flag(parser)


def run(args) -> int:
    from flowtide.registry import rollback

    project = load_project(args)
    version = rollback(project, args.model, reason=args.reason)
    for warning in version.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        print_json(version.to_dict())
    else:
        print(f"{version.model} production is back to v{version.version}")
    return 0
