"""The registry log and its replay: versions, their stages, and the cached listing summary.

``flowtide.registry`` holds one JSON event per line (sorted keys); :class:`Registry`
replays them into :class:`Version` objects. A new event is appended (one
``write`` of the whole line, then ``fsync``), so registering costs the same at
100,000 versions as at 10. A crash in the middle of that write can leave only a
torn *last* line without its newline: readers skip it (the event never
happened: the command that wrote it did not finish) and the next append cuts it
off before writing.
"""

from __future__ import annotations

import bisect
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..atomic import append_line, is_json_object_line
from ..errors import FlowtideError, UsageError
from ..validators import NAME_RULE, is_digest, is_name, path_problem

if TYPE_CHECKING:
    from ..project import Project

REGISTRY_FILE = "flowtide.registry"
STAGES = ("candidate", "staging", "production", "archived")
GATE_RESULTS = "gate.json"  # under .flowtide/: gate results keyed by artifact hash


@dataclass
class Version:
    """One registered version of a model and everything needed to reproduce it."""

    model: str
    version: int
    hash: str
    size: int
    format: str
    path: str
    stage: str = "candidate"
    metrics: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)
    """Data the model was built from: path -> content hash (sources and stage deps)."""
    commit: str | None = None
    gates: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    tag: str = ""
    dirty: bool = False
    """The working tree had uncommitted changes when the version was registered."""
    created_by: str = ""
    run_url: str | None = None
    lineage: dict[str, Any] = field(default_factory=dict)
    """Stage records of the lock (deps, params, outs) the artifact came from."""
    staged: bool = False
    """The version has been in staging at some point (required before production)."""
    history: list[dict[str, Any]] = field(default_factory=list)
    """Every event about this version, oldest first."""
    warnings: list[str] = field(default_factory=list, compare=False)
    existing: bool = field(default=False, compare=False)
    """Set by ``register`` when the artifact's bytes were already this version: nothing was written."""

    @property
    def label(self) -> str:
        return f"{self.model} v{self.version}"

    def to_dict(self, *, history: bool = True) -> dict[str, Any]:
        data = {
            "model": self.model,
            "version": self.version,
            "hash": self.hash,
            "size": self.size,
            "format": self.format,
            "path": self.path,
            "stage": self.stage,
            "metrics": self.metrics,
            "params": self.params,
            "data": self.data,
            "commit": self.commit,
            "dirty": self.dirty,
            "gates": self.gates,
            "created": self.created,
            "created_by": self.created_by,
            "run_url": self.run_url,
            "tag": self.tag,
            "lineage": self.lineage,
            "staged": self.staged,
        }
        if history:
            data["history"] = self.history
        return data


def parse_version(spec: str | int) -> int:
    """3, "3", "v3" and "weather@v3" all name version 3."""
    if isinstance(spec, int):
        return spec
    text = str(spec).rsplit("@", 1)[-1].strip()
    if text[:1] in ("v", "V"):
        text = text[1:]
    if not text.isdigit():
        raise UsageError(f"{spec!r} is not a version; write 3, v3 or MODEL@v3")
    return int(text)


