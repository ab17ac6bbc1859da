"""`flowtide register`: record the current model artifact as a candidate version."""

from __future__ import annotations

import sys

from ._output import add_json_flag, load_project, print_json

DESCRIPTION = (
    "Record the artifact of `model:` as a new candidate version in flowtide.registry, with its content hash, "
    "git commit, data lock, params, metrics and gate results, and tag it MODEL@vN."
)


def configure(parser) -> None:
    add_json_flag(parser)
    parser.add_argument(
        "--require-gates", action="store_true", help="refuse to register a version whose gates did not pass"
    )


def run(args) -> int:
    from flowtide.registry import register

    project = load_project(args)
    version = register(project, require_gates=args.require_gates)
    for warning in version.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        print_json(version.to_dict())
        return 0
    gates = "passed" if version.gates.get("passed") else "NOT passed"
    print(f"registered {version.tag} ({version.hash[:12]}, {version.size:,} bytes): gates {gates}")
    return 0
