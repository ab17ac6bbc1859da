"""`flowtide serve`: serve production (and canary / shadow) versions over HTTP."""

from __future__ import annotations

DESCRIPTION = (
    "Serve the production version of each model over HTTP, with the staging version as canary "
    "(deploy.canary) or shadow (deploy.shadow). Follows the registry and hot-swaps on promotion "
    "or rollback, fetching new artifacts from the remote store. Admin endpoints need FLOWTIDE_ADMIN_TOKEN; "
    "/feedback needs FLOWTIDE_FEEDBACK_TOKEN when it is set."
)


def configure(parser) -> None:
    from ._output import add_json_flag

    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (0 picks a free one; default 8000)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (each logs to its own file)")
    parser.add_argument(
        "--follow", metavar="GIT_URL@BRANCH", help="follow the registry of a git remote instead of this checkout"
    )
    parser.add_argument(
        "--interval", type=float, default=2.0, metavar="S", help="seconds between registry polls (0: never reload)"
    )
    parser.add_argument("--log-dir", metavar="DIR", help="prediction log directory (default .flowtide/predictions)")
    parser.add_argument(
        "--threads", type=int, metavar="N", help="predictions run at once, off the event loop (default: cores, max 4)"
    )
    add_json_flag(parser)


def run(args) -> int:
    import json
    import sys

    from flowtide.errors import UsageError
    from flowtide.serve.server import run_server

    from ._output import load_project

    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.threads is not None and args.threads < 1:
        raise UsageError("--threads must be at least 1")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a port number")
    project = load_project(args)

    def announce(url: str, versions: dict, problems: list[str]) -> None:
        if args.json:
            print(json.dumps({"url": url, "models": versions, "problems": problems}, default=str), flush=True)
            return
        served = ", ".join(
            f"{model} v{info['production']['version']}"
            + (f" (canary v{info['canary']['version']} at {info['canary']['weight']:.0%})" if "canary" in info else "")
            + (f" (shadow v{info['shadow']['version']})" if "shadow" in info else "")
            for model, info in versions.items()
            if isinstance(info, dict) and "production" in info
        )
        if "workers" in versions:
            served = f"{versions['workers']} worker processes, each loading the production version"
        if not served:
            served = "nothing served yet" if problems else "no production version yet"
        if problems:  # started with what it could load: say what it could not (also in /health)
            served += " (degraded: " + "; ".join(problems) + ")"
        print(f"flowtide serve: {url} — {served}", flush=True)
        sys.stdout.flush()

    try:
        run_server(
            project,
            host=args.host,
            port=args.port,
            workers=args.workers,
            follow=args.follow,
            interval=args.interval,
            log_dir=args.log_dir,
            threads=args.threads,
            announce=announce,
        )
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from exc
    return 0
