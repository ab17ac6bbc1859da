"""The canary's statistics: is the canary worse than production, by how much, with what confidence.

Accuracy (a classifier) is compared with Newcombe's hybrid score interval,
mean absolute error (a regressor) with Welch's t interval; both give one-sided
(1 - alpha) bounds of how much worse the canary is, and a verdict against a margin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Comparison:
    """How much worse the canary is than production, with one-sided (1 - alpha) confidence bounds.

    ``worse_by`` is production - canary accuracy for a classifier and canary -
    production mean absolute error for a regressor: positive means the canary is
    worse. ``lower`` and ``upper`` are one-sided (1 - alpha) bounds of it (together
    a two-sided 1 - 2 alpha interval); ``margin`` is absolute, in the same unit.
    """

    metric: str  # "accuracy" or "mean absolute error"
    canary: float
    production: float
    worse_by: float
    lower: float
    upper: float
    margin: float
    alpha: float
    method: str

    @property
    def verdict(self) -> str:
        """rollback when the canary is significantly worse; promote when it is shown not worse by more than the
        margin; wait otherwise. Significantly worse wins: a canary is never promoted on evidence that it is worse."""
        if self.lower > 0:
            return "rollback"
        if self.upper < self.margin:
            return "promote"
        return "wait"


def _wilson(successes: int, n: int, z: float) -> tuple[float, float]:
    """Wilson score interval of a proportion (the building block of Newcombe's interval)."""
    p = successes / n
    denominator = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, center - half), min(1.0, center + half)


def accuracy_bounds(
    correct_production: int, n_production: int, correct_canary: int, n_canary: int, alpha: float
) -> tuple[float, float]:
    """One-sided (1 - alpha) lower and upper bounds of production - canary accuracy.

    Newcombe's hybrid score interval for a difference of independent proportions
    (Newcombe 1998, method 10; statsmodels ``confint_proportions_2indep(method="newcomb")``)
    with z = z(1 - alpha) on each side. Unlike the Wald interval it keeps its
    coverage near 0 and 1 and for unequal sample sizes.
    """
    from statistics import NormalDist

    z = NormalDist().inv_cdf(1 - alpha)
    p1, p2 = correct_production / n_production, correct_canary / n_canary
    l1, u1 = _wilson(correct_production, n_production, z)
    l2, u2 = _wilson(correct_canary, n_canary, z)
    difference = p1 - p2
    lower = difference - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    upper = difference + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return lower, upper


def compare_accuracy(
    correct_production: int, n_production: int, correct_canary: int, n_canary: int, *, margin: float, alpha: float
) -> Comparison:
    lower, upper = accuracy_bounds(correct_production, n_production, correct_canary, n_canary, alpha)
    production, canary = correct_production / n_production, correct_canary / n_canary
    return Comparison(
        "accuracy", canary, production, production - canary, lower, upper, margin, alpha, "Newcombe hybrid score"
    )


def compare_errors(
    production_errors: list[float], canary_errors: list[float], *, margin: float, alpha: float
) -> Comparison:
    """Canary - production mean absolute error with Welch's t bounds; ``margin`` is a fraction of production's MAE."""
    from scipy import stats

    def moments(values: list[float]) -> tuple[float, float]:
        mean = math.fsum(values) / len(values)
        return mean, math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)

    (mp, vp), (mc, vc) = moments(production_errors), moments(canary_errors)
    n_p, n_c = len(production_errors), len(canary_errors)
    se2 = vp / n_p + vc / n_c
    worse_by = mc - mp
    if se2 > 0:
        df = se2**2 / ((vp / n_p) ** 2 / (n_p - 1) + (vc / n_c) ** 2 / (n_c - 1))  # Welch-Satterthwaite
        half = float(stats.t.ppf(1 - alpha, df)) * math.sqrt(se2)
    else:
        half = 0.0
    return Comparison(
        "mean absolute error", mc, mp, worse_by, worse_by - half, worse_by + half, margin * mp, alpha, "Welch t"
    )
