"""Model formats behind one small contract: bytes in, a predictor of ``list[dict] -> list`` out.

Loading never trusts the store: the artifact's bytes are hashed and compared
with the hash the registry recorded before any deserialisation, and sklearn
models are read with skops (no pickle) accepting only allow-listed types.
Built-in formats: skops, onnx (onnxruntime) and python (a user ``module:Class``),
registered in the ``flowtide.formats`` entry-point group exactly as a package
adds its own (see :class:`ModelFormat`).
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .errors import IntegrityError, ServeError, StoreError, UsageError
from .extras import require
from .hashing import hash_bytes

if TYPE_CHECKING:
    from .project import Project
    from .registry import Version


class Predictor(Protocol):
    """``predict(rows) -> outputs``; a predictor may also say its ``task`` ("classification" or "regression")."""

    def predict(self, rows: list[dict[str, Any]]) -> list[Any]: ...


FROM_CONFIG = "model.features in flowtide.yaml"
FROM_SKLEARN = "the model's feature_names_in_"
FROM_ONNX = "the ONNX model's input names"


@dataclass
class ModelSpec:
    """What a format needs besides the bytes: the input columns and format options."""

    features: list[str]
    features_from: str = ""
    """What declares ``features``, for messages: FROM_CONFIG (the user chose them: a format keeps them), else
    where they were guessed from (the checks of model.reference), which the model's own input names override."""
    loader: str | None = None
    trusted_types: list[str] = field(default_factory=list)
    root: Path | None = None
    label: str = "model"
    """How messages name the artifact, e.g. "weather v3 (models/model.skops)"."""


class ModelFormat(Protocol):
    """The contract every model format implements (the conformance suite: tests/conformance/test_formats.py).

    A class registered in the ``flowtide.formats`` entry-point group under the
    name users write as ``model.format``; flowtide makes one with no arguments.

    - ``name``: the registered name; ``suffix``: the artifact's usual file suffix
      (``""`` when any is fine).
    - ``load(data, path, spec)`` gets the artifact's bytes *after* flowtide checked
      them against the registry's hash, the path they came from, and the
      :class:`ModelSpec` (input columns, options, ``label`` for messages). It
      returns a :class:`Predictor`: ``predict(rows: list[dict]) -> list``, one
      output per row, ``[]`` for ``[]``.
    - Anything wrong with the artifact is a :class:`~flowtide.errors.ServeError`
      naming ``spec.label``; never execute code the bytes name without an
      allow-list (the skops format shows how).
    - Import heavy libraries inside ``load``: the registry imports the class
      whenever a project names the format.
    """

    name: str
    suffix: str

    def load(self, data: bytes, path: Path, spec: ModelSpec) -> Predictor: ...


def _matrix(rows: list[dict[str, Any]], features: list[str], dtype=None):
    import numpy as np

    missing = [f for f in features if rows and f not in rows[0]]
    if missing:
        raise ServeError(f"input rows lack feature(s) {', '.join(missing)} (the model needs {', '.join(features)})")
    try:
        values = [[row[f] for f in features] for row in rows]
    except KeyError as exc:
        raise ServeError(f"an input row lacks feature {exc.args[0]!r}") from None
    if dtype is not None:
        return np.asarray(values, dtype=dtype)
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        return np.asarray(values, dtype=object)


def _labels(values) -> list[Any]:
    out = values.tolist() if hasattr(values, "tolist") else list(values)
    return [v.decode() if isinstance(v, bytes) else v for v in out]


_ESTIMATOR_TASKS = {"classifier": "classification", "regressor": "regression"}


