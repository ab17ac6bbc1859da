"""The one grammar for spans of time (config.duration.Duration)."""

from __future__ import annotations

import pytest

from flowtide.config import Duration, parse_config
from flowtide.errors import ConfigError, UsageError

GRAMMAR = "90 (seconds), 90s, 30m, 1.5h, 7d or 2w"

GOOD = [
    ("90", 90.0),
    ("90s", 90.0),
    ("30m", 1800.0),
    ("1.5h", 5400.0),
    ("6h", 21600.0),
    ("7d", 604800.0),
    ("2w", 1209600.0),
    (" 45 m ", 2700.0),
    ("0.5s", 0.5),
    (3600, 3600.0),
    (1.5, 1.5),
]
BAD = [
    ("six hours", f"cooldown 'six hours' must look like {GRAMMAR}"),
    ("-5m", f"cooldown '-5m' must look like {GRAMMAR}"),
    ("1.5x", f"cooldown '1.5x' must look like {GRAMMAR}"),
    ("1h30m", f"cooldown '1h30m' must look like {GRAMMAR}"),
    ("6H", f"cooldown '6H' must look like {GRAMMAR}"),
    (".5h", f"cooldown '.5h' must look like {GRAMMAR}"),
    ("", f"cooldown '' must look like {GRAMMAR}"),
    (True, f"cooldown True must look like {GRAMMAR}"),
    (None, f"cooldown None must look like {GRAMMAR}"),
    (-60, f"cooldown -60 must be a positive number of seconds or look like {GRAMMAR}"),
    (float("inf"), f"cooldown inf must be a positive number of seconds or look like {GRAMMAR}"),
    ("0", "cooldown '0' must be longer than zero"),
    ("0h", "cooldown '0h' must be longer than zero"),
]


@pytest.mark.parametrize(("value", "seconds"), GOOD)
def test_grammar_accepts(value, seconds):
    duration = Duration.parse(value, what="cooldown")
    assert duration.seconds == seconds
    assert str(duration) == str(value).strip()  # the text as written, for messages and workflows


@pytest.mark.parametrize(("value", "message"), BAD)
def test_grammar_refuses(value, message):
    with pytest.raises(UsageError) as info:
        Duration.parse(value, what="cooldown")
    assert str(info.value) == message
    assert info.value.exit_code == 2


def test_zero_only_where_it_means_something():
    assert Duration.parse("0", allow_zero=True).seconds == 0
    assert parse_config("project: p\nmonitor: {cooldown: 0}\n").monitor.cooldown.seconds == 0  # no cooldown
    for key in ("window", "feedback_window", "log_segment"):
        section = "monitor" if key == "window" else "deploy"
        with pytest.raises(ConfigError) as info:
            parse_config(f"project: p\n{section}:\n  {key}: 0s\n")
        assert str(info.value) == f"flowtide.yaml:3:3: {section}.{key} '0s' must be longer than zero"


def test_config_fields_are_durations_with_their_text():
    config = parse_config("project: p\nmonitor: {window: 1.5h, cooldown: 3600}\ndeploy: {feedback_window: 2w}\n")
    assert config.monitor.window == Duration("1.5h", 5400.0)
    assert config.monitor.cooldown == Duration("3600", 3600.0)
    assert config.monitor.cooldown.whole_seconds == 3600
    assert config.deploy.feedback_window.seconds == 14 * 86400
    assert config.deploy.log_segment == Duration("1h", 3600.0)  # the default
    assert Duration.parse("0.5s").whole_seconds == 1


def test_whole_seconds_round_up():
    assert Duration.parse("1.5s").whole_seconds == 2


def test_json_schema_takes_both_spellings():
    import jsonschema

    from flowtide.config import json_schema

    schema = json_schema()
    cooldown = schema["$defs"]["Monitor"]["properties"]["cooldown"]
    assert cooldown["default"] == "6h"
    for value in ("1.5h", 3600, "90"):
        jsonschema.validate({"project": "p", "monitor": {"cooldown": value}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"project": "p", "monitor": {"cooldown": "soon"}}, schema)
