"""Drift references: which data a check compares with, and its profile, computed once and stored.

A profile is keyed by the content hash of the reference bytes and kept in the
store (``<store>/profiles/<hash>.json``), so a reference is read once, at
training or first check, and never again while its bytes are unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..validators import is_digest
from . import _read
from .drift import PROFILE_VERSION, ValueCounts, profile_values


@dataclass
class Reference:
    path: Path
    digest: str | None
    origin: str  # how it was chosen, for the report


def resolve(
    project, target: str, target_path: str | None, reference=None, configured: str | None = None
) -> Reference | None:
    """The reference for ``target``: argument > config > last model's data > previous locked version > none."""
    store = project.store
    if reference is not None:
        return _explicit(project, str(reference), "--reference / caller")
    if configured:
        source = project.config.sources.get(configured)
        return _explicit(project, source.path if source else configured, "drift.reference")
    lock = project.read_lock()
    model = project.config.model
    if model and target_path:
        for name in _upstream(project.config.stages, model.path):
            deps = (lock.stages.get(name) or {}).get("deps") or {}
            entry = deps.get(target_path)
            digest = entry.get("hash") if isinstance(entry, dict) else entry if isinstance(entry, str) else None
            if digest and store.has(digest):
                return Reference(store.path_of(digest), digest, f"data of the last trained model (stage {name!r})")
    entry = lock.sources.get(target)
    if entry and entry.get("hash") and store.has(entry["hash"]):
        return Reference(store.path_of(entry["hash"]), entry["hash"], "previously locked version of the source")
    return None


def _upstream(stages: dict, out_path: str) -> list[str]:
    """The stage writing ``out_path``, then the stages feeding it, nearest first (raw data sits upstream)."""

    def produces(stage, path: str) -> bool:
        return any(path == out or path.startswith(out.rstrip("/") + "/") for out in stage.outs)

    order: list[str] = []
    wanted = [out_path]
    while wanted:
        path = wanted.pop(0)
        for name, stage in stages.items():
            if name not in order and produces(stage, path):
                order.append(name)
                wanted.extend(stage.deps)
    return order


def _explicit(project, value: str, origin: str) -> Reference:
    if is_digest(value):
        if not project.store.has(value):
            raise UsageError(
                f"reference blob {value[:12]} is not in the store {project.store.root}",
                hint="Run `flowtide fetch` to download it, or pass a file path.",
            )
        return Reference(project.store.path_of(value), value, origin)
    if origin == "drift.reference":  # from flowtide.yaml: the project path rule (no '..', no absolute, no symlink out)
        path = project.resolve(value, "drift.reference")
    else:  # typed on the command line by the user running it
        path = Path(value)
        if not path.is_absolute():
            path = project.root / path
    if not path.is_file():
        raise UsageError(f"reference data {value!r} does not exist", hint="Pass an existing file or a store digest.")
    return Reference(path, None, f"{value} ({origin})")


def load_columns(
    path: Path, fmt: str, columns: dict[str, str | None], null_values: list[str] | tuple[str, ...] = _read.NULL_VALUES
):
    """A DataFrame of ``columns`` with their declared types (lenient: bad cells and ``null_values`` become null)."""
    import polars as pl

    from .engine import _typed

    declared = {k: v for k, v in columns.items() if v}
    try:
        lf = _read.scan(path, fmt, declared if fmt == "csv" else None, null_values=null_values)
        schema = lf.collect_schema()
        exprs = [_typed(c, schema[c], columns[c])[0].alias(c) for c in columns if c in schema]
        return lf.select(exprs).collect(engine="streaming")
    except pl.exceptions.PolarsError:
        if fmt != "csv":
            raise
        lf = _read.scan(path, fmt, lenient=True, null_values=null_values)
        schema = lf.collect_schema()
        exprs = [_typed(c, schema[c], columns[c])[0].alias(c) for c in columns if c in schema]
        return lf.select(exprs).collect(engine="streaming")


def iter_columns(
    path: Path,
    fmt: str,
    columns: dict[str, str | None],
    null_values: list[str] | tuple[str, ...] = _read.NULL_VALUES,
    kinds: dict[str, str] | None = None,
):
    """(name, values) for each of ``columns`` present in the file, typed as :func:`load_columns` types them:
    a numeric column's values as a Series, a categorical one's already counted (:class:`ValueCounts`).

    ``kinds`` (name -> numeric / categorical, e.g. from a profile) overrides the kind read from the
    declared type and the file's schema. A Parquet file is read one column at a time and a categorical
    column counted inside the scan, so drift on 15 columns of 10M rows holds one column, not the table;
    a CSV (or JSON lines) file is parsed once and each column handed over and dropped from the table.
    """
    from .drift import count_frame

    def kind(name: str, dtype) -> str:
        return (kinds or {}).get(name) or kind_of(dtype, columns[name])

    if fmt == "parquet":
        from .engine import _typed

        lf = _read.scan(path, fmt, null_values=null_values)
        schema = lf.collect_schema()
        for name, declared in columns.items():
            if name not in schema:
                continue
            typed = lf.select(_typed(name, schema[name], declared)[0].alias(name))
            if kind(name, typed.collect_schema()[name]) == "categorical":
                yield name, count_frame(typed, name)
            else:
                yield name, typed.collect(engine="streaming").get_column(name)
        return
    frame = load_columns(path, fmt, columns, null_values)
    for name in list(frame.columns):
        series = frame.drop_in_place(name)
        yield name, count_frame(series.to_frame(), name) if kind(name, series.dtype) == "categorical" else series


