"""The monitor's drift decision: per-method defaults, error control across columns and runs, not judged below
min_window, the tests' power on known changes, and river's ADWIN as an optional method."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from flowtide.checks.drift import DEFAULT_THRESHOLDS, profile_values
from flowtide.config.schema import Monitor, MonitorDrift
from flowtide.errors import UsageError
from flowtide.monitor.decision import Policy, adwin_error_change, decide, detectable_shift, runs_per_period

REF = 2000


def reference(rng, columns: int = 1) -> dict:
    return {f"x{i}": profile_values(rng.normal(size=REF)) for i in range(columns)}


def test_the_defaults_are_tests_with_a_stated_rate_and_each_distance_keeps_its_own_threshold():
    drift = MonitorDrift()
    assert (drift.method, drift.threshold, drift.alpha, drift.period.text, drift.correction) == (
        "tests",
        None,
        0.05,
        "30d",
        "holm",
    )
    assert (drift.min_window, drift.max_window) == (500, 2000)
    policy = Policy.of(None, Monitor().schedule)
    assert policy.runs_per_period == 720  # hourly runs in 30 days
    assert policy.alpha_per_run == pytest.approx(0.05 / 720)
    assert policy.statement(12) == (
        "0.05 per 30d over 720 runs of monitor.schedule '0 * * * *' = 6.9e-05 per run, Holm over 12 tests: "
        "at most 5% of 30d periods without a change trigger a retrain"
    )
    assert DEFAULT_THRESHOLDS == {"psi": 0.2, "ks": 0.05, "wasserstein": 0.1, "chi2": 0.05, "js": 0.1}
    for method in ("psi", "wasserstein", "js"):
        text = Policy(method=method).statement(0)
        assert text.startswith(f"{method} > {DEFAULT_THRESHOLDS[method]:g} per window")
        assert "no stated false-alarm rate" in text
    rng = np.random.default_rng(3)
    ref = reference(rng)
    moved = decide(ref, {"x0": rng.normal(0.3, 1, 1000)}, Policy(method="wasserstein"))
    assert moved.columns[0].bound == DEFAULT_THRESHOLDS["wasserstein"]
    assert Policy(method="psi", threshold=0.3).statement(0).startswith("psi > 0.3 per window")


def test_runs_per_period_come_from_the_schedule():
    assert runs_per_period("0 * * * *", 30 * 86400) == 720
    assert runs_per_period("*/15 * * * *", 7 * 86400) == 672
    assert runs_per_period("0 6 * * *", 30 * 86400) == 30
    assert runs_per_period("0 6 * * 1", 30 * 86400) == pytest.approx(30 / 7)


@pytest.mark.parametrize("correction", ["holm", "bh"])
def test_a_planted_ten_column_no_change_table_alarms_at_most_at_the_stated_rate(correction):
    rng = np.random.default_rng(11)
    ref = reference(rng, 10)
    policy = Policy(alpha=0.1, runs_per_period=1, correction=correction)  # 0.1 per run: measurable in 300 seeds
    seeds = 300
    alarms = sum(
        bool(decide(ref, {c: rng.normal(size=700) for c in ref}, policy, effects=False).drifting) for _ in range(seeds)
    )
    rate = alarms / seeds
    # 10 columns x 9 tests each; the window rungs overlap, so the family-wise rate is at most alpha
    assert rate <= 0.1 + 3 * (0.1 * 0.9 / seeds) ** 0.5, rate
    assert rate >= 0.02, rate  # not vacuous: the tests do spend the budget
    uncorrected = Policy(alpha=0.1, runs_per_period=1, correction="none")
    loose = sum(
        bool(decide(ref, {c: rng.normal(size=700) for c in ref}, uncorrected, effects=False).drifting)
        for _ in range(100)
    )
    assert loose / 100 > 0.6  # what Holm / BH protect against: 90 tests at 0.1 each


def test_the_budget_is_spent_over_runs():
    rng = np.random.default_rng(5)
    ref = reference(rng)
    noise = rng.normal(size=2000)
    noise = (noise - noise.mean()) / noise.std()
    profile = ref["x0"]
    shifted = {"x0": profile["mean"] + profile["std"] * (noise + 0.11)}  # z = 3.5 on the 2,000-row rung
    assert decide(ref, shifted, Policy(alpha=0.05, runs_per_period=1)).drifting == ["x0"]
    hourly = decide(ref, shifted, Policy(alpha=0.05, runs_per_period=720))
    assert hourly.drifting == []  # 6.9e-05 per run is a higher bar
    assert hourly.columns[0].bound == pytest.approx(0.05 / 720)


def test_fewer_rows_than_min_window_are_not_judged_and_say_what_they_could_detect():
    rng = np.random.default_rng(9)
    ref = reference(rng)
    decision = decide(ref, {"x0": rng.normal(3.0, 1, 80)}, Policy())  # a huge shift, but 80 rows
    (column,) = decision.columns
    assert column.status == "not judged" and not decision.judged and decision.drifting == []
    assert column.detectable == pytest.approx(detectable_shift(REF, 80, Policy(), 3))
    assert 0.5 < column.detectable < 1.0
    assert column.describe().startswith("not judged: detectable mean shift 0.")
    judged = decide(ref, {"x0": rng.normal(0.0, 1, 2000)}, Policy()).columns[0]
    assert judged.status == "no drift" and judged.detectable < 0.2


@pytest.mark.parametrize(
    ("change", "test"),
    [("mean", "mean"), ("variance", "scale"), ("shape", "ks")],
)
def test_each_kind_of_change_is_caught_by_its_test(change, test):
    rng = np.random.default_rng(21)
    ref = reference(rng)
    if change == "mean":
        live = rng.normal(0.5, 1, 600)
    elif change == "variance":
        live = rng.normal(0, 1.5**0.5, 2000)
    else:  # same mean and variance, two bumps: only the distribution's shape moved
        live = rng.choice([-1.0, 1.0], 2000) + rng.normal(0, 0.05, 2000)
    (column,) = decide(ref, {"x0": live}, Policy()).columns
    assert column.status == "drift", column.describe()
    assert test in {t.name for t in column.tests if t.rejected}, column.describe()
    assert column.effects["PSI"] > 0


def test_a_category_share_is_tested_by_chi_squared():
    rng = np.random.default_rng(4)
    labels = np.array(list("ABCDE"))
    ref = {"c": profile_values(list(rng.choice(labels, REF)), "categorical")}
    same = decide(ref, {"c": list(rng.choice(labels, 2000))}, Policy())
    moved = decide(ref, {"c": list(rng.choice(labels, 2000, p=[0.4, 0.15, 0.15, 0.15, 0.15]))}, Policy())
    assert same.drifting == [] and moved.drifting == ["c"]
    assert {t.name for t in moved.columns[0].tests} == {"chi2"}


def test_adwin_finds_a_mean_shift_and_says_how_to_install_river_when_missing(monkeypatch):
    pytest.importorskip("river")
    rng = np.random.default_rng(8)
    ref = reference(rng)
    stream = np.concatenate([rng.normal(0, 1, 600), rng.normal(1.0, 1, 400)])
    moved = decide(ref, {"x0": stream}, Policy(method="adwin"))
    assert moved.drifting == ["x0"]
    assert moved.columns[0].effects["change detected at row"] > 600
    assert decide(ref, {"x0": rng.normal(0, 1, 1000)}, Policy(method="adwin")).drifting == []
    monkeypatch.setitem(sys.modules, "river", None)
    monkeypatch.setitem(sys.modules, "river.drift", None)
    with pytest.raises(UsageError) as raised:
        decide(ref, {"x0": stream}, Policy(method="adwin"))
    assert raised.value.hint == "pip install 'flowtide[river]'"


def test_adwin_watches_the_live_error_rate():
    pytest.importorskip("river")
    rng = np.random.default_rng(12)
    errors = list((rng.random(800) < 0.1).astype(float)) + list((rng.random(600) < 0.4).astype(float))
    at, before, after = adwin_error_change(errors)
    assert 800 <= at < 1100
    assert before == pytest.approx(0.1, abs=0.04) and after > 0.25
    assert adwin_error_change(list((rng.random(1500) < 0.1).astype(float))) is None


def test_an_explicit_p_value_bound_for_ks_replaces_the_budget_and_says_so():
    policy = Policy(method="ks", threshold=0.001)
    assert policy.alpha_per_run == 0.001 and not policy.stated
    assert policy.statement(2) == (
        "ks p < 0.001 per test (monitor.drift.threshold), uncorrected over 2 tests: no stated rate for the decision "
        "(drop threshold for one)"
    )
    rng = np.random.default_rng(2)
    ref = reference(rng, 2)
    decision = decide(ref, {c: rng.normal(0.3, 1, 600) for c in ref}, policy)
    assert [t.name for c in decision.columns for t in c.tests] == ["ks", "ks"]
    assert decision.drifting == ["x0", "x1"]
    assert Policy(method="ks").alpha_per_run == pytest.approx(0.05 / 720)  # unset: the budget
