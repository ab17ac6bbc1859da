"""flowtide.yaml built without pydantic when every value is certainly valid.

pydantic is the config's validator and the author of every type error's
message, but importing it and building its validator of :class:`Config` costs
about 150 ms, paid by the first command after every edit of flowtide.yaml (the
memo in :mod:`.cache` covers the rest). Most edits leave a file whose every value
already has exactly the type its field declares; for such a file this module
builds the same dataclasses pydantic would, from the same type annotations,
and pydantic is not imported.

The rule is one-sided: a value is accepted here only when it has *exactly* the
declared type (an ``int`` for ``int``, a ``str`` for ``str``, a listed word for a
``Literal``), or is an ``int`` for a ``float`` field (pydantic makes it a float,
as here). Anything else — a coercion pydantic might make (``"3"`` for an int,
``1`` for a bool), an unknown key, a missing required field, a type this module
does not know — makes :func:`build` return None, and :func:`.load.parse_config`
asks pydantic, which accepts or explains exactly as before. So this module can
only ever make a valid file load sooner; it never words an error. tests/
test_config_fast.py checks, field by field and value by value, that whatever it
builds equals what pydantic builds.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal

from .duration import Duration, _read
from .schema import Config

_HINTS: dict[type, tuple[dict[str, Any], frozenset[str], frozenset[str]]] = {}
_BIG = 2**53  # ints beyond this are left to pydantic (float() rounds them, or overflows)


class _Unsure(Exception):
    """The value is not certainly valid: pydantic decides."""


def build(data: dict) -> Config | None:
    """``data`` (plain YAML values, keywords already renamed) as a Config, or None when pydantic must decide."""
    try:
        return _value(Config, data)
    except _Unsure:
        return None


def _fields(cls: type) -> tuple[dict[str, Any], frozenset[str], frozenset[str]]:
    """A dataclass's field types, the names the YAML may give, and the names it must give."""
    found = _HINTS.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls)
        allowed, required = set(), set()
        for f in dataclasses.fields(cls):
            if f.metadata.get("internal"):
                continue
            allowed.add(f.name)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                required.add(f.name)
        found = _HINTS[cls] = (hints, frozenset(allowed), frozenset(required))
    return found


def _value(tp: Any, value: Any) -> Any:
    """``value`` as pydantic would make it for the annotation ``tp``; _Unsure when that is not certain."""
    if tp is Any:
        return value
    if tp is str or tp is bool or tp is int:
        if type(value) is tp:
            return value
        raise _Unsure
    if tp is float:
        if type(value) is float:
            return value
        if type(value) is int and -_BIG <= value <= _BIG:
            return float(value)
        raise _Unsure
    if tp is type(None):
        if value is None:
            return None
        raise _Unsure
    if tp is Duration:
        found = _read(value) if type(value) in (str, int, float) else None
        if isinstance(found, Duration):
            return found
        raise _Unsure
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if type(value) is not dict:
            raise _Unsure
        hints, allowed, required = _fields(tp)
        if not required <= value.keys() or not value.keys() <= allowed:
            raise _Unsure
        return tp(**{key: _value(hints[key], item) for key, item in value.items()})
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Literal:
        if type(value) is str and value in args and all(type(a) is str for a in args):
            return value
        raise _Unsure
    if origin is list:
        if type(value) is not list:
            raise _Unsure
        return [_value(args[0], item) for item in value]
    if origin is dict:
        if type(value) is not dict or args[0] is not str or not all(type(k) is str for k in value):
            raise _Unsure
        return {key: _value(args[1], item) for key, item in value.items()}
    if origin is typing.Union or origin is types.UnionType:
        return _union(args, value)
    raise _Unsure  # a kind of annotation this module does not know


def _union(args: tuple, value: Any) -> Any:
    """A union decided only when exactly one member can take the value's own type (pydantic's smart mode agrees)."""
    kind = type(value)
    takers = []
    for member in args:
        origin = typing.get_origin(member)
        if member is type(None):
            fits = value is None
        elif member in (str, bool, int):
            fits = kind is member
        elif member is float:
            fits = kind is float or (kind is int and int not in args)
        elif origin is Literal:
            fits = kind is str
        elif origin is list:
            fits = kind is list
        elif origin is dict or (isinstance(member, type) and dataclasses.is_dataclass(member)):
            fits = kind is dict
        else:
            raise _Unsure
        if fits:
            takers.append(member)
    if len(takers) != 1:
        raise _Unsure
    return _value(takers[0], value)
