"""`flowtide schema`: the JSON Schema of flowtide.yaml, for editors."""

from __future__ import annotations

DESCRIPTION = "Print the JSON Schema of flowtide.yaml (point your editor's YAML plugin at it)."


def configure(parser) -> None:
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")


def run(args) -> int:
    import json

    from flowtide.config import json_schema

    text = json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
    if args.output:
        from flowtide.atomic import atomic_write

        atomic_write(args.output, text)
    else:
        print(text, end="")
    return 0
