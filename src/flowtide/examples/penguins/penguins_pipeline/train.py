"""Stage `train`: a ridge regression of body mass on the birds' measures, saved with skops.

Reads data/prepared/train.parquet, writes models/model.skops. Params (params.yaml `train:`): alpha.
The model is a scikit-learn pipeline fitted on a DataFrame: it imputes missing measures (median)
and sex (most frequent), one-hot encodes species, island and sex, and remembers its input
columns (`feature_names_in_`), which is what `flowtide serve` takes as the request schema.
"""

import os

import polars as pl
import skops.io
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from . import CATEGORICAL, FEATURES, NUMERIC, TARGET, params

config = params.load("train")
train = pl.read_parquet("data/prepared/train.parquet")
columns = ColumnTransformer(
    [
        ("measures", SimpleImputer(strategy="median"), NUMERIC),
        (
            "kinds",
            make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")),
            CATEGORICAL,
        ),
    ]
)
model = make_pipeline(columns, Ridge(alpha=float(config["alpha"])))
model.fit(train.select(FEATURES), train[TARGET].to_numpy())
os.makedirs("models", exist_ok=True)
tmp = "models/.model.skops.tmp"
skops.io.dump(model, tmp)
os.replace(tmp, "models/model.skops")
print(f"trained a ridge regression on {len(train)} birds, inputs: {', '.join(model.feature_names_in_)}")
