"""Reading a DVC project's own files: dvc.yaml (vars, foreach, matrix, ``${...}``), dvc.lock and ``*.dvc``.

Read directly, never through DVC: flowtide does not depend on it. Every file is
input, so each path is held to :func:`flowtide.validators.path_problem` and a
problem names ``file:line``.
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import parse_yaml
from ..errors import ConfigError
from ..validators import ESCAPE_HINT, NAME, path_problem

_INTERP = re.compile(r"(?<!\\)\$\{\s*([^}]*?)\s*\}")
_WHOLE = re.compile(r"^\$\{\s*([^}]*?)\s*\}$")
_SKIP_DIRS = {".git", ".dvc", ".flowtide", ".venv", "venv", "node_modules", "__pycache__", ".tox"}
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


@dataclass
class Where:
    """A parsed YAML file: its name (relative to the project) and the line of every key."""

    file: str
    positions: dict[tuple, tuple[int, int]]

    def line(self, *path: Any) -> int | None:
        key = tuple(path)
        while key and key not in self.positions:
            key = key[:-1]
        return self.positions[key][0] if key in self.positions else None

    def error(self, message: str, *path: Any, hint: str | None = None) -> ConfigError:
        return ConfigError(message, file=self.file, line=self.line(*path), hint=hint)


@dataclass
class DvcStage:
    """One stage of dvc.yaml after foreach / matrix expansion and interpolation."""

    dvc_name: str
    """As dvc.lock names it: ``train`` or ``train@small``."""
    name: str
    """A valid flowtide stage name (``train-small``)."""
    cmd: str
    lock_cmd: Any
    """The command as DVC records it in dvc.lock (a string, or a list for a list of commands)."""
    deps: list[str] = field(default_factory=list)
    outs: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)
    params: list[str] = field(default_factory=list)
    """Keys of params.yaml."""
    params_files: list[str] = field(default_factory=list)
    """Other params files a stage reads (flowtide reads one params file: these become whole-file deps)."""
    wdir: str = "."
    """The stage's working directory (its paths in dvc.lock are relative to it)."""
    uncached: set[str] = field(default_factory=set)
    """Outs declared with ``cache: false`` (not in DVC's cache; their bytes are only in the working tree)."""
    notes: list[str] = field(default_factory=list)
    line: int | None = None


@dataclass
class Tracked:
    """One out of a ``.dvc`` file: data added with ``dvc add``, ``dvc import-url`` or ``dvc import``."""

    dvc_file: str
    line: int | None
    path: str
    md5: str | None
    size: int | None
    legacy: bool
    """DVC 2 hash (no ``hash: md5`` field): the object lives in ``cache/xx/...`` and may be an md5 of LF text."""
    url: str | None = None
    """``import-url``: where the bytes came from."""
    notes: list[str] = field(default_factory=list)

    @property
    def is_dir(self) -> bool:
        return bool(self.md5 and self.md5.endswith(".dir"))


def read_yaml(root: Path, rel: str) -> tuple[Any, Where]:
    """A YAML file of the project as plain values with its key positions; ConfigError (file:line) if malformed."""
    path = root / rel
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{rel} does not exist", file=rel) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {rel}: {exc.strerror}", file=rel) from None
    data, positions = parse_yaml(raw, rel)
    return data, Where(rel, positions)


def check_path(value: Any, where: Where, what: str, *path: Any) -> str:
    """``value`` as a normalised project path, or a ConfigError naming the file and line."""
    if not isinstance(value, str) or not value.strip():
        raise where.error(f"{what} must be a path, not {value!r}", *path)
    if _URL.match(value):
        raise where.error(
            f"{what} {value!r} is a URL: flowtide stages read files of the project",
            *path,
            hint="Turn it into a source (flowtide.yaml `sources:`) that `flowtide pull` fetches into the project, "
            "and depend on the file it writes.",
        )
    why = path_problem(value)
    if why:
        raise where.error(f"{what} {value!r} {why}", *path, hint=ESCAPE_HINT)
    norm = os.path.normpath(value.replace("\\", "/")).replace(os.sep, "/")
    if norm in (".", "") or norm.startswith("../"):
        raise where.error(f"{what} {value!r} must name a file or directory inside the project", *path)
    return norm


