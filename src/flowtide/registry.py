"""The model registry: versions of a model with lineage, and the stage each one is in.

The registry is one committed file, ``flowtide.registry``: an append-only log of
JSON events (register / promote / rollback), one per line with sorted keys, so a
promotion is a readable one-line diff. The state (which version is in which
stage) is derived by replaying the log. Each registered version also gets a git
tag ``<model>@v<N>`` on the commit it was built from, when the project is a repo.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .atomic import atomic_write
from .errors import RegistryError, UsageError

if TYPE_CHECKING:
    from .project import Project

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
            self._move(target, to)
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
            self._move(target, "production")

    def _move(self, version: Version, stage: str) -> None:
        """Put ``version`` in ``stage``; one version per model holds staging or production, the old holder is archived."""
        if self._holders.get((version.model, version.stage)) is version:
            del self._holders[(version.model, version.stage)]
        if stage in ("staging", "production"):
            previous = self._holders.get((version.model, stage))
            if previous is not None and previous is not version:
                previous.stage = "archived"
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


_SUMMARY_VERSION = 2  # bump when BRIEF_FIELDS or the summary's shape changes
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


def summary(project: Project) -> dict[str, dict[str, Any]]:
    """Per model: who holds staging / production and one row (a BRIEF_FIELDS tuple) per version.

    Cached under .flowtide/ by the registry file's stat (every write is an atomic
    rename, so a new inode); tuples unpickle fast, which keeps `flowtide models`
    quick at 10,000 versions. Turn rows into dicts with :func:`briefs`.
    """
    from .config import cached_by_stat

    path = project.root / REGISTRY_FILE
    if not path.exists():
        return {}

    def compute() -> dict[str, dict[str, Any]]:
        registry = Registry.read(path)
        out: dict[str, dict[str, Any]] = {}
        for model in registry.models():
            production = registry.in_stage(model, "production")
            staging = registry.in_stage(model, "staging")
            out[model] = {
                "production": production.version if production else None,
                "staging": staging.version if staging else None,
                "rows": [tuple(brief(v).values()) for v in registry.versions(model)],
            }
        return out

    return cached_by_stat(project.root, path, f"registry-summary-{_SUMMARY_VERSION}", compute)


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
    from .errors import ConfigError

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


def _append(project: Project, event: dict[str, Any]) -> None:
    """Append one event: read and rewrite the whole file atomically (no torn line on a crash)."""
    path = project.root / REGISTRY_FILE
    try:
        old = path.read_bytes()
    except FileNotFoundError:
        old = b""
    if old and not old.endswith(b"\n"):
        old += b"\n"
    atomic_write(path, old + (_dump_event(event) + "\n").encode("utf-8"))


# --- who, when, which commit -----------------------------------------------


def now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _git(project: Project, *args: str) -> str | None:
    import subprocess

    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=project.root,
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, **dict(project.env)},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def is_git_repo(project: Project) -> bool:
    return any((p / ".git").exists() for p in (project.root, *project.root.parents))


def actor(project: Project) -> dict[str, Any]:
    """Who or what acts: the CI actor and run URL when present, else the git user."""
    env = project.env
    out: dict[str, Any] = {}
    if env.get("GITHUB_ACTOR"):
        out["by"] = env["GITHUB_ACTOR"]
        if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
            server = env.get("GITHUB_SERVER_URL", "https://github.com")
            out["run_url"] = f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
        return out
    name = env.get("GIT_AUTHOR_NAME") or env.get("GIT_COMMITTER_NAME")
    email = env.get("GIT_AUTHOR_EMAIL") or env.get("GIT_COMMITTER_EMAIL")
    if not name and is_git_repo(project):
        name = _git(project, "config", "user.name")
        email = _git(project, "config", "user.email")
    if not name:
        import getpass

        try:
            name = getpass.getuser()
        except Exception:  # no user database entry (containers)
            name = "unknown"
    out["by"] = f"{name} <{email}>" if email else name
    return out


def _commit(project: Project) -> tuple[str | None, bool]:
    if not is_git_repo(project):
        return None, False
    head = _git(project, "rev-parse", "--verify", "-q", "HEAD")
    if not head:
        return None, True
    # tracked changes only: untracked files (models, metrics) are outputs, not source changes
    dirty = _git(project, "status", "--porcelain", "--untracked-files=no")
    return head, bool(dirty)


def _tag(project: Project, tag: str, commit: str | None, message: str) -> str | None:
    """Create the version's tag; return a warning instead of failing."""
    if not commit:
        return f"no git tag {tag}: the project has no commit yet"
    import subprocess

    try:
        proc = subprocess.run(
            ["git", "tag", "-a", tag, "-m", message, commit],
            cwd=project.root,
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, **dict(project.env)},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"could not create git tag {tag}: {exc}"
    if proc.returncode != 0:
        return f"could not create git tag {tag}: {proc.stderr.strip() or proc.stdout.strip()}"
    return None


