"""Error text for flowtide.yaml: pydantic's findings said as what to change, and where.

Also the one renaming between YAML keys and dataclass fields (``in`` ↔ ``in_``).
"""

from __future__ import annotations

import keyword
from typing import Any

from ..errors import ConfigError
from .schema import _INTERNAL, Config


def _rename_keywords(data: Any) -> Any:
    """YAML keys that are Python keywords (``in``) map to fields with a trailing underscore."""
    if isinstance(data, dict):
        return {
            (f"{k}_" if isinstance(k, str) and keyword.iskeyword(k) else k): _rename_keywords(v)
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [_rename_keywords(v) for v in data]
    return data


def _yaml_key(part: Any) -> Any:
    if isinstance(part, str) and part.endswith("_") and keyword.iskeyword(part[:-1]):
        return part[:-1]
    return part


_TYPE_WORDS = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "dataclass_type": "a mapping",
}


def _lift_plugin_checks(data: dict) -> dict:
    """Keys of a column's rules that name an installed check (not a built-in field) move under ``plugins``.

    A key that names no installed check stays, and is reported as an unknown key
    (a typo such as ``nto_null`` must not pass silently).
    """
    import dataclasses

    from .. import plugins
    from .schema import ColumnCheck

    known = {f.name for f in dataclasses.fields(ColumnCheck)}
    checks = data.get("checks")
    if not isinstance(checks, dict):
        return data
    for suite in checks.values():
        columns = suite.get("columns") if isinstance(suite, dict) else None
        if not isinstance(columns, dict):
            continue
        for name, rules in list(columns.items()):
            if not isinstance(rules, dict):
                continue
            extra = [k for k in rules if k not in known and isinstance(k, str)]
            lifted = {k: rules[k] for k in extra if plugins.has(plugins.CHECKS, _yaml_key(k))}
            if lifted:
                kept = {k: v for k, v in rules.items() if k not in lifted}
                kept["plugins"] = {**(rules.get("plugins") or {}), **{_yaml_key(k): v for k, v in lifted.items()}}
                columns[name] = kept
    return data


def _translate(exc, file: str, positions: dict) -> ConfigError:
    err = exc.errors()[0]
    loc = tuple(
        _yaml_key(p) for p in err["loc"] if not (isinstance(p, str) and p in ("function-after", "list[str]", "bool"))
    )
    # pydantic reports union members as extra loc parts; keep only parts that are real keys
    clean: list = []
    for part in loc:
        if isinstance(part, str) and "[" in part:
            continue
        clean.append(part)
    loc = tuple(clean)
    dotted = ".".join(str(p) for p in loc) or "(top level)"
    kind = err["type"]
    probe = loc
    while probe and probe not in positions:
        probe = probe[:-1]
    line, col = positions.get(probe, (None, None))
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        parent = loc[:-1]
        allowed = _allowed_keys(parent)
        hint = f"Allowed keys here: {', '.join(allowed)}." if allowed else None
        close = _close_match(str(loc[-1]), allowed)
        if close:
            hint = f"Did you mean {close!r}? " + (hint or "")
        if len(parent) == 4 and parent[0] == "checks" and parent[2] == "columns":
            hint = (hint or "") + (
                f" A check from an installed package is written the same way, but no installed package registers "
                f"{loc[-1]!r} (entry-point group flowtide.checks)."
            )
        return ConfigError(
            f"unknown key {loc[-1]!r} in {'.'.join(map(str, parent)) or 'the top level'}",
            file=file,
            line=line,
            column=col,
            hint=hint,
        )
    if kind == "missing":
        return ConfigError(
            f"missing required key {dotted!r}",
            file=file,
            line=line,
            column=col,
            hint=f"Add `{loc[-1]}:` here.",
        )
    if kind in _TYPE_WORDS:
        hint = None
        if kind == "string_type" and "null_values" in loc:
            # YAML reads unquoted null, ~, true, 1.0 as other things than the cell text they stand for
            hint = 'Quote the token so YAML keeps it as text, e.g. null_values: ["null", "-", "-999"].'
        return ConfigError(
            f"{dotted} must be {_TYPE_WORDS[kind]}, got {err.get('input')!r}",
            file=file,
            line=line,
            column=col,
            hint=hint,
        )
    if kind == "duration":
        return ConfigError(f"{dotted} {err['msg']}", file=file, line=line, column=col)
    if kind == "literal_error":
        return ConfigError(
            f"{dotted}: {err['msg'].lower()}, got {err.get('input')!r}",
            file=file,
            line=line,
            column=col,
        )
    return ConfigError(f"{dotted}: {err['msg']}", file=file, line=line, column=col)


def _allowed_keys(parent: tuple) -> list[str]:
    """YAML keys allowed under ``parent`` (field names of the dataclass found there)."""
    import dataclasses
    import typing

    cls: Any = Config
    user_key_next = False  # after dict[str, X] or list[X] comes a user name or an index
    for part in parent:
        if user_key_next:
            user_key_next = False
            continue
        if not dataclasses.is_dataclass(cls):
            return []
        hints = typing.get_type_hints(cls)
        if part not in hints:
            return []
        hint = _unwrap(hints[part])
        if typing.get_origin(hint) in (dict, list):
            cls = typing.get_args(hint)[-1]
            user_key_next = True
        else:
            cls = hint
    if user_key_next or not dataclasses.is_dataclass(cls):
        return []
    return [_yaml_key(f.name) for f in dataclasses.fields(cls) if f.name not in _INTERNAL]


def _unwrap(hint):
    import types
    import typing

    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return hint


def _close_match(word: str, options: list[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return found[0] if found else None
