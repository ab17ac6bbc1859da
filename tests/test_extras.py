"""The optional parts of flowtide: each extra in pyproject.toml is known to flowtide.extras, and a missing one
is a usage error (exit 2) whose hint is the exact `pip install 'flowtide[...]'` line."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from flowtide.errors import MissingExtra, UsageError
from flowtide.extras import EXTRAS, install_line, missing, require

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
NOT_FEATURES = {"dev", "bench", "all"}  # tools for working on flowtide, and the union of the rest


def _optional() -> dict[str, list[str]]:
    return tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]


def test_every_extra_is_known_and_all_installs_every_one():
    optional = _optional()
    assert set(optional) - NOT_FEATURES == set(EXTRAS)
    (everything,) = optional["all"]
    assert everything == f"flowtide[{','.join(EXTRAS)}]"
    # the development environment (make install: all,dev) has every optional module
    assert [(extra, missing(extra)) for extra in EXTRAS] == [(extra, []) for extra in EXTRAS]


def test_the_core_has_none_of_the_extras_libraries():
    core = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    names = {line.split(">")[0].split("=")[0].split("<")[0].strip().lower() for line in core}
    assert names == {
        "pydantic",
        "ruamel.yaml",
        "rich",
        "httpx",
        "fsspec",
        "blake3",
        "polars",
        "numpy",
        "scipy",
        "vl-convert-python",  # the charts of the HTML reports check, gate and monitor always write
        "croniter",
    }


def test_a_missing_extra_names_the_install_line():
    assert missing("s3", ["no_such_module_for_flowtide", "fsspec"]) == ["no_such_module_for_flowtide"]
    with pytest.raises(MissingExtra) as caught:
        require("s3", "remote store s3://bucket/x", ["no_such_module_for_flowtide"])
    assert isinstance(caught.value, UsageError) and caught.value.exit_code == 2
    assert str(caught.value) == (
        "remote store s3://bucket/x needs no_such_module_for_flowtide, which is not installed\n"
        "Install it with: pip install 'flowtide[s3]'"
    )
    assert install_line("serve") == "pip install 'flowtide[serve]'"


def test_distribution_names_not_import_names(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "sklearn", None)  # as if scikit-learn were absent
    with pytest.raises(MissingExtra, match=r"needs scikit-learn, which is not installed"):
        require("sklearn", "model format skops (models/model.skops)")
