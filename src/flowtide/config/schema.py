"""The typed project configuration: what ``flowtide.yaml`` may say, as plain dataclasses.

The models are stdlib dataclasses so that loading a memoised config costs no
third-party import; pydantic validates them (in :mod:`.load`) only when the file
changed. Field docstrings are the reference the JSON Schema and the docs show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import ConfigError
from .duration import Duration

CONFIG_FILE = "flowtide.yaml"
LOCK_FILE = "flowtide.lock"
STATE_DIR = ".flowtide"

_FORBID: dict[str, Any] = {"extra": "forbid", "use_attribute_docstrings": True}

NULL_VALUES = ("", "NA", "N/A", "NaN", "nan", "null", "NULL", "None")
"""The CSV cells read as missing unless a check suite sets `null_values:` (pandas, pandera and Great Expectations read these too)."""


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
    null_values: list[str] = _d(lambda: list(NULL_VALUES))
    """CSV cells read as missing (null) by the checks, `--infer`, drift and the monitor's reference; an empty cell is always missing. Default: "", NA, N/A, NaN, nan, null, NULL, None. [] reads every other cell as written (NA is then text, and fails `type: float`); quote YAML words: "null", "None"."""


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
    task: Literal["classification", "regression"] | None = None
    """classification (labels are classes) or regression (labels are numbers). Default: inferred from the model (a scikit-learn regressor or classifier), else from monitor.performance.metric, the registered metrics, or the feedback labels; `flowtide monitor` states which."""
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
    feedback_window: Duration = Duration("7d", 7 * 86400.0)
    """Feedback is accepted for request ids predicted at most this long ago (e.g. 1d, 7d, 4w)."""
    log_segment: Duration = Duration("1h", 3600.0)
    """How often the prediction log starts a new segment file; closed segments ship to `store.remote`."""


@dataclass
class MonitorDrift:
    """How the monitor decides that a served version's inputs drifted (flowtide.monitor.decision explains the design)."""

    __pydantic_config__ = _FORBID
    method: Literal["tests", "psi", "ks", "wasserstein", "chi2", "js", "adwin"] = "tests"
    """tests: mean, variance and KS tests for numbers, chi-squared for categories, with a stated false-alarm rate (`alpha` per `period`); ks or chi2 alone; psi, wasserstein, js: a distance above `threshold` (no stated rate); adwin: river's ADWIN per column (extra `flowtide[river]`)."""
    threshold: float | None = None
    """For the distances (psi, wasserstein, js): the value above which a column drifts; default per method (psi 0.2, wasserstein 0.1, js 0.1). For ks / chi2: a p-value bound per test that replaces the `alpha` budget (no stated rate); unset, they are decided by `alpha`. Not allowed with tests or adwin."""
    alpha: float = 0.05
    """Largest share of `period`s without a change in which the tests trigger a retrain; spent evenly over the monitor runs `schedule` makes in a period."""
    period: Duration = Duration("30d", 30 * 86400.0)
    """The span `alpha` is stated for, e.g. 30d."""
    correction: Literal["holm", "bh", "none"] = "holm"
    """Multiple-testing correction across the columns and tests of one run: holm (family-wise), bh (Benjamini–Hochberg, false discovery rate), none (per test; no stated rate)."""
    min_window: int = 500
    """Fewer predictions than this in the window: drift is not judged. Also the short window (quick reaction to large shifts)."""
    max_window: int = 2000
    """The most recent predictions judged (the long window: power for small shifts)."""
    columns: list[str] | None = None
    """Input columns to test; default: every feature of the model."""


MONITOR_METRICS: dict[str, tuple[str, bool]] = {
    "accuracy": ("classification", False),
    "error_rate": ("classification", True),
    "f1_macro": ("classification", False),
    "rmse": ("regression", True),
    "mae": ("regression", True),
    "mape": ("regression", True),
}
"""The live metrics `flowtide monitor` computes: name -> (task, lower is better)."""

DEFAULT_METRIC = {"classification": "accuracy", "regression": "rmse"}
"""monitor.performance.metric when unset, by model.task."""


