"""Drift statistics: shifted data is flagged, same-distribution resamples are not (seeded), nominal false-positive rate."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from flowtide.checks.drift import (
    DEFAULT_THRESHOLDS,
    chi2_pvalue,
    compare,
    js_distance,
    ks_pvalue,
    profile_values,
    psi,
)


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(7)


NUMERIC_METHODS = ["psi", "ks", "wasserstein"]
CATEGORICAL_METHODS = ["psi", "chi2", "js"]


@pytest.mark.parametrize("method", NUMERIC_METHODS)
def test_numeric_shift_is_flagged_and_resample_is_not(method):
    rng = np.random.default_rng(1)
    reference = profile_values(rng.normal(10, 2, 20_000))
    same = compare(reference, rng.normal(10, 2, 5_000), method, column="x")
    moved = compare(reference, rng.normal(11.5, 2, 5_000), method, column="x")
    assert not same.drifted, same.describe()
    assert moved.drifted, moved.describe()
    assert moved.threshold == DEFAULT_THRESHOLDS[method]
    assert moved.kind == ("p-value" if method == "ks" else "distance")


@pytest.mark.parametrize("method", CATEGORICAL_METHODS)
def test_categorical_shift_is_flagged_and_resample_is_not(method):
    rng = np.random.default_rng(2)
    labels = np.array(["sun", "rain", "fog", "snow"])
    reference = profile_values(pl.Series("w", rng.choice(labels, 20_000, p=[0.5, 0.3, 0.15, 0.05])))
    same = compare(reference, pl.Series("w", rng.choice(labels, 5_000, p=[0.5, 0.3, 0.15, 0.05])), method)
    moved = compare(reference, pl.Series("w", rng.choice(labels, 5_000, p=[0.2, 0.6, 0.15, 0.05])), method)
    assert not same.drifted, same.describe()
    assert moved.drifted, moved.describe()


def test_values_may_be_numpy_polars_or_lists_with_nulls():
    reference = profile_values(pl.Series([1.0, 2.0, 3.0, None, 4.0] * 100))
    assert reference["nulls"] == 100 and reference["n"] == 400
    for values in (
        [1.0, 2.0, 3.0, 4.0] * 50,
        np.array([1.0, 2.0, 3.0, 4.0, np.nan] * 50),
        pl.Series([1, 2, 3, 4, None] * 50),
    ):
        result = compare(reference, values, "ks")
        assert result.statistic == pytest.approx(1.0) and not result.drifted
    cats = profile_values(["a", "b", None, "a"])
    assert cats == {"kind": "categorical", "n": 3, "nulls": 1, "counts": {"a": 2, "b": 1}, "other": 0}


def test_new_categories_are_named_and_count_as_drift():
    reference = profile_values(pl.Series(["a", "b"] * 500))
    result = compare(reference, pl.Series(["a", "b", "hail"] * 300), "chi2")
    assert result.drifted and result.note == "new categories: hail"


def test_describe_says_statistic_threshold_and_verdict():
    reference = profile_values(np.arange(1000.0))
    result = compare(reference, np.arange(1000.0) + 500, "psi", 0.2)
    assert result.describe().startswith("PSI ") and result.describe().endswith("> 0.2: drift")
    assert compare(reference, np.arange(1000.0), "ks").describe() == "KS p-value 1 >= 0.05: no drift"


def test_false_positive_rate_of_the_tests_is_near_nominal():
    """200 same-distribution pairs: KS and chi-squared at alpha 0.05 flag about 5%, PSI/JS/Wasserstein ~never."""
    rng = np.random.default_rng(11)
    flagged = dict.fromkeys(["ks", "chi2", "psi", "wasserstein", "js"], 0)
    pairs = 200
    labels = np.array(list("abcdef"))
    p = np.array([0.3, 0.25, 0.2, 0.1, 0.1, 0.05])
    for _ in range(pairs):
        numeric = profile_values(rng.gamma(2.0, 3.0, 2_000))
        current = rng.gamma(2.0, 3.0, 2_000)
        for method in ("ks", "psi", "wasserstein"):
            flagged[method] += compare(numeric, current, method).drifted
        categorical = profile_values(pl.Series(rng.choice(labels, 2_000, p=p)))
        values = pl.Series(rng.choice(labels, 2_000, p=p))
        for method in ("chi2", "js"):
            flagged[method] += compare(categorical, values, method).drifted
    rates = {k: v / pairs for k, v in flagged.items()}
    assert rates["ks"] <= 0.08  # conservative: the reference CDF is evaluated on its quantile grid
    assert 0.02 <= rates["chi2"] <= 0.09
    assert rates["psi"] == rates["wasserstein"] == rates["js"] == 0.0


def test_statistics_on_plain_arrays():
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0.0
    assert math.isfinite(psi([1.0, 0.0], [0.0, 1.0]))  # empty bins get an epsilon
    assert js_distance([1, 0], [0, 1]) == pytest.approx(1.0)
    assert chi2_pvalue([50, 50], [50, 50]) == pytest.approx(1.0)
    assert chi2_pvalue([90, 10], [10, 90]) < 1e-10
    assert ks_pvalue(0.0, 100, 100) == 1.0
    assert ks_pvalue(0.5, 100, 100) < 1e-8


def test_wasserstein_is_in_reference_standard_deviations():
    rng = np.random.default_rng(3)
    reference = profile_values(rng.normal(0, 5, 50_000))
    result = compare(reference, rng.normal(2.5, 5, 50_000), "wasserstein")
    assert result.statistic == pytest.approx(0.5, abs=0.05)


def test_histogram_chart_shares_sum_to_one():
    reference = profile_values(np.linspace(0, 10, 1000))
    chart = compare(reference, np.linspace(5, 20, 1000), "psi").chart
    assert sum(chart["reference"]) == pytest.approx(1.0) and sum(chart["current"]) == pytest.approx(1.0)
    # shared bins span the reference and the bulk of the current values
    assert chart["edges"][0] == pytest.approx(0.0) and chart["edges"][-1] == pytest.approx(20.0, abs=0.05)
    assert chart["outside"] <= 2


def test_psi_uses_fewer_bins_for_few_rows_so_small_samples_do_not_false_alarm():
    rng = np.random.default_rng(5)
    reference = profile_values(rng.normal(0, 1, 1_500))
    flagged = sum(compare(reference, rng.normal(0, 1, 30), "psi").drifted for _ in range(200))
    assert flagged <= 10  # with 10 fixed bins, 169 of these 200 would exceed 0.2
    result = compare(reference, rng.normal(0, 1, 30), "psi")
    assert result.note == "PSI over 2 quantile bins for 30 rows"  # not the chart's bins
    assert compare(reference, rng.normal(3, 1, 30), "psi").drifted


# --- the sorted fast path equals the computation it replaced ---------------------


def _unsorted_reference(ref: dict, values) -> dict:
    """The statistics as computed before the values were sorted: every value searched in the grid,
    np.quantile, a bin index per value (kept here verbatim as the oracle)."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    grid, m = np.asarray(ref["grid"]), x.size
    idx = np.searchsorted(grid, x, side="left")
    cur_cdf = np.cumsum(np.bincount(idx, minlength=grid.size + 1))[: grid.size] / m
    lo, hi = float(ref["min"]), float(ref["max"])
    q_lo, q_hi = np.quantile(x, [0.001, 0.999])
    lo, hi = min(lo, float(q_lo)), max(hi, float(q_hi))
    edges = np.linspace(lo, hi, 25) if hi > lo else np.array([lo - 0.5, hi + 0.5])
    width = (edges[-1] - edges[0]) / (edges.size - 1)
    bins = np.clip(np.floor((x - edges[0]) / width).astype(np.int64), 0, edges.size - 2)
    counts = np.bincount(bins, minlength=edges.size - 1)
    return {
        "cur_cdf": cur_cdf,
        "edges": edges.tolist(),
        "current": (counts / max(counts.sum(), 1)).tolist(),
        "outside": int(np.sum((x < edges[0]) | (x > edges[-1]))),
        "outside_reference": int(np.sum((x < float(ref["min"])) | (x > float(ref["max"])))),
        "below": float(np.sum(grid[0] - x[x < grid[0]])),
        "above": float(np.sum(x[x > grid[-1]] - grid[-1])),
    }


