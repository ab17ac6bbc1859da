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
reads installed metadata only (no plugin module is imported until it is used),
once per process and group.
"""

from __future__ import annotations

from typing import Any

from .errors import PluginError

SOURCES = "flowtide.sources"
CHECKS = "flowtide.checks"
FORMATS = "flowtide.formats"
EXECUTORS = "flowtide.executors"

_NOUNS = {SOURCES: "kind of source", CHECKS: "check", FORMATS: "model format", EXECUTORS: "executor"}
_entries: dict[str, dict[str, Any]] = {}
_loaded: dict[tuple[str, str], Any] = {}


def entries(group: str) -> dict[str, Any]:
    """``{name: EntryPoint}`` of a group, read from installed metadata once per process.

    Two distributions registering the same name is an error naming both: which
    one wins would otherwise depend on the order of ``sys.path``.
    """
    found = _entries.get(group)
    if found is None:
        from importlib.metadata import entry_points

        found = {}
        for entry in entry_points(group=group):
            earlier = found.get(entry.name)
            if earlier is not None and _dist(earlier) != _dist(entry):
                both = " and ".join(sorted(f"{_dist(e)} ({e.value})" for e in (earlier, entry)))
                raise PluginError(
                    f"two packages register the {_noun(group)} {entry.name!r} (entry-point group {group}): {both}",
                    group=group,
                    name=entry.name,
                    hint="Uninstall one of them, or ask its author to choose another name.",
                )
            found[entry.name] = entry
        _entries[group] = found
    return found


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
            f"the {_noun(group)} {name!r} from {_dist(entry)} failed to load ({entry.value}): "
            f"{type(exc).__name__}: {exc}",
            group=group,
            name=name,
            hint=f"Reinstall or upgrade {_dist(entry)}, or uninstall it if you do not use {name!r}.",
        ) from exc
    _loaded[key] = value
    return value


def distribution(group: str, name: str) -> str:
    """``name version`` of the distribution that registers ``name`` (for messages and reports)."""
    return _dist(entries(group)[name])


def clear() -> None:
    """Forget what was read, e.g. after installing a package in this process (tests do)."""
    _entries.clear()
    _loaded.clear()


def _noun(group: str) -> str:
    return _NOUNS.get(group, "plugin")


def _dist(entry) -> str:
    dist = getattr(entry, "dist", None)
    if dist is None:
        return "an unknown package"
    return f"{dist.metadata['Name']} {dist.version}"
