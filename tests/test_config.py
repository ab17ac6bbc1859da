from __future__ import annotations

import pytest

from flowtide.config import json_schema, load_config, parse_config
from flowtide.errors import ConfigError

from .conftest import run_cli

GOOD = """\
project: weather
sources:
  weather:
    url: http://127.0.0.1:8765/seattle-weather.csv
    path: data/raw/weather.csv
    schedule: "0 6 * * *"
checks:
  weather:
    columns:
      weather: {type: str, in: [rain, sun]}
"""


def test_parses_contract_example():
    config = parse_config(GOOD)
    assert config.project == "weather"
    assert config.sources["weather"].path == "data/raw/weather.csv"
    assert config.sources["weather"].storage == "git"
    assert config.checks["weather"].columns["weather"].in_ == ["rain", "sun"]
    assert config.where("sources", "weather", "path") == "flowtide.yaml:5:5"


def test_typo_names_line_column_and_suggestion():
    with pytest.raises(ConfigError) as info:
        parse_config(GOOD.replace("    schedule:", "    schedul:"))
    assert str(info.value).startswith(
        "flowtide.yaml:6:5: unknown key 'schedul' in sources.weather\nDid you mean 'schedule'?"
    )
    assert info.value.exit_code == 2


def test_wrong_type_and_missing_field():
    with pytest.raises(ConfigError, match=r"^flowtide.yaml:6:5: sources.weather.retries must be an integer, got 'x'"):
        parse_config(GOOD.replace('    schedule: "0 6 * * *"', "    retries: x"))
    with pytest.raises(ConfigError, match=r"^flowtide.yaml:3:3: missing required key 'sources.weather.url'"):
        parse_config(GOOD.replace("    url: http://127.0.0.1:8765/seattle-weather.csv\n", ""))


@pytest.mark.parametrize("path", ["../x.csv", "/etc/passwd", "a/../../x"])
def test_source_path_escaping_is_refused(path):
    with pytest.raises(ConfigError, match="source path"):
        parse_config(GOOD.replace("data/raw/weather.csv", path))


def test_bad_cron_and_yaml_syntax():
    with pytest.raises(ConfigError, match=r"flowtide.yaml:6:5: schedule '0 6 \* \*' must have 5 cron fields"):
        parse_config(GOOD.replace('"0 6 * * *"', '"0 6 * *"'))
    with pytest.raises(ConfigError, match=r"^flowtide.yaml:\d+:\d+: invalid YAML"):
        parse_config("project: [unclosed\n")


def test_cached_config_matches_and_follows_edits(tmp_path):
    (tmp_path / "flowtide.yaml").write_text(GOOD)
    (tmp_path / ".flowtide").mkdir()
    first = load_config(tmp_path)
    assert (tmp_path / ".flowtide" / "tmp" / "config.json").exists()
    again = load_config(tmp_path)
    assert again == first
    (tmp_path / "flowtide.yaml").write_text(GOOD.replace("project: weather", "project: other"))
    assert load_config(tmp_path).project == "other"


def test_schema_command_prints_json_schema(tmp_path):
    result = run_cli("schema")
    assert result.code == 0
    assert '"title": "flowtide.yaml"' in result.out
    schema = json_schema()
    assert "in" in schema["$defs"]["ColumnCheck"]["properties"]
    assert schema["additionalProperties"] is False


def test_every_setting_is_documented():
    """Each key of flowtide.yaml carries a description, so editors show it (`flowtide schema`)."""
    schema = json_schema()
    undocumented = [
        f"{name}.{key}"
        for name, definition in [("Config", schema), *schema["$defs"].items()]
        for key, prop in definition.get("properties", {}).items()
        if not prop.get("description")
    ]
    assert undocumented == []


def test_validation_does_not_pay_for_the_docstrings_only_the_schema_shows():
    """Reading attribute docstrings parses every config class's source: the validator built after each
    edit of flowtide.yaml skips them, the JSON Schema (built apart) keeps them."""
    from pydantic import TypeAdapter

    from flowtide.config.load import _adapter

    parse_config(b"project: p\n")
    validator_schema = _adapter(TypeAdapter).json_schema()
    assert "description" not in validator_schema["$defs"]["Source"]["properties"]["url"]
    assert json_schema()["$defs"]["Source"]["properties"]["url"]["description"].startswith("http(s)://")
    assert parse_config(b"project: p\n").project == "p"  # and the flag is back for the next one built
