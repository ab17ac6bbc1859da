"""DVC's cache, read as plain files: find an object by its MD5, prove its bytes, hash them for flowtide.

DVC 3 keeps ``<cache>/files/md5/xx/yyyy…``; DVC 2 kept ``<cache>/xx/yyyy…``, where
the MD5 of a text file was taken after turning CRLF into LF ("md5-dos2unix").
A directory is a ``.dir`` object: a JSON list of ``{"md5", "relpath"}``, itself
named by the MD5 of its bytes. Every object is read once, hashed with MD5 and
BLAKE3 together, and used only when the MD5 is the one DVC recorded.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, IntegrityError, StoreError
from ..hashing import CHUNK, hash_bytes, new_hasher
from ..validators import path_problem

_MD5 = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class Blob:
    """A file's bytes proven against DVC's MD5: where to copy them from, and their flowtide hash."""

    source: Path
    md5: str
    hash: str
    size: int


@dataclass
class Verified:
    """An out (file or directory) whose every byte matched DVC's record."""

    path: str
    md5: str
    blobs: dict[str, Blob] = field(default_factory=dict)
    """Relative name inside the directory ("" for a file) → its blob."""

    def entry(self) -> dict[str, Any]:
        """The out as flowtide's lock records it (the pipeline's ``path_state(..., with_files=True)`` shape)."""
        if not self.md5.endswith(".dir"):
            blob = self.blobs[""]
            return {"hash": blob.hash, "size": blob.size}
        files = {rel: {"hash": b.hash, "size": b.size} for rel, b in sorted(self.blobs.items())}
        digest = hash_bytes("".join(f"{n}\0{f['hash']}\n" for n, f in files.items()).encode())
        return {"hash": digest, "size": sum(f["size"] for f in files.values()), "nfiles": len(files), "files": files}


def cache_dir(root: Path) -> Path:
    """The DVC cache: ``[cache] dir`` of .dvc/config.local or .dvc/config (relative to .dvc/), else .dvc/cache."""
    import configparser

    for name in ("config.local", "config"):
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        try:
            parser.read(root / ".dvc" / name, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError) as exc:
            raise ConfigError(f".dvc/{name} cannot be read: {exc}", file=f".dvc/{name}") from None
        value = parser.get("cache", "dir", fallback=None)
        if value:
            return (root / ".dvc" / os.path.expanduser(value.strip().strip("'\""))).resolve()
    return root / ".dvc" / "cache"


def object_paths(cache: Path, md5: str, legacy: bool) -> list[Path]:
    """Where DVC keeps the object ``md5`` (DVC 3's layout first, unless the record is a DVC 2 one)."""
    """``md5`` is the object's name: a directory listing's ends in ``.dir``."""
    new = cache / "files" / "md5" / md5[:2] / md5[2:]
    old = cache / md5[:2] / md5[2:]
    return [old, new] if legacy else [new, old]


def digests(path: Path | str, *, dos2unix: bool = False) -> tuple[str, str, int, str | None]:
    """(MD5, BLAKE3, size, MD5 of the bytes with CRLF as LF when ``dos2unix``) of a file, read once."""
    md5, lf, blake = hashlib.md5(usedforsecurity=False), None, new_hasher()
    if dos2unix:
        lf = hashlib.md5(usedforsecurity=False)
    size = 0
    carry = b""
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            md5.update(chunk)
            blake.update(chunk)
            size += len(chunk)
            if lf is not None:
                text = carry + chunk
                carry = b"\r" if text.endswith(b"\r") else b""
                lf.update((text[:-1] if carry else text).replace(b"\r\n", b"\n"))
    if lf is not None:
        lf.update(carry)
    return md5.hexdigest(), blake.hexdigest(), size, lf.hexdigest() if lf is not None else None


def _matches(path: Path, md5: str, legacy: bool) -> tuple[bool, str, str, int]:
    actual, blake, size, lf = digests(path, dos2unix=legacy)
    return actual == md5 or (legacy and lf == md5), actual, blake, size