# --- register ----------------------------------------------------------------


def _model_config(project: Project, model: str | None = None):
    config = project.config.model
    if config is None:
        raise project.config.error(
            "no `model:` section: flowtide does not know which file is the model",
            hint="Add `model: {name: NAME, path: models/model.skops, format: skops}` to flowtide.yaml.",
        )
    if model is not None and model != config.name:
        raise UsageError(f"unknown model {model!r}: flowtide.yaml declares model {config.name!r}")
    return config


def read_gate_results(project: Project) -> dict[str, Any]:
    try:
        return json.loads((project.root / ".flowtide" / GATE_RESULTS).read_bytes())
    except (FileNotFoundError, ValueError):
        return {}


def read_metrics(project: Project) -> dict[str, Any]:
    """The current metrics: every stage's metrics files merged, nested keys joined with dots."""
    merged: dict[str, Any] = {}
    for stage in project.config.stages.values():
        for rel in stage.metrics:
            path = project.root / rel
            try:
                raw = path.read_bytes()
            except FileNotFoundError:
                continue
            try:
                if rel.endswith((".yaml", ".yml")):
                    from .config import parse_yaml

                    data, _ = parse_yaml(raw, rel)
                else:
                    data = json.loads(raw)
            except Exception as exc:
                raise UsageError(f"metrics file {rel} is not valid JSON/YAML: {exc}") from None
            if isinstance(data, dict):
                _flatten(data, "", merged)
    return merged