def inside(base: str, value: Any, where: Where, what: str, *path: Any) -> str:
    """``value``, relative to the project directory ``base`` (a stage's wdir), as a normalised project path.

    ``..`` is allowed only where it stays inside the project (``wdir: src`` with ``../data``);
    anything that leads out, or is absolute, is a ConfigError naming the file and line.
    """
    if base == "." or not isinstance(value, str) or value.startswith(("/", "\\")) or ":" in value[1:2]:
        return check_path(value, where, what, *path)
    joined = os.path.normpath(f"{base}/{value}".replace("\\", "/")).replace(os.sep, "/")
    if joined == ".." or joined.startswith("../"):
        raise where.error(f"{what} {value!r} escapes the project directory (from wdir {base})", *path, hint=ESCAPE_HINT)
    return check_path(joined, where, what, *path)


# --- interpolation -------------------------------------------------------------------


def _lookup(context: dict[str, Any], expr: str, where: Where, path: tuple) -> Any:
    node: Any = context
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", expr):
        if part.startswith("["):
            index = int(part[1:-1])
            if not isinstance(node, list) or index >= len(node):
                raise where.error(f"${{{expr}}}: no item {index}", *path)
            node = node[index]
            continue
        if not isinstance(node, dict) or part not in node:
            raise where.error(
                f"${{{expr}}} is not defined (not in vars, params.yaml, item or key)",
                *path,
                hint="Define it under `vars:` or in params.yaml, as `dvc repro` would need too.",
            )
        node = node[part]
    return node


def _to_text(value: Any, expr: str, where: Where, path: tuple) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise where.error(
        f"${{{expr}}} is a {type(value).__name__}: flowtide's importer puts only strings and numbers into text",
        *path,
        hint="Write the values out in dvc.yaml, or interpolate their fields one by one.",
    )


def interpolate(value: Any, context: dict[str, Any], where: Where, path: tuple) -> Any:
    """``${a.b}`` in every string of ``value``; a string that is one ``${...}`` keeps the value's type."""
    if isinstance(value, str):
        whole = _WHOLE.match(value)
        if whole:
            return _lookup(context, whole.group(1), where, path)
        text = _INTERP.sub(
            lambda m: _to_text(_lookup(context, m.group(1), where, path), m.group(1), where, path), value
        )
        return text.replace("\\${", "${")
    if isinstance(value, list):
        return [interpolate(item, context, where, (*path, i)) for i, item in enumerate(value)]
    if isinstance(value, dict):
        return {
            interpolate(k, context, where, path): interpolate(v, context, where, (*path, k)) for k, v in value.items()
        }
    return value


