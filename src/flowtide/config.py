"""The typed project configuration: ``flowtide.yaml`` parsed once into dataclasses.

The models are plain (stdlib) dataclasses so that loading a cached config costs
no third-party import; pydantic validates them only when the file changed, and
every error names the file, line and column. The validated config is cached
under ``.flowtide/`` keyed by the file's stat, which keeps ``flowtide status``
on an unchanged project within a few milliseconds of Python start-up.
"""

from __future__ import annotations

import keyword
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from . import plugins
from .errors import ConfigError
from .validators import ESCAPE_HINT, path_problem
from .validators import NAME as _NAME

CONFIG_FILE = "flowtide.yaml"
LOCK_FILE = "flowtide.lock"
STATE_DIR = ".flowtide"
_CACHE_VERSION = 12  # bump when a dataclass below changes shape

_FORBID: dict[str, Any] = {"extra": "forbid", "use_attribute_docstrings": True}


def _d(default_factory):  # a shorter spelling for mutable defaults
    return field(default_factory=default_factory)


# --- sources -----------------------------------------------------------------


@dataclass
class Source:
    """A named place data comes from."""

    __pydantic_config__ = _FORBID
    url: str
    """http(s):// URL, a local path (relative to the project), or any fsspec URL such as s3://."""
    path: str
    """Where the bytes land in the repository (relative, inside the project)."""
    schedule: str | None = None
    """Cron expression used by the data workflow and `flowtide loop`, e.g. "0 6 * * *"."""
    storage: Literal["git", "store"] = "git"
    """git: commit the file itself; store: commit only the lock, bytes live in the store."""
    check: bool = True
    """Run this source's checks before accepting new bytes."""
    timeout: float = 30.0
    """Seconds without progress before a download is abandoned."""
    retries: int = 3
    """Retries (with exponential backoff) on connection errors, timeouts and 5xx."""
    headers: dict[str, str] = _d(dict)
    """Extra HTTP headers; ${VAR} is expanded from the environment at pull time."""


# --- checks ------------------------------------------------------------------


@dataclass
class Bounds:
    __pydantic_config__ = _FORBID
    min: float | None = None
    """Smallest allowed value (inclusive)."""
    max: float | None = None
    """Largest allowed value (inclusive)."""


@dataclass
class ColumnCheck:
    """Rules for one column."""

    __pydantic_config__ = _FORBID
    type: Literal["int", "float", "str", "bool", "date", "datetime"] | None = None
    """Expected type; cells that do not parse as it are reported with their rows."""
    not_null: bool = False
    """No empty or null cell."""
    unique: bool = False
    """No value appears twice."""
    min: float | str | None = None
    """Smallest allowed value: a number, or an ISO date for date columns."""
    max: float | str | None = None
    """Largest allowed value: a number, or an ISO date for date columns."""
    in_: list[Any] | None = None
    """Allowed values (written `in:` in YAML)."""
    regex: str | None = None
    """Every value must match this regular expression in full."""
    max_null_fraction: float | None = None
    """Largest allowed share (0..1) of null cells."""
    mean: Bounds | None = None
    """Bounds of the column mean, e.g. {min: 0, max: 10}."""
    std: Bounds | None = None
    """Bounds of the column standard deviation."""
    plugins: dict[str, Any] = _d(dict)
    """Checks from installed packages by their name (entry-point group flowtide.checks) and option; written as keys of the column itself, e.g. `even: true`."""


@dataclass
class Freshness:
    __pydantic_config__ = _FORBID
    column: str
    """Date or datetime column whose newest value is checked."""
    max_age_days: float
    """The newest value may be at most this many days old."""


@dataclass
class DriftCheck:
    """Compare a column's distribution with a reference."""

    __pydantic_config__ = _FORBID
    columns: list[str] | None = None
    """Columns to test; default: every column with a declared type."""
    method: Literal["psi", "ks", "wasserstein", "chi2", "js"] | None = None
    """psi / ks / wasserstein for numbers, chi2 / js for categories; default: psi and chi2."""
    threshold: float | None = None
    """Threshold for every column: distances (psi, wasserstein, js) fail above it, p-values (ks, chi2) below it; default per method."""
    thresholds: dict[str, float] = _d(dict)
    """Per-column thresholds overriding `threshold`."""
    reference: str | None = None
    """Path of the reference data; default: the data the production (or last) model was built from."""
    block: bool = False
    """Drift fails the check (and quarantines new data in `pull`); default: drift is a warning."""
    bins: int = 10
    """Quantile bins for PSI (and histogram detail in reports)."""


