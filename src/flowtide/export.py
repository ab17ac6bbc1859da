"""Export to an MLflow tracking server: pipeline runs, registered versions, stages as aliases.

For teams that outgrow files: flowtide stays the source of truth and MLflow gets a
copy. Every exported object is tagged with its flowtide identity (run id, model
version), so exporting again only sends what is new and moves the aliases.

Each version is an MLflow model (``mlflow.pyfunc.load_model("models:/NAME@production")``
predicts): a ``python_function`` model whose loader is flowtide itself
(:func:`_load_pyfunc`), carrying the verified artifact, its blake3 hash, the input
signature from the checks, and pinned requirements. Loading it re-checks the hash and
the exact trusted types, so nothing is unpickled (MLflow's own sklearn flavour, skops
included, needs MLFLOW_ALLOW_PICKLE_DESERIALIZATION). Everything is written in a
temporary directory: the project gets no ``mlruns``.
mlflow is an optional extra, imported only here.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import FlowtideError, IntegrityError, ServeError, StoreError, UsageError
from .extras import require
from .registry import Registry

if TYPE_CHECKING:
    from .project import Project
    from .registry import Version

RUN_TAG = "flowtide.run_id"
VERSION_TAG = "flowtide.version"
_ALIASES = ("staging", "production")


@dataclass
class ExportResult:
    tracking_uri: str
    experiment_id: str
    runs_created: list[str] = field(default_factory=list)
    runs_skipped: list[str] = field(default_factory=list)
    versions_created: list[str] = field(default_factory=list)
    versions_skipped: list[str] = field(default_factory=list)
    versions_missing: list[str] = field(default_factory=list)
    """Versions whose artifact is neither in the store nor the working copy: not sent (run `flowtide fetch`)."""
    aliases: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_runs(project: Project) -> list[dict[str, Any]]:
    """Pipeline runs from ``.flowtide/runs.db`` (read-only; [] when absent or unreadable)."""
    import sqlite3

    path = project.root / ".flowtide" / "runs.db"
    if not path.is_file():
        return []
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error:
        return []
    try:
        conn.row_factory = sqlite3.Row
        rows = [dict(row) for row in conn.execute("SELECT * FROM runs ORDER BY started")]
    except sqlite3.Error:
        return []
    finally:
        conn.close()
    out = []
    for row in rows:
        for key in ("params", "metrics", "stages", "data"):
            try:
                row[key] = json.loads(row.get(key) or "{}")
            except (TypeError, ValueError):
                row[key] = {}
        out.append(row)
    return out


def _log(client, run_id: str, params: dict[str, Any], metrics: dict[str, Any], when_ms: int) -> None:
    from mlflow.entities import Metric, Param

    from .pipeline.fingerprint import flatten

    param_list = [Param(k, _text(v)) for k, v in flatten(params).items()]
    metric_list = [
        Metric(k, float(v), when_ms, 0)
        for k, v in flatten(metrics).items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    ]
    for start in range(0, max(len(param_list), len(metric_list)), 100):  # MLflow's batch limit is 100 params
        client.log_batch(run_id, metrics=metric_list[start : start + 100], params=param_list[start : start + 100])


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text[:6000]


def _existing_tags(client, experiment_id: str, tag: str) -> dict[str, str]:
    """tag value -> MLflow run id for runs of the experiment that carry ``tag``."""
    found: dict[str, str] = {}
    token = None
    while True:
        page = client.search_runs(
            [experiment_id], filter_string=f"tags.`{tag}` != ''", max_results=1000, page_token=token
        )
        for run in page:
            found[run.data.tags[tag]] = run.info.run_id
        token = page.token
        if not token:
            return found


def export_mlflow(project: Project, tracking_uri: str | None = None) -> ExportResult:
    """Send runs and registered versions to MLflow; idempotent (tags identify what was sent)."""
    uri = tracking_uri or project.env.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise UsageError("no MLflow tracking server: pass --tracking-uri URI or set MLFLOW_TRACKING_URI")
    require("mlflow", "flowtide export mlflow")
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        # mlflow prints "View run ..." links on stdout, which belongs to our --json output
        with contextlib.redirect_stdout(sys.stderr):
            return _export(project, client, uri)
    except MlflowException as exc:
        raise FlowtideError(f"MLflow server {uri}: {exc.message}") from exc
    except OSError as exc:
        raise FlowtideError(f"MLflow server {uri} is unreachable: {exc}") from exc


def _export(project: Project, client, uri: str) -> ExportResult:
    name = project.config.project
    experiment = client.get_experiment_by_name(name)
    experiment_id = (
        experiment.experiment_id if experiment else client.create_experiment(name, tags={"flowtide.project": name})
    )
    result = ExportResult(uri, experiment_id)

    sent = _existing_tags(client, experiment_id, RUN_TAG)
    for run in read_runs(project):
        if run["id"] in sent:
            result.runs_skipped.append(run["id"])
            continue
        started = int(float(run.get("started") or time.time()) * 1000)
        tags = {RUN_TAG: run["id"], "flowtide.kind": str(run.get("kind") or "run"), "mlflow.runName": run["id"]}
        if run.get("git_commit"):
            tags["mlflow.source.git.commit"] = run["git_commit"]
        if run.get("sweep"):
            tags["flowtide.sweep"] = str(run["sweep"])
        for source, digest in (run.get("data") or {}).items():
            tags[f"flowtide.data.{source}"] = str(digest)
        created = client.create_run(experiment_id, start_time=started, tags=tags, run_name=run["id"])
        _log(client, created.info.run_id, run.get("params") or {}, run.get("metrics") or {}, started)
        finished = int(float(run["finished"]) * 1000) if run.get("finished") else None
        status = {"ok": "FINISHED", "failed": "FAILED"}.get(run.get("status"), "KILLED")
        client.set_terminated(created.info.run_id, status=status, end_time=finished)
        result.runs_created.append(run["id"])

    registry = Registry.load(project)
    registered = _existing_tags(client, experiment_id, VERSION_TAG)
    for model in registry.models():
        _ensure_registered_model(client, model)
        known = {
            mv.tags.get(VERSION_TAG): mv.version
            for mv in client.search_model_versions(f"name='{model}'")
            if mv.tags.get(VERSION_TAG)
        }
        numbers: dict[int, str] = {}
        for version in registry.versions(model):
            tag = version.tag or f"{model}@v{version.version}"
            if tag in known:
                numbers[version.version] = known[tag]
                result.versions_skipped.append(tag)
            else:
                try:
                    numbers[version.version] = _create_version(client, project, experiment_id, version, tag, registered)
                except StoreError:  # nothing sent for it: exported whole once `flowtide fetch` restores it
                    result.versions_missing.append(tag)
                    continue
                result.versions_created.append(tag)
            client.set_model_version_tag(model, numbers[version.version], "flowtide.stage", version.stage)
        aliases: dict[str, int] = {}
        existing = client.get_registered_model(model).aliases or {}
        for stage in _ALIASES:
            current = registry.in_stage(model, stage)
            if current is not None and current.version in numbers:
                if str(existing.get(stage)) != str(numbers[current.version]):
                    client.set_registered_model_alias(model, stage, numbers[current.version])
                aliases[stage] = current.version
            elif current is None and stage in existing:
                # only delete what exists: a failed delete is retried with back-off by the client
                client.delete_registered_model_alias(model, stage)
        result.aliases[model] = aliases
    return result


def _ensure_registered_model(client, model: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(model)
    except MlflowException:
        client.create_registered_model(model, tags={"flowtide.model": model}, description="Exported by flowtide")


def _create_version(
    client, project: Project, experiment_id: str, version: Version, tag: str, registered: dict[str, str]
) -> str:
    """One MLflow run holding the version's lineage and artifact, then a model version pointing at it."""
    run_id = registered.get(tag)
    if run_id is None:
        with tempfile.TemporaryDirectory(prefix="flowtide-mlflow-") as tmp:
            # the MLflow model first: a version whose artifact is missing sends nothing
            model_dir = _save_mlflow_model(project, version, Path(tmp))
            tags = {
                VERSION_TAG: tag,
                "mlflow.runName": tag,
                "flowtide.hash": version.hash,
                "flowtide.gates_passed": str(bool(version.gates.get("passed"))).lower(),
            }
            if version.commit:
                tags["mlflow.source.git.commit"] = version.commit
            created_ms = _ms(version.created)
            run = client.create_run(experiment_id, start_time=created_ms, tags=tags, run_name=tag)
            run_id = run.info.run_id
            _log(client, run_id, version.params, version.metrics, created_ms)
            client.log_artifacts(run_id, str(model_dir), artifact_path="model")
        client.set_terminated(run_id, status="FINISHED", end_time=created_ms)
    source = f"{client.get_run(run_id).info.artifact_uri}/model"
    mv = client.create_model_version(
        version.model,
        source,
        run_id=run_id,
        tags={
            VERSION_TAG: tag,
            "flowtide.hash": version.hash,
            "flowtide.commit": version.commit or "",
            "flowtide.gates_passed": str(bool(version.gates.get("passed"))).lower(),
            "flowtide.data": json.dumps(version.data, sort_keys=True)[:5000],
        },
        description=f"flowtide {tag} ({version.format}, blake3 {version.hash[:12]})",
    )
    return mv.version


