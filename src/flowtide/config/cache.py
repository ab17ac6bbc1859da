"""The stat-keyed disk memo of values derived from one file (the parsed config, params).

A memo is plain JSON (see :mod:`flowtide.memo`): a stale, malformed or checked-in
memo is ignored and recomputed, never executed; dataclasses come back only from the
fixed table :func:`config_classes` returns.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from .schema import STATE_DIR

_CACHE_VERSION = 14  # bump when a dataclass of schema.py or duration.py changes shape


def config_classes() -> dict[str, type]:
    """The config's dataclasses by name: the only classes a cached config is rebuilt from."""
    import dataclasses

    from . import schema
    from .duration import Duration

    classes = {
        name: obj
        for name, obj in vars(schema).items()
        if isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__module__ == schema.__name__
    }
    classes[Duration.__name__] = Duration
    return classes


def cached_by_stat(
    root: Path, path: Path, name: str, compute, *, use_cache: bool = True, classes=None, expect=None, plain=False
):
    """Return ``compute()``, memoised on disk by ``path``'s (inode, size, mtime_ns, ctime_ns).

    Used for anything derived purely from one file's bytes (the parsed config,
    params). The memo is plain JSON under ``.flowtide/tmp`` (see memo.py): a
    stale, malformed or checked-in memo is ignored and recomputed, never executed.
    ``classes`` are the dataclasses the value may contain; ``expect`` its type; ``plain`` see :func:`memo.write`.
    """
    from .. import memo

    try:
        line = memo.stamp(path, f"{name}/{_CACHE_VERSION}")
    except FileNotFoundError:
        raise ConfigError(f"{path.name} not found in {path.parent}") from None
    cache = root / STATE_DIR / "tmp" / f"{name}.json"
    if use_cache:
        value = memo.read(cache, line, classes, expect)
        if value is not memo.MISSING:
            return value
    value = compute()
    if use_cache:
        # made when missing (git ignores it: its .gitignore says `*`), so the first command of a fresh
        # clone memoises the config and the next one needs neither ruamel.yaml nor pydantic
        from ..atomic import private_dir

        try:
            private_dir(cache.parent)
        except OSError:  # a read-only checkout: no memo, every command parses again
            return value
        memo.write(cache, line, value, classes, plain=plain)
    return value
