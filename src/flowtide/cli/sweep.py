"""`flowtide sweep`: run the pipeline over a grid of params, each point in an isolated copy."""

from __future__ import annotations

import sys

from ._output import add_json_flag, console, load_project, print_json, table

DESCRIPTION = (
    "Run the pipeline for every combination of the given params (e.g. `flowtide sweep train.n_estimators=50,200 "
    "train.max_depth=4,8`), each in a temporary copy of the project so the working tree is untouched; every point "
    "is recorded as a run, and the best point is reported."
)


def configure(parser) -> None:
    parser.add_argument("axes", nargs="+", metavar="KEY=V1,V2", help="a params.yaml key (dotted) and its values")
    parser.add_argument("--stage", action="append", dest="stages", metavar="STAGE", help="run only up to this stage")
    parser.add_argument(
        "--executor", choices=["local", "ray"], help="local (one point after another) or ray (in parallel)"
    )
    parser.add_argument("-j", "--jobs", type=int, default=1, metavar="N", help="parallel stages within a point (local)")
    parser.add_argument("--metric", help="the metric that picks the best point (default: the first one)")
    parser.add_argument("--minimize", action="store_true", help="lower is better for --metric")
    add_json_flag(parser)


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else "" if value is None else str(value)


def run(args) -> int:
    from flowtide.pipeline.sweeps import sweep

    project = load_project(args)
    result = sweep(
        project,
        args.axes,
        stages=args.stages,
        executor=args.executor,
        jobs=args.jobs,
        metric=args.metric,
        minimize=args.minimize,
        log=lambda line: print(line, file=sys.stderr, flush=True),
    )
    failed = [p for p in result.points if p["status"] != "ok"]
    if args.json:
        print_json({**result.to_dict(), "ok": not failed})
        return 1 if failed else 0
    keys = list(dict.fromkeys(k for p in result.points for k in p["params"]))
    metrics = list(dict.fromkeys(k for p in result.points for k in p["metrics"]))[:6]
    rows = []
    for p in result.points:
        mark = "★" if p is result.best else ""
        rows.append(
            [
                mark,
                p["run_id"],
                *(_fmt(p["params"].get(k)) for k in keys),
                *(_fmt(p["metrics"].get(m)) for m in metrics),
                p.get("error", p["status"])[:60],
            ]
        )
    out = console()
    out.print(table(f"sweep {result.id}", ["", "run", *keys, *metrics, "status"], rows))
    if result.best:
        best = ", ".join(f"{k}={_fmt(v)}" for k, v in result.best["params"].items())
        out.print(
            f"best {result.metric}: {_fmt(result.best['metrics'][result.metric])} with {best} (run {result.best['run_id']})"
        )
    return 1 if failed else 0