def _ms(iso: str) -> int:
    from datetime import datetime

    try:
        return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return int(time.time() * 1000)


# --- versions as MLflow models ------------------------------------------------------

SPEC_FILE = "flowtide-model.json"
# the extra each built-in format needs where the MLflow copy is loaded
_FORMAT_EXTRAS = {"skops": "sklearn", "onnx": "onnx"}
# input_schema types -> MLflow column types (dates travel as ISO text, as flowtide serves them)
_COLUMN_TYPES = {"float": "double", "int": "long", "str": "string", "bool": "boolean", "date": "string"}


def _save_mlflow_model(project: Project, version: Version, tmp: Path) -> Path:
    """An MLflow ``python_function`` model of ``version`` in ``tmp/model``: flowtide is its loader."""
    import shutil

    import mlflow.pyfunc

    from . import __version__
    from .formats import FROM_CONFIG, artifact_bytes, input_schema, load_model

    loaded = load_model(project, version)  # verified and loadable here before anything is sent
    data, _ = artifact_bytes(project, version)
    model = project.config.model
    data_dir = tmp / "flowtide"
    data_dir.mkdir()
    artifact = Path(version.path).name or "model"
    (data_dir / artifact).write_bytes(data)
    if version.format == "python" and model is not None and model.loader:
        _copy_loader(project, model.loader, data_dir)
    spec = {
        "model": version.model,
        "version": version.version,
        "format": version.format,
        "artifact": artifact,
        "hash": version.hash,
        "features": list(loaded.features),
        "features_from_config": loaded.features_from == FROM_CONFIG,
        "loader": model.loader if model is not None else None,
        "trusted_types": list(model.trusted_types) if model is not None else [],
    }
    (data_dir / SPEC_FILE).write_text(json.dumps(spec, indent=1, sort_keys=True) + "\n")
    own = loaded.features_from != FROM_CONFIG
    by_name = bool(getattr(loaded.predictor, "by_name", False))
    schema = input_schema(project, list(loaded.features) if own else None, by_name=by_name)
    extra = _FORMAT_EXTRAS.get(version.format)
    requirement = f"flowtide{'[' + extra + ']' if extra else ''}=={__version__}"
    target = tmp / "model"
    with warnings.catch_warnings():  # the signature comes from the checks: no input example is needed
        warnings.filterwarnings("ignore", message=".*input example was not provided.*")
        mlflow.pyfunc.save_model(
            path=str(target),
            loader_module="flowtide.export",
            data_path=str(data_dir),
            signature=_signature(loaded.features, schema),
            pip_requirements=[requirement],  # given, so MLflow does not spend seconds inferring them
            metadata={
                "flowtide.version": version.tag or f"{version.model}@v{version.version}",
                "flowtide.hash": version.hash,
            },
        )
    shutil.rmtree(data_dir)
    return target


