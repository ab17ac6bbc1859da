"""Model tests: behaviour the model must keep, run by `flowtide gate` (pytest -m model).

They load the freshly trained artifact (models/model.skops) the way `flowtide serve` does and
the held-out birds written by the prepare stage; they skip until the pipeline has run.
"""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEST_DATA = ROOT / "data" / "prepared" / "test.parquet"
BIRD = {
    "species": "Adelie",
    "island": "Dream",
    "sex": "female",
    "bill_length_mm": 38.0,
    "bill_depth_mm": 18.0,
    "flipper_length_mm": 188.0,
}


@pytest.fixture(scope="module")
def model():
    if not (ROOT / "models" / "model.skops").exists() or not TEST_DATA.exists():
        pytest.skip("no trained model yet: run `flowtide run` first")
    from flowtide.formats import load_path
    from flowtide.project import Project

    return load_path(Project.load(ROOT))


@pytest.mark.model
def test_the_inputs_are_the_birds_measures(model):
    assert sorted(model.features) == sorted(BIRD)


@pytest.mark.model
def test_gentoos_are_heavier_than_adelies(model):
    gentoo = {
        **BIRD,
        "species": "Gentoo",
        "island": "Biscoe",
        "bill_length_mm": 47.0,
        "bill_depth_mm": 15.0,
        "flipper_length_mm": 217.0,
    }
    adelie, heavy = model.predict([BIRD, gentoo])
    assert heavy - adelie >= 700, f"a typical Gentoo {heavy:.0f} g, a typical Adelie {adelie:.0f} g"


@pytest.mark.model
def test_longer_flippers_never_make_a_bird_lighter(model):
    masses = model.predict([{**BIRD, "flipper_length_mm": f} for f in (180.0, 190.0, 200.0, 210.0)])
    assert masses == sorted(masses), masses


@pytest.mark.model
def test_a_bird_of_unknown_sex_is_still_estimated(model):
    (mass,) = model.predict([{**BIRD, "sex": None}])
    assert 2500 <= mass <= 5000, mass
