"""Stage `prepare`: features from the raw daily weather, a stable hold-out, and labelled traffic for training.

Reads data/raw/weather.csv and data/raw/traffic.csv (production requests with their
feedback labels, pulled from the prediction log); writes data/prepared/train.csv and
data/prepared/test.csv. Params (params.yaml `prepare:`): test_fraction, traffic.

A day is held out by a hash of its date, so the hold-out only grows as months
arrive: a day never moves between hold-out and training, successive versions are
judged on comparable days (the relative gate compares them), and every season is
represented. This is a classifier of a day's weather from its measurements, not a
forecast, so the hold-out need not be the latest days.
"""

import hashlib
import math
import os

import polars as pl
import yaml_params

params = yaml_params.load("prepare")
FEATURES = ["precipitation", "temp_max", "temp_min", "wind"]
TARGET = "weather"


def held_out(day: str, fraction: float) -> bool:
    return int(hashlib.sha256(day.encode()).hexdigest()[:8], 16) % 10_000 < fraction * 10_000


raw = pl.read_csv("data/raw/weather.csv", try_parse_dates=True).sort("date")
day = raw["date"].dt.ordinal_day().cast(pl.Float64)
angle = day * (2 * math.pi / 365.25)
frame = raw.with_columns(
    doy_sin=angle.sin(),
    doy_cos=angle.cos(),
    month=pl.col("date").dt.month().cast(pl.Int64),
    temp_range=pl.col("temp_max") - pl.col("temp_min"),
    # yesterday's values; the first day has no yesterday and repeats itself
    precipitation_prev=pl.col("precipitation").shift(1).fill_null(pl.col("precipitation")),
    temp_max_prev=pl.col("temp_max").shift(1).fill_null(pl.col("temp_max")),
    temp_min_prev=pl.col("temp_min").shift(1).fill_null(pl.col("temp_min")),
    wind_prev=pl.col("wind").shift(1).fill_null(pl.col("wind")),
)
fraction = float(params["test_fraction"])
hold = pl.Series("hold", [held_out(d.isoformat(), fraction) for d in frame["date"]], dtype=pl.Boolean)
train, test = frame.filter(~hold), frame.filter(hold)

traffic_rows = 0
if params.get("traffic", True) and os.path.exists("data/raw/traffic.csv"):
    traffic = pl.read_csv("data/raw/traffic.csv", schema_overrides={c: pl.Float64 for c in FEATURES})
    traffic = traffic.select(FEATURES + [TARGET]).with_columns(pl.col(TARGET).cast(pl.String)).drop_nulls()
    # the same day asked about by several callers is one observation; a request that repeats a
    # held-out day (features and label) is not trained on, or the hold-out would leak into training
    traffic = traffic.unique(maintain_order=True).join(
        test.select(FEATURES + [TARGET]), on=FEATURES + [TARGET], how="anti"
    )
    traffic_rows = len(traffic)
    # requests carry only the model's inputs: the engineered columns stay empty for these rows
    train = pl.concat([train, traffic], how="diagonal_relaxed")

os.makedirs("data/prepared", exist_ok=True)
train.write_csv("data/prepared/train.csv")
test.write_csv("data/prepared/test.csv")
print(
    f"prepared {len(frame)} days: {len(frame) - len(test)} for training (+{traffic_rows} labelled requests), "
    f"{len(test)} held out"
)