class _SklearnPredictor:
    def __init__(self, estimator, spec: ModelSpec) -> None:
        self.estimator = estimator
        self.features = spec.features
        self.features_from = spec.features_from
        names = getattr(estimator, "feature_names_in_", None)
        known = [str(name) for name in names] if names is not None else None
        if known is not None and spec.features_from != FROM_CONFIG:
            # fitted on a DataFrame: the model knows its inputs (engineered columns the checks never saw)
            self.features = known
            self.features_from = FROM_SKLEARN
        # the matrix goes in the order the model was fitted in, whatever order model.features lists the names
        self.columns = known if known is not None and set(known) == set(self.features) else self.features
        # a pipeline that picks its columns by name (a ColumnTransformer: impute, one-hot, scale per column)
        # needs a DataFrame; everything else gets a plain matrix, which is faster
        self.by_name = known is not None and _selects_columns_by_name(estimator)

    @property
    def task(self) -> str | None:
        """From the estimator's own type (scikit-learn tags; ``_estimator_type`` before 1.6), on the object
        skops already loaded from allow-listed types: nothing is unpickled to ask."""
        kind = None
        tags = getattr(self.estimator, "__sklearn_tags__", None)
        if callable(tags):
            try:
                kind = tags().estimator_type
            except Exception:  # a third-party estimator with incomplete tags: fall back to the attribute
                kind = None
        if kind is None:
            kind = getattr(self.estimator, "_estimator_type", None)
        if kind is None and getattr(self.estimator, "classes_", None) is not None:
            kind = "classifier"
        return _ESTIMATOR_TASKS.get(kind) if isinstance(kind, str) else None

    def predict(self, rows: list[dict[str, Any]]) -> list[Any]:
        import warnings

        if not rows:
            return []
        if self.by_name:
            return _labels(self.estimator.predict(_frame(rows, self.columns)))
        with warnings.catch_warnings():
            # fitted on a DataFrame, given an array in the same column order: the names warning is noise
            warnings.filterwarnings("ignore", message=".*feature names.*")
            return _labels(self.estimator.predict(_matrix(rows, self.columns)))


def _selects_columns_by_name(estimator, depth: int = 0) -> bool:
    """True when ``estimator`` is, or contains (Pipeline steps, nested), a ColumnTransformer."""
    from sklearn.compose import ColumnTransformer

    if isinstance(estimator, ColumnTransformer):
        return True
    steps = getattr(estimator, "steps", None)
    if depth > 8 or not isinstance(steps, list):
        return False
    return any(
        isinstance(step, tuple) and len(step) == 2 and _selects_columns_by_name(step[1], depth + 1) for step in steps
    )


def _frame(rows: list[dict[str, Any]], columns: list[str]):
    """The rows as a polars DataFrame with the model's columns in its order; a column whose values do not
    share one type (a number among strings) is refused as the bad input it is."""
    import polars as pl

    missing = [c for c in columns if rows and c not in rows[0]]
    if missing:
        raise ServeError(f"input rows lack feature(s) {', '.join(missing)} (the model needs {', '.join(columns)})")
    try:
        return pl.DataFrame({c: [row.get(c) for row in rows] for c in columns}, strict=False)
    except (TypeError, ValueError, pl.exceptions.PolarsError) as exc:
        # the inputs' fault (they passed validation, so their columns are untyped): the server answers 422
        raise ValueError(f"input rows do not make a table of the model's columns: {exc}") from None


class SkopsFormat:
    name = "skops"
    suffix = ".skops"

    def load(self, data: bytes, path: Path, spec: ModelSpec) -> Predictor:
        require("sklearn", f"model format skops ({spec.label})")
        import skops.io

        from . import skops_trust

        try:
            untrusted = skops.io.get_untrusted_types(data=data)
        except Exception as exc:
            raise ServeError(f"{spec.label} is not a skops artifact: {exc}") from exc
        # exact names only: skops imports and calls every type it names, so a name is code
        refused = skops_trust.refused(untrusted, spec.trusted_types)
        if refused:
            risks = skops_trust.explain(refused)
            raise ServeError(
                f"{spec.label} contains types flowtide does not trust: {', '.join(refused)}; refusing to load it "
                "(loading imports and calls each type, which can run any code)" + (f". {risks}" if risks else ""),
                hint="If you built this artifact yourself and reviewed these types, list them by exact name in "
                f"flowtide.yaml under `model: {{trusted_types: [{', '.join(refused)}]}}`.",
            )
        try:
            estimator = skops.io.loads(data, trusted=sorted(set(untrusted)))
        except Exception as exc:
            raise ServeError(f"could not load skops artifact {spec.label}: {exc}") from exc
        try:
            skops_trust.check_structure(estimator)
        except skops_trust.MalformedModel as exc:
            raise ServeError(
                f"{spec.label} is malformed: {exc}; refusing to load it (predicting with it could crash the server)",
                hint="Train and register the model again from its pipeline.",
            ) from None
        return _SklearnPredictor(estimator, spec)


