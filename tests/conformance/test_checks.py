"""The check contract, run by every check registered in ``flowtide.checks`` and by an installed plugin.

Each check gets a column spec, a file that passes and a file that breaks it;
run through the real engine (``check_file`` on a project), the good file gives
a pass and the bad one a failure naming the first failing data rows, in the
words of the check's own ``describe`` (row rules) or ``judge`` (value rules).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from flowtide import plugins
from flowtide.checks import check_file
from flowtide.checks.contract import Failures
from flowtide.checks.engine import column_checks
from flowtide.project import Project

from .conftest import implementations


@dataclass
class Case:
    spec: str
    good: str
    bad: str
    rows: list[int] | None
    """The failing data rows of the bad file (row rules); None for a value rule."""


CASES = {
    "type": Case("{type: int}", "n\n1\n2\n", "n\n1\nx\n3\n", [2]),
    "not_null": Case("{not_null: true}", "n,m\n1,a\n2,b\n", "n,m\n1,a\n,b\n", [2]),
    "unique": Case("{unique: true}", "n\n1\n2\n3\n", "n\n1\n2\n1\n", [1, 3]),
    "min": Case("{type: int, min: 0}", "n\n0\n1\n", "n\n1\n-1\n", [2]),
    "max": Case("{type: int, max: 5}", "n\n5\n1\n", "n\n1\n9\n", [2]),
    "in": Case("{in: [a, b]}", "n\na\nb\n", "n\na\nz\n", [2]),
    "regex": Case('{regex: "[a-z]+"}', "n\nab\ncd\n", "n\nab\nA1\n", [2]),
    "max_null_fraction": Case("{max_null_fraction: 0.1}", "n,m\n1,a\n2,b\n", "n,m\n1,a\n,b\n", None),
    "mean": Case("{type: float, mean: {min: 0, max: 2}}", "n\n1\n2\n", "n\n10\n20\n", None),
    "std": Case("{type: float, std: {max: 1}}", "n\n1\n1.5\n", "n\n1\n10\n", None),
    "even": Case("{type: int, even: true}", "n\n2\n4\n", "n\n2\n3\n", [2]),  # the installed plugin's
}


def _project(tmp_path, spec: str, data: str) -> Project:
    (tmp_path / "flowtide.yaml").write_text(
        "project: c\nsources:\n  data: {url: incoming.csv, path: data.csv}\n"
        f"checks:\n  data:\n    columns:\n      n: {spec}\n"
    )
    (tmp_path / "data.csv").write_text(data)
    return Project.load(tmp_path)


def _finding(report, rule: str):
    found = [f for f in report.findings if f.rule == rule]
    assert len(found) == 1, [(f.rule, f.status, f.message) for f in report.findings]
    return found[0]


@pytest.mark.parametrize("component", implementations("checks"), indirect=True)
def test_check_contract(component, tmp_path):
    assert component in CASES, f"the registered check {component!r} has no conformance case: add one"
    case = CASES[component]
    cls = plugins.load(plugins.CHECKS, component)
    assert cls.name == component, "a check's name is the key users write, its entry-point name"

    good = check_file(_project(tmp_path, case.spec, case.good), "data")
    assert _finding(good, component).status == "pass"

    bad = check_file(_project(tmp_path, case.spec, case.bad), "data")
    finding = _finding(bad, component)
    assert (finding.status, finding.column) == ("fail", "n")
    spec = Project.load(tmp_path).config.checks["data"].columns["n"]
    check = next(c for c in column_checks(spec) if c.name == component)
    if case.rows is None:
        assert check.judge(finding.value) == (False, finding.message)
    else:
        assert finding.details["rows"] == case.rows
        values = finding.details["values"]
        assert finding.message == check.describe(Failures(finding.value, case.rows, values))
        assert f"{case.rows[0]} (" in finding.message