def as_list(value: Any, where: Where, what: str, *path: Any) -> list:
    """A YAML list (absent: empty); anything else is a ConfigError at its line."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise where.error(f"{what} must be a list, not {type(value).__name__}", *path)
    return value


def _vars(entries: Any, root: Path, where: Where, path: tuple, context: dict[str, Any]) -> None:
    """Merge a ``vars:`` list (mappings, or params files ``file.yaml`` / ``file.yaml:key1,key2``) into context."""
    if entries is None:
        return
    if not isinstance(entries, list):
        entries = [entries]
    for index, entry in enumerate(entries):
        if isinstance(entry, dict):
            context.update(entry)
            continue
        if not isinstance(entry, str):
            raise where.error(f"vars entry {entry!r} must be a mapping or a file name", *path, index)
        file, _, keys = entry.partition(":")
        rel = check_path(file, where, "vars file", *path, index)
        data, _ = read_yaml(root, rel)
        data = data if isinstance(data, dict) else {}
        if keys:
            context.update({k: data[k] for k in (k.strip() for k in keys.split(",")) if k in data})
        else:
            context.update(data)


# --- dvc.yaml ------------------------------------------------------------------------


def read_pipeline(root: Path, params: dict[str, Any]) -> tuple[list[DvcStage], list[str]]:
    """The stages of dvc.yaml (expanded, interpolated) and notes about what has no flowtide counterpart."""
    data, where = read_yaml(root, "dvc.yaml")
    if data is None:
        return [], []
    if not isinstance(data, dict):
        raise where.error("the top level must be a mapping with `stages:`")
    context: dict[str, Any] = dict(params)
    _vars(data.get("vars"), root, where, ("vars",), context)
    notes = [
        f"dvc.yaml: top-level `{key}:` is not imported (flowtide reads metrics and plots from the stages that write them)"
        for key in ("metrics", "plots", "params", "datasets")
        if data.get(key)
    ]
    stages = data.get("stages") or {}
    if not isinstance(stages, dict):
        raise where.error("`stages:` must be a mapping of stage names to definitions", "stages")
    out: list[DvcStage] = []
    for name, body in stages.items():
        if not isinstance(body, dict):
            raise where.error(f"stage {name!r} must be a mapping", "stages", name)
        base = ("stages", name)
        local = dict(context)
        _vars(body.get("vars"), root, where, (*base, "vars"), local)
        if "foreach" in body or "matrix" in body:
            for suffix, extra in _iterations(body, local, where, base):
                definition = (
                    body.get("do", {}) if "foreach" in body else {k: v for k, v in body.items() if k != "matrix"}
                )
                inner = (*base, "do") if "foreach" in body else base
                out.append(_stage(f"{name}@{suffix}", definition, {**local, **extra}, where, inner, root))
        else:
            out.append(_stage(str(name), body, local, where, base, root))
    names: dict[str, str] = {}
    for stage in out:
        if stage.name in names:
            raise where.error(
                f"stages {names[stage.name]!r} and {stage.dvc_name!r} both become flowtide stage {stage.name!r}",
                "stages",
                stage.dvc_name.split("@")[0],
                hint="Rename one of them in dvc.yaml.",
            )
        names[stage.name] = stage.dvc_name
    return out, notes


def _iterations(body: dict, context: dict, where: Where, base: tuple) -> list[tuple[str, dict[str, Any]]]:
    """(name suffix, added context) per generated stage, as DVC names them: ``stage@item``, ``stage@key``, ``stage@0``."""
    if "foreach" in body:
        items = interpolate(body["foreach"], context, where, (*base, "foreach"))
        if "do" not in body or not isinstance(body["do"], dict):
            raise where.error("a foreach stage needs a `do:` mapping", *base)
        if isinstance(items, dict):
            return [(str(key), {"key": key, "item": item}) for key, item in items.items()]
        if isinstance(items, list):
            return [
                (str(item) if isinstance(item, (str, int, float)) else str(index), {"item": item})
                for index, item in enumerate(items)
            ]
        raise where.error(f"foreach must give a list or a mapping, not {items!r}", *base, "foreach")
    matrix = interpolate(body["matrix"], context, where, (*base, "matrix"))
    if not isinstance(matrix, dict) or not all(isinstance(v, list) for v in matrix.values()):
        raise where.error("matrix must map names to lists of values", *base, "matrix")
    keys = list(matrix)
    result = []
    for combo in itertools.product(*(list(enumerate(matrix[k])) for k in keys)):
        parts = [
            str(value) if isinstance(value, (str, int, float)) else f"{key}{i}"
            for key, (i, value) in zip(keys, combo, strict=True)
        ]
        result.append(("-".join(parts), {"item": {k: v for k, (_, v) in zip(keys, combo, strict=True)}}))
    return result


def flowtide_name(dvc_name: str) -> str:
    """``train@small`` → ``train-small``: a stage name flowtide accepts (letters, digits, _ . -)."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", dvc_name.replace("@", "-"))
    return name if NAME.match(name) else f"_{name}"