class _OnnxPredictor:
    def __init__(self, session, spec: ModelSpec) -> None:
        self.session = session
        self.features = spec.features
        self.features_from = spec.features_from
        self.inputs = session.get_inputs()
        if len(self.inputs) > 1 and spec.features_from != FROM_CONFIG:
            # one input per column: the graph names its inputs (a single matrix input names none)
            self.features = [node.name for node in self.inputs]
            self.features_from = FROM_ONNX

    @property
    def task(self) -> str | None:
        """skl2onnx writes a classifier as (label, probabilities) and a regressor as one float tensor."""
        outputs = self.session.get_outputs()
        if len(outputs) >= 2:
            return "classification"
        if len(outputs) == 1 and "float" in str(outputs[0].type):
            return "regression"
        return None

    def predict(self, rows: list[dict[str, Any]]) -> list[Any]:
        import numpy as np

        if not rows:
            return []
        if len(self.inputs) == 1:
            feed = {self.inputs[0].name: _matrix(rows, self.features, np.float32)}
        else:  # one input per column (skl2onnx with a ColumnTransformer)
            feed = {}
            for node in self.inputs:
                dtype = np.float32 if "float" in node.type else (np.int64 if "int" in node.type else object)
                feed[node.name] = _matrix(rows, [node.name], dtype)
        return _labels(self.session.run(None, feed)[0])


class OnnxFormat:
    name = "onnx"
    suffix = ".onnx"

    def load(self, data: bytes, path: Path, spec: ModelSpec) -> Predictor:
        require("onnx", f"model format onnx ({spec.label})", ["onnxruntime"])
        import onnxruntime

        try:
            session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ServeError(f"could not load ONNX artifact {spec.label}: {exc}") from exc
        return _OnnxPredictor(session, spec)


class PythonFormat:
    """``model.loader: module:Class``; ``Class(path)`` must have ``predict(rows: list[dict]) -> list``."""

    name = "python"
    suffix = ""

    def load(self, data: bytes, path: Path, spec: ModelSpec) -> Predictor:
        if not spec.loader or ":" not in spec.loader:
            raise UsageError("model format python needs `loader: module:Class`")
        module_name, _, class_name = spec.loader.partition(":")
        extra = [str(spec.root), str(spec.root / "src")] if spec.root else []
        added = [p for p in extra if p not in sys.path]
        sys.path[:0] = added
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ServeError(f"cannot import model loader {spec.loader}: {exc}") from exc
        finally:
            for p in added:
                sys.path.remove(p)
        cls = getattr(module, class_name, None)
        if cls is None:
            raise ServeError(f"model loader {spec.loader}: {module_name} has no {class_name!r}")
        predictor = cls(str(path))
        if not callable(getattr(predictor, "predict", None)):
            raise ServeError(f"model loader {spec.loader} made an object without predict(rows)")
        return predictor


def model_format(name: str) -> ModelFormat:
    """The model format registered as ``name`` (entry-point group ``flowtide.formats``); PluginError if none."""
    from . import plugins

    return plugins.load(plugins.FORMATS, name)()


@dataclass
class LoadedModel:
    """A verified, loaded model version: ``predict(rows)`` maps dicts of features to labels."""

    version: Version
    features: list[str]
    predictor: Predictor
    format: str
    features_from: str = ""
    """What declares the inputs (``model.features``, the model's own names, the checks), for messages."""

    @property
    def task(self) -> str | None:
        """classification or regression, as the model itself says (None: it does not say)."""
        task = getattr(self.predictor, "task", None)
        return task if task in ("classification", "regression") else None

    def predict(self, rows: list[dict[str, Any]]) -> list[Any]:
        out = list(self.predictor.predict(rows))
        if len(out) != len(rows):
            raise ServeError(f"{self.format} model returned {len(out)} predictions for {len(rows)} rows")
        return out


def _spec(project: Project, label: str) -> ModelSpec:
    model = project.config.model
    if model is None:
        raise project.config.error("no `model:` section in flowtide.yaml")
    return ModelSpec(
        features=features(project),
        features_from=features_from(project),
        loader=model.loader,
        trusted_types=list(model.trusted_types),
        root=project.root,
        label=label,
    )


