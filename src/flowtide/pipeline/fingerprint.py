"""What a stage was built from: content hashes of deps and outs, params values, env values.

Files are hashed through the project's stat cache (inode, size, mtime_ns → hash),
so an unchanged file costs one ``stat``. A directory hashes as its sorted
listing of (relative path, file hash); its own small cache keyed by a digest
of every file's stat lets 10,000 unchanged files cost 10,000 stats and nothing else.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..atomic import atomic_write
from ..config import Stage
from ..hashing import hash_bytes
from ..validators import is_digest, path_problem
from .dag import norm, outputs
from .snapshot import listing_stamp, walk

if TYPE_CHECKING:
    from ..lock import StageEntry
    from ..project import Project

FINGERPRINT_VERSION = 1
_MISSING = object()


# --- files and directories ---------------------------------------------------


def path_state(project: Project, rel: str, *, with_files: bool = False) -> dict[str, Any] | None:
    """``{"hash", "size"}`` of a file, plus ``"nfiles"`` (and ``"files"``) for a directory; None if absent."""
    full = os.path.join(project.root, rel)
    try:
        st = os.stat(full)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISDIR(st.st_mode):
        return _dir_state(project, rel, full, with_files)
    digest, size = project.stat_cache.hash(full, key=rel)
    return {"hash": digest, "size": size}


def _dir_state(project: Project, rel: str, full: str, with_files: bool) -> dict[str, Any]:
    listing: list = []
    walk(full, "", listing)
    listing.sort()
    stamp = listing_stamp(listing)
    cache_dir = os.path.join(project.state_dir, "tmp", "dirs")
    key = hash_bytes(rel.encode())[:32]
    summary_path = os.path.join(cache_dir, key + ".json")
    files_path = os.path.join(cache_dir, key + ".files.json")
    try:
        with open(summary_path, "rb") as handle:
            summary = json.loads(handle.read())
        if summary["stamp"] == stamp and summary["rel"] == rel and _valid_state(summary):
            state = {"hash": summary["hash"], "size": summary["size"], "nfiles": summary["nfiles"]}
            if with_files:
                with open(files_path, "rb") as handle:
                    files = json.loads(handle.read())
                if not _valid_files(files, summary["nfiles"]):  # a cache: a crafted file map is only a miss
                    raise ValueError("files listing does not match its summary")
                state["files"] = files
            return state
    except (OSError, ValueError, KeyError, TypeError):
        pass
    # something changed: reuse per-file hashes whose stat is unchanged, hash the rest
    try:
        with open(files_path, "rb") as handle:
            old = json.loads(handle.read())
        old_stats = json.loads(open(os.path.join(cache_dir, key + ".stats.json"), "rb").read())
        if not (isinstance(old_stats, dict) and _valid_files(old, None)):
            raise ValueError("malformed")
    except (OSError, ValueError):
        old, old_stats = {}, {}
    from ..hashing import hash_file

    files: dict[str, dict[str, Any]] = {}
    stats: dict[str, list] = {}
    for name, ino, size, mtime, ctime, path in listing:
        previous = old_stats.get(name)
        if previous == [ino, size, mtime, ctime] and name in old:
            digest = old[name]["hash"]
        else:
            digest, size = hash_file(path)
        files[name] = {"hash": digest, "size": size}
        stats[name] = [ino, size, mtime, ctime]
    total = sum(f["size"] for f in files.values())
    digest = hash_bytes("".join(f"{n}\0{f['hash']}\n" for n, f in files.items()).encode())
    os.makedirs(cache_dir, exist_ok=True)
    atomic_write(files_path, json.dumps(files, separators=(",", ":")), fsync=False)
    atomic_write(os.path.join(cache_dir, key + ".stats.json"), json.dumps(stats, separators=(",", ":")), fsync=False)
    summary = {"rel": rel, "stamp": stamp, "hash": digest, "size": total, "nfiles": len(files)}
    atomic_write(summary_path, json.dumps(summary), fsync=False)
    state = {"hash": digest, "size": total, "nfiles": len(files)}
    if with_files:
        state["files"] = files
    return state


def _valid_state(state: Any) -> bool:
    return (
        is_digest(state.get("hash"))
        and type(state.get("size")) is int
        and state["size"] >= 0
        and type(state.get("nfiles")) is int
        and state["nfiles"] >= 0
    )


def _valid_files(files: Any, count: int | None) -> bool:
    """A directory cache's {relative name: {"hash", "size"}} as we write it (a hand-made one is recomputed).

    The names feed the lock and restores, so each must be a relative path inside the directory.
    """
    if not isinstance(files, dict) or (count is not None and len(files) != count):
        return False
    return all(
        path_problem(name) is None and isinstance(entry, dict) and _valid_state({**entry, "nfiles": 0})
        for name, entry in files.items()
    )


# --- params and env -----------------------------------------------------------


def read_params(project: Project) -> dict[str, Any]:
    """params.yaml as a dict, cached by stat; plain files are read without importing ruamel (config.parse_yaml)."""
    from ..config import load_params

    return load_params(project.root, project.config.params)


def lookup(params: dict[str, Any], dotted: str) -> Any:
    """``params["a"]["b"]`` for ``"a.b"``; a key that itself contains dots wins over nesting."""
    if dotted in params:
        return params[dotted]
    node: Any = params
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as ``{"a.b": value}`` (lists and scalars are leaves)."""
    if not isinstance(data, dict):
        return {prefix: data} if prefix else {}
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(flatten(value, name))
        else:
            out[name] = value
    return out


