"""The plain-YAML reader (config/_miniyaml.py) against ruamel: whatever it accepts, it reads exactly as ruamel
does, values, types and the line and column of every key and item; whatever it is unsure of, it leaves."""

from __future__ import annotations

import random

import pytest

from flowtide.config._miniyaml import loads_with_positions
from flowtide.errors import ConfigError

SCALARS = [
    "1",
    "-7",
    "+3",
    "010",
    "0",
    "1.5",
    "-0.25",
    ".5",
    "1.",
    "1e3",
    "2.5e-3",
    "1E5",
    "+.5",
    "0x1F",
    "0o17",
    "1_000",
    ".inf",
    "-.inf",
    ".nan",
    "true",
    "True",
    "TRUE",
    "false",
    "False",
    "null",
    "Null",
    "NULL",
    "~",
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "python src/train.py --fast",
    "data/raw.csv",
    "a-b",
    "x y z",
    "'quoted # not a comment'",
    '"double"',
    "'it''s'",
    "a:b",
    "a: b",
    "http://x/y",
    "@at",
    "`tick`",
    "v1.2.3",
    "under_score",
    "-dash",
    "a # comment",
    "[a, b]",
    "[1, 2.5, true]",
    "[]",
    "[ a ,b ]",
    "[a, , b]",
    "[a, b,]",
    "[x]",
    "{a: 1}",
    "&anchor 1",
    "*alias",
    "!tag x",
    "|",
    ">",
    "'a' # c",
    "{min: 0, max: 1}",
    "{type: str, in: [a, b]}",
    "{a: 'x y', b: \"z\"}",
    "{}",
    "{a: 1,}",
    "{a: -30}",
    "{a: b: c}",
    "[a, [b, c]]",
    "[{a: 1}]",
    "{a: [1, 2.5], b: {c: d}}",
    "{true: 1}",
    "{a: 1, a: 2}",
    "{ a: 1 }",
    "{a:1}",
    "[a, 'b c', \"d\"]",
    "['it''s']",
    '["a\\\\b"]',
    "{a: [], b: {}}",
    "[ ]",
    '{type: date, not_null: true, min: "2007-01-01"}',
    "[-1, +2, .5]",
    "{a: x:y}",
    "[a]]",
    "{a: 1} x",
    "7d",
    "30m",
    "1E",
    "0x",
    "3rd",
    "1e",
    "12h30m",
    "2007-01-01",
    "1_0d",
    "[7d, 1h]",
    "{window: 7d}",
]
KEYS = [
    "project",
    "stages",
    "train",
    "lr",
    "deps",
    "outs",
    "cmd",
    "train.lr",
    "in",
    "a-b",
    "true",
    "null",
    "yes",
    "k1",
    "_x",
    "dup",
    "data/raw.csv",
    "a/b",
]


def document(rng: random.Random) -> str:
    lines: list[str] = []

    def comment() -> str:
        return rng.choice(["", "", "", "  # note", " #x", "  # it's"])

    def mapping(indent: int, depth: int) -> None:
        for _ in range(rng.randint(1, 4)):
            key = rng.choice(KEYS)
            pad = " " * indent
            roll = rng.random()
            if roll < 0.15 and depth < 4:
                lines.append(f"{pad}{key}:{comment()}")
                mapping(indent + rng.choice([2, 4]), depth + 1)
            elif roll < 0.3:
                lines.append(f"{pad}{key}:{comment()}")
                inner = indent + rng.choice([0, 2, 4])
                for _ in range(rng.randint(1, 3)):
                    lines.append(f"{' ' * inner}-{' ' * rng.choice([1, 1, 3])}{rng.choice(SCALARS)}{comment()}")
            elif roll < 0.35:
                lines.append(f"{pad}{key}:")
            elif roll < 0.45:  # a block scalar: mostly the simple kind, sometimes one the reader must leave
                header = rng.choice(["|", "|-", ">", ">-", ">-", "|+", ">2", "|-  # note"])
                lines.append(f"{pad}{key}: {header}")
                if rng.random() < 0.1:
                    lines.append("")
                inner = indent + rng.choice([1, 2, 2, 4])
                for _ in range(rng.randint(1, 3)):
                    text = rng.choice(["plain words", "a: colon", "# not a comment", "x  y", "'q'", "[a]", "- dash"])
                    extra = rng.choice(["", "", "", "", " ", "  "])  # more indented
                    lines.append(f"{' ' * inner}{extra}{text}{rng.choice(['', '', '', ' '])}")
                    if rng.random() < 0.1:
                        lines.append(rng.choice(["", "   "]))
            else:
                lines.append(f"{pad}{key}:{' ' * rng.choice([1, 1, 2])}{rng.choice(SCALARS)}{comment()}")
            if rng.random() < 0.1:
                lines.append(rng.choice(["", "# a comment line", "   "]))

    mapping(0, 0)
    return "\n".join(lines) + rng.choice(["\n", "", "\n\n"])


