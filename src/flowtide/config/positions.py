"""YAML text to plain values plus the ``(line, column)`` of every key, within bounds.

Every error in flowtide.yaml (and params.yaml) names ``file:line:col``; the positions
recorded here are where those come from.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError

_MAX_DEPTH = 100  # nesting levels of a project YAML file (deeper is refused before parsing slows down)
_ALIAS_VALUES = 10_000  # values that aliases (*name) may add beyond what the text itself spells out


def parse_yaml(text: bytes | str, file: str) -> tuple[Any, dict[tuple, tuple[int, int]]]:
    """Parse YAML into plain Python values plus the (line, col) of every key.

    Bounded, since a project file may come from anyone's branch: text must be UTF-8,
    nesting stops at _MAX_DEPTH and aliases may not expand into more than
    _ALIAS_VALUES values (ten lines of nested ``*a`` otherwise make billions).
    """
    from ._miniyaml import loads_with_positions

    text = _yaml_text(text, file)
    plain = loads_with_positions(text)  # the plain YAML most files are, without importing ruamel (~20 ms)
    if plain is not None:
        return plain
    return _parse_with_ruamel(text, file)


def _parse_with_ruamel(text: str, file: str) -> tuple[Any, dict[tuple, tuple[int, int]]]:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    _check_flow_depth(text, file)
    yaml = YAML(typ="rt")
    yaml.max_depth = _MAX_DEPTH  # ruamel >= 0.19; older versions end in the RecursionError below
    try:
        data = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        if type(exc).__name__ == "MaxDepthExceededError":
            raise _too_deep(file, line, col) from None
        raise ConfigError(f"invalid YAML: {problem}", file=file, line=line, column=col) from exc
    except YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=file) from exc
    except RecursionError:
        raise _too_deep(file, None, None) from None
    positions: dict[tuple, tuple[int, int]] = {}
    budget = [len(text) + _ALIAS_VALUES]  # a file without aliases has fewer values than characters
    return _plain(data, (), positions, budget, file), positions


def _yaml_text(data: bytes | str, file: str) -> str:
    if isinstance(data, str):
        return data
    import codecs

    for bom, codec in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):  # YAML allows UTF-16/32 with a byte order mark
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                raise ConfigError(
                    f"not {codec.upper()} text despite its byte order mark", file=file, hint="Save the file as UTF-8."
                ) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        raise ConfigError(
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} cannot be decoded",
            file=file,
            line=line,
            column=column,
            hint="Save the file as UTF-8.",
        ) from None


def _check_flow_depth(text: str, file: str) -> None:
    """Refuse brackets nested deeper than _MAX_DEPTH before ruamel, whose scanner slows down sharply on them."""
    if text.count("[") + text.count("{") <= _MAX_DEPTH:
        return
    import re

    depth = 0
    for match in re.finditer(r"[\[\]{}]", text):  # brackets inside quotes count too: only ever an overestimate
        depth = depth + 1 if match.group() in "[{" else max(depth - 1, 0)
        if depth > _MAX_DEPTH:
            line = text.count("\n", 0, match.start()) + 1
            raise _too_deep(file, line, match.start() - text.rfind("\n", 0, match.start()))


def _too_deep(file: str, line: int | None, column: int | None) -> ConfigError:
    return ConfigError(
        f"values are nested deeper than {_MAX_DEPTH} levels",
        file=file,
        line=line,
        column=column,
        hint="Flatten the structure; flowtide reads at most this depth.",
    )


def _plain(node: Any, path: tuple, positions: dict, budget: list[int], file: str) -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    def plain(node: Any, path: tuple) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            raise _alias_bomb(path, positions, file)
        if isinstance(node, CommentedMap):
            out = {}
            for key in node:
                try:
                    line, col = node.lc.key(key)
                    positions[(*path, key)] = (line + 1, col + 1)
                except (KeyError, TypeError, AttributeError):
                    pass
                out[key] = plain(node[key], (*path, key))
            return out
        if isinstance(node, CommentedSeq):
            out = []
            for index, item in enumerate(node):
                try:
                    line, col = node.lc.item(index)
                    positions[(*path, index)] = (line + 1, col + 1)
                except (KeyError, TypeError, AttributeError, IndexError):
                    pass
                out.append(plain(item, (*path, index)))
            return out
        if isinstance(node, str):
            return str(node)
        if isinstance(node, bool) or node is None:
            return node
        if isinstance(node, int):
            return int(node)
        if isinstance(node, float):
            return float(node)
        return node

    return plain(node, path)


def _alias_bomb(path: tuple, positions: dict, file: str) -> ConfigError:
    line, col = positions.get(path[:1], (None, None))
    where = f" under {path[0]!r}" if path else ""
    return ConfigError(
        f"aliases (*name){where} expand to more than {_ALIAS_VALUES:,} values; refusing to read further",
        file=file,
        line=line,
        column=col,
        hint="Write the values out, or nest fewer aliases: each level of `*name` multiplies what it copies.",
    )
