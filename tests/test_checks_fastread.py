"""A CSV read without the null-token list gives exactly the findings of the read with it.

checks/engine.py reads a CSV without comparing every cell to every null token when the same
pass proves no cell holds one; these tests plant tokens (and quoted empty cells, NaN, bad
values) at random in random files and compare every finding with the exact read's.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from flowtide.checks import engine
from flowtide.config import NULL_VALUES, Bounds, CheckSuite, ColumnCheck

TOKENS = [*NULL_VALUES, '""']
NAMES = ["id", "f", "g", "s", "t", "b", "d", "n", "u"]


def _suite(null_values: list[str] | None = None) -> CheckSuite:
    columns = {
        "id": ColumnCheck(type="int", unique=True, not_null=True, min=0),
        "f": ColumnCheck(type="float", not_null=True, min=-50, max=50, mean=Bounds(min=-5, max=5)),
        "g": ColumnCheck(max_null_fraction=0.5),  # no declared type: inferred
        "s": ColumnCheck(type="str", not_null=True, in_=["a", "b", "c"]),  # its `in:` proves no token
        "t": ColumnCheck(),  # text without `in:`: a guard looks for tokens
        "b": ColumnCheck(type="bool"),
        "d": ColumnCheck(type="date", min="2020-01-01"),
        "n": ColumnCheck(type="int", max=1000),
        "u": ColumnCheck(in_=["x", "NA"]),  # allows a token: its `in:` proves nothing
    }
    suite = CheckSuite(columns=columns)
    if null_values is not None:
        suite.null_values = null_values
    return suite


def _cell(rng: random.Random, column: str, row: int, clean: bool) -> str:
    if not clean and rng.random() < 0.03:
        return rng.choice(TOKENS)
    if not clean and rng.random() < 0.01:
        return "oops"  # a cell no type but text takes
    return {
        "id": str(row),
        "f": f"{rng.gauss(0, 3):.3f}",
        "g": f"{rng.gauss(10, 1):.2f}",
        "s": rng.choice("abc"),
        "t": rng.choice(["x", "y", "z z"]),
        "b": rng.choice(["true", "false"]),
        "d": f"2021-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
        "n": str(rng.randint(0, 900)),
        "u": "x",
    }[column]


def _write(path: Path, rows: int, rng: random.Random, *, clean: bool) -> None:
    lines = [",".join(NAMES)]
    for row in range(rows):
        lines.append(",".join(_cell(rng, name, row, clean) for name in NAMES))
    path.write_text("\n".join(lines) + "\n")


def _nan_free(value):
    """NaN as text, so that two equal findings compare equal (nan != nan)."""
    return "nan" if isinstance(value, float) and value != value else value


def _findings(suite: CheckSuite, path: Path, *, fast: bool, monkeypatch) -> list[tuple]:
    with monkeypatch.context() as patch:
        if not fast:
            patch.setattr(engine, "_read_without_tokens", lambda *a, **k: None)
        result = engine.evaluate(suite, path, path.name, "csv")
    return [
        tuple(_nan_free(x) for x in (f.status, f.rule, f.column, f.message, f.value, f.bound, str(f.details)))
        for f in result.findings
    ]


def _declared(suite: CheckSuite) -> dict[str, str]:
    return {name: spec.type for name, spec in suite.columns.items() if spec.type}


def test_random_files_with_planted_tokens_get_the_exact_reads_findings(tmp_path, monkeypatch):
    rng = random.Random(14)
    taken = declined = 0
    real = engine._read_without_tokens

    def spy(*args, **kwargs):
        nonlocal taken, declined
        found = real(*args, **kwargs)
        taken, declined = taken + (found is not None), declined + (found is None)
        return found

    for case in range(40):
        path = tmp_path / f"case{case}.csv"
        _write(path, rng.choice([5, 40, 200]), rng, clean=case % 4 == 0)
        suite = _suite(rng.choice([None, None, ["NA", "NaN"], ["", "null"], ["-1"]]))
        exact = _findings(suite, path, fast=False, monkeypatch=monkeypatch)
        monkeypatch.setattr(engine, "_read_without_tokens", spy)
        ours = _findings(suite, path, fast=True, monkeypatch=monkeypatch)
        monkeypatch.setattr(engine, "_read_without_tokens", real)
        assert ours == exact, f"case {case}: {path.read_text()[:400]}"
    assert taken >= 5 and declined >= 20  # both roads are exercised


@pytest.mark.parametrize(
    ("column", "token"),
    [
        ("s", "NA"),
        ("s", '""'),
        ("t", "null"),
        ("t", '""'),
        ("u", "NA"),
        ("f", "NaN"),
        ("g", "nan"),
        ("n", "None"),
        ("d", "N/A"),
        ("b", "NULL"),
    ],
)
def test_a_token_past_the_inferred_rows_is_read_as_null_as_before(tmp_path, monkeypatch, column, token):
    """Past polars' 10,000 inferred rows: a token fails the token-free read, or the same pass finds it."""
    path = tmp_path / "long.csv"
    _write(path, 10_050, random.Random(1), clean=True)
    lines = path.read_text().splitlines()
    last = lines[-1].split(",")
    last[NAMES.index(column)] = token
    lines[-1] = ",".join(last)
    path.write_text("\n".join(lines) + "\n")
    suite = _suite()
    assert engine._read_without_tokens(suite, path, _declared(suite), "x") is None
    exact = _findings(suite, path, fast=False, monkeypatch=monkeypatch)
    assert _findings(suite, path, fast=True, monkeypatch=monkeypatch) == exact


def test_a_clean_file_is_read_once_without_the_tokens(tmp_path):
    path = tmp_path / "clean.csv"
    _write(path, 300, random.Random(3), clean=True)
    suite = _suite()
    found = engine._read_without_tokens(suite, path, _declared(suite), "x")
    assert found is not None
    values = found[5]
    assert values["__rows"] == 300
    guards = sorted(k for k in values if k.startswith("__guard"))
    assert len(guards) == 4 and not any(values[k] for k in guards)  # t, u by is_in; f, g by is_nan; s by its `in:`


@pytest.mark.parametrize(("column", "token"), [("t", "NA"), ("f", "NaN"), ("s", "null")])
def test_a_token_in_the_first_rows_costs_no_token_free_pass(tmp_path, monkeypatch, column, token):
    """A file that holds tokens mostly shows one early: a look at the first rows declines before a whole
    token-free pass, which the read with the tokens would then repeat. The findings stay the exact read's."""
    path = tmp_path / "early.csv"
    _write(path, 5_000, random.Random(2), clean=True)
    lines = path.read_text().splitlines()
    row = lines[7].split(",")
    row[NAMES.index(column)] = token
    lines[7] = ",".join(row)
    path.write_text("\n".join(lines) + "\n")
    suite = _suite()
    exact = _findings(suite, path, fast=False, monkeypatch=monkeypatch)
    passes = []
    real = engine._collect
    monkeypatch.setattr(engine, "_collect", lambda *a, **k: passes.append(k.get("guards")) or real(*a, **k))
    assert _findings(suite, path, fast=True, monkeypatch=monkeypatch) == exact
    assert passes == [None]  # one pass over the file: the read with the tokens
