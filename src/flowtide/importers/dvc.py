"""``import dvc``: a DVC project's pipeline, tracked data and cache as flowtide's config, lock and store.

Reads dvc.yaml, params.yaml, dvc.lock and every ``*.dvc`` file directly (DVC is
not a dependency). Everything is decided and every byte proven first — each
cache object against the MD5 DVC recorded, then hashed with flowtide's BLAKE3 —
and only then is anything written: blobs into the store, missing working-tree
files from them, flowtide.lock, and flowtide.yaml last. A stage that DVC itself
would re-run (a dep, param or command differs from dvc.lock) gets no lock entry,
so `flowtide status` says it is stale for the same reason; every other stage is
up to date without recomputing.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import CONFIG_FILE, LOCK_FILE, parse_config, parse_yaml
from ..errors import ConfigError, UsageError
from ..pipeline.fingerprint import lookup
from ..validators import NAME, path_problem
from . import _dvcfiles as files
from ._objects import Verified, cache_dir, digests, dir_md5, prove

FORMATS = {".skops": "skops", ".onnx": "onnx"}


@dataclass
class DvcImport:
    """What ``import dvc`` found, proved and (unless a dry run) wrote."""

    config_text: str
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    stages: list[str] = field(default_factory=list)
    locked: list[str] = field(default_factory=list)
    """Stages recorded in flowtide.lock as built (`flowtide status`: up to date)."""
    stale: dict[str, list[str]] = field(default_factory=dict)
    """Stages DVC would re-run too, with why: no lock entry, so `flowtide run` runs them."""
    blobs: int = 0
    bytes: int = 0
    restored: list[str] = field(default_factory=list)
    """Working-tree files that were missing (or links into DVC's cache) and were written from the store."""
    modified: list[str] = field(default_factory=list)
    """Working-tree files that differ from DVC's record: left as they are."""
    notes: list[str] = field(default_factory=list)
    cml: list[str] = field(default_factory=list)
    written: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "written": self.written,
            "config": self.config_text,
            "sources": sorted(self.sources),
            "stages": self.stages,
            "locked": self.locked,
            "stale": self.stale,
            "blobs": self.blobs,
            "bytes": self.bytes,
            "restored": self.restored,
            "modified": self.modified,
            "notes": self.notes,
            "cml": self.cml,
        }


