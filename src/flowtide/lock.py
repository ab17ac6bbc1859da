"""``flowtide.lock``: what every source and stage was built from and produced.

JSON with sorted keys (a subset of YAML, diff-friendly, parsed in microseconds).
It is rewritten only when its content changes, always atomically, so an
unchanged pull or run leaves it byte-identical and git sees nothing.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from .atomic import atomic_writer, fsync_dir, holds
from .errors import ConfigError
from .hashing import ALGORITHM
from .validators import NAME_RULE, all_digests, all_paths_ok, is_digest, is_name, path_problem

LOCK_VERSION = 1


class SourceEntry(TypedDict, total=False):
    """``sources[name]``: where a source's bytes came from and what they hash to (written by pull)."""

    url: str
    path: str
    hash: str
    size: int
    etag: str
    """HTTP origins only, like ``last_modified``: a local file's stat token is machine-specific."""
    last_modified: str


class StageEntry(TypedDict, total=False):
    """``stages[name]``: what a stage was built from and produced (written by the pipeline)."""

    fingerprint: str
    cmd: str
    deps: dict[str, Any]
    """path -> ``{"hash", ...}`` state of every dependency that exists."""
    params: dict[str, Any]
    outs: dict[str, dict[str, Any]]
    """path -> ``{"hash", "size"?, "files"?}``; a directory lists its ``files`` by relative path."""


@dataclass
class Lock:
    """Entries are plain JSON mappings (typed as :class:`SourceEntry` and :class:`StageEntry`).

    Each layer owns the shape of its own section: pull writes ``sources``, the pipeline ``stages``.
    """

    sources: dict[str, SourceEntry] = field(default_factory=dict)
    stages: dict[str, StageEntry] = field(default_factory=dict)
    version: int = LOCK_VERSION

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Lock:
        path = Path(path)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return cls()
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
            raise ConfigError(
                f"{path.name} is not valid JSON: {exc}",
                file=path.name,
                hint="Restore it from git (`git checkout -- flowtide.lock`); flowtide writes it atomically, so this is a manual edit or a merge conflict.",
            ) from None
        if not isinstance(data, dict) or data.get("version") != LOCK_VERSION:
            raise ConfigError(
                f"{path.name} has an unknown format (version {data.get('version') if isinstance(data, dict) else '?'})",
                file=path.name,
            )
        sources, stages = data.get("sources", {}), data.get("stages", {})
        problem = section_problem(sources, "sources") or section_problem(stages, "stages")
        if problem:
            where, value, what = problem
            raise ConfigError(
                f"{where}: {value!r} {what}",
                file=path.name,
                line=_line_of(raw, value),
                hint="flowtide never writes such an entry: restore the lock from git (`git checkout -- flowtide.lock`) "
                "and re-run `flowtide pull` / `flowtide run` to rebuild what changed.",
            )
        return cls(sources=sources, stages=stages, version=LOCK_VERSION)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "hash": ALGORITHM,
            "sources": self.sources,
            "stages": self.stages,
        }

    def dumps(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def save(self, path: str | os.PathLike[str], *, tmp_dir: str | os.PathLike[str] | None = None) -> bool:
        """Write atomically if the content changed; return whether it did.

        Two fsyncs: the new file's bytes before its rename, then the lock's directory (the new
        name). The temp file's own directory is not synced: a crash can at worst leave the temp
        name behind there, and the next command sweeps it (``Project.remove_leftovers``).
        """
        data = self.dumps().encode("utf-8")
        target = Path(path)
        if holds(target, data):
            return False
        try:
            mode = target.stat().st_mode & 0o7777
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        with atomic_writer(target, "wb", fsync=False, tmp_dir=tmp_dir) as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)  # (atomic_writer sets the same mode after this: set it before the sync)
            os.fsync(handle.fileno())
        fsync_dir(target.parent)
        return True

    def blobs(self) -> set[str]:
        """Every hash this lock references (sources and stage outputs)."""
        found: set[str] = set()
        for entry in self.sources.values():
            if entry.get("hash"):
                found.add(entry["hash"])
        for entry in self.stages.values():
            for out in (entry.get("outs") or {}).values():
                if isinstance(out, dict) and out.get("hash"):
                    found.add(out["hash"])
                    found.update(child["hash"] for child in out.get("files", {}).values() if isinstance(child, dict))
        return found


