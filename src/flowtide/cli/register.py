"""`flowtide register`: record the current model artifact as a candidate version."""

from __future__ import annotations

import sys

from ._output import add_json_flag, load_project, print_json

DESCRIPTION = (
    "Record the artifact of `model:` as a new candidate version in flowtide.registry, with its content hash, "
    "git commit, data lock, params, metrics and gate results, and tag it MODEL@vN. An artifact whose bytes are "
    "already a version of the model registers nothing and says which version it is (exit 0; with --json "
    '"registered": false, "existing": N and an empty "version", so CI deploys nothing).'
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
    if version.existing:
        if args.json:
            print_json(
                {
                    "registered": False,
                    "existing": version.version,
                    "version": "",  # what CI reads: empty means nothing new to deploy
                    "model": version.model,
                    "hash": version.hash,
                    "existing_stage": version.stage,
                    "tag": version.tag,
                }
            )
            return 0
        line = (
            f"not registered: these bytes ({version.hash[:12]}) are already {version.label} ({version.stage}); "
            "nothing new to deploy"
        )
        if version.stage == "archived":
            line += f". To serve it again: flowtide promote {version.model} {version.version} --to staging"
        print(line)
        return 0
    if args.json:
        print_json({**version.to_dict(), "registered": True, "existing": None})
        return 0
    gates = "passed" if version.gates.get("passed") else "NOT passed"
    print(f"registered {version.tag} ({version.hash[:12]}, {version.size:,} bytes): gates {gates}")
    return 0