def _entries(value: Any, where: Where, path: tuple) -> list[tuple[str, dict[str, Any], tuple]]:
    """A DVC list of outs / metrics / plots: each ``path`` or ``{path: {options}}``."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise where.error("must be a list", *path)
    found = []
    for index, item in enumerate(value):
        if isinstance(item, str):
            found.append((item, {}, (*path, index)))
        elif isinstance(item, dict) and len(item) == 1:
            ((key, options),) = item.items()
            found.append((key, options if isinstance(options, dict) else {}, (*path, index)))
        else:
            raise where.error(f"entry {item!r} must be a path or `path: {{options}}`", *path, index)
    return found


def _stage(dvc_name: str, body: dict, context: dict, where: Where, base: tuple, root: Path) -> DvcStage:
    body = interpolate(body, context, where, base)
    stage = DvcStage(dvc_name=dvc_name, name=flowtide_name(dvc_name), cmd="", lock_cmd=None, line=where.line(*base))
    wdir = body.get("wdir") or "."
    if wdir != ".":
        wdir = check_path(wdir, where, "wdir", *base, "wdir")

    def join(rel: str, *path: Any) -> str:
        return inside(wdir, rel, where, "path", *path)

    cmd = body.get("cmd")
    if isinstance(cmd, list) and all(isinstance(c, str) for c in cmd) and cmd:
        text = " && ".join(cmd)
    elif isinstance(cmd, str) and cmd.strip():
        text = cmd
    else:
        raise where.error(f"stage {dvc_name!r} has no `cmd:`", *base)
    stage.lock_cmd = cmd
    stage.wdir = wdir
    stage.cmd = text if wdir == "." else f"cd {wdir} && {text}"
    for index, dep in enumerate(as_list(body.get("deps"), where, "deps", *base, "deps")):
        stage.deps.append(join(dep, *base, "deps", index))
    for kind in ("outs", "metrics", "plots"):
        for rel, options, path in _entries(body.get(kind), where, (*base, kind)):
            full = join(rel, *path)
            getattr(stage, kind).append(full)
            if options.get("cache") is False:
                stage.uncached.add(full)
            if options.get("persist"):
                stage.notes.append(f"{dvc_name}: out {full} has `persist: true`; flowtide replaces outs on each run")
    for index, param in enumerate(as_list(body.get("params"), where, "params", *base, "params")):
        if isinstance(param, str):
            stage.params.append(param)
            continue
        if not isinstance(param, dict):
            raise where.error(f"params entry {param!r} must be a key or `file.yaml: [keys]`", *base, "params", index)
        for file, keys in param.items():
            rel = join(file, *base, "params", index)
            if rel == "params.yaml":
                stage.params.extend(
                    k for k in as_list(keys, where, "params keys", *base, "params", index) if isinstance(k, str)
                )
                if not keys:
                    stage.notes.append(f"{dvc_name}: every key of params.yaml is a param")
                    stage.params = ["*"]
            else:
                stage.params_files.append(rel)
    for flag in ("frozen", "always_changed"):
        if body.get(flag):
            stage.notes.append(f"{dvc_name}: `{flag}: true` has no flowtide counterpart and is dropped")
    return stage


# --- dvc.lock -------------------------------------------------------------------------


def read_lock(root: Path) -> tuple[dict[str, dict[str, Any]], Where | None]:
    """dvc.lock's ``stages`` (schema 2.0), each with its deps / outs as path → entry; {} when there is none."""
    if not (root / "dvc.lock").is_file():
        return {}, None
    data, where = read_yaml(root, "dvc.lock")
    if not isinstance(data, dict) or not isinstance(data.get("stages", {}), dict):
        raise where.error("not a DVC 2/3 lock file (expected `schema: '2.0'` and `stages:`)")
    stages: dict[str, dict[str, Any]] = {}
    for name, entry in (data.get("stages") or {}).items():
        if not isinstance(entry, dict):
            raise where.error(f"stage {name!r} must be a mapping", "stages", name)
        params = entry.get("params") or {}
        if not isinstance(params, dict) or not all(isinstance(v, dict) or v is None for v in params.values()):
            raise where.error("params must map each params file to its values", "stages", name, "params")
        parsed: dict[str, Any] = {
            "cmd": entry.get("cmd"),
            "params": params,
            "line": where.line("stages", name),
        }
        for kind in ("deps", "outs"):
            items: dict[str, dict[str, Any]] = {}
            for index, item in enumerate(as_list(entry.get(kind), where, kind, "stages", name, kind)):
                if not isinstance(item, dict):
                    raise where.error(f"{kind} entry must be a mapping", "stages", name, kind, index)
                rel = item.get("path")
                if not isinstance(rel, str) or not rel or rel.startswith("/") or "\0" in rel or ":" in rel[1:2]:
                    check_path(rel, where, f"{kind[:-1]} path", "stages", name, kind, index)  # raises
                # relative to the stage's wdir, which only dvc.yaml knows: joined and checked by the importer
                items[rel] = {**item, "line": where.line("stages", name, kind, index)}
            parsed[kind] = items
        stages[str(name)] = parsed
    return stages, where