@dataclass
class CheckSuite:
    """The checks of one target: a source name or a stage output path."""

    __pydantic_config__ = _FORBID
    rows: Bounds | None = None
    """Bounds of the row count, e.g. {min: 100}."""
    columns: dict[str, ColumnCheck] = _d(dict)
    """Rules per column name."""
    required: list[str] = _d(list)
    """Columns that must exist (every column under `columns:` is required too)."""
    strict: bool = False
    """Fail on columns not listed under `columns:`."""
    freshness: Freshness | None = None
    """The newest date in a column must be recent."""
    drift: DriftCheck | None = None
    """Distribution drift against a reference (a warning unless `block: true`)."""
    format: Literal["csv", "parquet", "jsonl"] | None = None
    """File format; default: from the file extension."""


# --- pipeline ----------------------------------------------------------------


@dataclass
class Stage:
    """One step of the pipeline."""

    __pydantic_config__ = _FORBID
    cmd: str | None = None
    """Shell command, run from the project root."""
    call: str | None = None
    """`module:function` run in-process (no interpreter start-up)."""
    deps: list[str] = _d(list)
    """Files or directories the stage reads; a change of their bytes re-runs it."""
    outs: list[str] = _d(list)
    """Files or directories the stage writes; saved in the store and restored on a known fingerprint."""
    params: list[str] | bool = _d(list)
    """Keys of params.yaml (dotted), or true for the whole file."""
    metrics: list[str] = _d(list)
    """JSON or YAML files of metrics, recorded with the run and read by diff and gate."""
    plots: list[str] = _d(list)
    """CSV or JSON series files, overlaid by `flowtide diff --html`."""
    env: list[str] = _d(list)
    """Environment variables whose values are part of the fingerprint."""


# --- models, gates, deploy, monitor -----------------------------------------


@dataclass
class Model:
    """The model the pipeline produces and the registry versions."""

    __pydantic_config__ = _FORBID
    name: str
    """Registry name of the model; versions are tagged NAME@vN."""
    path: str
    """The artifact the pipeline writes (usually a stage out)."""
    format: str = "skops"
    """How the artifact is loaded: skops (scikit-learn, no arbitrary pickle), onnx, python (with `loader`), or a model format an installed package registers (entry-point group flowtide.formats)."""
    loader: str | None = None
    """For format: python, the `module:Class` that loads the artifact."""
    target: str | None = None
    """Label column (for monitoring feedback and the input schema)."""
    features: list[str] | None = None
    """Input columns; default: the checked columns of `reference` minus `target`."""
    reference: str | None = None
    """Data the model is trained on (source name or path): drift reference and input schema."""
    tests: list[str] = _d(list)
    """pytest files or directories with model tests, run by `flowtide gate`."""
    intended_use: str | None = None
    """One paragraph for the model card: what the model is for and what it must not be used for."""
    trusted_types: list[str] = _d(list)
    """Exact names of extra types (e.g. a function) a skops artifact may contain beyond the built-in scikit-learn classes; review each first, loading calls it."""
    storage: Literal["store", "git"] = "store"
    """Where registered versions live when CI runs on throw-away machines. store: the store (keep a `store.remote`, or CI loses them); git: train.yml's bot commit also commits the artifact at `path`, for projects without a remote."""
    git_max_mb: float = 25.0
    """With storage: git, the largest artifact (MB) train.yml commits; a bigger one fails the job (use a remote store)."""


@dataclass
class Canary:
    __pydantic_config__ = _FORBID
    weight: float = 0.1
    """Share of traffic (0..1) sent to the canary version."""
    min_requests: int = 500
    """Requests the canary must answer before a verdict."""
    key_header: str = "x-request-key"
    """Header whose value keeps one caller on one version (sticky routing)."""
    alpha: float = 0.05
    """Error rate of each one-sided canary-vs-production bound behind the promote / rollback verdict."""
    margin: float = 0.02
    """Promote only when the canary is, with confidence 1 - alpha, at most this much worse than production:
    absolute accuracy for a classifier, a fraction of production's mean absolute error for a regressor."""


