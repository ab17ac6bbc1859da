"""One rule per kind of value flowtide reads from files it did not write itself.

flowtide trusts flowtide.yaml, params.yaml and the user's code; the lock, the
registry, caches, reports and remote listings are input. Their hashes name files
(a store blob is ``<root>/<hash[:2]>/<hash[2:]>``), their paths are joined to
directories and their names reach shell and workflow text, so each kind is held
to one rule here and every reader (and the config itself) applies the same one.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

DIGEST = re.compile(r"^[0-9a-f]{64}\Z")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*\Z")
_DRIVE = re.compile(r"[A-Za-z]:")

NAME_RULE = "must start with a letter or _ and use only letters, digits, _ . -"
ESCAPE_HINT = "Use a path below the project root, without '..'."


def is_digest(value: object) -> bool:
    """A BLAKE3 hex digest: exactly 64 lowercase hex characters (the only hashes flowtide writes)."""
    return isinstance(value, str) and DIGEST.match(value) is not None


def is_name(value: object) -> bool:
    """A source, stage or model name: safe in a file name, a git tag and a workflow expression."""
    return isinstance(value, str) and NAME.match(value) is not None


def path_problem(value: object) -> str | None:
    """Why ``value`` is not a relative path that stays inside its root, from its text alone (None: it is).

    Refuses empty and non-text values, NUL characters, absolute paths, drive
    letters and any ``..`` part; backslashes count as separators, so a path
    written on Windows is judged the same. Symlinks need the disk: see :func:`escapes`.
    """
    if not isinstance(value, str) or not value:
        return "must be a relative path inside the project"
    if ".." not in value and "\0" not in value and "\\" not in value and value[0] != "/" and value[1:2] != ":":
        return None  # the common case, decided without a split (lock file maps hold thousands of names)
    if "\0" in value:
        return "contains a NUL character"
    text = value.replace("\\", "/")
    if text.startswith("/") or _DRIVE.match(text):
        return "must be a relative path inside the project"
    if ".." in text.split("/"):
        return "escapes the project directory"
    return None


def all_digests(values: list) -> bool:
    """:func:`is_digest` for every value, in a few C-level passes (a lock's file map holds thousands)."""
    try:
        joined = "".join(values).encode("ascii")
    except (TypeError, UnicodeEncodeError):
        return False
    # deleting every hex character leaves nothing: several times faster than a regex over the whole
    return set(map(len, values)) <= {64} and not joined.translate(None, b"0123456789abcdef")


def all_paths_ok(values: list) -> bool:
    """True when every value surely passes :func:`path_problem`; False means: check them one by one."""
    try:
        joined = "/".join(values)
    except TypeError:
        return False
    if not values:
        return True
    # joined with "/", a '..', NUL, backslash, colon or empty part in any value shows up in the whole
    return not (
        ".." in joined
        or "\0" in joined
        or "\\" in joined
        or ":" in joined
        or "//" in joined
        or joined.startswith("/")
        or joined.endswith("/")
    )


def escapes(root: str | os.PathLike[str], candidate: str | os.PathLike[str]) -> Path | None:
    """Where ``candidate`` really leads if that is outside ``root`` (symlinks resolved), else None."""
    real_root = Path(root).resolve()
    real = Path(candidate).resolve()
    if real == real_root or real_root in real.parents:
        return None
    return real