def import_dvc(root: str | os.PathLike[str], *, force: bool = False, dry_run: bool = False) -> DvcImport:
    """Import the DVC project at ``root``; ``dry_run``: prove and report, write nothing."""
    from ..workflows.cml import find_cml

    root = Path(root).resolve()
    if not (root / "dvc.yaml").is_file() and not (root / ".dvc").is_dir():
        raise UsageError(
            f"{root} is not a DVC project (no dvc.yaml, no .dvc/)", hint="Run this at the DVC repository's root."
        )
    if (root / CONFIG_FILE).exists() and not force and not dry_run:
        raise UsageError(
            f"{CONFIG_FILE} already exists in {root}; not overwritten",
            hint="Pass --force to replace it (and flowtide.lock), or --dry-run to see what would be written.",
        )
    params: dict[str, Any] = {}
    if (root / "params.yaml").is_file():
        data, _ = files.read_yaml(root, "params.yaml")
        params = data if isinstance(data, dict) else {}
    stages, notes = files.read_pipeline(root, params) if (root / "dvc.yaml").is_file() else ([], [])
    lock, lock_where = files.read_lock(root)
    tracked = [t for rel in files.find_dvc_files(root) for t in files.read_dvc_file(root, rel)]
    cache = cache_dir(root)
    result = DvcImport(config_text="", notes=notes)
    result.cml = [str(use) for use in find_cml(root)]

    # --- decide, and prove every byte (nothing is written until all of it holds) ---
    proven: dict[str, Verified] = {}  # project path -> its proven bytes
    config: dict[str, Any] = {"project": _project_name(root)}
    sources: dict[str, dict[str, Any]] = {}
    tracking: dict[str, Any] = {}  # `dvc add`-ed directories: a stage that only records them
    for item in tracked:
        result.notes += item.notes
        where = f"{item.path} ({item.dvc_file}:{item.line})"
        if item.md5 is None:
            result.notes.append(f"{where}: no md5 recorded (never `dvc commit`-ed): not imported")
            continue
        proven[item.path] = prove(cache, item.path, item.md5, item.legacy, root, where)
        if item.is_dir:
            name = _unique(files.flowtide_name("track-" + item.path.replace("/", "-")), tracking)
            tracking[name] = {"cmd": "true", "outs": [item.path]}
            result.notes.append(
                f"{item.path}/ is a directory tracked with `dvc add`: flowtide sources are files, so stage {name!r} "
                "records it (`flowtide run` stores it again when it changes, as `dvc add` would)"
            )
            continue
        name = _unique(files.flowtide_name(Path(item.path).stem or item.path), sources)
        sources[name] = {"url": item.url or item.path, "path": item.path, "storage": "store"}
    if sources:
        config["sources"] = sources
    result.sources = sources

    stage_configs: dict[str, dict[str, Any]] = dict(tracking)
    up_to_date: list[files.DvcStage] = []
    for stage in stages:
        stage_configs[stage.name] = _stage_config(stage)
        result.notes += stage.notes
        entry = files.in_project(lock.get(stage.dvc_name), stage.wdir, lock_where)
        reasons = _dvc_reasons(root, stage, entry, params)
        if reasons:
            result.stale[stage.name] = reasons
            continue
        assert entry is not None
        for path in [*stage.outs, *stage.metrics, *stage.plots]:
            out = entry["outs"][path]
            where = f"{path} (stage {stage.dvc_name}, dvc.lock:{out['line']})"
            md5 = out.get("md5")
            if not isinstance(md5, str) or not re.fullmatch(r"[0-9a-f]{32}(\.dir)?", md5):
                raise ConfigError(f"{where}: md5 {md5!r} is not an MD5 hex digest", file="dvc.lock", line=out["line"])
            proven[path] = prove(
                cache, path, md5, out.get("hash") != "md5", root, where, cached=path not in stage.uncached
            )
        up_to_date.append(stage)
    if stage_configs:
        config["stages"] = stage_configs
    model = _model(root, result.notes)
    if model:
        config["model"] = model
    result.stages = list(stage_configs)
    result.config_text = _dump(config)
    try:  # what flowtide will read back: any problem shows now, before anything is written
        parsed = parse_config(result.config_text, CONFIG_FILE)
        from ..pipeline.dag import build

        build(parsed)
    except ConfigError as exc:
        raise ConfigError(
            f"the flowtide.yaml this import would write is not valid: {exc.message}",
            hint="Nothing was written. It comes from dvc.yaml: fix the stage it names there (the DVC project "
            "would fail the same way), then import again.",
        ) from None
    blobs = {blob.hash: blob for v in proven.values() for blob in v.blobs.values()}
    result.blobs, result.bytes = len(blobs), sum(b.size for b in blobs.values())
    if dry_run:
        result.locked = [s.name for s in up_to_date] + list(tracking)
        return result

    # --- write: blobs, missing working-tree files, the lock, flowtide.yaml last ---
    from ..lock import Lock
    from ..pipeline.fingerprint import current, read_params
    from ..project import Project

    project = Project(root=root, config=parsed)
    store = project.store
    store.add_files([(blob.source, blob.hash) for blob in blobs.values()])
    for path, verified in proven.items():
        _settle(project, path, verified, result)
    lock_out = Lock()
    for name, source in sources.items():
        entry = proven[source["path"]].entry()
        lock_out.sources[name] = {
            "url": source["url"],
            "path": source["path"],
            "hash": entry["hash"],
            "size": entry["size"],
        }
    values = read_params(project) if any(s.params for s in parsed.stages.values()) else {}
    for name in [*tracking, *(s.name for s in up_to_date)]:
        stage = parsed.stages[name]
        from ..pipeline.dag import outputs

        state = current(project, name, stage, values)
        lock_out.stages[name] = state.lock_entry({path: proven[path].entry() for path in outputs(stage)})
        result.locked.append(name)
    project.stat_cache.save()
    lock_out.save(root / LOCK_FILE, tmp_dir=project.tmp_dir)
    from ..atomic import atomic_write
    from ..gitignore import ignore, stage_outputs

    # DVC's own .gitignore lines already keep most data out of git; what they miss is added (and flowtide's state)
    ignore(root, [".flowtide", *(s["path"] for s in sources.values())], "flowtide's local state and stored data")
    ignore(root, stage_outputs(parsed.stages.values()), "stage outputs: their bytes live in the flowtide store")
    atomic_write(root / CONFIG_FILE, result.config_text, tmp_dir=project.tmp_dir)
    result.written = True
    return result


def _settle(project, path: str, verified: Verified, result: DvcImport) -> None:
    """Write missing working-tree files (and replace links into DVC's cache) from the store; keep edited ones."""
    for rel, blob in verified.blobs.items():
        full = project.root / path / rel if rel else project.root / path
        shown = f"{path}/{rel}" if rel else path
        if full.is_symlink() or not full.exists():
            full.parent.mkdir(parents=True, exist_ok=True)
            if full.is_symlink():
                full.unlink()
            project.store.materialize(blob.hash, full)
            result.restored.append(shown)
            continue
        digest, _ = project.stat_cache.hash(full, key=shown)
        if digest != blob.hash:
            result.modified.append(shown)