@pytest.mark.parametrize("seed", range(6))
def test_sorted_fast_path_equals_the_unsorted_computation(seed):
    from flowtide.checks import drift as module

    rng = np.random.default_rng(seed)
    reference_values = np.round(rng.gamma(2.0, 3.0, 4_000), 1)  # ties on the grid
    current = np.round(rng.gamma(2.0, 3.6, 3_001 + seed), 1)
    current[::97] = np.nan
    current[5] = 1e6  # far beyond the reference: a tail and the chart's range
    ref = profile_values(reference_values)
    old = _unsorted_reference(ref, current)
    x = module.sorted_numbers(pl.Series(current).fill_nan(None) if seed % 2 else current.tolist())
    assert np.array_equal(np.searchsorted(x, np.asarray(ref["grid"]), side="right") / x.size, old["cur_cdf"])
    chart = module._numeric_chart(ref, x)
    for key in ("edges", "current", "outside", "outside_reference"):
        assert chart[key] == old[key], key
    assert [module._quantile_sorted(x, q) for q in (0.001, 0.5, 0.999)] == np.quantile(x, [0.001, 0.5, 0.999]).tolist()
    grid = np.asarray(ref["grid"])
    ref_cdf = np.asarray(ref["cdf"])
    inner = float(np.sum(np.abs(ref_cdf[:-1] - old["cur_cdf"][:-1]) * np.diff(grid)))
    expected = (inner + (old["below"] + old["above"]) / x.size) / ref["std"]
    assert compare(ref, current, "wasserstein").statistic == pytest.approx(expected, rel=1e-12)
    # the statistics themselves: KS from the CDFs, PSI from the quantile bins
    d = float(np.max(np.abs(ref_cdf - old["cur_cdf"])))
    assert compare(ref, current, "ks").statistic == ks_pvalue(d, ref["n"], x.size)
    assert compare(ref, current, "ks").chart["ks_statistic"] == d


