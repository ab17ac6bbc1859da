"""Stage `train`: fit a scikit-learn classifier on the prepared features, save it with skops.

Reads data/prepared/train.csv, writes models/model.skops.
Params (params.yaml `train:`): model, n_estimators, max_depth, min_samples_leaf, learning_rate,
balanced, seed, features. Rows missing a chosen feature (labelled requests carry only the
request's columns) are left out.
"""

import os

import polars as pl
import skops.io
import yaml_params
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

params = yaml_params.load("train")
features = list(params["features"])
train = pl.read_csv("data/prepared/train.csv").drop_nulls(features + ["weather"])
X, y = train.select(features).to_numpy(), train["weather"].to_numpy()
if params["model"] == "random_forest":
    model = RandomForestClassifier(
        n_estimators=int(params["n_estimators"]),
        max_depth=params["max_depth"],
        # leaves of at least this many days: smoother boundaries that hold from one month's data to the next
        min_samples_leaf=int(params.get("min_samples_leaf", 1)),
        class_weight="balanced_subsample" if params.get("balanced") else None,
        random_state=int(params["seed"]),
        n_jobs=1,
    )
elif params["model"] == "hist_gradient_boosting":
    model = HistGradientBoostingClassifier(
        max_depth=params["max_depth"],
        learning_rate=float(params.get("learning_rate", 0.1)),
        random_state=int(params["seed"]),
    )
else:
    raise SystemExit(
        f"params.yaml train.model: unknown model {params['model']!r} (random_forest, hist_gradient_boosting)"
    )
model.fit(X, y)
os.makedirs("models", exist_ok=True)
tmp = "models/.model.skops.tmp"
skops.io.dump(model, tmp)
os.replace(tmp, "models/model.skops")
print(f"trained {type(model).__name__} on {len(train)} rows, features: {', '.join(features)}")
