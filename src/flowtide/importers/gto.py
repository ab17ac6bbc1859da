"""``import gto``: GTO's git tags as flowtide.registry events, read with git itself (GTO is not a dependency).

GTO keeps a registry in annotated tags: ``name@v1.2.3`` registers a version on
the tagged commit, ``name#stage#N`` assigns a stage (N counts the artifact's
stage events), ``name#stage!#N`` unassigns it, ``name@v1.2.3!`` deregisters a
version and ``name@deprecated#N`` deprecates the artifact. Each becomes one
register or promote event, in the order the tags were made, with the commit,
the tagger and the date; the artifact's bytes at that commit (a file in git, or
a DVC-tracked file proven against DVC's cache) go into the store. Every event
remembers its tag, so a second import adds nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, RegistryError, UsageError
from ..validators import NAME, path_problem

if TYPE_CHECKING:
    from ..project import Project

_SEMVER = r"v\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?"
TAG = re.compile(
    rf"^(?P<artifact>[^@#!]+?)(?:(?:#(?P<stage>[A-Za-z0-9][A-Za-z0-9_/-]*)|@(?P<version>{_SEMVER}))(?P<cancel>!?)"
    r"|@(?P<deprecated>deprecated)|@created)(?:#(?P<counter>[0-9]+))?$"
)
STAGE_MAP = {
    "prod": "production",
    "production": "production",
    "prd": "production",
    "live": "production",
    "staging": "staging",
    "stage": "staging",
    "stg": "staging",
}
"""GTO stage → flowtide stage when ``--stage`` does not say; any other GTO stage must be mapped explicitly."""
FORMATS = {".skops": "skops", ".onnx": "onnx"}
_FIELDS = (
    "refname:strip=2",
    "objecttype",
    "objectname",
    "*objectname",
    "*objecttype",
    "taggername",
    "taggeremail",
    "taggerdate:iso-strict",
    "committername",
    "committeremail",
    "committerdate:iso-strict",
    "contents:subject",
)


@dataclass
class GitTag:
    name: str
    commit: str
    by: str
    at: datetime
    match: re.Match
    subject: str = ""

    @property
    def counter(self) -> int:
        return int(self.match["counter"] or 0)


@dataclass
class GtoImport:
    events: list[dict[str, Any]] = field(default_factory=list)
    """The events appended (or, in a dry run, that would be)."""
    skipped: list[str] = field(default_factory=list)
    """Tags already imported (the idempotent second run lists them all here)."""
    notes: list[str] = field(default_factory=list)
    written: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"written": self.written, "events": self.events, "skipped": self.skipped, "notes": self.notes}


def import_gto(project: Project, *, stages: dict[str, str] | None = None, dry_run: bool = False) -> GtoImport:
    """Append the events of every GTO tag not imported yet; ``stages``: GTO stage → flowtide stage."""
    from ..registry import REGISTRY_FILE, STAGES, Registry, append_events

    mapping = {**STAGE_MAP, **(stages or {})}
    for gto_stage, ours in (stages or {}).items():
        if ours not in (*STAGES, "skip"):
            raise UsageError(f"--stage {gto_stage}={ours}: choose one of {', '.join(STAGES)} or skip")
    tags = _tags(project.root)
    result = GtoImport()
    unknown = sorted({t.match["stage"] for t in tags if t.match["stage"] and t.match["stage"] not in mapping})
    if unknown:
        raise UsageError(
            f"GTO stage{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} ha{'ve' if len(unknown) > 1 else 's'} "
            "no flowtide counterpart; nothing was imported",
            hint="Map each: --stage NAME=staging (or production, archived, candidate; skip to leave its tags out). "
            "flowtide's stages are candidate, staging, production and archived.",
        )
    path = project.root / REGISTRY_FILE
    with project.mutex("registry", timeout=60):
        existing = Registry.read(path).events
        done = {e["gto"]["tag"] for e in existing if isinstance(e.get("gto"), dict) and "tag" in e["gto"]}
        numbers = {
            (e["model"], e["gto"].get("version")): e["version"]
            for e in existing
            if e.get("event") == "register" and isinstance(e.get("gto"), dict)
        }
        new: list[dict[str, Any]] = []
        blobs: list[tuple[str, bytes | Path]] = []
        for tag in tags:
            model = tag.match["artifact"].replace("=", ":")
            if tag.name in done:
                result.skipped.append(tag.name)
                continue
            if not NAME.match(model):
                result.notes.append(
                    f"{tag.name}: artifact {model!r} is not a flowtide model name (letters, digits, _ . -): skipped"
                )
                continue
            registry = Registry(path, [*existing, *new])
            if tag.match["version"] and not tag.match["cancel"]:
                number = max((v.version for v in registry.versions(model)), default=0) + 1
                event, blob = _register(project, tag, model, number)
                numbers[(model, tag.match["version"])] = number
                blobs.append(blob)
                new.append(event)
                continue
            event = _move(registry, tag, model, mapping, numbers, result.notes)
            if event is not None:
                new.append(event)
        result.events = new
        if dry_run or not new:
            return result
        store = project.store
        for digest, source in blobs:
            if store.has(digest):
                continue
            if isinstance(source, Path):
                store.add_file(source, digest)
            else:
                with store.writer(len(source)) as writer:
                    writer.write(source)
                if writer.digest != digest:  # (cannot happen: the bytes were hashed a moment ago)
                    raise RegistryError(f"artifact bytes changed while being stored ({digest[:12]})")
        append_events(project, new)
        result.written = True
    return result


def _move(registry, tag: GitTag, model: str, mapping: dict[str, str], numbers: dict, notes: list[str]):
    """The promote event for an assign / unassign / deregister / deprecate tag, or None (with a note) if it moves nothing."""
    base = {"event": "promote", "model": model, "at": _when(tag.at), "by": tag.by, "forced": False}
    gto = {"tag": tag.name, "commit": tag.commit}
    if tag.match["deprecated"]:
        versions = [v for v in registry.versions(model) if v.stage != "archived"]
        if not versions:
            notes.append(f"{tag.name}: no version of {model} to archive")
            return None
        # one event per tag keeps the import idempotent: archive the newest live version, note the rest
        target = versions[-1]
        if len(versions) > 1:
            notes.append(
                f"{tag.name}: {model} is deprecated; archived v{target.version}, archive the others with `flowtide promote`"
            )
        return {
            **base,
            "version": target.version,
            "from": target.stage,
            "to": "archived",
            "reason": f"imported from GTO tag {tag.name} (artifact deprecated)",
            "gto": gto,
        }
    if tag.match["version"]:  # name@vX.Y.Z!: deregistered
        number = numbers.get((model, tag.match["version"]))
        if number is None:
            notes.append(f"{tag.name}: deregisters {tag.match['version']}, which was never registered: skipped")
            return None
        target = registry.get(model, number)
        return {
            **base,
            "version": number,
            "from": target.stage,
            "to": "archived",
            "reason": f"imported from GTO tag {tag.name} (version deregistered)",
            "gto": {**gto, "version": tag.match["version"]},
        }
    stage = mapping[tag.match["stage"]]
    if stage == "skip":
        return None
    version = _assigned_version(registry, tag, model, numbers)
    if version is None:
        notes.append(f"{tag.name}: its commit {tag.commit[:10]} carries no registered version of {model}: skipped")
        return None
    target = registry.get(model, version)
    if tag.match["cancel"]:
        if target.stage != stage:
            notes.append(f"{tag.name}: {model} v{version} is not in {stage}: nothing to unassign")
            return None
        stage = "archived"
    elif target.stage == stage:
        return None
    elif target.stage == "production" and stage in ("staging", "candidate"):
        notes.append(
            f"{tag.name}: {model} v{version} is in production; GTO also assigned {tag.match['stage']}, flowtide keeps "
            "one stage per version: production kept"
        )
        return None
    event = {
        **base,
        "version": version,
        "from": target.stage,
        "to": stage,
        "reason": f"imported from GTO tag {tag.name}",
        "gto": {**gto, "stage": tag.match["stage"]},
    }
    holder = registry.in_stage(model, stage) if stage in ("staging", "production") else None
    if holder is not None and holder.version != version:
        event["replaces"] = holder.version
    return event


def _assigned_version(registry, tag: GitTag, model: str, numbers: dict) -> int | None:
    """The version a stage tag is about: GTO's message names it; else the version registered on the same commit."""
    named = re.search(rf"\bversion ({_SEMVER})\b", tag.subject)
    if named and (model, named.group(1)) in numbers:
        return numbers[(model, named.group(1))]
    for v in reversed(registry.versions(model)):
        if v.commit == tag.commit:
            return v.version
    return None


