"""`flowtide run`: run the stale stages of the pipeline."""

from __future__ import annotations

import sys

from ._output import add_json_flag, load_project, print_json

DESCRIPTION = (
    "Run the stages whose command, deps, params or env changed since the last run (and those whose outputs "
    "are missing), in dependency order; unchanged stages are skipped, known fingerprints restored from the cache."
)


def configure(parser) -> None:
    parser.add_argument("stages", nargs="*", metavar="STAGE", help="run only these stages (and what they depend on)")
    parser.add_argument("-j", "--jobs", type=int, default=1, metavar="N", help="run up to N independent stages at once")
    parser.add_argument("-f", "--force", action="store_true", help="run the named (or all) stages even if up to date")
    parser.add_argument("--dry", action="store_true", help="say what would run, run nothing")
    parser.add_argument(
        "--executor", help="where stages run: local, ray or an installed executor (default: config `executor`)"
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long to wait for another run in this project (default: until it ends; 0: fail at once)",
    )
    parser.add_argument(
        "--heartbeat",
        type=float,
        default=None,
        metavar="SECONDS",
        help="a 'still running' line every SECONDS a stage runs (default: 30; 10 in a terminal; 0: none)",
    )
    add_json_flag(parser)


def run(args) -> int:
    if not (args.stages or args.force or args.dry or args.json):
        from flowtide.pipeline.snapshot import unchanged

        # nothing changed since the last clean check: no config, no lock, no mutex needed
        names = unchanged(args.project)
        if names is not None:
            print("".join(f"{name}: up to date\n" for name in names) + "Everything is up to date.")
            return 0
    from flowtide.errors import FlowtideError, StageError
    from flowtide.pipeline.engine import run as run_pipeline

    # a run always makes .flowtide/ (its mutexes live there): made first, the config it loads is memoised
    # already by the first run of a fresh clone, and the next command needs no pydantic
    try:
        from flowtide.config import STATE_DIR, find_root

        (find_root(args.project) / STATE_DIR).mkdir(exist_ok=True)
    except (FlowtideError, OSError):
        pass  # (load_project says what is wrong)
    project = load_project(args)

    out = sys.stderr if args.json else sys.stdout

    def log(line: str) -> None:
        print(line, file=out, flush=True)

    heartbeat = args.heartbeat if args.heartbeat is not None else (10.0 if out.isatty() else 30.0)

    try:
        result = run_pipeline(
            project,
            args.stages or None,
            force=args.force,
            dry=args.dry,
            jobs=args.jobs,
            executor=args.executor,
            wait=args.wait,
            log=log,
            heartbeat=heartbeat or None,
        )
    except StageError as exc:
        partial = getattr(exc, "result", None)
        if args.json and partial is not None:
            print_json({**partial.to_dict(), "ok": False, "error": exc.message})
        raise
    if args.json:
        print_json({**result.to_dict(), "ok": True})
        return 0
    if args.dry:
        print(f"{len(result.would_run)} stage(s) would run" if result.would_run else "Everything is up to date.")
    elif not (result.ran or result.restored):
        print("Everything is up to date.")
    else:
        parts = [f"ran {len(result.ran)}", f"restored {len(result.restored)}", f"skipped {len(result.skipped)}"]
        print(f"Run {result.run_id}: " + ", ".join(parts) + ".")
        if result.metrics:
            print("metrics: " + ", ".join(f"{k}={_fmt(v)}" for k, v in result.metrics.items()))
    return 0


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
