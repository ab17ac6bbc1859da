"""How the monitor decides that a served version's inputs drifted: tests with a stated error rate per period.

The default (``monitor.drift.method: tests``) is built so that one sentence holds:
*with these settings, at most ``alpha`` of the periods in which nothing changed
trigger a retrain*. Three choices make it true:

1. **Tests, not distances.** A numeric column gets a Welch z-test of its mean, a
   test of its log-variance (kurtosis-adjusted, so it does not assume normal data)
   and a two-sample Kolmogorov–Smirnov test; a categorical column (and the
   predicted class) a chi-squared test of its counts. PSI, the mean shift in
   reference standard deviations, the sd ratio and the KS distance are reported
   as *effect sizes* beside the p-values; they never decide.
2. **Windows sized by power.** A version is judged on its most recent rows, on a
   ladder of windows: ``max_window`` (2,000) halved down to ``min_window / 4``
   (2,000, 1,000, 500, 250, 125). The mean is tested on every rung (the short
   ones react to a 1-sd shift within ~60 rows, the long ones find 0.25 sd), the
   variance and the categories on the rungs of at least ``min_window`` rows,
   KS on the longest. Fewer than ``min_window`` rows is *not judged*, never
   passed, and every finding states the smallest mean shift its longest window
   detects with 80 % power. The short rungs' mean test leans on the central
   limit theorem: on very skewed columns its tail is heavier than stated.
3. **Error control across columns and runs.** The monitor runs on
   ``monitor.schedule``; ``alpha`` per ``period`` is spent evenly over the runs the
   schedule makes in a period (Bonferroni over runs: ``alpha / runs`` per run,
   e.g. 0.05 / 720 hourly runs in 30 days). Within a run all tests of all columns
   form one family, corrected by Holm (family-wise error) or Benjamini–Hochberg
   (false discovery rate; under no change the two coincide). So no-change
   periods alarm with probability at most ``alpha`` (the union bound over runs
   is conservative: consecutive windows overlap, so real rates are lower).

``method: adwin`` runs river's ADWIN per column instead (primed with the
reference's quantiles, then fed the window in time order): quick on mean shifts,
blind to variance changes. The distances (``psi``, ``wasserstein``, ``js``) keep a
per-window threshold and say that their error rate is not stated; ``ks`` and
``chi2`` alone are tests and are corrected like the default.
``benchmarks/decisions.py`` measures all of this on streams with known changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config.schema import MonitorDrift

DISTANCE_METHODS = ("psi", "wasserstein", "js")
TEST_METHODS = ("tests", "ks", "chi2")
POWER = 0.8  # the power the minimum detectable shift is stated at
ADWIN_DELTA = 0.002  # river's default confidence of ADWIN
_PRIMING = 1000  # reference values (quantiles) ADWIN sees before the live window


@dataclass(frozen=True)
class Policy:
    """The resolved ``monitor.drift`` settings: what is tested, on how many rows, at what error rate."""

    method: str = "tests"
    threshold: float | None = None
    alpha: float = 0.05
    period: str = "30d"
    runs_per_period: float = 720.0
    schedule: str = "0 * * * *"
    correction: str = "holm"
    min_window: int = 500
    max_window: int = 2000

    @property
    def fixed(self) -> bool:
        """ks / chi2 with an explicit threshold: a p-value bound per test, instead of the alpha budget."""
        return self.threshold is not None and self.method in ("ks", "chi2")

    @property
    def alpha_per_run(self) -> float:
        if self.fixed:
            return float(self.threshold)  # type: ignore[arg-type]
        return self.alpha / max(1.0, self.runs_per_period)

    @property
    def stated(self) -> bool:
        """The decision has a stated false-alarm rate (tests under a correction)."""
        return self.method in TEST_METHODS and self.correction != "none" and not self.fixed

    @classmethod
    def of(cls, drift: MonitorDrift | None, schedule: str) -> Policy:
        from ..config.schema import MonitorDrift

        drift = drift or MonitorDrift()
        return cls(
            method=drift.method,
            threshold=drift.threshold,
            alpha=drift.alpha,
            period=drift.period.text,
            runs_per_period=runs_per_period(schedule, drift.period.seconds),
            schedule=schedule,
            correction=drift.correction,
            min_window=drift.min_window,
            max_window=max(drift.max_window, drift.min_window),
        )

    def statement(self, tests: int) -> str:
        """What the settings promise, with the numbers used."""
        if self.method in DISTANCE_METHODS:
            from ..checks.drift import DEFAULT_THRESHOLDS

            bound = self.threshold if self.threshold is not None else DEFAULT_THRESHOLDS[self.method]
            return (
                f"{self.method} > {bound:g} per window on the last {self.max_window} rows: an effect-size threshold "
                "with no stated false-alarm rate (method: tests states one)"
            )
        if self.method == "adwin":
            return f"river ADWIN (delta {ADWIN_DELTA}) per column: mean changes only; no stated rate per period"
        if self.fixed:
            return (
                f"{self.method} p < {self.threshold:g} per test (monitor.drift.threshold), uncorrected over {tests} "
                "tests: no stated rate for the decision (drop threshold for one)"
            )
        per_run = f"{self.alpha:g} per {self.period} over {self.runs_per_period:g} runs of monitor.schedule {self.schedule!r} = {self.alpha_per_run:.2g} per run"
        if self.correction == "none":
            return f"{per_run}, uncorrected over {tests} tests: no stated rate for the decision"
        how = "Holm" if self.correction == "holm" else "Benjamini–Hochberg"
        return (
            f"{per_run}, {how} over {tests} tests: at most {self.alpha:.0%} of {self.period} periods without a "
            "change trigger a retrain"
        )


def runs_per_period(schedule: str, seconds: float) -> float:
    """How many times ``schedule`` (cron) fires in ``seconds``, counted over at most a week and scaled."""
    from croniter import croniter

    span = min(seconds, 7 * 86400.0)
    start = 1_700_000_000.0  # a fixed Tuesday: the count does not depend on when the monitor runs
    it = croniter(schedule, start)
    fired = 0
    while fired < 20_000 and it.get_next(float) <= start + span:
        fired += 1
    if fired == 0:
        return 1.0
    return max(1.0, fired * seconds / span)


@dataclass
class Test:
    """One hypothesis test of one column on one window."""

    column: str
    name: str  # mean, scale, ks, chi2
    window: int
    statistic: float
    p_value: float
    adjusted: float = math.nan
    rejected: bool = False


@dataclass
class ColumnDecision:
    column: str
    kind: str  # numeric or categorical
    status: str  # drift, no drift, not judged
    rows: int
    tests: list[Test] = field(default_factory=list)
    effects: dict[str, float] = field(default_factory=dict)
    detectable: float | None = None
    """Smallest mean shift (reference sd) the longest window detects with 80 % power; numeric columns."""
    statistic: float = math.nan  # the decisive number: smallest adjusted p-value, or the distance
    bound: float = math.nan

    @property
    def drifted(self) -> bool:
        return self.status == "drift"

    def describe(self) -> str:
        parts = []
        if self.tests:
            best = min(self.tests, key=lambda t: t.adjusted)
            parts.append(
                f"{best.name} test on the last {best.window} rows: adjusted p {_num(best.adjusted)}"
                f" {'<=' if best.rejected else '>'} {_num(self.bound)}"
            )
        elif self.status != "not judged" and not math.isnan(self.statistic):
            parts.append(f"{_num(self.statistic)} {'>' if self.drifted else '<='} {_num(self.bound)}")
        effects = ", ".join(f"{k} {_num(v)}" for k, v in self.effects.items() if v == v)
        if effects:
            parts.append(effects)
        if self.detectable is not None:
            parts.append(f"detectable mean shift {self.detectable:.2g} sd at {self.window_rows} rows")
        head = "not judged" if self.status == "not judged" else self.status
        return f"{head}: " + "; ".join(parts) if parts else head

    @property
    def window_rows(self) -> int:
        return max((t.window for t in self.tests), default=self.rows)


@dataclass
class Decision:
    policy: Policy
    columns: list[ColumnDecision]
    tests: int

    @property
    def drifting(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    @property
    def judged(self) -> bool:
        return any(c.status != "not judged" for c in self.columns)

    def statement(self) -> str:
        return self.policy.statement(self.tests)


def _num(value: float) -> str:
    return f"{value:.3g}" if value == 0 or 1e-3 <= abs(value) < 1e4 else f"{value:.2e}"


# --- deciding ------------------------------------------------------------------------------


def decide(reference: dict[str, dict], values: dict[str, Any], policy: Policy, *, effects: bool = True) -> Decision:
    """Judge every column of ``values`` (its live values in time order, oldest first) against its profile.

    The one decision code the monitor and ``benchmarks/decisions.py`` share.
    """
    import numpy as np

    columns: list[ColumnDecision] = []
    tests: list[Test] = []
    for column, raw in values.items():
        profile = reference[column]
        numeric = profile["kind"] == "numeric"
        if numeric:
            x = np.asarray(raw, dtype=float)
            x = x[~np.isnan(x)]
        else:
            x = np.asarray([str(v) for v in raw if v is not None], dtype=object)
        decision = ColumnDecision(column, profile["kind"], "no drift", int(x.size))
        columns.append(decision)
        if x.size < policy.min_window or not profile.get("n"):
            decision.status = "not judged"
            if numeric and profile.get("n"):
                decision.detectable = detectable_shift(int(profile["n"]), max(int(x.size), 1), policy, 3)
            continue
        recent = x[-policy.max_window :]
        if policy.method in DISTANCE_METHODS:
            _distance(decision, profile, recent, policy)
        elif policy.method == "adwin":
            _adwin(decision, profile, recent)
        else:
            decision.tests = _tests(column, profile, x, policy)
            tests.extend(decision.tests)
        if effects and policy.method != "adwin":
            decision.effects.update(_effects(profile, recent))
    if tests:
        _correct(tests, policy)
        per_run = policy.alpha_per_run
        for decision in columns:
            if decision.tests:
                decision.statistic = min(t.adjusted for t in decision.tests)
                decision.bound = per_run
                decision.status = "drift" if any(t.rejected for t in decision.tests) else "no drift"
                if decision.kind == "numeric":
                    decision.detectable = detectable_shift(
                        int(reference[decision.column]["n"]), decision.window_rows, policy, len(tests)
                    )
    return Decision(policy, columns, len(tests))


def _windows(size: int, policy: Policy) -> list[int]:
    """The window ladder: max_window halved down to min_window / 4, capped at the rows there are."""
    ladder, w = [], policy.max_window
    while w >= max(policy.min_window / 4, 30):  # no rung below 30 rows: the tests lean on large samples
        ladder.append(w)
        w //= 2
    return sorted({min(size, w) for w in ladder})


def _tests(column: str, profile: dict, x, policy: Policy) -> list[Test]:
    """The mean on every window (short ones react to large shifts), the variance and the categories' shares on
    the windows of at least min_window rows (small ones have no power there), KS on the longest."""
    from ..checks.drift import compare

    out: list[Test] = []
    windows = _windows(int(x.size), policy)
    wide = [w for w in windows if w >= policy.min_window] or windows[-1:]
    longest = windows[-1]
    if profile["kind"] == "numeric":
        if policy.method == "tests":
            for w in windows:
                stat, p = mean_test(profile, x[-w:])
                out.append(Test(column, "mean", w, stat, p))
            for w in wide:
                stat, p = scale_test(profile, x[-w:])
                out.append(Test(column, "scale", w, stat, p))
        if policy.method in ("tests", "ks"):
            result = compare(profile, x[-longest:], "ks")
            out.append(Test(column, "ks", longest, result.chart.get("ks_statistic", math.nan), result.statistic))
        else:  # chi2 asked for a numeric column: on the reference's quantile bins
            out.append(Test(column, "chi2", longest, math.nan, compare(profile, x[-longest:], "chi2").statistic))
    else:
        for w in wide if policy.method == "tests" else [longest]:
            out.append(Test(column, "chi2", w, math.nan, compare(profile, x[-w:], "chi2").statistic))
    return out


def _correct(tests: list[Test], policy: Policy) -> None:
    """Adjusted p-values (Holm, Benjamini–Hochberg or none) and the rejections at the per-run alpha."""
    k = len(tests)
    order = sorted(range(k), key=lambda i: tests[i].p_value)
    if policy.correction == "holm" and not policy.fixed:
        running = 0.0
        for rank, i in enumerate(order):
            running = max(running, min(1.0, (k - rank) * tests[i].p_value))
            tests[i].adjusted = running
    elif policy.correction == "bh" and not policy.fixed:
        running = 1.0
        for rank in range(k - 1, -1, -1):
            i = order[rank]
            running = min(running, min(1.0, k * tests[i].p_value / (rank + 1)))
            tests[i].adjusted = running
    else:
        for t in tests:
            t.adjusted = t.p_value
    for t in tests:
        t.rejected = t.adjusted <= policy.alpha_per_run


# --- the tests -----------------------------------------------------------------------------


def _normal_p(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2.0)) if z == z else 1.0


def mean_test(profile: dict, x) -> tuple[float, float]:
    """Welch z of the window's mean against the reference mean: (z, two-sided p)."""
    n, m = int(profile["n"]), int(x.size)
    s_ref = float(profile.get("std") or 0.0)
    s_cur = float(x.std(ddof=1)) if m > 1 else 0.0
    se = math.sqrt(s_ref**2 / n + s_cur**2 / m)
    diff = float(x.mean()) - float(profile["mean"])
    if se == 0:
        return (0.0, 1.0) if diff == 0 else (math.copysign(math.inf, diff), 0.0)
    z = diff / se
    return z, _normal_p(z)