def _register(project: Project, tag: GitTag, model: str, number: int) -> tuple[dict[str, Any], tuple[str, Any]]:
    path, digest, size, source = _artifact(project, tag, model)
    fmt = FORMATS.get(Path(path).suffix, "file")
    config = project.config.model
    if config is not None and config.name == model:
        fmt = config.format
    event = {
        "event": "register",
        "model": model,
        "version": number,
        "hash": digest,
        "size": size,
        "format": fmt,
        "path": path,
        "metrics": {},
        "params": {},
        "data": {},
        "lineage": {},
        "commit": tag.commit,
        "dirty": False,
        "gates": {
            "passed": False,
            "evaluated": False,
            "message": f"imported from GTO tag {tag.name}: no flowtide gates ran",
        },
        "at": _when(tag.at),
        "by": tag.by,
        "tag": tag.name,
        "gto": {"tag": tag.name, "version": tag.match["version"], "commit": tag.commit},
    }
    return event, (digest, source)


# --- git -------------------------------------------------------------------------------


def _git(root: Path, *args: str, binary: bool = False):
    try:
        proc = subprocess.run(["git", *args], cwd=root, capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"git could not run in {root}: {exc}") from None
    if binary:
        return proc.returncode, proc.stdout
    return proc.returncode, proc.stdout.decode("utf-8", "replace")


