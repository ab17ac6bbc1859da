"""`flowtide dashboard`: build (and optionally serve) the project's static site."""

from __future__ import annotations

from ._output import add_json_flag, load_project, print_json

DESCRIPTION = (
    "Build a static site from what the project keeps: the registry (versions, stages, approvals, lineage to "
    "data hashes and commits), run records (metrics over time), the monitor history and the data versions in "
    "flowtide.lock's git history. Plain HTML with charts as static SVG: no scripts, opens from disk or GitHub Pages."
)


def configure(parser) -> None:
    parser.add_argument("-o", "--output", metavar="DIR", help="where to write the site (default .flowtide/dashboard)")
    parser.add_argument("--serve", action="store_true", help="then serve it on 127.0.0.1 until Ctrl-C")
    parser.add_argument("--port", type=int, default=8000, help="port for --serve (default 8000; 0: any free port)")
    add_json_flag(parser)


def run(args) -> int:
    from flowtide.dashboard import build, serve

    project = load_project(args)
    site = build(project, args.output)
    if args.json:
        print_json(site.to_dict())
    else:
        counts = ", ".join(f"{n} {what}" for what, n in site.counts.items())
        print(f"dashboard written to {site.directory / 'index.html'} ({counts})")
    if args.serve:
        serve(site.directory, args.port)
    return 0
