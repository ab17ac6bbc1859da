"""A fast reader for the plain YAML most params and flowtide.yaml files are written in; the rest goes to ruamel.

A changed params.yaml is read on every rerun, and flowtide.yaml on the first
command after each edit: importing ruamel.yaml costs more than the whole rerun
budget. This reader accepts only block mappings, block lists, flow lists and
mappings of scalars on one line, plain and simply quoted scalars, evenly indented
``|``/``>`` block scalars, and comments, and gives up (returns None) on anything
it is not sure to read
exactly as YAML 1.2 would (aliases and deep nesting included, so that the bounded
reader in positions.py judges those). :func:`loads_with_positions` also gives the
line and column of every key and list item, as ruamel reports them, for the
messages that point into the file.
"""

from __future__ import annotations

import re
from typing import Any

_INT = re.compile(r"^[-+]?[0-9]+$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_PLAIN = re.compile(r"^[A-Za-z_](?:[A-Za-z0-9_ .\-/=+,]|:(?![ ]|$))*$")  # a ':' only inside a word, as in a URL
_COUNT_UNIT = re.compile(r"^[0-9]+[A-Za-z]+$")  # 7d, 30m, 24h: text in YAML 1.2 (no number form ends in letters)
_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_.\-/]*):(?:\s+(.*))?$")
_QUOTED = re.compile(r"""^("[^"\\]*"|'[^']*')$""")


_NULL = frozenset(("null", "Null", "NULL"))
_TRUE = frozenset(("true", "True", "TRUE"))
_FALSE = frozenset(("false", "False", "FALSE"))
_NOT_TEXT = _NULL | _TRUE | _FALSE  # a key spelled so is a null or a bool to YAML, not a string

_MAX_DEPTH = 100  # deeper files go to ruamel, whose bounded reader reports them (config.parse_yaml)


class _GiveUp(Exception):
    pass


def _scalar(text: str) -> Any:
    text = text.strip()
    if text in ("", "~") or text in _NULL:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    if _QUOTED.match(text):
        return text[1:-1]
    if text.startswith("[") and text.endswith("]"):  # a flat list of plain scalars (a sweep's `--set k=[a, b]`)
        if any(c in text[1:-1] for c in "[]{}\"':"):
            raise _GiveUp
        return _value(text)
    if (_PLAIN.match(text) and not text.endswith(" ")) or _COUNT_UNIT.match(text):
        return text
    raise _GiveUp


_FLOW_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*:(?=[ ])")
_FLOW_DEPTH = 20


def _value(text: str, line: int = 0, column: int = 0, path: tuple = (), positions: dict | None = None) -> Any:
    """A value in block context: a scalar, or a flow list or mapping ({type: str, in: [a, b]}) of those.

    ``positions``: record where each item or key of a flow collection starts (``text`` begins at the
    0-based ``column`` of ``line``).
    """
    if not text.startswith(("[", "{")):
        return _scalar(text)
    value, end = _flow(text, 0, line, column, path, positions, 0)
    if text[end:].strip():
        raise _GiveUp
    return value


def _flow(text: str, i: int, line: int, column: int, path: tuple, positions: dict | None, depth: int):
    """The flow node at ``text[i]`` (after spaces) and the index after it. Quoted strings without escapes,
    plain scalars without ':' or '#', keys that are plain words; anything else gives up."""
    while i < len(text) and text[i] == " ":
        i += 1
    if i >= len(text):
        raise _GiveUp
    if depth > _FLOW_DEPTH:
        raise _GiveUp
    opener = text[i]
    if opener in "[{":
        closer = "]" if opener == "[" else "}"
        out: Any = [] if opener == "[" else {}
        i += 1
        while True:
            while i < len(text) and text[i] == " ":
                i += 1
            if i < len(text) and text[i] == closer and not out:
                return out, i + 1
            if opener == "[":
                at = (*path, len(out))
            else:
                match = _FLOW_KEY.match(text, i)
                if not match:
                    raise _GiveUp
                key = match.group()[:-1]
                if key in out or key in _NOT_TEXT:
                    raise _GiveUp
                at = (*path, key)
                if positions is not None:
                    positions[at] = (line, column + i + 1)
                i = match.end()
                while i < len(text) and text[i] == " ":
                    i += 1
            if opener == "[" and positions is not None:
                positions[at] = (line, column + i + 1)
            value, i = _flow(text, i, line, column, at, positions, depth + 1)
            if opener == "[":
                out.append(value)
            else:
                out[key] = value
            while i < len(text) and text[i] == " ":
                i += 1
            if i < len(text) and text[i] == closer:
                return out, i + 1
            if i >= len(text) or text[i] != ",":
                raise _GiveUp
            i += 1
            while i < len(text) and text[i] == " ":
                i += 1
            if i < len(text) and text[i] == closer:
                raise _GiveUp  # a trailing comma: YAML's rules, not this reader's
    if opener in "\"'":
        end = text.find(opener, i + 1)
        if end < 0 or "\\" in text[i + 1 : end] or text[end + 1 : end + 2] == opener:
            raise _GiveUp
        return text[i + 1 : end], end + 1
    end = i
    while end < len(text) and text[end] not in ",[]{}":
        end += 1
    plain = text[i:end].rstrip()
    if not plain or ":" in plain or "#" in plain or plain.startswith(("?", "&", "*", "!", "|", ">", "%", "@", "`")):
        raise _GiveUp
    return _scalar(plain), end


