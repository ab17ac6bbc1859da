"""`flowtide package MODEL VERSION`: a self-contained bundle and Dockerfile that serve one version."""

from __future__ import annotations

from ._output import add_json_flag, load_project, print_json

DESCRIPTION = (
    "Write a bundle directory for a registered version: the verified artifact, model card, input schema, "
    "pinned requirements, a minimal flowtide.yaml + registry, and a Dockerfile running `flowtide serve`."
)


def configure(parser) -> None:
    parser.add_argument("model", help="model name")
    parser.add_argument("version", help="version: 3, v3 or MODEL@v3")
    parser.add_argument("-o", "--output", metavar="DIR", help="bundle directory (default dist/MODEL-vN)")
    add_json_flag(parser)


def run(args) -> int:
    from flowtide.package import package

    project = load_project(args)
    bundle = package(project, args.model, args.version, args.output)
    if args.json:
        print_json(bundle.to_dict())
    else:
        if bundle.repaired_from:
            print(f"the stored artifact was corrupt: quarantined and replaced from {bundle.repaired_from}")
        print(f"packaged {bundle.model} v{bundle.version} into {bundle.path} ({len(bundle.files)} files)")
        print(f"  docker build -t {bundle.model}:v{bundle.version} {bundle.path}")
    return 0