def scale_test(profile: dict, x) -> tuple[float, float]:
    """z of log(var_window / var_reference) with a pooled-kurtosis standard error: (z, two-sided p).

    Var(log s²) ≈ (κ − 1)/m for kurtosis κ (2/m for normal data), so heavy tails widen the test
    instead of raising its false alarms (Layard's large-sample scale test).
    """
    n, m = int(profile["n"]), int(x.size)
    v_ref = float(profile.get("std") or 0.0) ** 2
    v_cur = float(x.var(ddof=1)) if m > 1 else 0.0
    if v_ref == 0 or v_cur == 0:
        return (0.0, 1.0) if v_ref == v_cur else (math.inf, 0.0)
    k_ref = reference_kurtosis(profile)
    centred = x - x.mean()
    k_cur = float((centred**4).mean() / (centred**2).mean() ** 2)
    kappa = max((n * k_ref + m * k_cur) / (n + m), 1.0 + 1e-9)
    z = math.log(v_cur / v_ref) / math.sqrt((kappa - 1.0) * (1.0 / n + 1.0 / m))
    return z, _normal_p(z)


def reference_kurtosis(profile: dict) -> float:
    """The profile's kurtosis; for a profile stored before it was recorded, from its quantile grid."""
    if profile.get("kurtosis"):
        return float(profile["kurtosis"])
    import numpy as np

    grid = np.asarray(profile["grid"], dtype=float)
    weights = np.diff(np.concatenate([[0.0], np.asarray(profile["cdf"], dtype=float)]))
    mean = float(np.sum(weights * grid))
    m2 = float(np.sum(weights * (grid - mean) ** 2))
    return float(np.sum(weights * (grid - mean) ** 4) / m2**2) if m2 > 0 else 3.0


