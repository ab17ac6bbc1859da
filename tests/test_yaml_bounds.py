"""Project files from anyone's branch are read with bounds: alias bombs, deep nesting, bad bytes.

flowtide.yaml, params.yaml and flowtide.registry each get: a clear error naming
file:line, exit 2, and an answer in well under the generous time bound asserted
here (the machine running the tests is shared).
"""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path

import pytest

from flowtide.config import load_config, load_params, parse_yaml
from flowtide.errors import ConfigError
from flowtide.pipeline.metrics import parse as parse_metrics

from .conftest import run_process

BOUND = 5.0  # seconds of CPU for a whole `flowtide` process; a quiet machine needs well under one

PROJECT = "project: bounds\nstages:\n  train:\n    cmd: echo trained\n    params: [train]\n"
BOMB = "\n".join(
    ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    + [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
)
ALIASES = (
    "aliases (*name) under 'a3' expand to more than 10,000 values; refusing to read further\n"
    "Write the values out, or nest fewer aliases: each level of `*name` multiplies what it copies."
)
DEEP = "values are nested deeper than 100 levels\nFlatten the structure; flowtide reads at most this depth."


def _flowtide(root: Path, *args: str):
    """``flowtide ARGS`` as a process: its result and the CPU seconds it used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    result = run_process(*args, cwd=root, timeout=120)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result, cpu, time.monotonic() - started


def _project(tmp_path: Path, config: bytes | str = PROJECT, params: bytes | str | None = "train:\n  lr: 0.1\n") -> Path:
    root = tmp_path / "p"
    root.mkdir()
    (root / "flowtide.yaml").write_bytes(config.encode() if isinstance(config, str) else config)
    if params is not None:
        (root / "params.yaml").write_bytes(params.encode() if isinstance(params, str) else params)
    return root


def _flow(depth: int) -> str:
    return "[" * depth + "]" * depth


def _block(depth: int) -> str:
    return "".join(" " * i + f"k{i}:\n" for i in range(depth)) + " " * depth + "v: 1\n"


CASES = {  # text, and where the error is when the text is the whole file
    "alias bomb": (BOMB + "\n", (4, 1), ALIASES),
    "flow nesting": ("k: " + _flow(5000) + "\n", (1, 104), DEEP),
    "block nesting": (_block(5000), (100, 100), DEEP),
    "latin-1 bytes": (
        "train:\n  name: caf\xe9\n".encode("latin-1"),
        (2, 12),
        "not UTF-8 text: byte 0xe9 cannot be decoded\nSave the file as UTF-8.",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("file", ["flowtide.yaml", "params.yaml"])
def test_status_exits_2_with_file_line_and_reason(tmp_path, case, file):
    text, (line, column), message = CASES[case]
    if file == "flowtide.yaml":  # after the five lines of a valid project
        root = _project(tmp_path, config=(PROJECT.encode() + text) if isinstance(text, bytes) else PROJECT + text)
        line += PROJECT.count("\n")
    else:
        root = _project(tmp_path, params=text)
    result, cpu, wall = _flowtide(root, "status")
    assert (result.code, result.out) == (2, "")
    assert result.err == f"error: {file}:{line}:{column}: {message}\n"
    assert cpu < BOUND, f"{case} in {file} took {cpu:.1f} s of CPU ({wall:.1f} s wall)"


def test_bounded_errors_in_process(tmp_path):
    with pytest.raises(ConfigError) as info:
        parse_yaml(BOMB, "flowtide.yaml")
    assert str(info.value) == f"flowtide.yaml:4:1: {ALIASES}"
    with pytest.raises(ConfigError) as info:
        parse_yaml(b"a: 1\nb: \xff\n", "params.yaml")
    assert str(info.value) == "params.yaml:2:4: not UTF-8 text: byte 0xff cannot be decoded\nSave the file as UTF-8."
    root = _project(tmp_path, params="train:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(150)) + "  v: 1\n")
    (root / ".flowtide").mkdir()
    with pytest.raises(ConfigError, match=r"^params.yaml:\d+:\d+: values are nested deeper than 100 levels\n"):
        load_params(root)


def test_aliases_and_merge_keys_within_the_budget_still_work(tmp_path):
    config = (
        "project: anchors\n"
        "x-defaults: &defaults {deps: [data.csv], params: [train]}\n"
        "stages:\n"
        "  a: {<<: *defaults, cmd: echo a}\n"
        "  b: {<<: *defaults, cmd: echo b}\n"
    )
    data, _ = parse_yaml(config, "flowtide.yaml")
    assert data["stages"]["b"] == {"deps": ["data.csv"], "params": ["train"], "cmd": "echo b"}
    features = "features: &f [" + ", ".join(f"c{i}" for i in range(500)) + "]\n"
    params = features + "".join(f"m{i}: {{features: *f}}\n" for i in range(15))  # 7,500 values through aliases
    root = _project(tmp_path, params=params)
    (root / ".flowtide").mkdir()
    assert load_params(root)["m14"]["features"][-1] == "c499"


def test_a_utf8_bom_and_utf16_files_still_read(tmp_path):
    assert parse_yaml("\ufeffproject: x\n".encode(), "flowtide.yaml")[0] == {"project": "x"}
    assert parse_yaml("project: café\n".encode("utf-16"), "flowtide.yaml")[0] == {"project": "café"}
    root = _project(tmp_path, config="\ufeff" + PROJECT)
    assert load_config(root, use_cache=False).project == "bounds"


def test_metrics_yaml_is_read_with_the_same_bounds():
    assert parse_metrics(BOMB.encode(), "metrics.yaml") == {}
    assert parse_metrics(b"accuracy: 0.9\n", "metrics.yaml") == {"accuracy": 0.9}


# --- flowtide.registry ------------------------------------------------------------------

GOOD_EVENT = {"event": "register", "model": "m", "version": 1, "hash": "a" * 64, "path": "m.skops", "at": "t"}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            b'{"event": "promote", "model": "m", "version": 1, "to": "staging", "reason": "caf\xe9"}',
            "not UTF-8 text: byte 0xe9 cannot be decoded",
        ),
        (b"[" * 100_000 + b"]" * 100_000, "not a JSON event: nested too deeply"),
        (
            b'{"event": "promote", "model": "m", "version": 1, "to": "heaven"}',
            "to 'heaven' is not a stage (candidate, staging, production, archived)",
        ),
        (
            b'{"event": "register", "model": "m", "version": [1], "hash": "x"}',
            "version [1] is not a version number (a positive integer)",
        ),
        (b'["event", "register"]', "not a registry event: expected an object {...}"),
        (b"{not json", "not a JSON event: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    ],
)
def test_a_corrupt_registry_line_is_named(tmp_path, line, message):
    root = _project(tmp_path)
    (root / "flowtide.registry").write_bytes(json.dumps(GOOD_EVENT).encode() + b"\n\n" + line + b"\n")
    result, cpu, _ = _flowtide(root, "models")
    assert result.code == 2, result.err
    assert result.err.startswith(f"error: flowtide.registry:3: {message}\n"), result.err
    assert "Traceback" not in result.err
    assert cpu < BOUND


def test_a_reason_with_a_unicode_line_separator_survives(tmp_path, weather_csv):
    from flowtide import registry
    from flowtide.project import Project

    from ._models import make_project, train
    from ._serving import SERVE_CONFIG

    root = make_project(tmp_path / "w", weather_csv, SERVE_CONFIG)
    project = Project.load(root)
    train(root, weather_csv)
    registry.register(project)
    registry.promote(project, "weather", 1, "staging", reason="first line\u2028second\x85third\x1cfourth")
    version = registry.Registry.load(project).get("weather", 1)
    assert version.stage == "staging"
    assert version.history[-1]["reason"] == "first line\u2028second\x85third\x1cfourth"


def test_a_deeply_nested_lock_is_a_config_error(tmp_path):
    root = _project(tmp_path)
    (root / "flowtide.lock").write_bytes(b"[" * 100_000 + b"]" * 100_000)
    result, cpu, _ = _flowtide(root, "status")
    assert result.code == 2
    assert result.err.startswith(
        "error: flowtide.lock: flowtide.lock is not valid JSON: maximum recursion depth exceeded"
    )
    assert cpu < BOUND