@dataclass
class MonitorPerformance:
    __pydantic_config__ = _FORBID
    metric: Literal["accuracy", "error_rate", "f1_macro", "rmse", "mae", "mape"] | None = None
    """The live metric on labelled predictions: accuracy, f1_macro (higher is better) or error_rate for a classifier; rmse, mae or mape (a fraction; rows labelled 0 are left out) for a regressor, all lower is better. Default: accuracy for classification, rmse for regression (see model.task)."""
    min: float | None = None
    """For a higher-is-better metric: fail when the live metric falls below this."""
    max_drop: float | None = None
    """For a higher-is-better metric: fail when the live metric falls more than this below the version's registered metric."""
    max: float | None = None
    """For a lower-is-better metric (an error): fail when the live metric rises above this."""
    max_increase: float | None = None
    """For a lower-is-better metric: fail when the live metric rises more than this (in the metric's unit) above the version's registered metric."""


@dataclass
class Monitor:
    __pydantic_config__ = _FORBID
    drift: MonitorDrift | None = None
    """Input and prediction drift of served requests against the training data."""
    performance: MonitorPerformance | None = None
    """Live performance on requests that received feedback."""
    schedule: str = "0 * * * *"
    """Cron expression for the monitor workflow and `flowtide loop`."""
    window: Duration = Duration("7d", 7 * 86400.0)
    """Time window analysed, e.g. 1h, 1d, 7d."""
    cooldown: Duration = Duration("6h", 6 * 3600.0)
    """Minimum time between two retraining triggers, e.g. 30m, 1.5h, 6h or 3600 (seconds); 0: none."""
    min_rows: int = 100
    """Predictions a version needs in the window before its drift and performance are judged."""


@dataclass
class MetricSpec:
    """What a number in the stages' metrics files means, for `flowtide diff` and the dashboard."""

    __pydantic_config__ = _FORBID
    higher_is_better: bool
    """true: a rise is an improvement (accuracy); false: a rise is a regression (rmse, loss)."""


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
    transport: Literal["auto", "obstore", "fsspec"] = "auto"
    """How blobs of an s3:// remote move: obstore (Rust, the faster) when installed (auto), or always obstore, or s3fs (fsspec). Other remotes always use fsspec."""


@dataclass
class CI:
    """How `flowtide ci generate` writes the CI files (GitHub Actions, GitLab CI or Forgejo Actions)."""

    __pydantic_config__ = _FORBID
    provider: Literal["github", "gitlab", "forgejo"] = "github"
    """The CI system the files are generated for: github (.github/workflows/), gitlab (.gitlab-ci.yml) or forgejo (.forgejo/workflows/); `flowtide ci generate --provider` overrides it."""
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
    image: str | None = None
    """GitLab: the container image every job runs in, pinned by digest (python:3.11@sha256:<64 hex>); null: no `image:`, jobs run in the runner's shell (or its default image)."""


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
    metrics: dict[str, MetricSpec] = _d(dict)
    """The direction of metrics, e.g. `loss: {higher_is_better: false}`: diff marks a change the wrong way as a regression. Default: what the gates say (`accuracy >= 0.8` means higher is better), then the well-known names (accuracy, f1_macro up; rmse, mae, mape, error_rate down)."""
    gates: list[str] = _d(list)
    """Quality rules a candidate must pass, e.g. "accuracy >= 0.8", "f1_macro >= production - 0.02" or
    "f1_macro >= baseline_f1_macro + 0.05" (another metric of the same run, such as a naive baseline)."""
    deploy: Deploy = _d(Deploy)
    """How `flowtide serve` routes traffic: canary or shadow next to production."""
    monitor: Monitor = _d(Monitor)
    """What `flowtide monitor` judges and when it retrains."""
    store: StoreConfig = _d(StoreConfig)
    """The content-addressed store: local cache and optional remote."""
    ci: CI = _d(CI)
    """Settings of the generated CI files (GitHub Actions, GitLab CI, Forgejo Actions)."""
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
