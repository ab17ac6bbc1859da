"""One registry per kind of component, fed by entry points.

Four kinds plug in, each through its own entry-point group:

=====================  ==================  ===========================================
group                  a name is           the entry point loads
=====================  ==================  ===========================================
``flowtide.sources``   a URL scheme        a ``SourceReader`` class (``flowtide.data.sources``)
``flowtide.checks``    a column rule key   a ``Check`` class (``flowtide.checks.contract``)
``flowtide.formats``   ``model.format``    a ``ModelFormat`` class (``flowtide.formats``)
``flowtide.executors`` ``executor``        an ``Executor`` class (``flowtide.pipeline.executors``)
=====================  ==================  ===========================================

flowtide's own built-ins are declared in its pyproject.toml exactly as a third
party declares its plugins, so there is one road for both. Looking a name up
reads the installed ``entry_points.txt`` files once per process (no plugin
module is imported until it is used, and not even ``importlib.metadata``).
"""

from __future__ import annotations

import contextlib
import os
import re
from typing import Any

from .errors import PluginError

SOURCES = "flowtide.sources"
CHECKS = "flowtide.checks"
FORMATS = "flowtide.formats"
EXECUTORS = "flowtide.executors"

_NOUNS = {SOURCES: "kind of source", CHECKS: "check", FORMATS: "model format", EXECUTORS: "executor"}
_all: dict[str, list[Entry]] | None = None
_entries: dict[str, dict[str, Entry]] = {}
_loaded: dict[tuple[str, str], Any] = {}


def entries(group: str) -> dict[str, Entry]:
    """``{name: Entry}`` of a group, read from installed metadata once per process.

    Two distributions registering the same name is an error naming both: which
    one wins would otherwise depend on the order of ``sys.path``.
    """
    found = _entries.get(group)
    if found is None:
        found = {}
        for entry in _scan().get(group, []):
            earlier = found.get(entry.name)
            if earlier is not None:
                both = " and ".join(sorted(f"{e.distribution} ({e.value})" for e in (earlier, entry)))
                raise PluginError(
                    f"two packages register the {_noun(group)} {entry.name!r} (entry-point group {group}): {both}",
                    group=group,
                    name=entry.name,
                    hint="Uninstall one of them, or ask its author to choose another name.",
                )
            found[entry.name] = entry
        _entries[group] = found
    return found


class Entry:
    """One entry point: ``name = module:attr`` declared by an installed distribution."""

    def __init__(self, name: str, value: str, info: str) -> None:
        self.name, self.value, self._info = name, value, info

    def load(self) -> Any:
        import importlib

        module, _, attrs = self.value.partition("[")[0].strip().partition(":")
        obj = importlib.import_module(module.strip())
        for attr in filter(None, attrs.strip().split(".")):
            obj = getattr(obj, attr)
        return obj

    @property
    def distribution(self) -> str:
        """``Name version`` from the distribution's METADATA."""
        fields = {}
        try:
            with open(os.path.join(self._info, "METADATA" if self._info.endswith(".dist-info") else "PKG-INFO")) as f:
                for line in f:
                    if not line.strip():
                        break
                    key, _, value = line.partition(":")
                    fields.setdefault(key.strip().lower(), value.strip())
        except OSError:
            pass
        return f"{fields.get('name', os.path.basename(self._info))} {fields.get('version', '')}".strip()


def remember_scan_in(directory: str | os.PathLike[str]) -> None:
    """Keep what :func:`_scan` finds in ``directory`` (a project's ``.flowtide/tmp``) for later processes.

    Listing every distribution costs a few milliseconds in an environment with a few
    hundred of them, on every command that validates a changed flowtide.yaml or runs
    a stage. The file says, for this exact ``sys.path``, which distributions declare
    flowtide entry points, and each path entry's directory stamp; it is used only while
    every stamp is unchanged (installing or removing a distribution changes its
    directory). It is input like any file in the work tree: it only chooses which
    installed ``entry_points.txt`` files are read, never what they say, so a forged one
    can at worst hide a distribution from this process, and any oddity means a full scan.
    """
    global _cache_file
    _cache_file = os.path.join(directory, "entry-points.json")


_cache_file: str | None = None
_RACY = 2.0
"""A directory changed this recently may change again within its timestamp's granularity: not cached."""


def _scan() -> dict[str, list[Entry]]:
    """The flowtide groups of every ``entry_points.txt`` of the distributions on ``sys.path``.

    The same files ``importlib.metadata`` reads, without importing it (it costs more
    than the whole of ``flowtide status``): a directory listing per path entry and
    one small file per distribution. The first copy of a distribution on
    ``sys.path`` wins, as for imports. Only groups named ``flowtide.*`` are kept.
    """
    global _all
    if _all is not None:
        return _all
    import sys

    bases = [os.path.abspath(base or ".") for base in sys.path]
    stamps = [_stamp(base) for base in bases]
    groups = _from_cache(bases, stamps)
    if groups is None:
        groups, found = _full_scan(bases)
        _save_cache(bases, stamps, found)
    _all = groups
    return groups