def _strip_comment(line: str) -> str:
    if line.lstrip().startswith("#"):
        return ""
    cut = re.search(r"\s#", line)
    code = line[: cut.start()] if cut else line
    if "#" in code and ("'" in code or '"' in code):
        raise _GiveUp  # a '#' might be inside quotes
    return code.rstrip()


def loads_with_positions(text: str) -> tuple[dict[str, Any] | None, dict[tuple, tuple[int, int]]] | None:
    """(mapping, positions) as :func:`flowtide.config.positions.parse_yaml` gives them: the (line, column),
    1-based, of every key and list item by its path; None when ``text`` is not YAML this reader handles.
    A file of only comments and blank lines is YAML's null, as ruamel says: (None, {})."""
    positions: dict[tuple, tuple[int, int]] = {}
    try:
        data = _parse(text, positions)
    except _GiveUp:
        return None
    return (data or None), positions  # every content line adds a key or gives up: {} means no content


def _parse(text: str, positions: dict | None = None) -> dict[str, Any]:
    if text.startswith("\ufeff"):
        text = text[1:]
    if any(c in text for c in "\r\x85\u2028\u2029\x0b\x0c"):
        raise _GiveUp  # line breaks other than \n, and characters splitlines() would also break on
    lines: list[tuple[int, str, int]] = []
    blocks: dict[int, str] = {}  # line number of a `key: >-` header -> the block scalar's text
    raws = text.split("\n")
    number = 0
    while number < len(raws):
        raw = raws[number]
        number += 1
        if "\t" in raw[: len(raw) - len(raw.lstrip())]:
            raise _GiveUp
        line = _strip_comment(raw)
        if line.strip():
            if line.strip() in ("---", "...") or line.lstrip()[0] in "&*!|>%@`{":
                raise _GiveUp
            indent = len(line) - len(line.lstrip())
            lines.append((indent, line.strip(), number))
            key = _KEY.match(line.strip())
            if key and key.group(2) in ("|", "|-", ">", ">-"):
                blocks[number], number = _block_scalar(raws, number, indent, key.group(2))
    return _build(lines, blocks, positions)


def _block_scalar(raws: list[str], start: int, indent: int, style: str) -> tuple[str, int]:
    """The text of the block scalar whose header ends line ``start`` (1-based) under a key at ``indent``,
    and the index of the first line after it. Only the simple case: every line at one indentation, no blank
    line before or inside it, no tab, no trailing space, clip or strip chomping (``|``, ``|-``, ``>``,
    ``>-``); folding is then joining with a space."""
    body: list[str] = []
    end, width, blank, last = start, 0, False, start
    while end < len(raws):
        raw = raws[end]
        if not raw:
            blank = True
            end += 1
            continue
        here = len(raw) - len(raw.lstrip(" "))
        if here <= indent and raw.strip():
            break
        if blank or not raw.strip() or "\t" in raw or raw != raw.rstrip():
            raise _GiveUp  # a blank line before or inside, only spaces, a tab, trailing spaces: YAML's rules
        width = width or here
        if here != width:
            raise _GiveUp  # more indented lines keep their breaks
        body.append(raw[width:])
        end += 1
        last = end  # the line after the last one of the text: it exists when that line ended in a break
    if not body:
        raise _GiveUp
    text = ("\n" if style[0] == "|" else " ").join(body)
    clip = not style.endswith("-") and last < len(raws)  # clip keeps the final break, if the file has one
    return (text + "\n" if clip else text), end


def _build(lines: list[tuple[int, str, int]], blocks: dict[int, str], positions: dict | None) -> dict[str, Any]:
    root: dict[str, Any] = {}
    # stack of (indent, container); a key waiting for its block value is a pending (indent, dict, key)
    stack: list[tuple[int, Any]] = [(-1, root)]
    pending: tuple[int, dict, str] | None = None
    paths: dict[int, tuple] = {id(root): ()}  # each container's path, for the positions
    for indent, content, number in lines:
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
                paths[id(container)] = (*paths[id(p_dict)], p_key)
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
            if positions is not None:
                if not item:
                    raise _GiveUp  # where ruamel places an empty item is its own affair
                at = (*paths[id(top)], len(top))
                column = indent + len(content) - len(item)
                positions[at] = (number, column + 1)
                top.append(_value(item, number, column, at, positions))
            else:
                top.append(_value(item))
            continue
        match = _KEY.match(content)
        if not match or not isinstance(top, dict) or (top is root and indent != 0):
            raise _GiveUp
        key, value = match.group(1), match.group(2)
        if key in top or key in _NOT_TEXT:
            raise _GiveUp  # a duplicate (ruamel refuses it), or a key YAML reads as a bool or null
        at = (*paths[id(top)], key)
        if positions is not None:
            positions[at] = (number, indent + 1)
        if number in blocks:
            top[key] = blocks[number]
        elif value is None or value == "":
            top[key] = None
            pending = (indent, top, key)
        else:
            top[key] = _value(value, number, indent + match.start(2), at, positions)
    return root
