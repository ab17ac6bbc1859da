"""Model formats beyond the shared contract (tests/conformance/test_formats.py): skops's allow-list, the input schema."""

from __future__ import annotations

import os

import pytest

from flowtide.errors import ServeError
from flowtide.formats import input_schema, load_model
from flowtide.project import Project
from flowtide.registry import Registry, register

from ._models import CONFIG, FEATURES, make_project


def test_skops_refuses_types_outside_the_allow_list(tmp_path, weather_csv):
    import skops.io
    from sklearn.preprocessing import FunctionTransformer

    root = make_project(tmp_path, weather_csv)
    (root / "models").mkdir()
    (root / "models" / "model.skops").write_bytes(skops.io.dumps(FunctionTransformer(func=os.system)))
    project = Project.load(root)
    version = register(project)
    with pytest.raises(
        ServeError,
        match=r"^weather v1 \(models/model.skops\) contains types flowtide does not trust: posix.system; refusing to load it",
    ):
        load_model(project, version)


def test_input_schema_from_reference_checks(tmp_path, weather_csv):
    project = Project.load(make_project(tmp_path, weather_csv))
    schema = input_schema(project)
    assert list(schema) == FEATURES
    assert schema["wind"] == {"type": "float", "not_null": False, "min": 0, "max": 30, "in": None}


def test_input_schema_without_features_drops_the_target(tmp_path, weather_csv):
    config = CONFIG.replace("  features: [precipitation, temp_max, temp_min, wind]\n", "")
    project = Project.load(make_project(tmp_path, weather_csv, config))
    assert list(input_schema(project)) == ["date", *FEATURES]
    assert Registry.load(project).models() == []
