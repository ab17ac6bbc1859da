"""The penguins example's pipeline: prepare (an in-process `call:` stage), train and evaluate (commands)."""

FEATURES = ["species", "island", "sex", "bill_length_mm", "bill_depth_mm", "flipper_length_mm"]
"""What a prediction request carries; the model learns them (its `feature_names_in_`), flowtide serves them."""
NUMERIC = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm"]
CATEGORICAL = ["species", "island", "sex"]
TARGET = "body_mass_g"