def _tags(root: Path) -> list[GitTag]:
    """Every GTO tag of the repository, oldest first (registrations before stage moves made in the same second)."""
    fmt = "%00".join(f"%({f})" for f in _FIELDS)
    code, out = _git(root, "for-each-ref", f"--format={fmt}", "refs/tags")
    if code != 0:
        raise UsageError(
            f"{root} is not a git repository: GTO's registry lives in git tags", hint="Run this in the repository."
        )
    tags = []
    for line in out.splitlines():
        parts = line.split("\0")
        if len(parts) != len(_FIELDS):
            continue
        (
            name,
            kind,
            obj,
            peeled,
            peeled_kind,
            tagger,
            tagger_email,
            tag_date,
            committer,
            committer_email,
            commit_date,
            subject,
        ) = parts
        match = TAG.match(name)
        if not match:
            continue
        commit = obj if kind == "commit" else peeled if peeled_kind == "commit" else None
        if commit is None:
            code, text = _git(root, "rev-parse", "--verify", "--quiet", f"refs/tags/{name}^{{commit}}")
            commit = text.strip() if code == 0 else None
        if not commit or not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", commit):
            continue
        who, email, date = (
            (tagger, tagger_email, tag_date) if kind == "tag" else (committer, committer_email, commit_date)
        )
        try:
            at = datetime.fromisoformat(date) if date else datetime.fromtimestamp(0, UTC)
        except ValueError:
            at = datetime.fromtimestamp(0, UTC)
        by = f"{who} {email}".strip() or "unknown"
        tags.append(GitTag(name, commit, by, at, match, subject if kind == "tag" else ""))
    tags.sort(key=lambda t: (t.at, 0 if t.match["version"] and not t.match["cancel"] else 1, t.counter, _semver_key(t)))
    return tags


def _semver_key(tag: GitTag) -> tuple:
    version = tag.match["version"]
    if not version:
        return ()
    core = re.match(r"v(\d+)\.(\d+)\.(\d+)", version)
    return tuple(int(x) for x in core.groups()) if core else ()