def _stamp(base: str) -> list[int] | None:
    try:
        st = os.stat(base)
    except OSError:
        return None
    return [st.st_dev, st.st_ino, st.st_mtime_ns]


def _full_scan(bases: list[str]) -> tuple[dict[str, list[Entry]], list[list]]:
    groups: dict[str, list[Entry]] = {}
    found: list[list] = []  # [index of the path entry, dist-info name] of those that declare flowtide groups
    seen: set[str] = set()
    for index, base in enumerate(bases):
        try:
            names = sorted(os.listdir(base))
        except OSError:
            continue
        for dirname in names:
            if not dirname.endswith((".dist-info", ".egg-info")):
                continue
            dist = re.sub(r"[-_.]+", "_", dirname.rsplit(".", 1)[0].split("-", 1)[0]).lower()
            if dist in seen:
                continue
            seen.add(dist)
            if _read_entry_points(os.path.join(base, dirname), groups):
                found.append([index, dirname])
    return groups, found


def _read_entry_points(info: str, groups: dict[str, list[Entry]]) -> bool | None:
    """Add the flowtide groups of ``info``'s entry_points.txt; None: no such file, True: it declares some."""
    try:
        with open(os.path.join(info, "entry_points.txt"), encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError):
        return None
    if "flowtide." not in text:
        return False
    group = None
    declared = False
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1].strip()
            if not group.startswith("flowtide."):
                group = None
        elif group is not None and "=" in line:
            name, _, value = line.partition("=")
            groups.setdefault(group, []).append(Entry(name.strip(), value.strip(), info))
            declared = True
    return declared


_DIST_INFO = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+!-]*\.(?:dist|egg)-info")


def _from_cache(bases: list[str], stamps: list) -> dict[str, list[Entry]] | None:
    if _cache_file is None:
        return None
    import json

    try:
        with open(_cache_file, "rb") as handle:
            data = json.loads(handle.read(1 << 20))
        if not (
            isinstance(data, dict)
            and data.get("version") == 1
            and data.get("path") == bases
            and data.get("stamps") == stamps
            and isinstance(data.get("found"), list)
        ):
            return None
        groups: dict[str, list[Entry]] = {}
        for item in data["found"]:
            index, dirname = item
            if not (type(index) is int and 0 <= index < len(bases) and isinstance(dirname, str)):
                return None
            if not _DIST_INFO.fullmatch(dirname) or not _read_entry_points(os.path.join(bases[index], dirname), groups):
                return None  # not a distribution's name, or its file no longer declares any: scan again
        return groups
    except (OSError, ValueError, TypeError):
        return None


def _save_cache(bases: list[str], stamps: list, found: list[list]) -> None:
    import json
    import time

    if _cache_file is None or any(stamp and time.time() - stamp[2] / 1e9 < _RACY for stamp in stamps):
        return
    from .atomic import atomic_write

    data = {"version": 1, "path": bases, "stamps": stamps, "found": found}
    with contextlib.suppress(OSError):  # (atomic_write makes the directory)
        atomic_write(_cache_file, json.dumps(data, separators=(",", ":")), fsync=False)


def names(group: str) -> list[str]:
    """The registered names of a group, sorted."""
    return sorted(entries(group))


def has(group: str, name: str) -> bool:
    return name in entries(group)


def load(group: str, name: str) -> Any:
    """The object registered as ``name`` in ``group`` (usually a class), imported on first use.

    Unknown names and plugins that fail to import raise PluginError saying what
    is installed, or which distribution is broken and how to fix it.
    """
    key = (group, name)
    if key in _loaded:
        return _loaded[key]
    entry = entries(group).get(name)
    if entry is None:
        known = names(group)
        raise PluginError(
            f"unknown {_noun(group)} {name!r} (installed: {', '.join(known) or 'none'})",
            group=group,
            name=name,
            hint=f"Use one of the installed names, or install the package that provides {name!r} "
            f"(it declares an entry point named {name!r} in the group {group}).",
        )
    try:
        value = entry.load()
    except Exception as exc:
        raise PluginError(
            f"the {_noun(group)} {name!r} from {entry.distribution} failed to load ({entry.value}): "
            f"{type(exc).__name__}: {exc}",
            group=group,
            name=name,
            hint=f"Reinstall or upgrade {entry.distribution}, or uninstall it if you do not use {name!r}.",
        ) from exc
    _loaded[key] = value
    return value


def distribution(group: str, name: str) -> str:
    """``name version`` of the distribution that registers ``name`` (for messages and reports)."""
    return entries(group)[name].distribution


def clear() -> None:
    """Forget what was read, e.g. after installing a package in this process (tests do)."""
    global _all
    _all = None
    _entries.clear()
    _loaded.clear()


def _noun(group: str) -> str:
    return _NOUNS.get(group, "plugin")