def detectable_shift(n: int, m: int, policy: Policy, tests: int) -> float:
    """Smallest mean shift (reference sd) a window of ``m`` rows detects with 80 % power at the first Holm level."""
    from scipy.special import ndtri

    level = policy.alpha_per_run / max(tests, 1)
    z = float(ndtri(1.0 - level / 2.0) + ndtri(POWER))
    return z * math.sqrt(1.0 / n + 1.0 / m)


def _effects(profile: dict, x) -> dict[str, float]:
    from ..checks.drift import compare

    out: dict[str, float] = {}
    if profile["kind"] == "numeric" and x.size > 1:
        sd = float(profile.get("std") or 0.0)
        if sd > 0:
            out["mean shift (sd)"] = (float(x.mean()) - float(profile["mean"])) / sd
            out["sd ratio"] = float(x.std(ddof=1)) / sd
    out["PSI"] = compare(profile, x, "psi").statistic
    return out


def _distance(decision: ColumnDecision, profile: dict, x, policy: Policy) -> None:
    from ..checks.drift import compare

    method, threshold = policy.method, policy.threshold
    if profile["kind"] == "categorical" and method == "wasserstein":  # needs numbers: JS at its own default
        method, threshold = "js", None
    result = compare(profile, x, method, threshold)
    decision.statistic, decision.bound = result.statistic, result.threshold
    decision.status = "drift" if result.drifted else "no drift"
    decision.effects[result.method] = result.statistic