def prove_file(cache: Path, md5: str, legacy: bool, workspace: Path, what: str, *, cached: bool = True) -> Blob:
    """The blob for ``md5``: DVC's cache object (or, when it is absent, the working-tree file) proven by MD5.

    A cache object with other bytes is an IntegrityError naming it; an object found nowhere is a StoreError.
    """
    if cached:
        for candidate in object_paths(cache, md5, legacy):
            if candidate.is_file():
                ok, actual, blake, size = _matches(candidate, md5, legacy)
                if not ok:
                    raise IntegrityError(
                        f"DVC cache object {candidate} for {what} is corrupt: its bytes hash to MD5 {actual}, "
                        f"not the recorded {md5}; nothing was imported",
                        hint="Restore it with `dvc fetch` / `dvc pull` (or delete it if the working-tree file is "
                        "intact: the importer then proves that file instead), and import again.",
                    )
                return Blob(candidate, md5, blake, size)
    if workspace.is_file():
        ok, actual, blake, size = _matches(workspace, md5, legacy)
        if ok:
            return Blob(workspace, md5, blake, size)
        raise StoreError(
            f"{what}: DVC's cache has no object {md5} and the working-tree file hashes to MD5 {actual}; "
            "nothing was imported",
            hint="Run `dvc pull` (or `dvc checkout`) so the recorded bytes are here, or `dvc commit` the new ones, "
            "then import again.",
        )
    raise StoreError(
        f"{what}: DVC's cache has no object {md5} (looked in {cache}) and there is no working-tree copy; "
        "nothing was imported",
        hint="Run `dvc pull` (or `dvc fetch`) to download it from the DVC remote, then import again.",
    )


def prove(cache: Path, path: str, md5: str, legacy: bool, root: Path, what: str, *, cached: bool = True) -> Verified:
    """An out of DVC's record, file or directory, with every byte proven."""
    verified = Verified(path=path, md5=md5)
    if not md5.endswith(".dir"):
        verified.blobs[""] = prove_file(cache, md5, legacy, root / path, what, cached=cached)
        return verified
    for rel, child in _listing(cache, path, md5, legacy, root, what):
        verified.blobs[rel] = prove_file(cache, child, legacy, root / path / rel, f"{what}/{rel}", cached=cached)
    return verified


def _listing(cache: Path, path: str, md5: str, legacy: bool, root: Path, what: str) -> list[tuple[str, str]]:
    """(relative name, MD5) of every file of a directory out: DVC's ``.dir`` object, proven; else the working
    tree's listing when it hashes to the same MD5 (an uncached out, or a cache that lost the listing)."""
    for candidate in object_paths(cache, md5, legacy):
        if not candidate.is_file():
            continue
        ok, actual, _, _ = _matches(candidate, md5[:-4], False)
        if not ok:
            raise IntegrityError(
                f"DVC cache object {candidate} (the listing of directory {what}) is corrupt: its bytes hash to MD5 "
                f"{actual}, not the recorded {md5[:-4]}; nothing was imported",
                hint="Restore it with `dvc fetch` / `dvc pull`, and import again.",
            )
        try:
            entries = json.loads(candidate.read_bytes())
        except (OSError, ValueError) as exc:
            raise IntegrityError(f"DVC directory listing {candidate} for {what} is not JSON: {exc}") from None
        if not isinstance(entries, list):
            raise IntegrityError(f"DVC directory listing {candidate} for {what} is not a list")
        listing = []
        for entry in entries:
            rel = entry.get("relpath") if isinstance(entry, dict) else None
            child = entry.get("md5") if isinstance(entry, dict) else None
            if path_problem(rel) or not isinstance(child, str) or not _MD5.match(child):
                raise IntegrityError(
                    f"DVC directory listing {candidate} for {what} has a bad entry {entry!r} "
                    "(a relative path inside the directory and an MD5 are required)"
                )
            listing.append((rel, child))
        return listing
    full = root / path
    if full.is_dir() and dir_md5(full) == md5:
        return [(rel, child) for rel, child in _walk_md5(full)]
    raise StoreError(
        f"{what}: DVC's cache has no listing {md5} (looked in {cache}) and the working-tree directory "
        f"{'differs' if full.is_dir() else 'is missing'}; nothing was imported",
        hint="Run `dvc pull` (or `dvc fetch`) to download it from the DVC remote, then import again.",
    )


def _walk_md5(full: Path) -> list[tuple[str, str]]:
    entries = []
    for directory, dirs, names in os.walk(full):
        dirs.sort()
        for name in names:
            path = Path(directory, name)
            entries.append((path.relative_to(full).as_posix(), digests(path)[0]))
    entries.sort(key=lambda e: tuple(e[0].split("/")))
    return entries


def dir_md5(full: Path) -> str | None:
    """DVC's MD5 of a working-tree directory (the MD5 of its ``.dir`` listing, + ``.dir``); None if absent."""
    if not full.is_dir():
        return None
    listing = json.dumps([{"md5": md5, "relpath": rel} for rel, md5 in _walk_md5(full)], sort_keys=True)
    return hashlib.md5(listing.encode(), usedforsecurity=False).hexdigest() + ".dir"


def workspace_md5(full: Path, legacy: bool = False) -> str | None:
    """DVC's MD5 of a working-tree file or directory (None if it does not exist)."""
    if full.is_dir():
        return dir_md5(full)
    if not full.is_file():
        return None
    return digests(full)[0]