# --- validation: the lock is input (a merge, a hand edit or a crafted pull request can change it) ---

Problem = tuple[str, Any, str]  # (where in the file, the bad value, what is wrong with it)


def section_problem(section: Any, kind: str) -> Problem | None:
    """The first bad entry of the lock's ``sources`` or ``stages`` mapping, or None."""
    if not isinstance(section, dict):
        return kind, section, "must be a mapping"
    check = _source_problem if kind == "sources" else stage_entry_problem
    for name, entry in section.items():
        if not is_name(name):
            return f"{kind}", name, f"is not a valid name: it {NAME_RULE}"
        if not isinstance(entry, dict):
            return f"{kind}.{name}", entry, "must be a mapping"
        problem = check(entry, f"{kind}.{name}")
        if problem:
            return problem
    return None


def _source_problem(entry: dict[str, Any], where: str) -> Problem | None:
    if entry.get("hash") is not None and not is_digest(entry["hash"]):
        return f"{where}.hash", entry["hash"], "is not a BLAKE3 hex digest (64 lowercase hex characters)"
    if entry.get("path") is not None and (why := path_problem(entry["path"])):
        return f"{where}.path", entry["path"], why
    return None


def stage_entry_problem(entry: dict[str, Any], where: str) -> Problem | None:
    """The first bad hash or path of a stage record (the lock's, or the pipeline's index of past runs).

    The fingerprint is only ever compared with a computed one (any other value just means stale), so
    only the hashes that name blobs and the paths that name files are held to the rules here.
    """
    for kind in ("deps", "outs"):
        paths = entry.get(kind)
        if paths is None:
            continue
        if not isinstance(paths, dict):
            return f"{where}.{kind}", paths, "must be a mapping of path to hash"
        for rel, state in paths.items():
            if why := path_problem(rel):
                return f"{where}.{kind}", rel, why
            if kind == "outs" and not isinstance(state, dict):
                return f"{where}.outs.{rel}", state, "must be a mapping with the output's hash"
            problem = _state_problem(state, f"{where}.{kind}.{rel}")
            if problem:
                return problem
            files = state.get("files") if isinstance(state, dict) else None
            if files is None:
                continue
            if not isinstance(files, dict):
                return f"{where}.{kind}.{rel}.files", files, "must be a mapping of file name to hash"
            if _files_ok(files):
                continue
            for member, child in files.items():
                if why := path_problem(member):
                    return f"{where}.{kind}.{rel}.files", member, why
                if not isinstance(child, dict):
                    return f"{where}.{kind}.{rel}.files.{member}", child, "must be a mapping with the file's hash"
                problem = _state_problem(child, f"{where}.{kind}.{rel}.files.{member}")
                if problem:
                    return problem
    return None


def _files_ok(files: dict[str, Any]) -> bool:
    """The common case, a well-formed file map, proven in a few C-level passes; False: look closer."""
    try:
        digests = [child["hash"] for child in files.values()]
    except (KeyError, TypeError, IndexError):
        return False
    return all_digests(digests) and all_paths_ok(list(files))


def _state_problem(state: Any, where: str) -> Problem | None:
    digest = state.get("hash") if isinstance(state, dict) else state
    if not is_digest(digest):
        return f"{where}.hash", digest, "is not a BLAKE3 hex digest (64 lowercase hex characters)"
    return None


def _line_of(raw: bytes, value: Any) -> int | None:
    """The line where ``value`` first appears in the file (the lock is indented JSON, one value a line)."""
    try:
        needle = json.dumps(value, ensure_ascii=False).encode()
    except (TypeError, ValueError):
        return None
    at = raw.find(needle)
    return raw.count(b"\n", 0, at) + 1 if at >= 0 else None