def in_project(entry: dict[str, Any] | None, wdir: str, where: Where | None) -> dict[str, Any] | None:
    """A dvc.lock stage with its deps and outs keyed by project path (dvc.lock writes them relative to ``wdir``)."""
    if entry is None or where is None:
        return entry
    joined: dict[str, Any] = {}
    for kind in ("deps", "outs"):
        joined[kind] = {
            inside(wdir, rel, Where(where.file, {(): (item["line"], 1)}), f"{kind[:-1]} path"): item
            for rel, item in entry[kind].items()
        }
    return {**entry, **joined}


# --- *.dvc files ------------------------------------------------------------------------


def find_dvc_files(root: Path) -> list[str]:
    """Every ``*.dvc`` file of the project (not inside .git, .dvc, virtualenvs), sorted."""
    found = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        for name in files:
            if name.endswith(".dvc") and name != ".dvc":
                found.append(Path(directory, name).relative_to(root).as_posix())
    return sorted(found)


def read_dvc_file(root: Path, rel: str) -> list[Tracked]:
    data, where = read_yaml(root, rel)
    if not isinstance(data, dict) or not isinstance(data.get("outs"), list):
        raise where.error("not a DVC file: expected an `outs:` list")
    base = os.path.dirname(rel)
    deps = as_list(data.get("deps"), where, "deps", "deps")
    url = None
    notes = []
    if deps:
        dep = deps[0] if isinstance(deps[0], dict) else {}
        if isinstance(dep.get("repo"), dict):
            notes.append(
                f"{rel}: `dvc import` from {dep['repo'].get('url')}: kept as a tracked file (flowtide fetches no DVC repos)"
            )
        elif isinstance(dep.get("path"), str) and _URL.match(dep["path"]):
            url = dep["path"]
        elif isinstance(dep.get("path"), str):
            url = check_path(
                dep["path"] if not base else f"{base}/{dep['path']}", where, "import-url path", "deps", 0, "path"
            )
    tracked = []
    for index, out in enumerate(data["outs"]):
        if not isinstance(out, dict):
            raise where.error("outs entry must be a mapping", "outs", index)
        raw = out.get("path")
        if isinstance(raw, str):
            why = path_problem(raw)
            if why:
                raise where.error(f"out path {raw!r} {why}", "outs", index, "path", hint=ESCAPE_HINT)
        path = check_path(
            raw if not base or not isinstance(raw, str) else f"{base}/{raw}", where, "out path", "outs", index, "path"
        )
        md5 = out.get("md5")
        if md5 is not None and (not isinstance(md5, str) or not re.fullmatch(r"[0-9a-f]{32}(\.dir)?", md5)):
            raise where.error(f"md5 {md5!r} is not an MD5 hex digest", "outs", index, "md5")
        tracked.append(
            Tracked(
                dvc_file=rel,
                line=where.line("outs", index),
                path=path,
                md5=md5,
                size=out.get("size") if type(out.get("size")) is int else None,
                legacy=out.get("hash") != "md5",
                url=url,
                notes=list(notes),
            )
        )
    return tracked