def _signature(features: list[str], schema: dict[str, dict[str, Any]]):
    from mlflow.models.signature import ModelSignature
    from mlflow.types import schema as types

    columns = []
    for name in features:
        kind = _COLUMN_TYPES.get((schema.get(name) or {}).get("type") or "")
        if kind is None:  # a column the model reads by name that may be text or a number
            any_type = getattr(types, "AnyType", None)
            if any_type is None:
                return None
            columns.append(types.ColSpec(any_type(), name))
        else:
            columns.append(types.ColSpec(kind, name))
    return ModelSignature(inputs=types.Schema(columns)) if columns else None


def _copy_loader(project: Project, loader: str, data_dir: Path) -> None:
    """The user module a ``python`` model's loader names, beside the artifact (as `flowtide package` does)."""
    import shutil

    module = loader.split(":", 1)[0].replace(".", "/")
    for base in (project.root, project.root / "src"):
        for candidate in (base / f"{module}.py", base / module):
            target = data_dir / candidate.relative_to(base)  # the loader imports it from the data directory
            if candidate.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(candidate, target)
                return
            if candidate.is_dir():
                shutil.copytree(candidate, target, ignore=shutil.ignore_patterns("__pycache__"))
                return


class _MlflowPredictor:
    """What ``mlflow.pyfunc.load_model`` wraps: flowtide's predictor, fed the rows of MLflow's DataFrame."""

    def __init__(self, predictor, features: list[str]) -> None:
        self.predictor = predictor
        self.features = features

    def predict(self, model_input, params=None):
        if hasattr(model_input, "to_dict"):  # a pandas DataFrame, as MLflow passes it after the signature check
            rows = model_input.to_dict(orient="records")
        else:
            rows = [dict(row) for row in model_input]
        rows = [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()} for row in rows]
        return list(self.predictor.predict(rows))


