"""Drift decisions on streams with one known change: flowtide's monitor defaults vs river's ADWIN, KSWIN, PageHinkley.

Run with the bench venv: ``.venv-bench/bin/python -m benchmarks.decisions`` (``--quick``: 10 streams).

Each stream is N(0, 1) (and a categorical column with five values, A at 20 %):
rows 0..2,000 are the reference, 2,000..10,000 are live rows without a change
(8,000 samples), and at row 10,000 column 0 changes: its mean by 0.25 / 0.5 / 1.0
sd, its variance ×1.5, or the share of A from 20 % to 30 % / 40 %. With ten
columns the other nine never change. Every scenario of one seed shares its
noise (common random numbers).

flowtide: ``flowtide.monitor.decision.decide`` — the monitor's own decision code —
with the ``monitor.drift`` defaults (``Policy.of(MonitorDrift(), Monitor().schedule)``:
alpha 0.05 per 30 days over 720 hourly runs, Holm, windows 500 / 2,000), one
monitor run per ``--every`` (32, ADWIN's own clock) new rows, judging the live rows since the
reference. river: one detector per column fed every row from row 0 in order;
an alarm of any column is an alarm. KSWIN (1.4 ms per update in river) runs on
``--kswin-streams`` streams, one column only, fed from 1,000 rows before the
change for delays (its window is 100 rows, so that loses nothing).

Reported: miss rate (no alarm within 2,000 rows of the change), median delay of
the detected streams, and for no-change streams the share with any alarm over
the 8,000 live rows.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

REF, LIVE_END, CHANGE, HORIZON = 2_000, 10_000, 10_000, 2_000
WIDE = 10
CATEGORIES = ["A", "B", "C", "D", "E"]
SCENARIOS = [
    ("none", None),
    ("none (category)", None),
    ("mean +0.25 sd", ("mean", 0.25)),
    ("mean +0.5 sd", ("mean", 0.5)),
    ("mean +1.0 sd", ("mean", 1.0)),
    ("variance x1.5", ("var", 1.5)),
    ("category A 20->30 %", ("cat", 0.3)),
    ("category A 20->40 %", ("cat", 0.4)),
]


def stream(seed: int, scenario: tuple | None, categorical: bool, width: int) -> dict:
    """Columns of one stream (column 0 may change at CHANGE); the categorical one as strings."""
    import numpy as np

    rng = np.random.default_rng(seed)
    total = CHANGE + HORIZON
    numbers = rng.normal(size=(WIDE, total))
    u = rng.random(total)
    cols: dict = {}
    if categorical:
        share = np.full(total, 0.2)
        if scenario and scenario[0] == "cat":
            share[CHANGE:] = scenario[1]
        rest = np.clip((u - share) / (1 - share), 0, 0.999999)
        cat = np.where(u < share, 0, 1 + (rest * 4).astype(int))
        cols["c0"] = np.asarray(CATEGORIES, dtype=object)[cat]
    else:
        x = numbers[0].copy()
        if scenario and scenario[0] == "mean":
            x[CHANGE:] += scenario[1]
        elif scenario and scenario[0] == "var":
            x[CHANGE:] *= scenario[1] ** 0.5
        cols["x0"] = x
    for i in range(1, width):
        cols[f"x{i}"] = numbers[i]
    return cols


# --- flowtide ------------------------------------------------------------------------------


def flowtide_first_alarm(cols: dict, start: int, end: int, every: int, policy) -> int | None:
    """The first monitor run (row count) in (start, end] whose decision says drift."""
    from flowtide.checks.drift import profile_values
    from flowtide.monitor.decision import decide

    reference = {
        name: profile_values(
            list(v[:REF]) if v.dtype == object else v[:REF], None if v.dtype != object else "categorical"
        )
        for name, v in cols.items()
    }
    for t in range(start + every, end + 1, every):
        lo = max(REF, t - policy.max_window)
        values = {name: v[lo:t] for name, v in cols.items()}
        if decide(reference, values, policy, effects=False).drifting:
            return t
    return None


# --- river ---------------------------------------------------------------------------------


def detector(name: str, seed: int):
    from river import drift

    if name == "ADWIN":
        return drift.ADWIN()
    if name == "KSWIN":
        return drift.KSWIN(seed=seed)
    return drift.PageHinkley()


def numeric_feed(v):
    import numpy as np

    return (v == "A").astype(float) if v.dtype == object else np.asarray(v, dtype=float)


def river_alarms(name: str, v, seed: int, begin: int, first_after: int, stop: int) -> int | None:
    """Feed rows begin..stop; the first alarm at or after row ``first_after``."""
    d = detector(name, seed)
    x = numeric_feed(v)
    for i in range(begin, stop):
        d.update(float(x[i]))
        if d.drift_detected and i >= first_after:
            return i
    return None


# --- the table -----------------------------------------------------------------------------


def summarise(alarms: list[int | None], change: bool) -> tuple[str, str]:
    n = len(alarms)
    if not change:
        return f"{sum(a is not None for a in alarms) / n:.0%} any alarm", ""
    delays = [a - CHANGE for a in alarms if a is not None and a - CHANGE < HORIZON]
    miss = 1 - len(delays) / n
    return f"{miss:.0%} missed", (f"{statistics.median(delays):.0f}" if delays else "-")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.decisions", description=__doc__.split("\n")[0])
    parser.add_argument("--streams", type=int, default=50, help="seeded streams per scenario (default 50)")
    parser.add_argument("--quick", action="store_true", help="10 streams, KSWIN on 3 (for tests)")
    parser.add_argument(
        "--every", type=int, default=32, help="new rows between two monitor runs (default 32, ADWIN's clock)"
    )
    parser.add_argument("--kswin-streams", type=int, default=10, help="streams KSWIN runs on (slow in river)")
    parser.add_argument("--detectors", default="flowtide,ADWIN,KSWIN,PageHinkley")
    args = parser.parse_args(argv)
    streams = 10 if args.quick else args.streams
    kswin_streams = min(streams, 3 if args.quick else args.kswin_streams)
    chosen = args.detectors.split(",")

    from flowtide.config.schema import Monitor, MonitorDrift
    from flowtide.monitor.decision import Policy

    policy = Policy.of(MonitorDrift(), Monitor().schedule)
    print(
        f"flowtide defaults: {policy.statement(0).split(', Holm')[0]}; Holm; windows {policy.min_window}/"
        f"{policy.max_window}; a monitor run every {args.every} rows"
    )
    print(f"{streams} streams per scenario; KSWIN on {kswin_streams}, one column only\n")
    header = f"{'detector':<12} {'cols':>4}  {'scenario':<22} {'result':>16} {'median delay':>13}"
    print(header)
    print("-" * len(header))
    rows = []
    measured: dict[tuple, list] = {}
    for width in (1, WIDE):
        for label, scenario in SCENARIOS:
            categorical = label.startswith("category") or label == "none (category)"
            change = scenario is not None
            for name in chosen:
                if name == "KSWIN" and width > 1:
                    continue
                count = kswin_streams if name == "KSWIN" else streams
                started = time.perf_counter()
                alarms: list[int | None] = []
                for seed in range(count):
                    cols = stream(seed, scenario, categorical, width)
                    if name == "flowtide":
                        start, end = (CHANGE, CHANGE + HORIZON) if change else (REF, LIVE_END)
                        alarms.append(flowtide_first_alarm(cols, start, end, args.every, policy))
                        continue
                    first: int | None = None
                    for v in cols.values():
                        if change:
                            begin = CHANGE - 1_000 if name == "KSWIN" else 0
                            hit = river_alarms(name, v, seed, begin, CHANGE, CHANGE + HORIZON)
                        else:
                            hit = river_alarms(name, v, seed, 0, REF, LIVE_END)
                        if hit is not None and (first is None or hit < first):
                            first = hit
                    alarms.append(first)
                result, delay = summarise(alarms, change)
                measured[(name, width, label)] = alarms
                line = f"{name:<12} {width:>4}  {label:<22} {result:>16} {delay:>13}"
                print(line + f"   ({time.perf_counter() - started:.1f} s)", flush=True)
                rows.append(line)
        print()
    if "flowtide" in chosen:
        print("\n".join(targets(measured)))
    return 0


def targets(measured: dict) -> list[str]:
    """The issue's targets, each with the measured numbers and ok / MISSED."""
    lines = ["targets (flowtide defaults):"]
    for width in (1, WIDE):
        for label in ("none", "none (category)"):
            rate = _share(measured[("flowtide", width, label)], lambda a: a is not None)
            lines.append(_target(f"{width} col, {label}: any alarm {rate:.0%} <= 5%", rate <= 0.05))
        for label, scenario in SCENARIOS:
            if scenario is None:
                continue
            alarms = measured[("flowtide", width, label)]
            miss = _share(alarms, lambda a: a is None or a - CHANGE >= HORIZON)
            lines.append(_target(f"{width} col, {label}: missed {miss:.0%} <= 5%", miss <= 0.05))
            adwin = measured.get(("ADWIN", width, label))
            if scenario[0] == "mean" and adwin:
                ours, theirs = _median_delay(alarms), _median_delay(adwin)
                ok = ours is not None and theirs is not None and ours <= 2 * theirs
                lines.append(_target(f"{width} col, {label}: median delay {ours} <= 2 x ADWIN's {theirs}", ok))
    return lines


def _share(alarms: list, hit) -> float:
    return sum(1 for a in alarms if hit(a)) / len(alarms)


def _median_delay(alarms: list) -> float | None:
    delays = [a - CHANGE for a in alarms if a is not None and a - CHANGE < HORIZON]
    return statistics.median(delays) if delays else None


def _target(text: str, ok: bool) -> str:
    return f"  {'ok    ' if ok else 'MISSED'} {text}"


if __name__ == "__main__":
    sys.exit(main())