class Registry:
    """The replayed state of ``flowtide.registry``."""

    def __init__(self, path: Path, events: list[dict[str, Any]]) -> None:
        self.path = path
        self.events = events
        self._versions: dict[str, dict[int, Version]] = {}
        self._production_history: dict[str, list[int]] = {}
        self._holders: dict[tuple[str, str], Version] = {}  # (model, staging|production) -> version
        for event in events:
            self._apply(event)

    @classmethod
    def load(cls, project: Project) -> Registry:
        return cls.read(project.root / REGISTRY_FILE)

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> Registry:
        path = Path(path)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return cls(path, [])
        return cls(path, _parse_events(raw, path))

    # -- replay ---------------------------------------------------------------

    def _apply(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        model = event.get("model")
        versions = self._versions.setdefault(model, {})
        if kind == "register":
            if event["version"] in versions:
                from ..errors import ConfigError

                first = versions[event["version"]].hash[:12]
                raise ConfigError(
                    f"{model} v{event['version']} is registered twice (artifacts {first} and {event['hash'][:12]})",
                    file=self.path.name,
                    hint="Two branches registered the same version number and were merged: keep one register line, "
                    "or renumber the later one to the next free version (and its tag).",
                )
            v = Version(
                model=model,
                version=event["version"],
                hash=event["hash"],
                size=event.get("size", 0),
                format=event.get("format", "skops"),
                path=event.get("path", ""),
                metrics=event.get("metrics") or {},
                params=event.get("params") or {},
                data=event.get("data") or {},
                commit=event.get("commit"),
                dirty=bool(event.get("dirty")),
                gates=event.get("gates") or {},
                created=event.get("at", ""),
                created_by=event.get("by", ""),
                run_url=event.get("run_url"),
                tag=event.get("tag", f"{model}@v{event['version']}"),
                lineage=event.get("lineage") or {},
            )
            v.history.append(event)
            versions[v.version] = v
            return
        number = event.get("version")
        target = versions.get(number)
        if target is None:
            return  # an event about an unknown version (hand edit): ignore rather than refuse to read
        target.history.append(event)
        if kind == "promote":
            to = event["to"]
            if to == "staging":
                target.staged = True
            if to == "production":
                self._production_history.setdefault(model, []).append(number)
            self._move(target, to, event)
        elif kind == "rollback":
            history = self._production_history.setdefault(model, [])
            current = event.get("from")
            if current in versions and versions[current] is not target:
                self._move(versions[current], "archived")
                versions[current].history.append(event)
            while history and history[-1] == current:
                history.pop()
            if not history or history[-1] != number:
                history.append(number)
            self._move(target, "production", event)

    def _move(self, version: Version, stage: str, event: dict[str, Any] | None = None) -> None:
        """Put ``version`` in ``stage``; one version per model holds staging or production, the old holder is archived."""
        if self._holders.get((version.model, version.stage)) is version:
            del self._holders[(version.model, version.stage)]
        if stage in ("staging", "production"):
            previous = self._holders.get((version.model, stage))
            if previous is not None and previous is not version:
                previous.stage = "archived"
                if event is not None:
                    previous.history.append(event)  # so `models show` says when and why it left
            self._holders[(version.model, stage)] = version
        version.stage = stage

    # -- queries --------------------------------------------------------------

    def models(self) -> list[str]:
        return sorted(name for name, versions in self._versions.items() if versions)

    def versions(self, model: str) -> list[Version]:
        return [self._versions.get(model, {})[n] for n in sorted(self._versions.get(model, {}))]

    def latest(self, model: str) -> Version | None:
        versions = self._versions.get(model) or {}
        return versions[max(versions)] if versions else None

    def get(self, model: str, version: str | int) -> Version:
        number = parse_version(version)
        versions = self._versions.get(model) or {}
        if number not in versions:
            if not versions:
                known = ", ".join(self.models()) or "none"
                raise UsageError(
                    f"model {model!r} has no registered versions in {self.path.name} (models: {known})",
                    hint="Run `flowtide register` after training.",
                )
            raise UsageError(f"model {model!r} has no version {number} (latest is v{max(versions)})")
        return versions[number]

    def in_stage(self, model: str, stage: str) -> Version | None:
        if stage in ("staging", "production"):
            return self._holders.get((model, stage))
        for v in (self._versions.get(model) or {}).values():
            if v.stage == stage:
                return v
        return None

    def previous_production(self, model: str) -> Version | None:
        history = self._production_history.get(model) or []
        current = self.in_stage(model, "production")
        for number in reversed(history):
            if current is None or number != current.version:
                return self._versions[model][number]
        return None


_SUMMARY_VERSION = 6  # bump when BRIEF_FIELDS or the summary's shape changes
BRIEF_FIELDS = (
    "version",
    "stage",
    "hash",
    "size",
    "format",
    "created",
    "created_by",
    "commit",
    "dirty",
    "tag",
    "gates_passed",
    "gates_evaluated",
    "metrics",
)


SUMMARY_TAIL = 200  # versions per model kept in the small listing cache


def _model_summary(registry: Registry, model: str, versions: list[Version]) -> dict[str, Any]:
    production = registry.in_stage(model, "production")
    staging = registry.in_stage(model, "staging")
    return {
        "production": production.version if production else None,
        "staging": staging.version if staging else None,
        "count": len(versions),
        # pre-encoded for `models --json`: joining strings beats encoding 10,000 dicts per call
        "json": [_brief_json(v) for v in versions],
        "numbers": [v.version for v in versions],
        "history": list(registry._production_history.get(model, [])),
    }


def _brief_json(v: Version) -> str:
    return json.dumps(brief(v), sort_keys=True, default=str)


def _write_full_memo(file: Path, line: str, data: dict[str, Any]) -> None:
    """The full listing memo: its stamp, one JSON line of everything but the records, then one record per line
    (model after model). The records are JSON already: as lines they are neither escaped into JSON strings
    on writing nor unescaped on reading, which at 100,000 versions cost seconds."""
    from ..atomic import atomic_write

    header = {**data, "models": {m: {k: v for k, v in e.items() if k != "json"} for m, e in data["models"].items()}}
    records = "\n".join(record for entry in data["models"].values() for record in entry["json"])
    text = f"{line}\n{json.dumps(header, separators=(',', ':'))}\n{records}"
    try:
        atomic_write(file, text.encode("utf-8"), fsync=False)
    except OSError:
        pass  # a read-only checkout still lists; it just replays again next time


def _read_full_memo(file: Path) -> tuple[str, dict[str, Any]] | None:
    """(stamp, data) of a full listing memo, or None when it is absent or not what :func:`_write_full_memo`
    writes. Like every memo it is input: the caller checks the stamp, or the covered bytes' digest."""
    try:
        raw = file.read_bytes()
        first = raw.index(b"\n")
        second = raw.index(b"\n", first + 1)
        data = json.loads(raw[first + 1 : second])
        body = raw[second + 1 :]
        records = body.decode("utf-8").split("\n") if body else []
        offset = 0
        for entry in data["models"].values():
            count = entry["count"]
            if type(count) is not int or count < 0:
                return None
            entry["json"] = records[offset : offset + count]
            offset += count
        if offset != len(records) or not _full_ok(data):
            return None
        return raw[:first].decode("utf-8"), data
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return None


def _full_ok(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and type(data.get("covered")) is int
        and isinstance(data.get("models"), dict)
        and all(_entry_ok(entry, ("json", "numbers", "history")) for entry in data["models"].values())
    )


def _replay_tail(
    memo_path: Path, path: Path, raw: bytes, inode: int, digest_to: Callable[[int], str]
) -> dict[str, dict[str, Any]] | None:
    """The full summary brought up to ``raw`` by replaying only the lines appended since the last memo, or None.

    The previous memo is input like anything under .flowtide/: it is used only when it
    describes this very file (same inode) and the bytes it covered are still the
    file's first bytes (their BLAKE3 digest matches); anything else, or any doubt
    while replaying (a version registered twice, an odd event), means None and a
    full replay, which reports problems with their line numbers.
    """
    found = _read_full_memo(memo_path)
    old = found[1] if found is not None else None
    if old is None or old.get("inode") != inode or not 0 < old["covered"] <= len(raw):
        return None
    covered = old["covered"]
    if raw[covered - 1 : covered] != b"\n" or old.get("digest") != digest_to(covered):
        return None
    entries = old["models"]
    try:
        if any(
            len(e["numbers"]) != len(e["json"]) or e["numbers"] != sorted(set(e["numbers"])) for e in entries.values()
        ):
            return None
        events = _parse_events(raw[covered:], path)
        registry = Registry(path, [])
        lazy = {model: _LazyVersions(model, entry) for model, entry in entries.items()}
        registry._versions = dict(lazy)
        registry._production_history = {model: list(entry["history"]) for model, entry in entries.items()}
        for model, entry in entries.items():
            for stage in ("staging", "production"):
                if entry[stage] is not None:
                    registry._holders[(model, stage)] = lazy[model][entry[stage]]
        for event in events:
            registry._apply(event)
    except (FlowtideError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None  # the full replay decides, and names the line if the file is at fault
    out = {}
    for model, versions in registry._versions.items():
        entry = entries.get(model) or {"json": [], "numbers": []}
        numbers, encoded = list(entry["numbers"]), list(entry["json"])
        touched = versions.touched() if isinstance(versions, _LazyVersions) else versions
        for number in sorted(touched):
            line = _brief_json(touched[number])
            index = bisect.bisect_left(numbers, number)
            if index < len(numbers) and numbers[index] == number:
                encoded[index] = line
            else:
                numbers.insert(index, number)
                encoded.insert(index, line)
        if not numbers:
            continue
        production = registry._holders.get((model, "production"))
        staging = registry._holders.get((model, "staging"))
        out[model] = {
            "production": production.version if production else None,
            "staging": staging.version if staging else None,
            "count": len(numbers),
            "json": encoded,
            "numbers": numbers,
            "history": list(registry._production_history.get(model, [])),
        }
    return out


class _LazyVersions(dict):
    """A model's versions as the summary memo holds them: a :class:`Version` is rebuilt from its brief record
    only when the replay of new events touches it (and then re-encoded), the others stay pre-encoded."""

    def __init__(self, model: str, entry: dict[str, Any]) -> None:
        super().__init__()
        self._model = model
        self._index = {number: i for i, number in enumerate(entry["numbers"])}
        self._json = entry["json"]

    def _load(self, number: int) -> Version:
        record = json.loads(self._json[self._index[number]])
        if not isinstance(record, dict) or record.get("version") != number:
            raise ValueError("memo record does not match its version")
        version = Version(
            model=self._model,
            version=number,
            hash=record["hash"],
            size=record["size"],
            format=record["format"],
            path="",
            stage=record["stage"],
            metrics=record["metrics"] or {},
            commit=record["commit"],
            gates={"passed": record["gates_passed"], "evaluated": record["gates_evaluated"]},
            created=record["created"],
            tag=record["tag"],
            dirty=record["dirty"],
            created_by=record["created_by"],
        )
        super().__setitem__(number, version)
        return version

    def __contains__(self, number: object) -> bool:
        return super().__contains__(number) or number in self._index

    def __getitem__(self, number: int) -> Version:
        if super().__contains__(number):
            return super().__getitem__(number)
        if number in self._index:
            return self._load(number)
        raise KeyError(number)

    def get(self, number, default=None):
        return self[number] if number in self else default  # noqa: SIM401 (self.get is this method)

    def touched(self) -> dict[int, Version]:
        return dict(self.items())


class _Entry(dict):
    """A model's full summary: ``rows`` are decoded from the pre-encoded records on first use."""

    def __missing__(self, key: str) -> Any:
        if key != "rows":
            raise KeyError(key)
        records = json.loads("[" + ",".join(self["json"]) + "]")
        self["rows"] = rows = [[record.get(f) for f in BRIEF_FIELDS] for record in records]
        return rows


def _entry_ok(entry: Any, lists: tuple[str, ...]) -> bool:
    return (
        isinstance(entry, dict)
        and type(entry.get("count")) is int
        and all(isinstance(entry.get(key), list) for key in lists)
        and all(isinstance(entry.get(key), (int, type(None))) for key in ("production", "staging"))
    )


def briefs(rows: list[list]) -> list[dict[str, Any]]:
    return [dict(zip(BRIEF_FIELDS, row, strict=True)) for row in rows]


def brief(v: Version) -> dict[str, Any]:
    """The listing record of a version (what `flowtide models --json` prints), in BRIEF_FIELDS order."""
    gates = v.gates or {}
    return {
        "version": v.version,
        "stage": v.stage,
        "hash": v.hash,
        "size": v.size,
        "format": v.format,
        "created": v.created,
        "created_by": v.created_by,
        "commit": v.commit,
        "dirty": v.dirty,
        "tag": v.tag,
        "gates_passed": bool(gates.get("passed")),
        "gates_evaluated": bool(gates.get("evaluated", True)),
        "metrics": v.metrics,
    }


_HINT = (
    "flowtide writes it atomically, so this is a hand edit or a merge conflict: keep both sides' lines in time order."
)


def _parse_events(raw: bytes, path: Path) -> list[dict[str, Any]]:
    from ..errors import ConfigError

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"not UTF-8 text: byte 0x{raw[exc.start]:02x} cannot be decoded", file=path.name, line=line, hint=_HINT
        ) from None
    # split on newlines only: str.splitlines() would also cut at U+2028 and friends inside a JSON string
    numbered = [(number, line) for number, line in enumerate(text.split("\n"), 1) if line.strip()]
    if numbered and not text.endswith("\n") and not is_json_object_line(numbered[-1][1]):
        numbered.pop()  # an append that a crash interrupted: that event never happened
    events: list = []
    try:
        # one C-level parse for the whole file is several times faster than a loads() per line
        events = json.loads("[" + ",".join(line for _, line in numbered) + "]")
    except (ValueError, RecursionError):
        for number, line in numbered:
            try:
                json.loads(line)
            except (ValueError, RecursionError) as exc:
                reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
                raise ConfigError(f"not a JSON event: {reason}", file=path.name, line=number, hint=_HINT) from None
    for (number, _), event in zip(numbered, events, strict=True):
        if not isinstance(event, dict):
            raise ConfigError("not a registry event: expected an object {...}", file=path.name, line=number, hint=_HINT)
        problem = _event_problem(event)
        if problem:
            key, value, what = problem
            raise ConfigError(
                f"{key} {value!r} {what}",
                file=path.name,
                line=number,
                hint="flowtide never writes such an event: restore flowtide.registry from git "
                "(`git checkout -- flowtide.registry`), or fix or remove that line if it is a hand edit.",
            )
    return events


def _dump_event(event: dict[str, Any]) -> str:
    return json.dumps(event, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _append(project: Project, event: dict[str, Any]) -> None:
    """Append one event as one line (:func:`flowtide.atomic.append_line`: durable, O(1) in the registry's
    size, a torn last line left by a crash cut off first). Callers hold the repository lock."""
    append_line(project.root / REGISTRY_FILE, (_dump_event(event) + "\n").encode("utf-8"))


def append_events(project: Project, events: list[dict[str, Any]]) -> None:
    """Append events written elsewhere (an importer's), each held to the rules a read applies, all or none.

    The log with the new lines must replay (no version registered twice); callers hold the "registry" mutex.
    """
    path = project.root / REGISTRY_FILE
    for event in events:
        problem = _event_problem(event)
        if problem:
            key, value, what = problem
            raise UsageError(f"refusing to append a registry event: {key} {value!r} {what}")
    existing = Registry.read(path).events
    Registry(path, [*existing, *events])  # raises ConfigError on a version registered twice
    for event in events:
        _append(project, event)


def _latest_number(raw: bytes, path: Path, model: str) -> int:
    """The highest version of ``model``: the last register line for it (versions only grow).

    Scans lines from the end instead of replaying the log, so register stays fast on a long history.
    """
    marker = f'"model":{json.dumps(model)}'.encode()
    for line in reversed(raw.splitlines()):
        if b'"event":"register"' in line and marker in line:
            try:
                return int(json.loads(line)["version"])
            except (ValueError, KeyError, TypeError, RecursionError):
                break
    latest = Registry(path, _parse_events(raw, path)).latest(model) if raw.strip() else None
    return latest.version if latest else 0


# --- validation: the registry is input (a merge, a hand edit or a crafted pull request can change it) ---

_COMMIT = re.compile(r"^[0-9a-f]{7,64}\Z")


def _event_problem(event: dict[str, Any]) -> tuple[str, Any, str] | None:
    """(field, value, what is wrong) for the first bad field of one event, or None."""
    if not is_name(event.get("model")):
        return "model", event.get("model"), f"is not a valid model name: it {NAME_RULE}"
    kind = event.get("event")
    number = event.get("version")
    if (kind in ("register", "promote", "rollback") or number is not None) and (type(number) is not int or number < 1):
        return "version", number, "is not a version number (a positive integer)"
    if kind == "register":
        return _register_problem(event)
    if kind == "promote" and event.get("to") not in STAGES:
        return "to", event.get("to"), f"is not a stage ({', '.join(STAGES)})"
    if kind == "rollback" and event.get("from") is not None and type(event.get("from")) is not int:
        return "from", event.get("from"), "is not a version number"
    return None


def _register_problem(event: dict[str, Any]) -> tuple[str, Any, str] | None:
    if not is_digest(event.get("hash")):
        return "hash", event.get("hash"), "is not a BLAKE3 hex digest (64 lowercase hex characters)"
    if why := path_problem(event.get("path")):
        return "path", event.get("path"), why
    size = event.get("size", 0)
    if type(size) is not int or size < 0:
        return "size", size, "is not a size in bytes"
    if not isinstance(event.get("format", "skops"), str):
        return "format", event.get("format"), "is not a model format name"
    tag = event.get("tag")
    if tag is not None and not is_name(str(tag).replace("@", "_", 1)):
        return "tag", tag, "is not a git tag name like MODEL@vN"
    for key in ("metrics", "params", "gates", "lineage"):
        if event.get(key) is not None and not isinstance(event[key], dict):
            return key, event[key], "must be a mapping"
    commit = event.get("commit")
    if commit is not None and not (isinstance(commit, str) and _COMMIT.match(commit)):
        return "commit", commit, "is not a git commit hash"
    data = event.get("data")
    if data is None:
        return None
    if not isinstance(data, dict):
        return "data", data, "must be a mapping of data path to hash"
    for rel, digest in data.items():
        if why := path_problem(rel):
            return "data path", rel, why
        if not is_digest(digest):
            return f"data hash of {rel}", digest, "is not a BLAKE3 hex digest (64 lowercase hex characters)"
    return None