@dataclass
class Deploy:
    __pydantic_config__ = _FORBID
    canary: Canary | None = None
    """Serve the staging version to a share of traffic beside production."""
    shadow: bool = False
    """Send a copy of traffic to the staging version, log its answer, never return it."""
    max_body: int = 1_048_576
    """Largest request body `flowtide serve` accepts, in bytes (larger: 413)."""
    extra_fields: Literal["reject", "ignore"] = "reject"
    """Prediction inputs that are not model inputs: reject (422) or ignore."""
    body_timeout: float = 10.0
    """Seconds a client has to send a request body to `flowtide serve` (slower: 408, connection closed)."""
    feedback_window: str = "7d"
    """Feedback is accepted for request ids predicted at most this long ago (e.g. 1d, 7d, 4w)."""
    log_segment: str = "1h"
    """How often the prediction log starts a new segment file; closed segments ship to `store.remote`."""


@dataclass
class MonitorDrift:
    __pydantic_config__ = _FORBID
    method: Literal["psi", "ks", "wasserstein", "chi2", "js"] = "psi"
    """Drift statistic for the inputs of served requests."""
    threshold: float = 0.2
    """Distances fail above it, p-values below it."""
    columns: list[str] | None = None
    """Input columns to test; default: every feature of the model."""


@dataclass
class MonitorPerformance:
    __pydantic_config__ = _FORBID
    metric: str = "accuracy"
    """accuracy, or any metric of the version's registered metrics compared by `max_drop`."""
    min: float | None = None
    """Fail when the live metric on labelled rows falls below this."""
    max_drop: float | None = None
    """Fail when the live metric falls more than this below the version's registered metric."""


@dataclass
class Monitor:
    __pydantic_config__ = _FORBID
    drift: MonitorDrift | None = None
    """Input and prediction drift of served requests against the training data."""
    performance: MonitorPerformance | None = None
    """Live performance on requests that received feedback."""
    schedule: str = "0 * * * *"
    """Cron expression for the monitor workflow and `flowtide loop`."""
    window: str = "7d"
    """Time window analysed, e.g. 1h, 1d, 7d."""
    cooldown: str = "6h"
    """Minimum time between two retraining triggers."""
    min_rows: int = 100
    """Predictions a version needs in the window before its drift and performance are judged."""


@dataclass
class StoreConfig:
    __pydantic_config__ = _FORBID
    path: str = ".flowtide/cache"
    """Local cache directory (relative to the project)."""
    remote: str | None = None
    """Any fsspec URL: s3://bucket/prefix, gs://..., a local path."""
    endpoint_url: str | None = None
    """For S3-compatible services other than AWS."""
    auto_push: bool = True
    """pull, run and register push new blobs when a remote is set."""
    jobs: int = 8
    """Parallel transfers for push and fetch."""


