"""The canary verdict: promote, roll back or wait, from the labelled predictions of canary and production.

After ``deploy.canary.min_requests`` and enough feedback on both sides, a
non-inferiority test (``stats.py``) with the stated margin and alpha decides:
on correctness for a classifier, on absolute errors for a regressor (the model's
task, monitor/task.py); the reason says which bound decided and why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..report import Finding
from .performance import MIN_LABELLED_FOR_VERDICT, numeric_pairs
from .stats import Comparison, compare_accuracy, compare_errors


@dataclass
class CanaryVerdict:
    model: str
    production: int | None
    canary: int | None
    verdict: str  # promote | rollback | wait
    reason: str
    requests: int = 0
    labelled: dict[str, int] = field(default_factory=dict)
    scores: dict[str, float | None] = field(default_factory=dict)
    """Per role (canary, production): accuracy, or mean absolute error for a regressor, on labelled rows."""
    comparison: Comparison | None = None
    """The test behind a promote / rollback / wait after enough requests and feedback."""


def verdict_finding(verdict: CanaryVerdict) -> Finding:
    """The ``canary verdict`` finding of a verdict (promote passes, rollback warns, wait informs)."""
    status = {"promote": "pass", "rollback": "warn", "wait": "info"}[verdict.verdict]
    test = verdict.comparison
    return Finding(
        status,
        f"{verdict.model} canary v{verdict.canary}",
        "canary verdict",
        f"{verdict.verdict}: {verdict.reason}",
        value=round(test.upper, 4) if test else None,
        bound=round(test.margin, 4) if test else None,
        details={
            "verdict": verdict.verdict,
            "labelled": verdict.labelled,
            **({"test": test_details(test)} if test else {}),
        },
    )


def test_details(test: Comparison) -> dict[str, Any]:
    return {
        "metric": test.metric,
        "canary": round(test.canary, 4),
        "production": round(test.production, 4),
        "worse_by": round(test.worse_by, 4),
        "lower": round(test.lower, 4),
        "upper": round(test.upper, 4),
        "margin": round(test.margin, 4),
        "alpha": test.alpha,
        "method": test.method,
    }


def canary_verdict(
    project, model: str, groups: dict, feedback: dict, registry, regression: bool = False
) -> CanaryVerdict | None:
    canary_cfg = project.config.deploy.canary
    canary_groups = [g for (m, _v, role), g in groups.items() if m == model and role == "canary"]
    staging = registry.in_stage(model, "staging")
    production = registry.in_stage(model, "production")
    if not canary_groups or staging is None or production is None:
        return None
    canary = next((g for g in canary_groups if g.version == staging.version), None)
    prod = groups.get((model, production.version, "production"))
    if canary is None:
        return None
    verdict = CanaryVerdict(model, production.version, staging.version, "wait", "", requests=len(canary.rows))
    min_requests = canary_cfg.min_requests if canary_cfg else 500
    alpha = canary_cfg.alpha if canary_cfg else 0.05
    margin = canary_cfg.margin if canary_cfg else 0.02
    # the same period for both: production rows from before the canary started saw other inputs
    canary_start = min(r["time"] for r in canary.rows)
    rows_of = {
        "canary": canary.rows,
        "production": [r for r in (prod.rows if prod else []) if r["time"] >= canary_start],
    }
    pairs = {
        role: [(r["output"], feedback[r["request_id"]]) for r in rows if r["request_id"] in feedback]
        for role, rows in rows_of.items()
    }
    errors: dict[str, list[float]] = {}
    correct: dict[str, int] = {}
    for role, labelled in pairs.items():
        if regression:
            errors[role] = [abs(o - y) for o, y in numeric_pairs(labelled)]
            verdict.labelled[role] = len(errors[role])
            verdict.scores[role] = round(math.fsum(errors[role]) / len(errors[role]), 4) if errors[role] else None
        else:
            correct[role] = sum(1 for o, y in labelled if o == y)
            verdict.labelled[role] = len(labelled)
            verdict.scores[role] = round(correct[role] / len(labelled), 4) if labelled else None
    if len(canary.rows) < min_requests:
        verdict.reason = f"the canary answered {len(canary.rows)} of deploy.canary.min_requests {min_requests} requests"
        return verdict
    if min(verdict.labelled.values()) < MIN_LABELLED_FOR_VERDICT:
        verdict.reason = f"not enough feedback yet ({verdict.labelled['canary']} canary, {verdict.labelled['production']} production labelled rows; need {MIN_LABELLED_FOR_VERDICT} each)"
        return verdict
    if regression:
        test = compare_errors(errors["production"], errors["canary"], margin=margin, alpha=alpha)
    else:
        n = verdict.labelled
        test = compare_accuracy(
            correct["production"], n["production"], correct["canary"], n["canary"], margin=margin, alpha=alpha
        )
    verdict.comparison = test
    verdict.verdict = test.verdict
    verdict.reason = _explain(test, verdict.labelled)
    return verdict


def _explain(test: Comparison, labelled: dict[str, int]) -> str:
    """One sentence: the two scores, the bound that decided, and the rule."""
    conf = f"{1 - test.alpha:.0%}"
    if test.metric == "accuracy":
        scores = f"canary accuracy {test.canary:.3f} vs production {test.production:.3f}"
        diff = "production - canary accuracy"
        margin = f"the margin {test.margin:g}"
    else:
        scores = f"canary mean absolute error {test.canary:.4g} vs production {test.production:.4g}"
        diff = "canary - production mean absolute error"
        margin = (
            f"the margin {test.margin:.4g} ({test.margin / test.production:.0%} of production's)"
            if test.production
            else "the margin 0"
        )
    scores += f" on {labelled['canary']:,} and {labelled['production']:,} labelled rows"
    if test.verdict == "rollback":
        return f"{scores}: the canary is worse ({diff} >= {test.lower:.4f} > 0 with {conf} confidence, {test.method})"
    if test.verdict == "promote":
        return (
            f"{scores}: not worse by more than {margin} ({diff} <= {test.upper:.4f} with {conf} confidence, "
            f"{test.method})"
        )
    return (
        f"{scores}: not enough evidence yet ({diff} is between {test.lower:.4f} and {test.upper:.4f}; promotion "
        f"needs its {conf} upper bound below {margin}, rollback its lower bound above 0)"
    )