def _flatten(data: dict[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            _flatten(value, f"{name}.", out)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = value


def _lineage(project: Project, model_path: str) -> tuple[dict[str, str], dict[str, Any]]:
    """(data path -> hash, stage records) from the lock, for the stage(s) behind the artifact."""
    lock = project.read_lock()
    data: dict[str, str] = {}
    for entry in lock.sources.values():
        if entry.get("path") and entry.get("hash"):
            data[entry["path"]] = entry["hash"]
    stages: dict[str, Any] = {}
    for name, entry in lock.stages.items():
        if not isinstance(entry, dict):
            continue
        stages[name] = {k: entry[k] for k in ("deps", "params", "outs", "fingerprint") if k in entry}
        deps = entry.get("deps")
        if isinstance(deps, dict):
            for path, value in deps.items():
                digest = value.get("hash") if isinstance(value, dict) else value
                if isinstance(digest, str) and not path.endswith(".py"):
                    data.setdefault(path, digest)
    return data, stages


def register(project: Project, *, require_gates: bool = False) -> Version:
    """Record the current artifact of ``model:`` as a new candidate version."""
    model = _model_config(project)
    artifact = project.resolve(model.path, "model path")
    if not artifact.is_file():
        raise UsageError(
            f"model artifact {model.path} does not exist",
            hint="Run `flowtide run` to train it first.",
        )
    digest, size = project.stat_cache.hash(artifact, key=model.path)
    project.store.add_file(artifact, digest)
    project.stat_cache.save()

    gates = read_gate_results(project).get(digest)
    if gates is None:
        if model.tests or project.config.gates:
            gates = {"passed": False, "evaluated": False, "message": "gates not evaluated: run `flowtide gate` first"}
        else:
            gates = {"passed": True, "evaluated": False, "message": "no gates or model tests declared"}
    if require_gates and not gates.get("passed"):
        raise RegistryError(
            f"{model.name}: the gates did not pass for artifact {digest[:12]}; not registered",
            hint="See `flowtide gate`; drop --require-gates to register it as a failed candidate.",
        )
    data, stages = _lineage(project, model.path)
    commit, dirty = _commit(project)
    who = actor(project)
    with project.mutex("registry", timeout=60):
        registry = Registry.load(project)
        latest = registry.latest(model.name)
        number = latest.version + 1 if latest else 1
        tag = f"{model.name}@v{number}"
        event = {
            "event": "register",
            "model": model.name,
            "version": number,
            "hash": digest,
            "size": size,
            "format": model.format,
            "path": model.path,
            "metrics": read_metrics(project),
            "params": project.params(),
            "data": data,
            "lineage": stages,
            "commit": commit,
            "dirty": dirty,
            "gates": gates,
            "at": now(),
            "tag": tag,
            **who,
        }
        _append(project, event)
    version = Registry.load(project).get(model.name, number)
    if is_git_repo(project):
        message = _dump_event({k: event[k] for k in ("hash", "data", "metrics", "gates") if k in event})
        warning = _tag(project, tag, commit, f"{tag}\n\n{message}")
        if warning:
            version.warnings.append(warning)
    from .remote import auto_push

    auto_push(project, {digest})
    return version


# --- promote / rollback --------------------------------------------------------


def promote(
    project: Project,
    model: str,
    version: str | int,
    to: str,
    *,
    reason: str | None = None,
    force: bool = False,
) -> Version:
    """Move a version to ``to`` (staging, production or archived) with an audit event."""
    if to not in ("staging", "production", "archived"):
        raise UsageError(f"cannot promote to {to!r}: choose staging, production or archived")
    if force and not (reason and reason.strip()):
        raise UsageError("--force needs --reason TEXT: a forced promotion must say why (it goes into the audit log)")
    with project.mutex("registry", timeout=60):
        registry = Registry.load(project)
        target = registry.get(model, version)
        if target.stage == to:
            return target
        if to == "production" and not force:
            if not target.gates.get("passed"):
                raise RegistryError(
                    f"{target.label} failed its gates; it cannot be promoted to production",
                    hint="Fix the model, or override with --force --reason TEXT (recorded in the registry).",
                )
            if not target.staged:
                raise RegistryError(
                    f"{target.label} has not been in staging; promote it to staging first",
                    hint=f"flowtide promote {model} {target.version} --to staging (or --force --reason TEXT).",
                )
        event = {
            "event": "promote",
            "model": model,
            "version": target.version,
            "from": target.stage,
            "to": to,
            "at": now(),
            "reason": reason,
            "forced": force,
            **actor(project),
        }
        replaced = registry.in_stage(model, to) if to != "archived" else None
        if replaced is not None:
            event["replaces"] = replaced.version
        _append(project, event)
    return Registry.load(project).get(model, target.version)


def rollback(project: Project, model: str, *, reason: str | None = None) -> Version:
    """Return production to the previous production version; archive the current one."""
    with project.mutex("registry", timeout=60):
        registry = Registry.load(project)
        current = registry.in_stage(model, "production")
        if current is None:
            raise RegistryError(f"model {model!r} has no production version to roll back")
        previous = registry.previous_production(model)
        if previous is None:
            raise RegistryError(
                f"{current.label} is the first production version of {model!r}; there is nothing to roll back to",
                hint=f"Promote another version instead: flowtide promote {model} VERSION --to production.",
            )
        event = {
            "event": "rollback",
            "model": model,
            "version": previous.version,
            "from": current.version,
            "at": now(),
            "reason": reason,
            **actor(project),
        }
        _append(project, event)
    return Registry.load(project).get(model, previous.version)