def _dvc_reasons(root: Path, stage: files.DvcStage, entry: dict[str, Any] | None, params: dict[str, Any]) -> list[str]:
    """Why `dvc repro` would run this stage (compared with dvc.lock and the working tree); [] when up to date."""
    if entry is None:
        return ["not in dvc.lock (never run by DVC)"]
    if entry.get("cmd") != stage.lock_cmd:
        return ["command differs from dvc.lock"]
    reasons = []
    if set(entry["deps"]) != set(stage.deps):
        reasons.append("deps differ from dvc.lock")
    for path, dep in entry["deps"].items():
        recorded = dep.get("md5")
        full = root / path
        if isinstance(recorded, str) and recorded.endswith(".dir"):
            now = dir_md5(full)
        elif full.is_file():
            md5, _, _, lf = digests(full, dos2unix=dep.get("hash") != "md5")
            now = lf if lf == recorded else md5
        else:
            now = None
        if now != recorded:
            reasons.append(f"dep {path} {'missing' if now is None else 'changed'} since dvc.lock")
    for file, values in (entry.get("params") or {}).items():
        current = params if file == "params.yaml" else _params_file(root, file)
        for key, value in (values or {}).items():
            if lookup(current, key) != value:  # a missing key is a sentinel, equal to no value
                reasons.append(f"param {key} changed since dvc.lock")
    declared = {*stage.outs, *stage.metrics, *stage.plots}
    if set(entry["outs"]) != declared:
        reasons.append("outs differ from dvc.lock")
    return reasons


def _params_file(root: Path, rel: str) -> dict[str, Any]:
    if path_problem(rel) or not (root / rel).is_file():
        return {}
    data, _ = parse_yaml((root / rel).read_bytes(), rel)
    return data if isinstance(data, dict) else {}


def _stage_config(stage: files.DvcStage) -> dict[str, Any]:
    out: dict[str, Any] = {"cmd": stage.cmd}
    deps = list(dict.fromkeys([*stage.deps, *stage.params_files]))
    if deps:
        out["deps"] = deps
    if "*" in stage.params:
        out["params"] = True
    elif stage.params:
        out["params"] = list(dict.fromkeys(stage.params))
    for kind in ("outs", "metrics", "plots"):
        if getattr(stage, kind):
            out[kind] = getattr(stage, kind)
    if stage.params_files:
        stage.notes.append(
            f"{stage.dvc_name}: params of {', '.join(stage.params_files)} are whole-file deps (flowtide reads params "
            "from one file, params.yaml)"
        )
    return out


def _model(root: Path, notes: list[str]) -> dict[str, Any] | None:
    """``model:`` from a DVC / GTO artifact declaration of type model whose file flowtide can load."""
    declared: dict[str, Any] = {}
    for rel in ("dvc.yaml", "artifacts.yaml"):
        if not (root / rel).is_file():
            continue
        data, _ = files.read_yaml(root, rel)
        section = data.get("artifacts") if rel == "dvc.yaml" and isinstance(data, dict) else data
        if isinstance(section, dict):
            declared.update({k: v for k, v in section.items() if isinstance(v, dict)})
    models = {k: v for k, v in declared.items() if v.get("type", "model") == "model" and isinstance(v.get("path"), str)}
    if len(models) != 1:
        return None
    ((name, spec),) = models.items()
    fmt = FORMATS.get(Path(spec["path"]).suffix)
    if not NAME.match(str(name)) or fmt is None or path_problem(spec["path"]):
        notes.append(
            f"artifact {name!r} ({spec['path']}): no `model:` section written; flowtide serves skops, ONNX or a "
            "python loader: add `model: {name, path, format}` once the model is saved in one of them"
        )
        return None
    return {"name": str(name), "path": spec["path"], "format": fmt}


def _unique(name: str, taken: dict[str, Any]) -> str:
    candidate, number = name, 2
    while candidate in taken:
        candidate, number = f"{name}-{number}", number + 1
    return candidate


def _project_name(root: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", root.name).strip("-.") or "project"
    return name if NAME.match(name) else f"_{name}"


def _dump(config: dict[str, Any]) -> str:
    """flowtide.yaml text: block mappings, short lists in flow style, a header saying where it came from."""
    import io

    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    def convert(value: Any) -> Any:
        if isinstance(value, dict):
            out = CommentedMap()
            for k, v in value.items():
                out[k] = convert(v)
            return out
        if isinstance(value, list):
            seq = CommentedSeq(convert(v) for v in value)
            seq.fa.set_flow_style()
            return seq
        return value

    yaml = YAML()
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    buffer = io.StringIO()
    yaml.dump(convert(config), buffer)
    header = (
        "# Imported from DVC by `flowtide import dvc` (dvc.yaml, dvc.lock, *.dvc files).\n"
        "# dvc.yaml, dvc.lock, the *.dvc files and .dvc/ are no longer read: remove them when you are done.\n"
    )
    return header + buffer.getvalue()
