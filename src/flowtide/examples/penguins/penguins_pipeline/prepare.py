"""Stage `prepare` (a `call:` stage: flowtide imports this module and calls `main` in its own process).

Reads data/raw/penguins.parquet (one row per bird, nulls where a measure is missing) and
data/raw/traffic.parquet (production requests with the body mass someone weighed, pulled from
the prediction log); writes the directory data/prepared/ with train.parquet and test.parquet.
Params (params.yaml `prepare:`): test_fraction, traffic.

A bird is held out by a hash of its id, so the hold-out only grows as seasons arrive and a bird
never moves between hold-out and training. Birds without a body mass cannot be learned from or
judged on; birds missing other measures stay (the model imputes them, as it must for requests).
"""

import hashlib
import os
import shutil

import polars as pl

from . import CATEGORICAL, FEATURES, NUMERIC, TARGET, params

TYPES = {**{c: pl.String for c in CATEGORICAL}, **{c: pl.Float64 for c in [*NUMERIC, TARGET]}}


def held_out(key: str, fraction: float) -> bool:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 10_000 < fraction * 10_000


def main() -> None:
    config = params.load("prepare")
    raw = pl.read_parquet("data/raw/penguins.parquet").drop_nulls(TARGET).cast(TYPES)
    fraction = float(config["test_fraction"])
    hold = pl.Series("hold", [held_out(str(i), fraction) for i in raw["id"]], dtype=pl.Boolean)
    columns = FEATURES + [TARGET]
    train, test = raw.filter(~hold).select(columns), raw.filter(hold).select(columns)  # one schema: TYPES

    traffic_rows = 0
    if config.get("traffic", True) and os.path.exists("data/raw/traffic.parquet"):
        traffic = pl.read_parquet("data/raw/traffic.parquet")
        if set(columns) <= set(traffic.columns):
            traffic = traffic.select(columns).cast(TYPES).drop_nulls(TARGET)
            # a request that repeats a held-out bird is not trained on, or the hold-out would leak into training
            traffic = traffic.unique(maintain_order=True).join(test, on=columns, how="anti", nulls_equal=True)
            traffic_rows = len(traffic)
            train = pl.concat([train, traffic])

    # a directory output: written whole in a scratch directory, then swapped in
    scratch = "data/.prepared.tmp"
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    train.write_parquet(f"{scratch}/train.parquet")
    test.write_parquet(f"{scratch}/test.parquet")
    shutil.rmtree("data/prepared", ignore_errors=True)
    os.replace(scratch, "data/prepared")
    print(
        f"prepared {len(raw)} birds: {len(raw) - len(test)} for training (+{traffic_rows} labelled requests), "
        f"{len(test)} held out"
    )
