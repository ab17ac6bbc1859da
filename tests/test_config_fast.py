"""config/fast.py builds a Config without pydantic only when pydantic would build the very same one.

The sample configs are generated from schema.py's own annotations, so a field
added later is covered without editing this file; each field is then given each
of many probe values, and for every variant either fast.build declines (pydantic
decides) or its Config equals pydantic's, leaf types included.
"""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
import types
import typing
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import TypeAdapter, ValidationError

from flowtide.config import Config, Duration, parse_config
from flowtide.config.fast import _fields, build
from flowtide.config.load import _adapter
from flowtide.config.validate import _plain_cron
from flowtide.errors import ConfigError

PROBES: list[Any] = [
    0,
    1,
    3,
    -2,
    2**60,
    2.5,
    -0.0,
    math.inf,
    True,
    False,
    None,
    "",
    "x",
    "3",
    "7d",
    "true",
    "psi",
    "store",
    [],
    ["a"],
    [1, "a"],
    {},
    {"a": 1},
    {"a": "b"},
    {1: "a"},
]


def _sample(tp: Any, depth: int = 0) -> Any:
    """A valid YAML value for the annotation ``tp``: every field of a dataclass, one item per container."""
    if tp is Any or tp is str:
        return "a"
    if tp is bool:
        return True
    if tp is int:
        return 2
    if tp is float:
        return 0.5
    if tp is Duration:
        return "2h"
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints, allowed, _ = _fields(tp)
        return {name: _sample(hints[name], depth + 1) for name in sorted(allowed)}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        return args[-1]
    if origin is list:
        return [_sample(args[0], depth + 1)]
    if origin is dict:
        return {"k": _sample(args[1], depth + 1)}
    if origin in (typing.Union, types.UnionType):
        return _sample(next(a for a in args if a is not type(None)), depth)
    raise AssertionError(f"no sample for {tp!r}")


def _leaves(value: Any, path: tuple = ()) -> list[tuple[tuple, Any]]:
    """Every (path, value) of a dict/list tree, containers included."""
    out = [(path, value)]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _leaves(item, (*path, index))
    return out


def _replace(tree: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    copy = dict(tree) if isinstance(tree, dict) else list(tree)
    copy[path[0]] = _replace(tree[path[0]], path[1:], new)
    return copy


def _same(a: Any, b: Any) -> bool:
    """Equal, with the same types all the way down (1 is not 1.0 here)."""
    if type(a) is not type(b):
        return False
    if dataclasses.is_dataclass(a):
        return all(_same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=False))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def _pydantic(data: dict) -> Config | None:
    try:
        return _adapter(TypeAdapter).validate_python(data)
    except ValidationError:
        return None


FULL = {**_sample(Config), "project": "p"}


def test_a_full_sample_config_is_built_without_pydantic_and_equals_pydantics() -> None:
    ours = build(FULL)
    assert ours is not None, "every value of the sample has its field's own type"
    assert _same(ours, _pydantic(FULL))
    assert ours.deploy.canary is not None and ours.checks["k"].columns["k"].mean is not None  # the sample is deep


def test_every_field_with_every_probe_value_is_built_as_pydantic_builds_it_or_left_to_pydantic() -> None:
    built = declined = 0
    for path, _ in _leaves(FULL)[1:]:
        for probe in PROBES:
            variant = _replace(FULL, path, probe)
            ours = build(variant)
            theirs = _pydantic(variant)
            if ours is None:
                declined += 1
                continue
            built += 1
            assert theirs is not None, f"fast.build accepted {probe!r} at {path} that pydantic refuses"
            assert _same(ours, theirs), f"{probe!r} at {path}: {ours!r} != {theirs!r}"
    assert built > 500 and declined > 500  # both branches are exercised, not one of them vacuously


@pytest.mark.parametrize(
    "change",
    [
        {"stages": {"s": {"cmd": "x", "nope": 1}}},  # unknown key
        {"model": {"name": "m"}},  # a required field missing
        {"sources": {"s": {"url": "u", "path": "p", "retries": "3"}}},  # a coercion pydantic makes
        {"stages": {"s": {"params": 1}}},  # pydantic's lax bool
        {"monitor": {"window": "soon"}},  # a duration pydantic refuses
    ],
)
def test_anything_not_certainly_valid_is_left_to_pydantic(change: dict) -> None:
    assert build({"project": "p", **change}) is None


def test_parse_config_gives_pydantics_message_for_a_value_left_to_it() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config("project: p\nstages:\n  s:\n    cmd: x\n    retries: 3\n")
    assert "retries" in str(err.value) and err.value.line == 5


def test_every_bundled_config_loads_without_importing_pydantic(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    files = sorted(root.glob("src/flowtide/examples/*/flowtide.yaml")) + sorted(
        root.glob("tests/golden/*/*/flowtide.yaml")
    )
    assert len(files) >= 4, "the bundled example configs were not found"
    script = (
        "import sys\n"
        "from flowtide.config import parse_config\n"
        "for path in sys.argv[1:]:\n"
        "    parse_config(open(path, 'rb').read(), path)\n"
        "assert 'pydantic' not in sys.modules, 'pydantic was imported'\n"
        "assert 'croniter' not in sys.modules, 'croniter was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", script, *map(str, files)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_plain_cron_fields_are_all_valid_to_croniter() -> None:
    from croniter import croniter

    values = ["*", "0", "1", "6", "7", "12", "13", "23", "24", "31", "32", "59", "60", "00"]
    values += [
        "*/0",
        "*/1",
        "*/5",
        "*/13",
        "*/24",
        "*/32",
        "*/60",
        "1-5",
        "5-1",
        "0-59",
        "1-60",
        "1,2",
        "1-5,7",
        "1,",
        ",",
        "",
        "-",
        "1-",
    ]
    values += ["MON", "+1", "٣", "*/5,1", "1-5/2"]
    accepted = 0
    for position in range(5):
        for value in values:
            fields = ["*"] * 5
            fields[position] = value
            if _plain_cron(fields):
                accepted += 1
                assert croniter.is_valid(" ".join(fields)), fields
    assert accepted > 60
    assert not _plain_cron(["60", "*", "*", "*", "*"]) and not _plain_cron(["0", "0", "*", "*", "7"])