def _when(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# --- the artifact at a commit --------------------------------------------------------------


def _artifact(project: Project, tag: GitTag, model: str) -> tuple[str, str, int, bytes | Path]:
    """(path, BLAKE3, size, bytes or a proven file) of the artifact as it was at the tag's commit."""
    from ..hashing import hash_bytes

    root = project.root
    path = _declared_path(root, tag, model)
    code, data = _git(root, "cat-file", "blob", f"{tag.commit}:{path}", binary=True)
    if code == 0:
        return path, hash_bytes(data), len(data), data
    md5, legacy = _dvc_record(root, tag, path)
    if md5 is None:
        raise RegistryError(
            f"{tag.name}: the artifact {path} is neither in git nor recorded by DVC at commit {tag.commit[:10]}; "
            "nothing was imported",
            hint="Declare its path in artifacts.yaml or dvc.yaml `artifacts:` at that commit, or remove the tag.",
        )
    from ._objects import cache_dir, prove

    verified = prove(cache_dir(root), path, md5, legacy, root, f"{path} of {tag.name}")
    if "" not in verified.blobs:
        raise RegistryError(f"{tag.name}: the artifact {path} is a directory; flowtide registers a model file")
    blob = verified.blobs[""]
    return path, blob.hash, blob.size, blob.source


def _show_yaml(root: Path, commit: str, rel: str) -> tuple[Any, dict] | None:
    from ..config import parse_yaml

    code, data = _git(root, "cat-file", "blob", f"{commit}:{rel}", binary=True)
    if code != 0:
        return None
    return parse_yaml(data, f"{rel} at {commit[:10]}")


def _declared_path(root: Path, tag: GitTag, model: str) -> str:
    """The artifact's path at the tag's commit: dvc.yaml's ``artifacts:`` (GTO 1.x), else artifacts.yaml."""
    for rel in ("dvc.yaml", "artifacts.yaml"):
        shown = _show_yaml(root, tag.commit, rel)
        if shown is None:
            continue
        data, positions = shown
        section = data.get("artifacts") if rel == "dvc.yaml" and isinstance(data, dict) else data
        key = ("artifacts", model) if rel == "dvc.yaml" else (model,)
        spec = section.get(model) if isinstance(section, dict) else None
        if not isinstance(spec, dict) or "path" not in spec:
            continue
        value = spec["path"]
        why = path_problem(value) if isinstance(value, str) else "must be a relative path inside the project"
        if why or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", str(value)):
            line = positions.get((*key, "path"), (None,))[0]
            raise ConfigError(
                f"artifact {model!r} path {value!r} {why or 'is a URL: flowtide registers files of the repository'}",
                file=f"{rel} at {tag.commit[:10]}",
                line=line,
                hint="Nothing was imported. Fix the declaration (a path inside the repository) and tag again.",
            )
        return os.path.normpath(value).replace(os.sep, "/")
    raise RegistryError(
        f"{tag.name}: no path for artifact {model!r} at commit {tag.commit[:10]} (in dvc.yaml `artifacts:` or "
        "artifacts.yaml); nothing was imported",
        hint="GTO versions without a file cannot become flowtide versions: declare the path, or delete the tag.",
    )


def _dvc_record(root: Path, tag: GitTag, path: str) -> tuple[str | None, bool]:
    """The MD5 DVC recorded for ``path`` at the commit: its ``.dvc`` file, or the dvc.lock out that writes it."""
    shown = _show_yaml(root, tag.commit, f"{path}.dvc")
    if shown is not None:
        data, _ = shown
        for out in (data.get("outs") or []) if isinstance(data, dict) else []:
            if isinstance(out, dict) and isinstance(out.get("md5"), str):
                return _md5(out)
    shown = _show_yaml(root, tag.commit, "dvc.lock")
    if shown is not None:
        data, _ = shown
        stages = data.get("stages") if isinstance(data, dict) else None
        for entry in stages.values() if isinstance(stages, dict) else []:
            outs = entry.get("outs") if isinstance(entry, dict) else None
            for out in outs if isinstance(outs, list) else []:
                if isinstance(out, dict) and out.get("path") == path:
                    return _md5(out)
    return None, False


def _md5(out: dict) -> tuple[str | None, bool]:
    md5 = out.get("md5")
    if not (isinstance(md5, str) and re.fullmatch(r"[0-9a-f]{32}", md5)):
        return None, False
    return md5, out.get("hash") != "md5"