def map_columns(fn, items) -> dict[str, Any]:
    """{name: fn(name, values)} over ``items`` ((name, values) pairs, e.g. :func:`iter_columns`), each ``fn``
    running in a worker thread while this thread reads the next column: sorting 10M numbers (numpy) and
    decoding the next column (polars) both release the GIL, so the two overlap on two cores. At most one
    column waits, so memory stays at about two columns."""
    from concurrent.futures import ThreadPoolExecutor

    out: dict[str, Any] = {}
    with ThreadPoolExecutor(1, thread_name_prefix="flowtide-drift") as pool:
        pending = None
        for name, values in items:
            submitted = (name, pool.submit(fn, name, values))
            del values
            if pending is not None:
                out[pending[0]] = pending[1].result()
            pending = submitted
        if pending is not None:
            out[pending[0]] = pending[1].result()
    return out


def kind_of(dtype, declared: str | None) -> str:
    if declared in ("int", "float", "date", "datetime"):
        return "numeric"
    if declared in ("str", "bool"):
        return "categorical"
    return "numeric" if dtype.is_numeric() or dtype.is_temporal() else "categorical"


def profile_frame(frame, columns: dict[str, str | None] | None = None) -> dict[str, Any]:
    """Profiles of the columns of a polars DataFrame."""
    out: dict[str, Any] = {}
    for name in frame.columns:
        series = frame.get_column(name)
        out[name] = profile_values(series, kind_of(series.dtype, (columns or {}).get(name)))
    return out


def profile(
    path: str | Path,
    columns=None,
    *,
    fmt: str | None = None,
    null_values: list[str] | tuple[str, ...] = _read.NULL_VALUES,
) -> dict[str, Any]:
    """Reference statistics of ``columns`` (list of names, or name -> declared type) of a data file."""
    path = Path(path)
    fmt = _read.detect_format(path, fmt)
    if columns is None:
        names = _read.scan(path, fmt).collect_schema().names()
        columns = dict.fromkeys(names)
    elif not isinstance(columns, dict):
        columns = dict.fromkeys(columns)
    out = map_columns(  # one column read while the previous one is profiled
        lambda name, values: profile_values(values, "categorical" if isinstance(values, ValueCounts) else "numeric"),
        iter_columns(path, fmt, columns, null_values),
    )
    return {"version": PROFILE_VERSION, "columns": out}


def cached_profile(
    project,
    ref: Reference,
    fmt: str,
    columns: dict[str, str | None],
    null_values: list[str] | tuple[str, ...] = _read.NULL_VALUES,
) -> dict[str, Any]:
    """The stored profile of ``ref`` for ``columns``, computing (and storing) only what is missing."""
    from ..atomic import atomic_write

    digest = ref.digest
    if digest is None:
        digest = project.stat_cache.hash(ref.path)[0]
        try:
            project.stat_cache.save()  # the next check of an unchanged reference costs one stat
        except OSError:
            pass
    file = project.store.root / "profiles" / digest[:2] / f"{digest}.json"
    saved: dict[str, Any] = {}
    try:
        saved = json.loads(file.read_bytes())
        # a profile read with other null tokens counted other cells: start again
        if saved.get("version") != PROFILE_VERSION or saved.get("null_values", []) != list(null_values):
            saved = {}
    except (FileNotFoundError, ValueError):
        saved = {}
    known = saved.get("columns", {})
    types = saved.get("types", {})
    missing = {c: t for c, t in columns.items() if c not in known or types.get(c) != (t or "")}
    if missing:
        fresh = profile(ref.path, missing, fmt=fmt, null_values=null_values)["columns"]
        known.update(fresh)
        types.update({c: t or "" for c, t in missing.items()})
        saved = {
            "version": PROFILE_VERSION,
            "reference": digest,
            "columns": known,
            "types": types,
            "null_values": list(null_values),
        }
        try:
            atomic_write(file, json.dumps(saved, sort_keys=True), fsync=False)
        except OSError:
            pass  # a read-only store still checks; it just profiles again next time
    return {"version": PROFILE_VERSION, "reference": digest, "columns": {c: known[c] for c in columns if c in known}}