def _adwin(decision: ColumnDecision, profile: dict, x) -> None:
    """river's ADWIN, primed with the reference (its quantiles, shuffled with a fixed seed), then the window."""
    import numpy as np

    detector = adwin_detector()
    decision.bound = ADWIN_DELTA
    if profile["kind"] == "numeric":
        levels = np.linspace(0.0, 1.0, _PRIMING + 2)[1:-1]
        priming = np.interp(levels, np.asarray(profile["cdf"], dtype=float), np.asarray(profile["grid"], dtype=float))
        stream = x.astype(float)
    else:  # the share of the reference's most common category
        top = next(iter(profile["counts"]), None)
        share = profile["counts"].get(top, 0) / max(int(profile["n"]), 1)
        priming = (np.arange(_PRIMING) < round(share * _PRIMING)).astype(float)
        stream = (x == top).astype(float)
    np.random.default_rng(0).shuffle(priming)
    for value in priming:
        detector.update(float(value))
    detected_at = None
    for i, value in enumerate(stream):
        detector.update(float(value))
        if detector.drift_detected:
            detected_at = i
            break
    decision.status = "drift" if detected_at is not None else "no drift"
    decision.statistic = math.nan if detected_at is None else float(detected_at)
    if detected_at is not None:
        decision.effects["change detected at row"] = float(detected_at)


def adwin_detector(delta: float = ADWIN_DELTA) -> Any:
    """A fresh river ADWIN; river is an optional extra."""
    try:
        from river.drift import ADWIN
    except ImportError as exc:
        from ..errors import UsageError

        raise UsageError(
            "monitor.drift.method adwin needs river, which is not installed",
            hint="pip install 'flowtide[river]'",
        ) from exc
    return ADWIN(delta=delta)


def adwin_error_change(errors: list[float]) -> tuple[int, float, float] | None:
    """The first rise ADWIN finds in a stream of errors, else its last fall: (the row it raised the alarm at,
    the mean error of the older rows it dropped, the mean error of the rows it kept and all later ones)."""
    detector = adwin_detector()
    found = None
    for i, value in enumerate(errors):
        detector.update(float(value))
        if detector.drift_detected:
            cut = max(1, i + 1 - int(detector.width))  # ADWIN keeps the rows since the change it found
            found = (i, sum(errors[:cut]) / cut, sum(errors[cut:]) / len(errors[cut:]))
            if found[2] > found[1]:
                return found
    return found