def stage_params(project: Project, name: str, stage: Stage, params: dict[str, Any]) -> dict[str, Any]:
    """The values of the params a stage declares, flattened to dotted keys."""
    if stage.params is True:
        return flatten(params)
    if not stage.params:
        return {}
    values: dict[str, Any] = {}
    for index, key in enumerate(stage.params):
        value = lookup(params, key)
        if value is _MISSING:
            raise project.config.error(
                f"stage {name!r} uses param {key!r}, which is not in {project.config.params}",
                "stages",
                name,
                "params",
                index,
                hint=f"Add it to {project.config.params} or remove it from the stage's params.",
            )
        values.update(flatten(value, key) if isinstance(value, dict) and value else {key: value})
    return values


def stage_env(project: Project, stage: Stage) -> dict[str, str | None]:
    names = dict.fromkeys([*project.config.env, *stage.env])
    return {n: project.env.get(n) for n in names}


# --- the fingerprint ---------------------------------------------------------


@dataclass
class StageState:
    """A stage as it is now in the working tree, ready to compare with its lock entry."""

    name: str
    fingerprint: str
    command: str
    deps: dict[str, dict[str, Any] | None]
    params: dict[str, Any]
    env: dict[str, str | None]
    outs: list[str]
    reasons: list[str] = field(default_factory=list)

    def lock_entry(self, outs: dict[str, dict[str, Any]]) -> StageEntry:
        return {
            "fingerprint": self.fingerprint,
            "cmd": self.command,
            "deps": {path: state for path, state in self.deps.items() if state is not None},
            "params": self.params,
            "outs": outs,
        }


def command_of(stage: Stage) -> str:
    return stage.cmd if stage.cmd else f"call {stage.call}"


def current(project: Project, name: str, stage: Stage, params: dict[str, Any]) -> StageState:
    """Hash the deps, read the params and env, and compute the fingerprint."""
    deps = {norm(dep): path_state(project, norm(dep)) for dep in stage.deps}
    values = stage_params(project, name, stage, params)
    env = stage_env(project, stage)
    outs = outputs(stage)
    payload = {
        "v": FINGERPRINT_VERSION,
        "command": command_of(stage),
        "deps": {p: (s["hash"] if s else None) for p, s in deps.items()},
        "params": values,
        "env": env,
        "outs": outs,
    }
    fingerprint = hash_bytes(json.dumps(payload, sort_keys=True, default=str).encode())
    return StageState(name, fingerprint, command_of(stage), deps, values, env, outs)


def why(state: StageState, entry: dict[str, Any] | None, produced: frozenset[str] = frozenset()) -> list[str]:
    """Why the stage's fingerprint differs from the one recorded in the lock, in words.

    ``produced``: deps another stage writes (their absence before a first run is expected).
    """
    if not entry:
        missing = [p for p, now in state.deps.items() if now is None and p not in produced]
        return ["never run"] + [f"dep {path} missing" for path in missing]
    if entry.get("fingerprint") == state.fingerprint:
        return []
    reasons: list[str] = []
    if entry.get("cmd") != state.command:
        reasons.append("command changed")
    old_deps = entry.get("deps") or {}
    for path, now in state.deps.items():
        before = old_deps.get(path)
        if now is None:
            reasons.append(f"dep {path} missing")
        elif before is None:
            reasons.append(f"dep {path} added")
        elif before.get("hash") != now["hash"]:
            reasons.append(f"dep {path} changed")
    reasons += [f"dep {path} removed" for path in old_deps if path not in state.deps]
    old_params = entry.get("params") or {}
    for key, value in state.params.items():
        if key not in old_params:
            reasons.append(f"param {key} added: {_show(value)}")
        elif old_params[key] != value:
            reasons.append(f"param {key} changed: {_show(old_params[key])} → {_show(value)}")
    reasons += [f"param {key} removed" for key in old_params if key not in state.params]
    if sorted(entry.get("outs") or {}) != sorted(state.outs):
        reasons.append("outs changed")
    return reasons or ["declared env or stage definition changed"]


def _show(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def outs_differ(project: Project, entry: dict[str, Any]) -> list[str]:
    """Outs recorded in the lock that are now missing or hold other bytes."""
    reasons = []
    for path, recorded in (entry.get("outs") or {}).items():
        now = path_state(project, path)
        if now is None:
            reasons.append(f"out {path} missing")
        elif now["hash"] != recorded.get("hash"):
            reasons.append(f"out {path} changed")
    return reasons
