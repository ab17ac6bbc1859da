"""Data checks: schema and expectation rules in one polars pass, drift against a stored reference profile.

Public API (others call it): :func:`check_file`, :func:`run_checks`, :func:`profile`,
:func:`drift_against`, :func:`infer`; the statistics live in :mod:`flowtide.checks.drift`
(``compare(reference_profile_column, values, method, threshold)`` works on numpy arrays
and polars Series too). A column rule is a :class:`Check` (:mod:`flowtide.checks.contract`,
the contract a plugin implements; flowtide's own in :mod:`flowtide.checks.rules`), found
by its key in the ``flowtide.checks`` entry-point group. Importing this package loads no
polars; the functions do.
"""

from __future__ import annotations

from .contract import Check, Column, Expressions, Failures
from .infer import infer
from .reference import profile
from .runner import check_file, drift_against, resolve_target, run_checks

__all__ = [
    "Check",
    "Column",
    "Expressions",
    "Failures",
    "check_file",
    "drift_against",
    "infer",
    "profile",
    "resolve_target",
    "run_checks",
]
