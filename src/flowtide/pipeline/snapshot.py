"""A stat snapshot of an up-to-date project, so a no-op ``status`` or ``run`` needs no config at all.

After a full check finds every stage up to date, the (inode, size, mtime_ns,
ctime_ns) of flowtide.yaml, the params file, the lock and every dep and out (a
directory: a digest of all its files' stats), plus the declared env values,
are saved. While all of them are unchanged, nothing can be stale, and the
answer costs a few stat calls and no import beyond the standard library's os
and json. Any difference falls back to the full check.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping

VERSION = 2  # 2: stats include ctime_ns, which no checkout can set, so a committed snapshot never matches
_FILE = os.path.join(".flowtide", "tmp", "uptodate.json")
_CONFIG = "flowtide.yaml"


def walk(full: str, prefix: str, out: list) -> None:
    """Every file below ``full``: (relative name, inode, size, mtime_ns, ctime_ns, path)."""
    with os.scandir(full) as entries:
        for entry in entries:
            name = prefix + entry.name
            if entry.is_dir():
                walk(entry.path, name + "/", out)
            else:
                st = entry.stat()
                out.append((name, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, entry.path))


def listing_stamp(listing: list) -> str:
    """A digest of a sorted directory listing's stats: equal stamps mean no file changed."""
    import blake3

    return blake3.blake3("\n".join(f"{n}\0{i}\0{s}\0{m}\0{c}" for n, i, s, m, c, _ in listing).encode()).hexdigest()


def _entry(root: str, rel: str) -> list | None:
    full = os.path.join(root, rel)
    try:
        st = os.stat(full)
    except OSError:
        return None
    if stat.S_ISDIR(st.st_mode):
        listing: list = []
        walk(full, "", listing)
        listing.sort()
        return [rel, "dir", listing_stamp(listing)]
    return [rel, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _version() -> str:
    from .. import __version__

    return f"{__version__}/{VERSION}"


def take(root: str | os.PathLike[str], paths: list[str], env: Mapping[str, str | None]) -> dict:
    """Stats of ``paths`` now (call it before the full check, so a change during the check is seen later)."""
    root = os.fspath(root)
    return {
        "version": _version(),
        "entries": [_entry(root, rel) for rel in dict.fromkeys(paths)],
        "env": dict(env),
    }


def save(root: str | os.PathLike[str], snapshot: dict, stages: list[str]) -> None:
    from ..atomic import atomic_write

    if any(entry is None for entry in snapshot["entries"]):
        return
    try:
        atomic_write(os.path.join(os.fspath(root), _FILE), json.dumps({**snapshot, "stages": stages}), fsync=False)
    except OSError:
        pass


def forget(root: str | os.PathLike[str]) -> None:
    try:
        os.unlink(os.path.join(os.fspath(root), _FILE))
    except OSError:
        pass


def find_root(start: str | None = None) -> str | None:
    here = os.path.abspath(start or os.getcwd())
    while True:
        if os.path.isfile(os.path.join(here, _CONFIG)):
            return here
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def unchanged(start: str | None = None, env: Mapping[str, str] | None = None) -> list[str] | None:
    """The stage names if the project at or above ``start`` is provably up to date, else None."""
    root = find_root(start)
    if root is None:
        return None
    try:
        with open(os.path.join(root, _FILE), "rb") as handle:
            saved = json.loads(handle.read())
    except (OSError, ValueError):
        return None
    env = os.environ if env is None else env
    try:
        if saved["version"] != _version():
            return None
        if any(env.get(name) != value for name, value in saved["env"].items()):
            return None
        for entry in saved["entries"]:
            if _entry(root, entry[0]) != entry:
                return None
        return list(saved["stages"])
    except (KeyError, TypeError, IndexError, AttributeError):  # not what save() writes: do the full check
        return None