def _load_pyfunc(data_path: str) -> _MlflowPredictor:
    """MLflow's entry point (``loader_module: flowtide.export``): the artifact checked and loaded by flowtide."""
    from .formats import FROM_CONFIG, ModelSpec, model_format
    from .hashing import hash_bytes

    root = Path(data_path)
    try:
        spec = json.loads((root / SPEC_FILE).read_text(encoding="utf-8"))
        label = f"{spec['model']} v{int(spec['version'])} (MLflow copy)"
        artifact, digest, fmt = spec["artifact"], spec["hash"], spec["format"]
        features = [str(f) for f in spec["features"]]
        trusted = [str(t) for t in spec.get("trusted_types") or []]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ServeError(f"{root / SPEC_FILE} is not a flowtide model description: {exc}") from None
    if not isinstance(artifact, str) or not re.fullmatch(r"[A-Za-z0-9._-]+", artifact) or artifact.startswith("."):
        raise ServeError(f"{label}: artifact name {artifact!r} is not a plain file name")
    data = (root / artifact).read_bytes()
    actual = hash_bytes(data)
    if actual != digest:
        raise IntegrityError(f"{label}: {artifact} hashes to {actual}, not the {digest} flowtide registered")
    model_spec = ModelSpec(
        features=features,
        features_from=FROM_CONFIG if spec.get("features_from_config") else "the exported model's features",
        loader=spec.get("loader"),
        trusted_types=trusted,
        root=root,
        label=label,
    )
    predictor = model_format(str(fmt)).load(data, root / artifact, model_spec)
    return _MlflowPredictor(predictor, features)
