"""`flowtide promote MODEL VERSION --to STAGE`: move a version between stages, with an audit event."""

from __future__ import annotations

import sys

from ._output import add_json_flag, load_project, print_json

DESCRIPTION = (
    "Move a model version to staging, production or archived. Production needs passed gates and a stay in "
    "staging, unless --force with --reason. The event (who, when, why) is appended to flowtide.registry."
)


def configure(parser) -> None:
    parser.add_argument("model", help="model name")
    parser.add_argument("version", help="version: 3, v3 or MODEL@v3")
    parser.add_argument("--to", required=True, choices=["staging", "production", "archived"], help="target stage")
    parser.add_argument("--reason", help="why (recorded in the registry)")
    parser.add_argument("--force", action="store_true", help="skip the gate and staging rules (needs --reason)")
    add_json_flag(parser)


def run(args) -> int:
    from flowtide.registry import promote

    project = load_project(args)
    version = promote(project, args.model, args.version, args.to, reason=args.reason, force=args.force)
    for warning in version.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        print_json(version.to_dict())
    else:
        print(f"{version.model} v{version.version} is now in {version.stage}")
    return 0
