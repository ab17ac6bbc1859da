"""A fast reader for the plain YAML most params files are written in; anything else goes to ruamel.

A changed params.yaml is read on every rerun, and importing ruamel.yaml costs
more than the whole rerun budget. This reader accepts only block mappings,
block and flow lists of scalars, and comments, and gives up (returns None) on
anything it is not sure to read exactly as YAML 1.2 would (aliases and deep
nesting included, so that the bounded reader in config.py judges those).
"""

from __future__ import annotations

import re
from typing import Any

_INT = re.compile(r"^[-+]?[0-9]+$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_ .\-/]*$")
_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_.\-]*):(?:\s+(.*))?$")
_QUOTED = re.compile(r"""^("[^"\\]*"|'[^']*')$""")


_MAX_DEPTH = 100  # deeper files go to ruamel, whose bounded reader reports them (config.parse_yaml)


class _GiveUp(Exception):
    pass


def _scalar(text: str) -> Any:
    text = text.strip()
    if text in ("", "~", "null", "Null", "NULL"):
        return None
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    if _QUOTED.match(text):
        return text[1:-1]
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        if not inner:
            return []
        if any(c in inner for c in "[]{}\"'"):
            raise _GiveUp
        return [_scalar(part) for part in inner.split(",")]
    if _PLAIN.match(text) and not text.endswith(" "):
        return text
    raise _GiveUp


def _strip_comment(line: str) -> str:
    if line.lstrip().startswith("#"):
        return ""
    cut = re.search(r"\s#", line)
    code = line[: cut.start()] if cut else line
    if "#" in code and ("'" in code or '"' in code):
        raise _GiveUp  # a '#' might be inside quotes
    return code.rstrip()


def loads(text: str) -> dict[str, Any] | None:
    """The mapping in ``text``, or None when it uses YAML this reader does not handle."""
    try:
        return _parse(text)
    except _GiveUp:
        return None


def _parse(text: str) -> dict[str, Any]:
    lines = []
    for raw in text.splitlines():
        if "\t" in raw[: len(raw) - len(raw.lstrip())]:
            raise _GiveUp
        line = _strip_comment(raw)
        if line.strip():
            if line.strip() in ("---", "...") or line.lstrip()[0] in "&*!|>%@`{":
                raise _GiveUp
            lines.append((len(line) - len(line.lstrip()), line.strip()))
    root: dict[str, Any] = {}
    # stack of (indent, container); a key waiting for its block value is a pending (indent, dict, key)
    stack: list[tuple[int, Any]] = [(-1, root)]
    pending: tuple[int, dict, str] | None = None
    for indent, content in lines:
        if pending is not None:
            p_indent, p_dict, p_key = pending
            pending = None
            if content.startswith("- ") or content == "-":
                if indent < p_indent:
                    raise _GiveUp
                container: Any = []
            elif indent > p_indent:
                container = {}
            else:
                p_dict[p_key] = None
                container = None
            if container is not None:
                p_dict[p_key] = container
                stack.append((indent, container))
                if len(stack) > _MAX_DEPTH:
                    raise _GiveUp
        is_item = content.startswith("- ") or content == "-"
        while stack and (
            indent < stack[-1][0] or (indent == stack[-1][0] and isinstance(stack[-1][1], list) and not is_item)
        ):
            stack.pop()
        if not stack:
            raise _GiveUp
        top_indent, top = stack[-1]
        if indent != top_indent and top is not root:
            raise _GiveUp
        if is_item:
            if not isinstance(top, list):
                raise _GiveUp
            item = content[2:].strip()
            if _KEY.match(item):
                raise _GiveUp  # lists of mappings: leave them to ruamel
            top.append(_scalar(item))
            continue
        match = _KEY.match(content)
        if not match or not isinstance(top, dict) or (top is root and indent != 0):
            raise _GiveUp
        key, value = match.group(1), match.group(2)
        if key in top:
            raise _GiveUp
        if value is None or value == "":
            top[key] = None
            pending = (indent, top, key)
        else:
            top[key] = _scalar(value)
    return root
