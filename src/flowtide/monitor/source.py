"""The prediction log as a source: ``predictions://MODEL?window=30d`` turns labelled traffic into training data.

``flowtide pull`` materialises every logged prediction of MODEL (in the window
ending now, or all of them) that got a feedback label — this machine's
segments and every replica's segments in the remote store, one row per request
id — as a CSV or Parquet file (by the source path's extension) with the
model's feature columns and its target column, in (time, request id) order:
the same log gives the same bytes (and the content hash is the validator), so
the lock changes only with new labels.
No labelled traffic gives a header-only (or zero-row) file. The file is then
checked, locked and versioned like any source. This fetcher is registered in
the ``flowtide.sources`` entry-point group, exactly as a third-party one is.
"""

from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from ..errors import FlowtideError, SourceError

if TYPE_CHECKING:
    from ..project import Project
    from ..sources import Fetched, FetchRequest

SCHEME = "predictions"
_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_TYPES = {
    "int": "Int64",
    "float": "Float64",
    "bool": "Boolean",
    "str": "String",
    "date": "String",
    "datetime": "String",
}


@dataclass(frozen=True)
class TrafficSpec:
    model: str
    window: float | None
    """Seconds before now; None takes every logged prediction."""


def parse_url(name: str, url: str) -> TrafficSpec:
    """``predictions://MODEL[?window=30d]`` -> TrafficSpec (SourceError naming the source otherwise)."""
    from .window import parse_window

    parts = urlsplit(url)
    hint = "Write it as predictions://MODEL or predictions://MODEL?window=30d (s, m, h, d or w)."
    if parts.scheme != SCHEME or not _MODEL.match(parts.netloc) or parts.path not in ("", "/") or parts.fragment:
        raise SourceError(name, url, "not a prediction log URL", hint=hint)
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"window"})
    if unknown or any(len(v) != 1 for v in query.values()):
        raise SourceError(name, url, f"unknown or repeated query parameter {(unknown or list(query))[0]!r}", hint=hint)
    window = None
    if "window" in query:
        try:
            window = parse_window(query["window"][0])
        except FlowtideError as exc:
            raise SourceError(name, url, exc.message, hint=hint) from None
    return TrafficSpec(parts.netloc, window)


def labelled_traffic(project: Project, spec: TrafficSpec, *, now: float | None = None) -> tuple[list[str], list[dict]]:
    """(columns, rows): the model's features and target for every labelled request, one row per request id."""
    from ..formats import features as feature_columns
    from ..serve.predlog import read_log
    from . import log_dirs

    model = project.config.model
    until = time.time() if now is None else now
    data = read_log(
        log_dirs(project, strict=True),
        since=None if spec.window is None else until - spec.window,
        until=until + 1e-6,
        model=spec.model,
    )
    columns = [*feature_columns(project), model.target]
    first: dict[str, dict] = {}
    # shadow copies share their request's id; keep one row per id, the earliest, in a stable order
    for row in sorted(data.predictions, key=lambda r: (r["time"], r["request_id"], r["role"], r["version"] or 0)):
        first.setdefault(row["request_id"], row)
    rows = []
    for request_id, row in sorted(first.items(), key=lambda item: (item[1]["time"], item[0])):
        label = data.feedback.get(request_id)
        inputs = row["inputs"]
        if label is None or not isinstance(inputs, dict):
            continue
        rows.append({**{c: inputs.get(c) for c in columns[:-1]}, model.target: label})
    return columns, rows


def render(project: Project, columns: list[str], rows: list[dict], fmt: str) -> bytes:
    """The rows as CSV or Parquet bytes, each column typed by the model's input schema (and the target's check)."""
    import polars as pl

    model = project.config.model
    suite = project.config.checks.get(model.reference) if model.reference else None
    declared = {name: rule.type for name, rule in (suite.columns if suite else {}).items()}
    series = []
    for column in columns:
        values: list[Any] = [row.get(column) for row in rows]
        kind = declared.get(column)
        if kind in _TYPES:
            # a value the server accepted but that does not fit the declared type becomes null: the checks see it
            series.append(pl.Series(column, values, dtype=getattr(pl, _TYPES[kind]), strict=False))
        else:
            series.append(pl.Series(column, values, strict=False) if values else pl.Series(column, [], dtype=pl.String))
    frame = pl.DataFrame(series)
    buffer = io.BytesIO()
    if fmt == "parquet":
        frame.write_parquet(buffer, statistics=False)
    else:
        frame.write_csv(buffer)
    return buffer.getvalue()


class PredictionsFetcher:
    """The ``predictions://`` fetcher: the same contract as the http(s), local and fsspec ones."""

    def fetch(self, request: FetchRequest) -> Fetched:
        from ..hashing import hash_bytes
        from ..project import Project
        from ..sources import Fetched

        spec = parse_url(request.name, request.url)
        try:
            project = Project.load(request.base_dir)
        except FlowtideError as exc:
            raise SourceError(request.name, request.url, f"cannot load the project: {exc.message}") from None
        fmt = self._format(project, request)
        model = project.config.model
        if model is None or model.name != spec.model:
            known = f"the project's model is {model.name!r}" if model else "the project has no model: section"
            raise SourceError(
                request.name,
                request.url,
                f"no model {spec.model!r} to read predictions of ({known})",
                hint="The prediction log joins a model's logged inputs with their feedback: name `model.name` in the URL.",
            )
        if not model.target:
            raise SourceError(
                request.name,
                request.url,
                "model.target is not set, so feedback labels have no column to land in",
                hint="Add `target: COLUMN` under `model:` in flowtide.yaml.",
            )
        try:
            columns, rows = labelled_traffic(project, spec)
        except FlowtideError as exc:
            raise SourceError(request.name, request.url, exc.message, hint=exc.hint) from None
        data = render(project, columns, rows, fmt)
        # the validator is the content hash: the same labelled rows are "not modified"
        etag = f"content:{hash_bytes(data)}"
        if request.validators.get("etag") == etag:
            return Fetched(not_modified=True, etag=etag)
        with request.store.writer(len(data)) as blob:
            blob.write(data)
            blob.commit()
        return Fetched(not_modified=False, hash=blob.digest, size=blob.size, etag=etag)

    @staticmethod
    def _format(project: Project, request: FetchRequest) -> str:
        source = project.config.sources.get(request.name)
        path = source.path if source is not None else ""
        suffix = "." + path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
        if source is not None and suffix not in _FORMATS:
            raise SourceError(
                request.name,
                request.url,
                f"cannot write labelled traffic to {path!r}: the path must end in .csv or .parquet",
                hint="The file format of a predictions:// source follows its `path:` extension.",
            )
        return _FORMATS.get(suffix, "csv")
