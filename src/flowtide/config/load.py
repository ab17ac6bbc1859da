"""Loading flowtide.yaml and params.yaml: find the project, parse, validate once, memoise."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .. import plugins
from ..errors import ConfigError
from .cache import cached_by_stat, config_classes
from .schema import _FORBID, _INTERNAL, CONFIG_FILE, STATE_DIR, Config


def find_root(start: str | os.PathLike[str] | None = None) -> Path:
    """The nearest directory at or above ``start`` that holds a flowtide.yaml."""
    here = Path(start or os.getcwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / CONFIG_FILE).is_file():
            return candidate
    raise ConfigError(
        f"no {CONFIG_FILE} in {here} or any parent directory",
        hint="Run `flowtide init` to create one, or cd into a flowtide project.",
    )


def load_config(root: str | os.PathLike[str], *, use_cache: bool = True) -> Config:
    """Parse and validate ``root/flowtide.yaml`` (cached by stat under .flowtide/)."""
    root = Path(root)
    path = root / CONFIG_FILE
    plugins.remember_scan_in(root / STATE_DIR / "tmp")  # (validating a changed file lists the installed plugins)
    return cached_by_stat(
        root,
        path,
        "config",
        lambda: parse_config(path.read_bytes(), CONFIG_FILE),
        use_cache=use_cache,
        classes=config_classes(),
        expect=Config,
    )


def parse_config(text: bytes | str, file: str = CONFIG_FILE) -> Config:
    """Validate YAML text into a :class:`Config`: every rule is checked here, ConfigError at the first problem."""
    from .fast import build
    from .messages import _lift_plugin_checks, _rename_keywords, _translate
    from .positions import parse_yaml
    from .validate import check_semantics

    data, positions = parse_yaml(text, file)
    if data is None:
        raise ConfigError("the file is empty", file=file, line=1, column=1, hint="Start from `flowtide init`.")
    if not isinstance(data, dict):
        raise ConfigError(
            "the top level must be a mapping of keys such as project:, sources:, stages:",
            file=file,
            line=1,
            column=1,
        )
    for key in _INTERNAL:
        if key in data:
            line, col = positions.get((key,), (None, None))
            raise ConfigError(f"unknown key {key!r}", file=file, line=line, column=col)
    data = _lift_plugin_checks(_rename_keywords(data))
    config = build(data)  # a file whose every value has its field's own type needs no pydantic
    if config is None:
        from pydantic import TypeAdapter, ValidationError

        try:
            config = _adapter(TypeAdapter).validate_python(data)
        except ValidationError as exc:
            raise _translate(exc, file, positions) from None
    config.file = file
    config.positions = positions
    check_semantics(config)
    return config


_ADAPTERS: dict[bool, Any] = {}


def _adapter(type_adapter, *, docs: bool = False):
    """pydantic's validator of :class:`Config`, built once per process.

    Only the JSON Schema shows the fields' docstrings; reading them means parsing
    every config class's source (about 100 ms of CPU), so the validator that
    every command after an edit of flowtide.yaml builds is made without them.
    """
    if docs not in _ADAPTERS:
        _FORBID["use_attribute_docstrings"] = docs  # the one config dict every class shares
        try:
            _ADAPTERS[docs] = type_adapter(Config)
        finally:
            _FORBID["use_attribute_docstrings"] = True
    return _ADAPTERS[docs]


def json_schema() -> dict:
    """The JSON Schema of flowtide.yaml (for editor completion)."""
    from pydantic import TypeAdapter

    schema = _adapter(TypeAdapter, docs=True).json_schema()
    # internal bookkeeping fields are not part of the file format
    for props in (schema.get("properties", {}),):
        for name in _INTERNAL:
            props.pop(name, None)
    for definition in schema.get("$defs", {}).values():
        props = definition.get("properties", {})
        if "in_" in props:
            props["in"] = props.pop("in_")
        for prop in props.values():  # a Duration's default as it is written in YAML, not its fields
            if isinstance(prop.get("default"), dict) and set(prop["default"]) == {"text", "seconds"}:
                prop["default"] = prop["default"]["text"]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "flowtide.yaml"
    return schema


def load_params(root: str | os.PathLike[str], params_file: str = "params.yaml") -> dict[str, Any]:
    """params.yaml as a dict ({} when absent), cached by stat like the config."""
    root = Path(root)
    path = root / params_file
    if not path.exists():
        return {}

    def compute() -> dict[str, Any]:
        from .positions import parse_yaml

        data, _ = parse_yaml(path.read_bytes(), params_file)
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ConfigError("params file must be a mapping", file=params_file, line=1, column=1)
        return data

    return cached_by_stat(root, path, "params", compute, expect=dict)
