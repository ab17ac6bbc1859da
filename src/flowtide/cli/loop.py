"""`flowtide loop`: the local orchestrator (the workflows' triggers, without GitHub)."""

from __future__ import annotations

from ._output import add_json_flag, load_project

DESCRIPTION = (
    "Run the triggers of the generated workflows locally, one at a time: each source's schedule → pull → "
    "(new bytes) run → gate → register → staging; the monitor's schedule → monitor → retrain / promote / "
    "roll back. Logs to .flowtide/loop.log; resumes after a crash; stops cleanly on SIGTERM."
)


def configure(parser) -> None:
    parser.add_argument(
        "--clock", type=float, default=1.0, metavar="FACTOR", help="run time FACTOR times faster (demos, tests)"
    )
    parser.add_argument("--once", action="store_true", help="fire every due trigger once, then exit")
    parser.add_argument("--max-cycles", type=int, metavar="N", help="exit after N cycles")
    add_json_flag(parser)


def run(args) -> int:
    import json
    import sys

    from flowtide.errors import UsageError
    from flowtide.loop import run_loop

    if args.clock <= 0:
        raise UsageError("--clock must be a positive factor")
    if args.max_cycles is not None and args.max_cycles < 1:
        raise UsageError("--max-cycles must be at least 1")
    project = load_project(args)

    def echo(event: dict) -> None:
        if args.json:
            return
        kind = event.get("event")
        if kind == "cycle":
            print(f"[{event['at']}] cycle {event['cycle']}: {event['trigger']} (scheduled {event['tick']})", flush=True)
        elif kind == "step":
            print(f"    {event['message']}", flush=True)
        elif kind == "done":
            text = "ok" if event.get("status") == "ok" else f"error: {event.get('error')}"
            print(f"    {text} in {event.get('seconds')} s", flush=True)
        elif kind == "start":
            print(
                f"flowtide loop: {', '.join(event['triggers'])} (clock x{event['clock']:g}); Ctrl-C stops", flush=True
            )

    result = run_loop(project, clock=args.clock, once=args.once, max_cycles=args.max_cycles, echo=echo)
    if args.json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2, sort_keys=True, default=str) + "\n")
    return 0 if result.ok else 1