def test_profile_histogram_equals_a_bin_index_per_value():
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.normal(0, 1, 5_000), [np.nan, -40.0, 40.0]])
    profile = profile_values(values)
    x = values[~np.isnan(values)]
    edges = np.asarray(profile["hist_edges"])
    width = (edges[-1] - edges[0]) / (edges.size - 1)
    bins = np.clip(np.floor((x - edges[0]) / width).astype(np.int64), 0, edges.size - 2)
    assert profile["hist_counts"] == np.bincount(bins, minlength=edges.size - 1).tolist()
    assert profile["n"] == 5_002 and profile["nulls"] == 1


@pytest.mark.parametrize("n", [1, 2, 3, 7, 999, 1000, 1001, 4_321])
def test_profile_grid_equals_numpy_inverted_cdf_quantiles(n):
    from flowtide.checks import drift as module

    rng = np.random.default_rng(n)
    x = np.sort(np.round(rng.normal(0, 1, n), 2))
    levels = np.linspace(0.0, 1.0, module.GRID_POINTS + 1)
    expected = np.quantile(x, levels, method="inverted_cdf")
    assert np.array_equal(module._inverted_cdf_sorted(x, levels), expected)
    assert profile_values(x)["grid"] == np.unique(expected).tolist()


def test_profile_moments_equal_numpys():
    x = np.sort(np.random.default_rng(11).gamma(2.0, 3.0, 10_001))  # the profile sums the sorted values
    profile = profile_values(x)
    centred = x - x.mean()
    assert profile["mean"] == float(x.mean())
    assert profile["std"] == float(x.std(ddof=1))
    assert profile["kurtosis"] == pytest.approx(float((centred**4).mean() / (centred**2).mean() ** 2), rel=1e-13)
    assert profile_values(np.array([2.0, 2.0]))["kurtosis"] == 3.0 and profile_values(np.array([5.0]))["std"] == 0.0


@pytest.mark.parametrize("seed", range(4))
def test_polars_sort_gives_numpys_sorted_numbers(seed):
    """A polars Series is sorted by polars: the same numbers as numpy's sort, NaN/nulls dropped, ±inf kept."""
    from flowtide.checks.drift import sorted_numbers

    rng = np.random.default_rng(seed)
    values = np.round(rng.normal(0, 3, 20_000), 1)
    values[rng.integers(0, values.size, 300)] = np.nan
    values[rng.integers(0, values.size, 20)] = np.inf
    values[rng.integers(0, values.size, 20)] = -np.inf
    values[rng.integers(0, values.size, 50)] = -0.0
    expected = np.sort(values)
    expected = expected[~np.isnan(expected)]
    halves = [pl.Series(values[:7_000]), pl.Series(values[7_000:])]
    series = pl.concat(halves, rechunk=False)  # several chunks
    assert series.n_chunks() == 2
    with_nulls = series.to_frame("v").with_columns(
        pl.when(pl.int_range(pl.len()) % 11 == 0).then(None).otherwise("v").alias("v")
    )["v"]
    kept = values[np.arange(values.size) % 11 != 0]
    for given, want in ((series, expected), (with_nulls, np.sort(kept[~np.isnan(kept)]))):
        got = sorted_numbers(given)
        assert got.dtype == np.float64 and got.size == want.size
        assert np.array_equal(got, want)
    ints = pl.Series(rng.integers(-50, 50, 5_000))
    assert np.array_equal(sorted_numbers(ints), np.sort(ints.to_numpy()).astype(float))
    days = pl.Series([3, 1, None, 2]).cast(pl.Date)
    assert sorted_numbers(days).tolist() == [1.0, 2.0, 3.0]