def ruamel(text: str):
    """What ruamel reads (parse_yaml without the fast reader in front of it)."""
    from flowtide.config.positions import _parse_with_ruamel

    return _parse_with_ruamel(text, "f.yaml")


@pytest.mark.filterwarnings("ignore::ruamel.yaml.error.ReusedAnchorWarning")  # a generated file may reuse one
@pytest.mark.parametrize("seed", range(4))
def test_whatever_the_reader_accepts_it_reads_as_ruamel_does(seed):
    rng = random.Random(seed)
    accepted = 0
    for _ in range(400):
        text = document(rng)
        fast = loads_with_positions(text)
        try:
            expected = ruamel(text)
        except ConfigError:
            assert fast is None, text  # ruamel refuses it: so must the reader
            continue
        if fast is None:
            continue
        accepted += 1
        assert repr(fast[0]) == repr(expected[0]), text  # same values and types (1 vs 1.0, True vs 'true')
        assert fast[1] == expected[1], text
    assert accepted >= 60, accepted  # the generator is not all give-ups


def test_a_plain_project_file_is_read_without_ruamel_and_one_with_a_multi_line_flow_by_ruamel():
    from pathlib import Path

    from flowtide.config import parse_yaml

    plain = (
        "project: bench  # a comment\n"
        "sources:\n  raw:\n    url: http://127.0.0.1:8765/seattle-weather.csv\n    path: data/raw.csv\n"
        '    schedule: "0 6 * * *"\n'
        "checks:\n  data/raw.csv:\n    rows: {min: 28}\n    columns:\n"
        "      temp_max: {type: float, min: -30, max: 50}\n"
        "      weather: {type: str, in: [drizzle, rain, sun, snow, fog]}\n"
        "stages:\n  train:\n    cmd: python stage.py train data/features.csv model.txt\n"
        "    deps: [stage.py, data/features.csv]\n    outs:\n      - model.txt\n    params: [train.lr]\n"
    )
    fast = loads_with_positions(plain)
    assert fast is not None and fast == ruamel(plain) == parse_yaml(plain, "flowtide.yaml")
    assert fast[1][("checks", "data/raw.csv", "columns", "weather", "in", 2)] == (12, 48)
    root = Path(__file__).resolve().parent.parent
    weather = (root / "src/flowtide/examples/weather/flowtide.yaml").read_text(encoding="utf-8")
    assert "intended_use: >-" in weather and loads_with_positions(weather) == ruamel(weather)  # a folded scalar
    penguins = (root / "src/flowtide/examples/penguins/flowtide.yaml").read_text(encoding="utf-8")
    assert loads_with_positions(penguins) is None  # a flow list over several lines: ruamel's
    assert parse_yaml(penguins, "flowtide.yaml") == ruamel(penguins)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "   \n# c\n\n"])
def test_a_file_of_comments_and_blank_lines_is_null_as_ruamel_says(text):
    from flowtide.config import parse_yaml

    assert loads_with_positions(text) == ruamel(text) == (None, {})
    with pytest.raises(ConfigError, match="the file is empty"):
        from flowtide.config.load import parse_config

        parse_config(text)
    assert parse_yaml(text, "params.yaml") == (None, {})
