"""A tiny, deterministic YAML emitter for workflow files (block style, comments kept).

Plain string building rather than a YAML library's dumper: the output is meant
to be read and diffed by people, carries comments, and must be byte-identical
on every run. Only what workflows need: mappings, sequences, strings, ints, bools.
"""

from __future__ import annotations

import json
import re
from typing import Any


class Q(str):
    """A string always written double-quoted (cron lines, versions)."""


class Comment:
    """A comment line inside a mapping (used as a key; its value is ignored)."""

    _count = 0

    def __init__(self, text: str) -> None:
        self.text = text
        Comment._count += 1
        self._id = Comment._count

    def __hash__(self) -> int:
        return hash(("comment", self._id))


class Trailing:
    """A scalar followed by a `# comment` on the same line (e.g. a pinned action's version)."""

    def __init__(self, value: str, comment: str) -> None:
        self.value = value
        self.comment = comment


_SPECIAL = re.compile(r"^(?:~|null|true|false|yes|no|on|off|y|n|[-+]?(?:\.inf|\.nan)|[-+]?[0-9][0-9_.:eE+-]*)$", re.I)
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")  # written plain, even `on` (GitHub reads YAML 1.2)
_INDICATORS = set("-?:,[]{}#&*!|>'\"%@`")


def _plain_ok(text: str) -> bool:
    if not text or text != text.strip() or "\n" in text:
        return False
    if text[0] in _INDICATORS and not (text[0] in "-?:" and len(text) > 1 and text[1] != " "):
        return False
    if ": " in text or " #" in text or text.endswith(":") or "\t" in text:
        return False
    return not _SPECIAL.match(text)


def scalar(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Trailing):
        return f"{scalar(value.value)} # {value.comment}"
    text = str(value)
    if not isinstance(value, Q) and _plain_ok(text):
        return text
    return json.dumps(text, ensure_ascii=False)


def _is_block_text(value: Any) -> bool:
    return isinstance(value, str) and not isinstance(value, Q) and "\n" in value


def _block_text(value: str, indent: int) -> list[str]:
    pad = " " * indent
    body = value.rstrip("\n")
    return [(pad + line) if line else "" for line in body.split("\n")]


def emit(data: dict, indent: int = 0) -> list[str]:
    """Lines for a mapping at ``indent`` spaces."""
    lines: list[str] = []
    pad = " " * indent
    for key, value in data.items():
        if isinstance(key, Comment):
            lines += [f"{pad}# {line}".rstrip() for line in key.text.split("\n")]
            continue
        head = f"{pad}{key if isinstance(key, str) and _KEY.match(key) else scalar(key)}:"
        lines += _value(head, value, indent)
    return lines


def _value(head: str, value: Any, indent: int) -> list[str]:
    if isinstance(value, dict):
        if not value:
            return [f"{head} {{}}"]
        return [head, *emit(value, indent + 2)]
    if isinstance(value, list):
        if not value:
            return [f"{head} []"]
        lines = [head]
        for item in value:
            lines += _item(item, indent + 2)
        return lines
    if value is None:
        return [head]
    if _is_block_text(value):
        return [f"{head} |", *_block_text(value, indent + 2)]
    return [f"{head} {scalar(value)}"]


def _item(item: Any, indent: int) -> list[str]:
    pad = " " * indent
    if isinstance(item, dict) and item:
        inner = emit(item, indent + 2)
        # the first key goes on the dash line: "- name: x"
        first = inner[0][indent + 2 :]
        return [f"{pad}- {first}", *inner[1:]]
    if _is_block_text(item):
        return [f"{pad}- |", *_block_text(item, indent + 2)]
    if isinstance(item, (dict, list)):
        return [f"{pad}- {'{}' if isinstance(item, dict) else '[]'}"]
    return [f"{pad}- {scalar(item)}"]


def dump(data: dict, header: str = "") -> str:
    lines = [f"# {line}".rstrip() for line in header.split("\n")] if header else []
    out: list[str] = []
    in_jobs = False
    for line in emit(data):
        top = bool(line) and not line.startswith(" ")
        job = in_jobs and line.startswith("  ") and line[2:3] not in (" ", "#", "")
        if top:
            in_jobs = line == "jobs:"
        # a blank line between top-level blocks and between jobs reads better in review
        if (top or job) and out and out[-1] and not out[-1].lstrip().startswith("#") and out[-1] != "jobs:":
            out.append("")
        out.append(line)
    return "\n".join(lines + out) + "\n"
