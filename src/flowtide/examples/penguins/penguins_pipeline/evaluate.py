"""Stage `evaluate`: errors on the held-out birds against a naive baseline, and a residuals plot.

Reads models/model.skops, data/prepared/train.parquet (for the baseline: the training mean) and
data/prepared/test.parquet; writes metrics.json (rmse, mae, r2, baseline_rmse, test_rows) and
plots/residuals.csv (actual, predicted per held-out bird).
"""

import json
import math
import os

import polars as pl
import skops.io

from . import FEATURES, TARGET

test = pl.read_parquet("data/prepared/test.parquet")
train = pl.read_parquet("data/prepared/train.parquet")
# the file was just written by our own train stage; anything loaded from elsewhere goes through
# flowtide.formats.load_model, which checks the hash against the registry and the trusted types
model = skops.io.load("models/model.skops", trusted=skops.io.get_untrusted_types(file="models/model.skops"))
actual = test[TARGET].cast(pl.Float64).to_list()
predicted = [float(p) for p in model.predict(test.select(FEATURES))]
errors = [p - a for p, a in zip(predicted, actual, strict=True)]
mean_train = float(train[TARGET].mean())
mean_test = sum(actual) / len(actual)
sse = sum(e * e for e in errors)
metrics = {
    "rmse": round(math.sqrt(sse / len(errors)), 2),
    "mae": round(sum(abs(e) for e in errors) / len(errors), 2),
    "r2": round(1 - sse / sum((a - mean_test) ** 2 for a in actual), 4),
    # the naive model: every bird weighs the training mean
    "baseline_rmse": round(math.sqrt(sum((a - mean_train) ** 2 for a in actual) / len(actual)), 2),
    "test_rows": len(actual),
}
with open("metrics.json", "w") as handle:
    json.dump(metrics, handle, indent=2, sort_keys=True)
    handle.write("\n")
os.makedirs("plots", exist_ok=True)
with open("plots/residuals.csv", "w") as handle:
    handle.write("actual,predicted\n")
    for a, p in zip(actual, predicted, strict=True):
        handle.write(f"{a:.0f},{p:.1f}\n")
print(json.dumps(metrics))
