"""Values derived from one file (the parsed config, params, the registry listing), memoised as plain JSON.

A memo's first line is its stamp: the format, the memo's name and the source file's
inode, size, mtime_ns and ctime_ns. No checkout, archive or user call can set a
file's ctime, so a memo that git (or a tarball) brought along never matches and is
ignored; nothing past a stamp that does not match is even parsed. The body is JSON:
dataclasses are rebuilt by code from a fixed table of our own classes, with exactly
their fields; nothing in a memo is imported, unpickled or executed, so a wrong memo
can only cost a recomputation.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

FORMAT = 1
MISSING: Any = object()
_TAG = "$"  # marks tuples, dicts with non-string keys and dataclasses; a plain dict never holds it


class _Unfit(Exception):
    """The value (or the memo) is not made of the plain parts a memo may hold."""


def stamp(path: str | os.PathLike[str], name: str) -> str:
    """The first line of ``name``'s memo for ``path`` as it is now (raises FileNotFoundError)."""
    st = os.stat(path)
    return json.dumps([FORMAT, name, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns])


def read(file: str | os.PathLike[str], line: str, classes: Mapping[str, type] | None = None, expect=None) -> Any:
    """The value memoised in ``file`` under stamp ``line``, or MISSING (absent, stale, malformed, tagged wrongly)."""
    try:
        with open(file, "rb") as handle:
            if handle.readline(len(line) + 2).rstrip(b"\n") != line.encode():
                return MISSING
            head = handle.readline(64)
            body = handle.read()
        tagged = json.loads(head)
        value = json.loads(body)
        if tagged is True:
            value = _decode(value, classes or {})
        elif tagged is not False:
            return MISSING
    except (OSError, ValueError, TypeError, KeyError, RecursionError, _Unfit):
        return MISSING
    if expect is not None and not isinstance(value, expect):
        return MISSING
    return value


def read_unstamped(file: str | os.PathLike[str], expect=None) -> Any:
    """A plain (untagged) memo's value whatever its stamp says, or MISSING: for callers that check by content
    whether an older value still describes their file (and so may be brought up to date, not recomputed)."""
    try:
        with open(file, "rb") as handle:
            handle.readline(1 << 16)
            if json.loads(handle.readline(64)) is not False:
                return MISSING
            value = json.loads(handle.read())
    except (OSError, ValueError, TypeError, RecursionError):
        return MISSING
    if expect is not None and not isinstance(value, expect):
        return MISSING
    return value


def write(
    file: str | os.PathLike[str],
    line: str,
    value: Any,
    classes: Mapping[str, type] | None = None,
    *,
    plain: bool = False,
) -> bool:
    """Memoise ``value`` under stamp ``line``; False (and nothing written) if it has parts a memo cannot hold.

    ``plain``: the caller vouches that ``value`` is only dicts with string keys, lists, strings, numbers,
    booleans and None (the registry listing: 100,000 records), so the walk that tags tuples and
    dataclasses is skipped; json still refuses anything it cannot encode."""
    from .atomic import atomic_write

    flags = [False]
    try:
        encoded = value if plain else _encode(value, classes or {}, flags)
        body = json.dumps(encoded, separators=(",", ":"), ensure_ascii=False)
    except (_Unfit, ValueError, TypeError, RecursionError):
        return False
    text = f"{line}\n{json.dumps(flags[0])}\n{body}"
    try:
        atomic_write(file, text.encode("utf-8"), fsync=False)
    except OSError:
        return False
    return True


def _encode(value: Any, classes: Mapping[str, type], flags: list[bool]) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        if type(value) not in (int, float):  # numpy scalars, enums: their type would not survive
            raise _Unfit(type(value).__name__)
        return value
    if isinstance(value, list):
        return [_encode(v, classes, flags) for v in value]
    if isinstance(value, tuple):
        flags[0] = True
        return {_TAG: "tuple", "items": [_encode(v, classes, flags) for v in value]}
    if isinstance(value, dict):
        if all(type(k) is str for k in value) and _TAG not in value:
            return {k: _encode(v, classes, flags) for k, v in value.items()}
        flags[0] = True
        return {
            _TAG: "dict",
            "items": [[_encode(k, classes, flags), _encode(v, classes, flags)] for k, v in value.items()],
        }
    name = type(value).__name__
    if classes.get(name) is type(value):
        import dataclasses

        flags[0] = True
        fields = {f.name: _encode(getattr(value, f.name), classes, flags) for f in dataclasses.fields(value)}
        return {_TAG: name, "fields": fields}
    raise _Unfit(name)


def _decode(value: Any, classes: Mapping[str, type]) -> Any:
    if isinstance(value, list):
        return [_decode(v, classes) for v in value]
    if not isinstance(value, dict):
        return value
    if _TAG not in value:
        return {k: _decode(v, classes) for k, v in value.items()}
    tag = value[_TAG]
    if tag == "tuple" and set(value) == {_TAG, "items"}:
        return tuple(_decode(v, classes) for v in _list(value["items"]))
    if tag == "dict" and set(value) == {_TAG, "items"}:
        out = {}
        for pair in _list(value["items"]):
            if not isinstance(pair, list) or len(pair) != 2:
                raise _Unfit("dict item")
            out[_decode(pair[0], classes)] = _decode(pair[1], classes)  # an unhashable key raises TypeError
        return out
    cls = classes.get(tag) if isinstance(tag, str) else None
    if cls is None or set(value) != {_TAG, "fields"} or not isinstance(value["fields"], dict):
        raise _Unfit(f"tag {tag!r}")
    import dataclasses

    names = {f.name for f in dataclasses.fields(cls) if f.init}
    if set(value["fields"]) != names:  # a field added, renamed or dropped since the memo was written
        raise _Unfit(f"{tag} fields")
    return cls(**{k: _decode(v, classes) for k, v in value["fields"].items()})


def _list(value: Any) -> list:
    if not isinstance(value, list):
        raise _Unfit("items")
    return value
