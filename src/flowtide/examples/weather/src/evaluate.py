"""Stage `evaluate`: accuracy and macro F1 on the held-out days, a naive baseline's, plus plots.

Macro F1 averages over the classes that occur in the hold-out or are predicted
(scikit-learn's definition): a class the model knows but that neither happened nor
was predicted on those days says nothing about this model, so it does not count as 0.

The baseline answers every day with the commonest class of the training data (rain
in early 2012, sun later); baseline_accuracy and baseline_f1_macro are its scores on
the same days, so a gate can ask the model to beat it (`f1_macro >= baseline_f1_macro
+ 0.05`). Accuracy alone cannot tell the two apart on a rainy spring's hold-out.

Reads models/model.skops, data/prepared/train.csv and data/prepared/test.csv; writes
metrics.json, plots/confusion.csv (count per actual, predicted class) and plots/per_class.csv.
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
labels = sorted(set(y_true) | set(y_pred) | set(model.classes_.tolist()))  # every class, for the plots
trained_on = pl.read_csv("data/prepared/train.csv").drop_nulls(features + ["weather"])["weather"]
commonest = trained_on.value_counts(sort=True)["weather"][0]


def scores(predicted: list[str]) -> tuple[float, float]:
    judged = sorted(set(y_true) | set(predicted))
    accuracy = accuracy_score(y_true, predicted)
    f1_macro = f1_score(y_true, predicted, average="macro", labels=judged, zero_division=0)
    return round(float(accuracy), 4), round(float(f1_macro), 4)


accuracy, f1_macro = scores(y_pred)
baseline_accuracy, baseline_f1_macro = scores([commonest] * len(y_true))
metrics = {
    "accuracy": accuracy,
    "f1_macro": f1_macro,
    "baseline_accuracy": baseline_accuracy,
    "baseline_f1_macro": baseline_f1_macro,
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
