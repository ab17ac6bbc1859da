"""Stage `evaluate`: accuracy and macro F1 on the held-out days, plus plots.

Macro F1 averages over the classes that occur in the hold-out or are predicted
(scikit-learn's definition): a class the model knows but that neither happened nor
was predicted on those days says nothing about this model, so it does not count as 0.

Reads models/model.skops and data/prepared/test.csv; writes metrics.json,
plots/confusion.csv (count per actual, predicted class) and plots/per_class.csv.
"""

import json
import os

import polars as pl
import skops.io
import yaml_params
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

features = list(yaml_params.load("train")["features"])
test = pl.read_csv("data/prepared/test.csv")
# the file was just written by our own train stage; anything loaded from elsewhere goes through
# flowtide.formats.load_model, which checks the hash against the registry and the trusted types
model = skops.io.load("models/model.skops", trusted=skops.io.get_untrusted_types(file="models/model.skops"))
y_true = test["weather"].to_list()
y_pred = model.predict(test.select(features).to_numpy()).tolist()
judged = sorted(set(y_true) | set(y_pred))
labels = sorted(set(judged) | set(model.classes_.tolist()))  # every class, for the plots
metrics = {
    "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
    "f1_macro": round(float(f1_score(y_true, y_pred, average="macro", labels=judged, zero_division=0)), 4),
    "test_days": len(y_true),
}
with open("metrics.json", "w") as handle:
    json.dump(metrics, handle, indent=2, sort_keys=True)
    handle.write("\n")
os.makedirs("plots", exist_ok=True)
matrix = confusion_matrix(y_true, y_pred, labels=labels)
with open("plots/confusion.csv", "w") as handle:  # long format: one row per (actual, predicted) pair
    handle.write("actual,predicted,count\n")
    for label, row in zip(labels, matrix, strict=True):
        for predicted, count in zip(labels, row, strict=True):
            handle.write(f"{label},{predicted},{int(count)}\n")
precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
with open("plots/per_class.csv", "w") as handle:
    handle.write("class,precision,recall,f1\n")
    for row in zip(labels, precision, recall, f1, strict=True):
        handle.write(f"{row[0]},{row[1]:.4f},{row[2]:.4f},{row[3]:.4f}\n")
print(json.dumps(metrics))
