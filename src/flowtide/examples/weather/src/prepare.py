"""Stage `prepare`: features from the raw daily weather, split in time (the last days are the hold-out).

Reads data/raw/weather.csv, writes data/prepared/train.csv and data/prepared/test.csv.
Params (params.yaml `prepare:`): test_fraction.
"""

import math
import os

import polars as pl
import yaml_params

params = yaml_params.load("prepare")
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
cut = int(len(frame) * (1 - float(params["test_fraction"])))
os.makedirs("data/prepared", exist_ok=True)
frame[:cut].write_csv("data/prepared/train.csv")
frame[cut:].write_csv("data/prepared/test.csv")
print(f"prepared {len(frame)} days: {cut} for training, {len(frame) - cut} held out (from {frame['date'][cut]})")