@dataclass
class CI:
    """How `flowtide ci generate` writes the GitHub Actions workflows."""

    __pydantic_config__ = _FORBID
    provider: Literal["github"] = "github"
    """The CI system the workflows are generated for (GitHub Actions)."""
    token: Literal["default", "app"] = "default"
    """app: pushes use a GitHub App token (secrets FLOWTIDE_APP_ID / FLOWTIDE_APP_PRIVATE_KEY)."""
    default_branch: str = "main"
    """Branch that schedules run on and that training commits to."""
    python: str = "3.11"
    """Python version the workflows install."""
    install: str | None = None
    """The requirement CI installs flowtide from: flowtide==X.Y.Z from the package index (default: this flowtide's version, with the extras the project needs), git+https://HOST/REPO@TAG (a tag or 40-hex commit), or a flowtide wheel committed in the repository. Unpinned requirements are refused."""
    setup: str | None = "make install"
    """The project's own set-up command, run after flowtide is installed (installs requirements.txt); null: none."""
    lint: str | None = "make lint"
    """Lint command of ci.yml (null: no lint step)."""
    test: str | None = "make test"
    """Test command of ci.yml (null: no test step)."""
    runs_on: str = "ubuntu-latest"
    """Runner label of every job."""
    dependency_files: list[str] = _d(lambda: ["requirements*.txt", "pyproject.toml"])
    """Globs hashed for the pip cache key (setup-python `cache-dependency-path`)."""
    secrets: list[str] = _d(lambda: ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"])
    """Repository secrets passed as env to steps that touch the remote store (store mode only)."""
    timeout_minutes: int = 30
    """timeout-minutes of every job except training."""
    train_timeout_minutes: int = 120
    """timeout-minutes of the training job."""
    smoke: str | None = "flowtide run"
    """The pipeline smoke run in ci.yml (e.g. a command on a sample of the data); null to skip it."""


@dataclass
class Config:
    """The whole of flowtide.yaml."""

    __pydantic_config__ = _FORBID
    project: str
    """The project's name, shown in reports and exports."""
    sources: dict[str, Source] = _d(dict)
    """Named places data comes from, fetched by `flowtide pull`."""
    checks: dict[str, CheckSuite] = _d(dict)
    """Data checks per source name or stage output path, run by `flowtide check` and before `pull` accepts new bytes."""
    stages: dict[str, Stage] = _d(dict)
    """The pipeline: stages by name; the DAG comes from outs → deps."""
    params: str = "params.yaml"
    """The params file stages read their `params:` keys from."""
    model: Model | None = None
    """The model the pipeline produces and the registry versions."""
    gates: list[str] = _d(list)
    """Quality rules a candidate must pass, e.g. "accuracy >= 0.8" or "f1_macro >= production - 0.02"."""
    deploy: Deploy = _d(Deploy)
    """How `flowtide serve` routes traffic: canary or shadow next to production."""
    monitor: Monitor = _d(Monitor)
    """What `flowtide monitor` judges and when it retrains."""
    store: StoreConfig = _d(StoreConfig)
    """The content-addressed store: local cache and optional remote."""
    ci: CI = _d(CI)
    """Settings of the generated GitHub Actions workflows."""
    executor: str = "local"
    """Where stages run: local processes, Ray (extra `ray`), or an executor an installed package registers (entry-point group flowtide.executors)."""
    env: list[str] = _d(list)
    """Environment variables that are part of every stage's fingerprint."""

    # where each key was written: ("stages", "train", "cmd") -> (line, column), 1-based
    file: str = field(default=CONFIG_FILE, metadata={"internal": True})
    positions: dict[tuple, tuple[int, int]] = field(default_factory=dict, metadata={"internal": True})

    def where(self, *path: str | int) -> str:
        """``file:line:col`` of a key, or of its nearest written ancestor."""
        key = tuple(path)
        while key and key not in self.positions:
            key = key[:-1]
        if key in self.positions:
            line, col = self.positions[key]
            return f"{self.file}:{line}:{col}"
        return self.file

    def error(self, message: str, *path: str | int, hint: str | None = None) -> ConfigError:
        """A ConfigError pointing at ``path`` in the config file."""
        key = tuple(path)
        while key and key not in self.positions:
            key = key[:-1]
        line, col = self.positions.get(key, (None, None))
        return ConfigError(message, file=self.file, line=line, column=col, hint=hint)


_INTERNAL = {"file", "positions"}


# --- loading -----------------------------------------------------------------


def find_root(start: str | os.PathLike[str] | None = None) -> Path:
    """The nearest directory at or above ``start`` that holds a flowtide.yaml."""
    here = Path(start or os.getcwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / CONFIG_FILE).is_file():
            return candidate
    raise ConfigError(
        f"no {CONFIG_FILE} in {here} or any parent directory",
        hint="Run `flowtide init` to create one, or cd into a flowtide project.",
    )


def load_config(root: str | os.PathLike[str], *, use_cache: bool = True) -> Config:
    """Parse and validate ``root/flowtide.yaml`` (cached by stat under .flowtide/)."""
    root = Path(root)
    path = root / CONFIG_FILE
    return cached_by_stat(
        root,
        path,
        "config",
        lambda: parse_config(path.read_bytes(), CONFIG_FILE),
        use_cache=use_cache,
        classes=_dataclasses(),
        expect=Config,
    )


def _dataclasses() -> dict[str, type]:
    """This module's dataclasses by name: the only classes a cached config is rebuilt from."""
    import dataclasses

    return {
        name: obj
        for name, obj in globals().items()
        if isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__module__ == __name__
    }


def cached_by_stat(root: Path, path: Path, name: str, compute, *, use_cache: bool = True, classes=None, expect=None):
    """Return ``compute()``, memoised on disk by ``path``'s (inode, size, mtime_ns, ctime_ns).

    Used for anything derived purely from one file's bytes (the parsed config,
    params). The memo is plain JSON under ``.flowtide/tmp`` (see memo.py): a
    stale, malformed or checked-in memo is ignored and recomputed, never executed.
    ``classes`` are the dataclasses the value may contain; ``expect`` its type.
    """
    from . import memo

    try:
        line = memo.stamp(path, f"{name}/{_CACHE_VERSION}")
    except FileNotFoundError:
        raise ConfigError(f"{path.name} not found in {path.parent}") from None
    cache = root / STATE_DIR / "tmp" / f"{name}.json"
    if use_cache:
        value = memo.read(cache, line, classes, expect)
        if value is not memo.MISSING:
            return value
    value = compute()
    if use_cache and (root / STATE_DIR).is_dir():
        memo.write(cache, line, value, classes)
    return value


_MAX_DEPTH = 100  # nesting levels of a project YAML file (deeper is refused before parsing slows down)
_ALIAS_VALUES = 10_000  # values that aliases (*name) may add beyond what the text itself spells out


def parse_yaml(text: bytes | str, file: str) -> tuple[Any, dict[tuple, tuple[int, int]]]:
    """Parse YAML into plain Python values plus the (line, col) of every key.

    Bounded, since a project file may come from anyone's branch: text must be UTF-8,
    nesting stops at _MAX_DEPTH and aliases may not expand into more than
    _ALIAS_VALUES values (ten lines of nested ``*a`` otherwise make billions).
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    text = _yaml_text(text, file)
    _check_flow_depth(text, file)
    yaml = YAML(typ="rt")
    yaml.max_depth = _MAX_DEPTH  # ruamel >= 0.19; older versions end in the RecursionError below
    try:
        data = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        if type(exc).__name__ == "MaxDepthExceededError":
            raise _too_deep(file, line, col) from None
        raise ConfigError(f"invalid YAML: {problem}", file=file, line=line, column=col) from exc
    except YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=file) from exc
    except RecursionError:
        raise _too_deep(file, None, None) from None
    positions: dict[tuple, tuple[int, int]] = {}
    budget = [len(text) + _ALIAS_VALUES]  # a file without aliases has fewer values than characters
    return _plain(data, (), positions, budget, file), positions


def _yaml_text(data: bytes | str, file: str) -> str:
    if isinstance(data, str):
        return data
    import codecs

    for bom, codec in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):  # YAML allows UTF-16/32 with a byte order mark
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                raise ConfigError(
                    f"not {codec.upper()} text despite its byte order mark", file=file, hint="Save the file as UTF-8."
                ) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        raise ConfigError(
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} cannot be decoded",
            file=file,
            line=line,
            column=column,
            hint="Save the file as UTF-8.",
        ) from None


def _check_flow_depth(text: str, file: str) -> None:
    """Refuse brackets nested deeper than _MAX_DEPTH before ruamel, whose scanner slows down sharply on them."""
    if text.count("[") + text.count("{") <= _MAX_DEPTH:
        return
    import re

    depth = 0
    for match in re.finditer(r"[\[\]{}]", text):  # brackets inside quotes count too: only ever an overestimate
        depth = depth + 1 if match.group() in "[{" else max(depth - 1, 0)
        if depth > _MAX_DEPTH:
            line = text.count("\n", 0, match.start()) + 1
            raise _too_deep(file, line, match.start() - text.rfind("\n", 0, match.start()))


def _too_deep(file: str, line: int | None, column: int | None) -> ConfigError:
    return ConfigError(
        f"values are nested deeper than {_MAX_DEPTH} levels",
        file=file,
        line=line,
        column=column,
        hint="Flatten the structure; flowtide reads at most this depth.",
    )


def _plain(node: Any, path: tuple, positions: dict, budget: list[int], file: str) -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    def plain(node: Any, path: tuple) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            raise _alias_bomb(path, positions, file)
        if isinstance(node, CommentedMap):
            out = {}
            for key in node:
                try:
                    line, col = node.lc.key(key)
                    positions[(*path, key)] = (line + 1, col + 1)
                except (KeyError, TypeError, AttributeError):
                    pass
                out[key] = plain(node[key], (*path, key))
            return out
        if isinstance(node, CommentedSeq):
            out = []
            for index, item in enumerate(node):
                try:
                    line, col = node.lc.item(index)
                    positions[(*path, index)] = (line + 1, col + 1)
                except (KeyError, TypeError, AttributeError, IndexError):
                    pass
                out.append(plain(item, (*path, index)))
            return out
        if isinstance(node, str):
            return str(node)
        if isinstance(node, bool) or node is None:
            return node
        if isinstance(node, int):
            return int(node)
        if isinstance(node, float):
            return float(node)
        return node

    return plain(node, path)


def _alias_bomb(path: tuple, positions: dict, file: str) -> ConfigError:
    line, col = positions.get(path[:1], (None, None))
    where = f" under {path[0]!r}" if path else ""
    return ConfigError(
        f"aliases (*name){where} expand to more than {_ALIAS_VALUES:,} values; refusing to read further",
        file=file,
        line=line,
        column=col,
        hint="Write the values out, or nest fewer aliases: each level of `*name` multiplies what it copies.",
    )


def _rename_keywords(data: Any) -> Any:
    """YAML keys that are Python keywords (``in``) map to fields with a trailing underscore."""
    if isinstance(data, dict):
        return {
            (f"{k}_" if isinstance(k, str) and keyword.iskeyword(k) else k): _rename_keywords(v)
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [_rename_keywords(v) for v in data]
    return data


def _yaml_key(part: Any) -> Any:
    if isinstance(part, str) and part.endswith("_") and keyword.iskeyword(part[:-1]):
        return part[:-1]
    return part


_TYPE_WORDS = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "dataclass_type": "a mapping",
}


def parse_config(text: bytes | str, file: str = CONFIG_FILE) -> Config:
    """Validate YAML text into a :class:`Config`; raise ConfigError at the first problem."""
    data, positions = parse_yaml(text, file)
    if data is None:
        raise ConfigError("the file is empty", file=file, line=1, column=1, hint="Start from `flowtide init`.")
    if not isinstance(data, dict):
        raise ConfigError(
            "the top level must be a mapping of keys such as project:, sources:, stages:",
            file=file,
            line=1,
            column=1,
        )
    for key in _INTERNAL:
        if key in data:
            line, col = positions.get((key,), (None, None))
            raise ConfigError(f"unknown key {key!r}", file=file, line=line, column=col)
    from pydantic import TypeAdapter, ValidationError

    try:
        config = _adapter(TypeAdapter).validate_python(_lift_plugin_checks(_rename_keywords(data)))
    except ValidationError as exc:
        raise _translate(exc, file, positions) from None
    config.file = file
    config.positions = positions
    _check_semantics(config)
    return config


_ADAPTER = None


def _lift_plugin_checks(data: dict) -> dict:
    """Keys of a column's rules that name an installed check (not a built-in field) move under ``plugins``.

    A key that names no installed check stays, and is reported as an unknown key
    (a typo such as ``nto_null`` must not pass silently).
    """
    import dataclasses

    known = {f.name for f in dataclasses.fields(ColumnCheck)}
    checks = data.get("checks")
    if not isinstance(checks, dict):
        return data
    for suite in checks.values():
        columns = suite.get("columns") if isinstance(suite, dict) else None
        if not isinstance(columns, dict):
            continue
        for name, rules in list(columns.items()):
            if not isinstance(rules, dict):
                continue
            extra = [k for k in rules if k not in known and isinstance(k, str)]
            lifted = {k: rules[k] for k in extra if plugins.has(plugins.CHECKS, _yaml_key(k))}
            if lifted:
                kept = {k: v for k, v in rules.items() if k not in lifted}
                kept["plugins"] = {**(rules.get("plugins") or {}), **{_yaml_key(k): v for k, v in lifted.items()}}
                columns[name] = kept
    return data


def _adapter(type_adapter):
    global _ADAPTER
    if _ADAPTER is None:
        _ADAPTER = type_adapter(Config)
    return _ADAPTER


def _translate(exc, file: str, positions: dict) -> ConfigError:
    err = exc.errors()[0]
    loc = tuple(
        _yaml_key(p) for p in err["loc"] if not (isinstance(p, str) and p in ("function-after", "list[str]", "bool"))
    )
    # pydantic reports union members as extra loc parts; keep only parts that are real keys
    clean: list = []
    for part in loc:
        if isinstance(part, str) and "[" in part:
            continue
        clean.append(part)
    loc = tuple(clean)
    dotted = ".".join(str(p) for p in loc) or "(top level)"
    kind = err["type"]
    probe = loc
    while probe and probe not in positions:
        probe = probe[:-1]
    line, col = positions.get(probe, (None, None))
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        parent = loc[:-1]
        allowed = _allowed_keys(parent)
        hint = f"Allowed keys here: {', '.join(allowed)}." if allowed else None
        close = _close_match(str(loc[-1]), allowed)
        if close:
            hint = f"Did you mean {close!r}? " + (hint or "")
        if len(parent) == 4 and parent[0] == "checks" and parent[2] == "columns":
            hint = (hint or "") + (
                f" A check from an installed package is written the same way, but no installed package registers "
                f"{loc[-1]!r} (entry-point group flowtide.checks)."
            )
        return ConfigError(
            f"unknown key {loc[-1]!r} in {'.'.join(map(str, parent)) or 'the top level'}",
            file=file,
            line=line,
            column=col,
            hint=hint,
        )
    if kind == "missing":
        return ConfigError(
            f"missing required key {dotted!r}",
            file=file,
            line=line,
            column=col,
            hint=f"Add `{loc[-1]}:` here.",
        )
    if kind in _TYPE_WORDS:
        return ConfigError(
            f"{dotted} must be {_TYPE_WORDS[kind]}, got {err.get('input')!r}",
            file=file,
            line=line,
            column=col,
        )
    if kind == "literal_error":
        return ConfigError(
            f"{dotted}: {err['msg'].lower()}, got {err.get('input')!r}",
            file=file,
            line=line,
            column=col,
        )
    return ConfigError(f"{dotted}: {err['msg']}", file=file, line=line, column=col)


def _allowed_keys(parent: tuple) -> list[str]:
    """YAML keys allowed under ``parent`` (field names of the dataclass found there)."""
    import dataclasses
    import typing

    cls: Any = Config
    user_key_next = False  # after dict[str, X] or list[X] comes a user name or an index
    for part in parent:
        if user_key_next:
            user_key_next = False
            continue
        if not dataclasses.is_dataclass(cls):
            return []
        hints = typing.get_type_hints(cls)
        if part not in hints:
            return []
        hint = _unwrap(hints[part])
        if typing.get_origin(hint) in (dict, list):
            cls = typing.get_args(hint)[-1]
            user_key_next = True
        else:
            cls = hint
    if user_key_next or not dataclasses.is_dataclass(cls):
        return []
    return [_yaml_key(f.name) for f in dataclasses.fields(cls) if f.name not in _INTERNAL]


def _unwrap(hint):
    import types
    import typing

    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return hint


def _close_match(word: str, options: list[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return found[0] if found else None


def check_relative_path(value: str, what: str, config: Config, *loc: str | int) -> None:
    """A project path must be relative and stay inside the project (the rule of flowtide.validators)."""
    problem = path_problem(value)
    if problem:
        hint = ESCAPE_HINT if "escapes" in problem else None
        raise config.error(f"{what} {value!r} {problem}", *loc, hint=hint)


def _check_semantics(config: Config) -> None:
    for name, source in config.sources.items():
        if not _NAME.match(name):
            raise config.error(
                f"source name {name!r} must start with a letter and use letters, digits, _ . -",
                "sources",
                name,
            )
        check_relative_path(source.path, "source path", config, "sources", name, "path")
        if source.schedule:
            _check_cron(config, source.schedule, "sources", name, "schedule")
    for name, stage in config.stages.items():
        if not _NAME.match(name):
            raise config.error(
                f"stage name {name!r} must start with a letter and use letters, digits, _ . -",
                "stages",
                name,
            )
        if bool(stage.cmd) == bool(stage.call):
            raise config.error(f"stage {name!r} needs exactly one of `cmd:` or `call:`", "stages", name)
        if stage.call and not re.match(r"^[\w.]+:[\w.]+$", stage.call):
            raise config.error(
                f"stage {name!r}: call {stage.call!r} must look like module:function",
                "stages",
                name,
                "call",
            )
        for kind in ("deps", "outs", "metrics", "plots"):
            for index, value in enumerate(getattr(stage, kind)):
                check_relative_path(value, f"stage {name!r} {kind[:-1]}", config, "stages", name, kind, index)
    if config.model:
        if not _NAME.match(config.model.name):
            raise config.error(
                f"model name {config.model.name!r} must start with a letter and use letters, digits, _ . -",
                "model",
                "name",
            )
        check_relative_path(config.model.path, "model path", config, "model", "path")
        if config.model.reference and config.model.reference not in config.sources:
            check_relative_path(config.model.reference, "model reference", config, "model", "reference")
        _check_registered(config, plugins.FORMATS, config.model.format, "model", "format")
        if config.model.format == "python" and not config.model.loader:
            raise config.error("model format python needs `loader: module:Class`", "model", "format")
    for target, suite in config.checks.items():
        for column, rules in suite.columns.items():
            for key, option in rules.plugins.items():
                _check_plugin_check(config, key, option, "checks", target, "columns", column, key)
        reference = suite.drift.reference if suite.drift else None
        if reference and reference not in config.sources:
            check_relative_path(reference, "drift reference", config, "checks", target, "drift", "reference")
    if config.deploy.canary and not 0.0 <= config.deploy.canary.weight <= 1.0:
        raise config.error("deploy.canary.weight must be between 0 and 1", "deploy", "canary", "weight")
    if not config.deploy.body_timeout > 0:
        raise config.error("deploy.body_timeout must be a positive number of seconds", "deploy", "body_timeout")
    for key in ("feedback_window", "log_segment"):
        if not re.fullmatch(r"\s*\d+(\.\d+)?\s*[smhdw]\s*", getattr(config.deploy, key)):
            raise config.error(f"deploy.{key} must look like 30m, 6h, 1d or 2w", "deploy", key)
    _check_cron(config, config.monitor.schedule, "monitor", "schedule")
    _check_registered(config, plugins.EXECUTORS, config.executor, "executor")


def _check_registered(config: Config, group: str, name: str, *loc: str) -> None:
    """A component named in flowtide.yaml must be installed: said at load, from every command."""
    from .errors import PluginError

    try:
        plugins.load(group, name)
    except PluginError as exc:
        raise config.error(f"{'.'.join(loc)}: {exc.message}", *loc, hint=exc.hint) from None


def _check_plugin_check(config: Config, key: str, option: Any, *loc: str) -> None:
    """An installed check named under a column must load and accept its option (its constructor decides)."""
    where = ".".join(loc)
    _check_registered(config, plugins.CHECKS, key, *loc)
    if option is None or option is False:
        return
    try:
        plugins.load(plugins.CHECKS, key)(option)
    except (TypeError, ValueError) as exc:
        raise config.error(
            f"{where}: {exc}",
            *loc,
            hint=f"See the documentation of the check {key!r} ({plugins.distribution(plugins.CHECKS, key)}).",
        ) from None


def _check_cron(config: Config, expr: str, *loc: str) -> None:
    fields = expr.split()
    if len(fields) != 5:
        raise config.error(f"schedule {expr!r} must have 5 cron fields (minute hour day month weekday)", *loc)
    from croniter import croniter

    if not croniter.is_valid(expr):
        raise config.error(f"schedule {expr!r} is not a valid cron expression", *loc)


def json_schema() -> dict:
    """The JSON Schema of flowtide.yaml (for editor completion)."""
    import dataclasses

    from pydantic import TypeAdapter

    schema = _adapter(TypeAdapter).json_schema()
    # internal bookkeeping fields are not part of the file format
    for props in (schema.get("properties", {}),):
        for name in _INTERNAL:
            props.pop(name, None)
    for definition in schema.get("$defs", {}).values():
        props = definition.get("properties", {})
        if "in_" in props:
            props["in"] = props.pop("in_")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "flowtide.yaml"
    del dataclasses
    return schema


def load_params(root: str | os.PathLike[str], params_file: str = "params.yaml") -> dict[str, Any]:
    """params.yaml as a dict ({} when absent), cached by stat like the config."""
    root = Path(root)
    path = root / params_file
    if not path.exists():
        return {}

    def compute() -> dict[str, Any]:
        data, _ = parse_yaml(path.read_bytes(), params_file)
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ConfigError("params file must be a mapping", file=params_file, line=1, column=1)
        return data

    return cached_by_stat(root, path, "params", compute, expect=dict)