def artifact_bytes(project: Project, version: Version, *, verify: bool = True) -> tuple[bytes, Path]:
    """The bytes of a registered version and where they came from, checked against the registry's hash.

    From the store, or else from the working copy at ``version.path`` (acceptable
    only because it must hash to exactly the recorded value).
    """
    try:
        data = project.store.read_bytes(version.hash)
        path = project.store.path_of(version.hash)
    except StoreError:
        path = project.resolve(version.path, "model path") if version.path else None
        if path is None or not path.is_file():
            raise
        data = path.read_bytes()
    if verify:
        actual = hash_bytes(data)
        if actual != version.hash:
            raise IntegrityError(
                f"{version.model} v{version.version}: the artifact {path} hashes to {actual} but the registry "
                f"recorded {version.hash}; refusing to load it",
                hint="The stored model was changed after registration. Run `flowtide fetch` to restore it, or register a new version.",
            )
    return data, path


def load_model(project: Project, version: Version, *, verify: bool = True) -> LoadedModel:
    """Load a registered version after checking its bytes against its hash."""
    name = f"{version.model} v{version.version}"
    data, path = artifact_bytes(project, version, verify=verify)
    fmt = _format_of(name, version.format)
    spec = _spec(project, f"{name} ({version.path})")
    predictor = fmt.load(data, Path(path), spec)
    return _loaded(version, predictor, spec, fmt.name)


def _loaded(version: Version | None, predictor: Predictor, spec: ModelSpec, fmt: str) -> LoadedModel:
    own = getattr(predictor, "features", None)
    source = spec.features_from
    if own:
        same = list(own) == list(spec.features)
        source = getattr(predictor, "features_from", None) or (source if same else f"the {fmt} model's features")
    return LoadedModel(
        version=version,
        features=list(own or spec.features),
        predictor=predictor,
        format=fmt,
        features_from=source,
    )


def _format_of(name: str, fmt: str) -> ModelFormat:
    from . import plugins

    if not plugins.has(plugins.FORMATS, fmt):
        raise ServeError(
            f"{name}: unknown model format {fmt!r} (installed: {', '.join(plugins.names(plugins.FORMATS))})"
        )
    return model_format(fmt)


def load_path(project: Project, path: str | os.PathLike[str] | None = None) -> LoadedModel:
    """Load the working artifact (``model.path``) without a registry entry: for model tests and gates."""
    model = project.config.model
    if model is None:
        raise project.config.error("no `model:` section in flowtide.yaml")
    target = Path(path) if path else project.resolve(model.path, "model path")
    data = target.read_bytes()
    spec = _spec(project, model.path)
    predictor = model_format(model.format).load(data, target, spec)
    return _loaded(None, predictor, spec, model.format)


# --- saving (used by training scripts) -----------------------------------------


def save_sklearn(
    estimator, path: str | os.PathLike[str], *, format: str = "skops", n_features: int | None = None
) -> None:
    """Write a fitted scikit-learn estimator as skops or ONNX, atomically."""
    from .atomic import atomic_write

    if format == "skops":
        require("sklearn", "saving a model as skops")
        import skops.io

        atomic_write(path, skops.io.dumps(estimator))
    elif format == "onnx":
        require("onnx", "saving a model as onnx", ["skl2onnx"])
        from skl2onnx import to_onnx
        from skl2onnx.common.data_types import FloatTensorType

        n = n_features or int(estimator.n_features_in_)
        onx = to_onnx(estimator, initial_types=[("X", FloatTensorType([None, n]))], options={"zipmap": False})
        atomic_write(path, onx.SerializeToString())
    else:
        raise UsageError(f"cannot save a scikit-learn model as {format!r}: choose skops or onnx")


# --- input schema and model card ----------------------------------------------


