"""The registry log and its replay: versions, their stages, and the cached listing summary.

``flowtide.registry`` holds one JSON event per line (sorted keys); :class:`Registry`
replays them into :class:`Version` objects. Appends rewrite the whole file
atomically, so a crash never leaves a torn line.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..atomic import atomic_write
from ..errors import UsageError

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


_SUMMARY_VERSION = 3  # bump when BRIEF_FIELDS or the summary's shape changes
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


def summary(project: Project, *, full: bool = False) -> dict[str, dict[str, Any]]:
    """Per model: who holds staging / production, the version count, and rows of recent versions.

    ``rows`` are BRIEF_FIELDS tuples (turn them into dicts with :func:`briefs`) and
    ``json`` the same records pre-encoded. Without ``full`` only the last
    SUMMARY_TAIL versions are included. Both are cached under .flowtide/ by the
    registry file's stat (every write is an atomic rename, so a new inode): the
    small cache keeps `flowtide models` at start-up cost even at 10,000 versions.
    """
    from ..config import cached_by_stat

    path = project.root / REGISTRY_FILE
    if not path.exists():
        return {}

    def everything() -> dict[str, dict[str, Any]]:
        registry = Registry.read(path)
        out: dict[str, dict[str, Any]] = {}
        for model in registry.models():
            production = registry.in_stage(model, "production")
            staging = registry.in_stage(model, "staging")
            records = [brief(v) for v in registry.versions(model)]
            out[model] = {
                "production": production.version if production else None,
                "staging": staging.version if staging else None,
                "count": len(records),
                "rows": [tuple(r.values()) for r in records],
                # pre-encoded for `models --json`: joining strings beats encoding 10,000 dicts per call
                "json": [json.dumps(r, sort_keys=True, default=str) for r in records],
            }
        return out

    def load_full() -> dict[str, dict[str, Any]]:
        return cached_by_stat(project.root, path, f"registry-full-{_SUMMARY_VERSION}", everything)

    if full:
        return load_full()

    def recent() -> dict[str, dict[str, Any]]:
        return {
            model: {**entry, "rows": entry["rows"][-SUMMARY_TAIL:], "json": entry["json"][-SUMMARY_TAIL:]}
            for model, entry in load_full().items()
        }

    return cached_by_stat(project.root, path, f"registry-recent-{_SUMMARY_VERSION}", recent)


def briefs(rows: list[tuple]) -> list[dict[str, Any]]:
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


def _parse_events(raw: bytes, path: Path) -> list[dict[str, Any]]:
    from ..errors import ConfigError

    text = raw.decode("utf-8")
    try:
        # one C-level parse for the whole file is several times faster than a loads() per line
        events = json.loads("[" + ",".join(line for line in text.splitlines() if line.strip()) + "]")
        if all(isinstance(event, dict) for event in events):
            return events
    except ValueError:
        pass
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            if not isinstance(json.loads(line), dict):
                raise ValueError("expected an object {...}")
        except ValueError as exc:
            hint = "flowtide writes it atomically, so this is a hand edit or a merge conflict: keep both sides' lines in time order."
            raise ConfigError(f"not a JSON event: {exc}", file=path.name, line=number, hint=hint) from None
    return []


def _dump_event(event: dict[str, Any]) -> str:
    return json.dumps(event, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _append(project: Project, event: dict[str, Any], old: bytes | None = None) -> None:
    """Append one event: rewrite the whole file atomically (no torn line on a crash)."""
    path = project.root / REGISTRY_FILE
    if old is None:
        try:
            old = path.read_bytes()
        except FileNotFoundError:
            old = b""
    if old and not old.endswith(b"\n"):
        old += b"\n"
    atomic_write(path, old + (_dump_event(event) + "\n").encode("utf-8"))


def _latest_number(raw: bytes, path: Path, model: str) -> int:
    """The highest version of ``model``: the last register line for it (versions only grow).

    Scans lines from the end instead of replaying the log, so register stays fast on a long history.
    """
    marker = f'"model":{json.dumps(model)}'.encode()
    for line in reversed(raw.splitlines()):
        if b'"event":"register"' in line and marker in line:
            try:
                return int(json.loads(line)["version"])
            except (ValueError, KeyError, TypeError):
                break
    latest = Registry(path, _parse_events(raw, path)).latest(model) if raw.strip() else None
    return latest.version if latest else 0