def input_schema(
    project: Project, features: list[str] | None = None, *, by_name: bool = False
) -> dict[str, dict[str, Any]]:
    """{column: {type, not_null, min, max, in}} from the checks of ``model.reference`` minus ``model.target``.

    ``features``: the inputs a loaded model declares itself (``feature_names_in_``, ONNX input names) when
    ``model.features`` is not set; each takes its rules from the checks when the names match, else is a float.
    Such an input may be null where its checks allow nulls (``nullable``: the model imputes, or refuses
    with a 422). ``by_name``: the model reads a table by column name (a ColumnTransformer that imputes and
    encodes), so an input the checks do not describe may be text as well as a number.
    """
    model = project.config.model
    if model is None:
        return {}
    suite = project.config.checks.get(model.reference) if model.reference else None
    columns = suite.columns if suite else {}
    names = list(model.features) if model.features else [c for c in columns if c != model.target]
    default, own = None, features is not None and not model.features
    if own:
        names, default = list(features), (None if by_name else "float")
    schema: dict[str, dict[str, Any]] = {}
    for name in names:
        rule = columns.get(name)
        schema[name] = {
            "type": rule.type if rule else default,
            "not_null": bool(rule.not_null) if rule else False,
            "min": rule.min if rule else None,
            "max": rule.max if rule else None,
            "in": list(rule.in_) if rule and rule.in_ is not None else None,
        }
        if own and (by_name or rule is not None) and not schema[name]["not_null"]:
            schema[name]["nullable"] = True
    return schema


def features(project: Project) -> list[str]:
    """The model's input columns: ``model.features``, else the input schema's columns."""
    model = project.config.model
    if model is not None and model.features:
        return list(model.features)
    return list(input_schema(project))


def features_from(project: Project) -> str:
    """What declares :func:`features`, as a message names it."""
    model = project.config.model
    if model is not None and model.features:
        return FROM_CONFIG
    if model is not None and model.reference:
        return f"the checks of model.reference {model.reference!r} in flowtide.yaml"
    return "no model.features and no model.reference in flowtide.yaml"


def model_card(project: Project, version: Version) -> str:
    """A Markdown model card for a registered version: data, params, metrics, gates, lineage, use."""
    model = project.config.model
    lines = [f"# Model card: {version.model} v{version.version}", ""]
    lines += [
        f"- **stage**: {version.stage}",
        f"- **format**: {version.format} (`{version.path}`)",
        f"- **artifact**: blake3 `{version.hash}` ({version.size:,} bytes)",
        f"- **registered**: {version.created} by {version.created_by or 'unknown'}",
        f"- **git commit**: `{version.commit or 'none'}`{' (with uncommitted changes)' if version.dirty else ''}",
        f"- **tag**: `{version.tag}`",
    ]
    if version.run_url:
        lines.append(f"- **CI run**: {version.run_url}")
    lines += ["", "## Intended use", "", (model.intended_use if model and model.intended_use else "Not stated."), ""]
    lines += ["## Data", "", "| path | blake3 |", "|---|---|"]
    lines += [f"| `{p}` | `{h}` |" for p, h in sorted(version.data.items())] or ["| (none recorded) | |"]
    schema = input_schema(project)
    if schema:
        lines += ["", "## Inputs", "", "| feature | type | rules |", "|---|---|---|"]
        for name, rule in schema.items():
            rules = ", ".join(f"{k} {v}" for k, v in rule.items() if k != "type" and v not in (None, False))
            lines.append(f"| {name} | {rule['type'] or ''} | {rules} |")
        if model and model.target:
            lines.append(f"\nTarget: `{model.target}`.")
    lines += ["", "## Parameters", ""]
    from .pipeline.fingerprint import flatten

    lines += [f"- `{k}`: {v}" for k, v in sorted(flatten(version.params).items())] or ["(none)"]
    lines += ["", "## Metrics", "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {_num(v)} |" for k, v in sorted(version.metrics.items())] or ["| (none) | |"]
    gates = version.gates or {}
    lines += ["", f"## Gates: {'passed' if gates.get('passed') else 'not passed'}", ""]
    if gates.get("message"):
        lines.append(gates["message"])
    for rule in gates.get("rules", []):
        lines.append(f"- {rule.get('status')}: `{rule.get('rule')}` — {rule.get('message')}")
    lines += ["", "## Lineage", ""]
    for stage, record in sorted((version.lineage or {}).items()):
        lines.append(f"- stage `{stage}`: {', '.join(sorted(record)) or 'recorded'}")
    for event in version.history:
        what = event.get("event")
        if what == "promote":
            what = f"promote {event.get('from')} → {event.get('to')}" + (" (forced)" if event.get("forced") else "")
        elif what == "rollback":
            what = f"rollback (from v{event.get('from')})"
        why = f": {event['reason']}" if event.get("reason") else ""
        lines.append(f"- {event.get('at')} {what} by {event.get('by')}{why}")
    return "\n".join(lines) + "\n"


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
