"""Champion and challenger on the same data: re-score production on the candidate's evaluation data.

A relative gate (``f1_macro >= production - 0.02``) means something only when
both sides were scored on the same rows. So the stage whose ``metrics:`` file
holds the gated metric is run once more, in a scratch copy of the project, with
production's artifact (from the store, verified by hash) in place of
``model.path``; its metrics are production's side of the comparison. The result
is cached under ``.flowtide/rescore/`` by the production hash and everything
else the stage reads, so a second ``flowtide gate`` costs a few stats.

When that is impossible (no stage reads the model and writes the metric, the
blob is gone, the stage fails...) the gate falls back to the metrics recorded at
registration and says why, as a warning.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..atomic import atomic_write
from ..errors import FlowtideError

if TYPE_CHECKING:
    from ..config import Stage
    from ..project import Project
    from .log import Version

CACHE_DIR = "rescore"
"""Under .flowtide/: one JSON file per re-score, named by its key."""

CACHE_KEEP = 50
ROW_KEYS = (
    "rows",
    "n_rows",
    "n_test",
    "test_rows",
    "n_eval",
    "eval_rows",
    "n_samples",
    "samples",
    "test_days",
    "support",
)
"""Metric names (the last dotted part) read as the number of evaluation rows, in this order of preference."""

_VERSION = 1  # bump when the key's payload changes
_NOT_COPIED = {".git", ".venv", "venv", "node_modules", "__pycache__"}
"""Directories never copied into the scratch copy (an environment left out of .gitignore)."""


@dataclass
class Baseline:
    """Production's side of the relative rules: re-scored on the candidate's evaluation data, or as recorded."""

    version: Version
    metrics: dict[str, Any]
    rescored: bool
    stage: str | None = None
    rows: int | None = None
    cached: bool = False
    reason: str | None = None
    """Why production was not re-scored (the gate shows it as a warning)."""
    key: str | None = None
    """The cache key of the re-score."""

    @property
    def comparison(self) -> str:
        return "re-scored" if self.rescored else "recorded"

    def describe(self) -> str:
        """'production v3 re-scored on the same 365 rows', or what it was compared with instead."""
        label = f"production v{self.version.version}"
        if not self.rescored:
            return f"{label} as recorded at registration (other data)"
        where = f"the same {self.rows} rows" if self.rows else "the same evaluation data"
        return f"{label} re-scored on {where}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "comparison": self.comparison,
            "version": self.version.version,
            "stage": self.stage,
            "rows": self.rows,
            "cached": self.cached,
            "reason": self.reason,
            "key": self.key,
            "described": self.describe(),
        }


class _CannotRescore(Exception):
    """Production cannot be re-scored here; the message says why (never leaves this module)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def baseline(
    project: Project,
    production: Version,
    metrics: list[str],
    *,
    enabled: bool = True,
    log: Callable[[str], None] | None = None,
) -> Baseline:
    """Production's metrics on the candidate's evaluation data, else its recorded metrics with the reason."""
    say = log or (lambda line: None)
    if not enabled:
        return Baseline(production, dict(production.metrics), False, reason="re-scoring was turned off (--no-rescore)")
    try:
        return _rescore(project, production, metrics, say)
    except (_CannotRescore, FlowtideError) as exc:
        return Baseline(production, dict(production.metrics), False, reason=exc.message)
    except OSError as exc:
        return Baseline(production, dict(production.metrics), False, reason=f"could not re-score: {exc}")


# --- which stage, and is it safe to re-run ---------------------------------------


def _stage_for(project: Project, metrics: list[str]) -> tuple[str, Stage]:
    """The one stage whose metrics files hold every gated metric."""
    from ..pipeline import dag
    from ..pipeline.metrics import collect

    per_file = collect(project)
    owners: dict[str, str] = {}
    for name, stage in project.config.stages.items():
        for path in stage.metrics:
            owners.setdefault(dag.norm(path), name)
    found: dict[str, str] = {}
    for metric in metrics:
        files = [path for path, values in per_file.items() if metric in values]
        if not files:
            raise _CannotRescore(f"no stage's metrics file holds {metric!r}")
        found[metric] = owners[files[0]]
    stages = sorted(set(found.values()))
    if len(stages) > 1:
        raise _CannotRescore(f"the gated metrics come from several stages ({', '.join(stages)})")
    return stages[0], project.config.stages[stages[0]]


def _check_reads_model(project: Project, name: str, stage: Stage, model_path: str) -> None:
    from ..pipeline import dag

    deps = [dag.norm(dep) for dep in stage.deps]
    if model_path not in deps:
        if any(dag.overlaps(out, model_path) for out in dag.outputs(stage)):
            raise _CannotRescore(
                f"stage {name!r} writes the model and its metrics together: production cannot be re-scored "
                "without retraining it (split evaluation into a stage that reads `model.path`)"
            )
        raise _CannotRescore(f"stage {name!r} does not list the model ({model_path}) among its deps")
    graph = dag.build(project.config)
    maker = next((s for out, s in graph.producer.items() if dag.overlaps(out, model_path)), None)
    for dep in deps:
        if dep == model_path or maker is None:
            continue
        other = next((s for out, s in graph.producer.items() if dag.overlaps(out, dep)), None)
        if other == maker:
            raise _CannotRescore(
                f"stage {name!r} also reads {dep}, which stage {maker!r} writes with the model: "
                "production's copy of it is not in the registry"
            )


# --- the re-score ------------------------------------------------------------------


def _rescore(project: Project, production: Version, metrics: list[str], say: Callable[[str], None]) -> Baseline:
    from ..hashing import hash_bytes
    from ..pipeline import dag
    from ..pipeline.fingerprint import current, outs_differ, read_params, why

    model = project.config.model
    model_path = dag.norm(model.path)
    name, stage = _stage_for(project, metrics)
    _check_reads_model(project, name, stage, model_path)
    state = current(project, name, stage, read_params(project) if stage.params else {})
    entry = project.read_lock().stages.get(name)
    reasons = why(state, entry) or outs_differ(project, entry)
    if reasons:
        raise _CannotRescore(
            f"stage {name!r} is not up to date ({'; '.join(reasons)}), so the current metrics may not come "
            "from the current data: run `flowtide run` first"
        )
    candidate = state.deps.get(model_path)
    if candidate is not None and candidate["hash"] == production.hash:
        # production is these very bytes: its score on this data is the candidate's
        scored = _read_metrics(project.root, stage)
        return Baseline(production, scored, True, stage=name, rows=_rows(scored), reason=None)
    files = _manifest(project, name, stage, model_path)
    payload = {
        "v": _VERSION,
        "stage": name,
        "command": state.command,
        "params": state.params,
        "env": state.env,
        "outs": state.outs,
        "model_path": model_path,
        "model": production.hash,
        "files": {rel: digest for rel, (_, digest) in sorted(files.items())},
    }
    key = hash_bytes(json.dumps(payload, sort_keys=True, default=str).encode())
    cached = _cache_get(project, key, production)
    if cached is not None and all(m in cached for m in metrics):
        return Baseline(production, cached, True, stage=name, rows=_rows(cached), cached=True, key=key)
    say(f"re-scoring production v{production.version} with stage {name!r} on the candidate's data…")
    scored = _run(project, production, name, stage, state, files, model_path)
    missing = [m for m in metrics if m not in scored]
    if missing:
        raise _CannotRescore(f"stage {name!r} wrote no {', '.join(map(repr, missing))} for production's artifact")
    _cache_put(project, key, production, name, scored)
    return Baseline(production, scored, True, stage=name, rows=_rows(scored), key=key)


def _manifest(project: Project, name: str, stage: Stage, model_path: str) -> dict[str, tuple[Path, str]]:
    """What the scratch copy holds: project-relative path -> (source file, content hash).

    The project's own files as they are in the work tree (git's tracked and
    not-ignored files, or, outside git, the files the command names and their
    sibling modules), plus the stage's deps (often ignored outputs of earlier
    stages), flowtide.yaml and the params file; never the model or the stage's outputs.
    """
    from ..config import CONFIG_FILE
    from ..pipeline import dag

    outs = dag.outputs(stage)
    skip = {project.state_dir.name, *_NOT_COPIED}
    store = project.store.root.resolve()
    wanted: list[str] = [CONFIG_FILE, project.config.params]
    listed = _git_files(project.root)
    if listed is None:
        listed = _command_files(project, stage)
    wanted += listed
    for dep in stage.deps:
        dep = dag.norm(dep)
        full = project.root / dep
        if full.is_dir():
            wanted += [p.relative_to(project.root).as_posix() for p in sorted(full.rglob("*")) if p.is_file()]
        else:
            wanted.append(dep)
    files: dict[str, tuple[Path, str]] = {}
    for rel in wanted:
        rel = dag.norm(rel)
        if rel in files or skip.intersection(rel.split("/")) or dag.overlaps(rel, model_path):
            continue
        if any(dag.overlaps(rel, out) for out in outs):
            continue
        try:
            full = project.resolve(rel, "file")
        except FlowtideError:
            continue  # a tracked symlink that leads outside the project: not copied
        if not full.is_file() or full.resolve().is_relative_to(store):
            continue
        digest, _ = project.stat_cache.hash(full, key=rel)
        files[rel] = (full, digest)
    project.stat_cache.save()
    for dep in stage.deps:
        dep = dag.norm(dep)
        if dep != model_path and not any(r == dep or r.startswith(dep + "/") for r in files):
            raise _CannotRescore(f"stage {name!r}'s dep {dep} does not exist")
    return files


def _git_files(root: Path) -> list[str] | None:
    import subprocess

    try:
        proc = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    return [p for p in proc.stdout.decode("utf-8", "surrogateescape").split("\0") if p]


def _command_files(project: Project, stage: Stage) -> list[str]:
    """Outside git: the files a command names (``python src/evaluate.py``) and the modules beside them."""
    import shlex

    names: list[str] = []
    if stage.cmd:
        try:
            names = shlex.split(stage.cmd)
        except ValueError:
            names = stage.cmd.split()
    elif stage.call:
        module = stage.call.partition(":")[0].replace(".", "/")
        names = [module + ".py", module.split("/")[0] + "/__init__.py"]
    found: list[str] = []
    for token in names:
        full = project.root / token
        if not token or token.startswith("-") or not full.is_file():
            continue
        found.append(token)
        found += [p.relative_to(project.root).as_posix() for p in sorted(full.parent.rglob("*.py"))]
    return found


def _run(
    project: Project,
    production: Version,
    name: str,
    stage: Stage,
    state,
    files: dict[str, tuple[Path, str]],
    model_path: str,
) -> dict[str, Any]:
    """Run the stage in a scratch copy with production's artifact at ``model.path``; its metrics."""
    from ..hashing import hash_file
    from ..pipeline.engine import stage_task
    from ..pipeline.executors import run_task

    source = _blob(project, production)
    scratch = Path(tempfile.mkdtemp(prefix=f"flowtide-rescore-{name}-"))
    try:
        for rel, (full, _) in files.items():
            dest = scratch / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(full, dest)
        dest = scratch / model_path
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)
        actual, _ = hash_file(dest)  # the bytes the stage will read, proven
        if actual != production.hash:
            raise _CannotRescore(
                f"production v{production.version}'s artifact in the store hashes to {actual[:12]}, not "
                f"{production.hash[:12]} as the registry records (run `flowtide fsck`)"
            )
        log = project.state_dir / "logs" / f"{name}.rescore.log"
        result = run_task(stage_task(project, name, stage, state, root=scratch, log=log))
        if not result.ok:
            last = result.stderr_tail.strip().splitlines()[-1:] or ["no output"]
            raise _CannotRescore(
                f"stage {name!r} failed with exit code {result.returncode} on production v{production.version}'s "
                f"artifact ({last[0]}; log: {log})"
            )
        return _read_metrics(scratch, stage)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _blob(project: Project, production: Version) -> Path:
    """Production's artifact in the store; if missing here, from the remote store or the git history."""
    store = project.store
    digest = production.hash
    remote = project.config.store.remote
    if not store.has(digest) and remote:
        from ..remote import Remote, download_many

        try:
            got = download_many(Remote.from_project(project), store, [digest], jobs=1)
            store.mark_verified(got.transferred)
        except FlowtideError:
            pass  # said below, as "not in the store"
    if not store.has(digest):
        _from_git_history(project, production)
    if not store.has(digest):
        where = f"the store {store.root}" + (f" nor in the remote {remote}" if remote else "")
        raise _CannotRescore(f"production v{production.version}'s artifact {digest[:12]} is not in {where}")
    return store.path_of(digest)


GIT_HISTORY = 50
"""Commits that changed ``model.path`` searched for production's bytes (``model.storage: git``)."""


def _from_git_history(project: Project, production: Version) -> None:
    """Put production's bytes in the store from a commit of ``model.path`` that holds them, if any.

    With ``model.storage: git`` CI commits each new artifact, so a fresh clone has
    production's bytes in its history even though no store ever held them.
    """
    import subprocess

    from ..hashing import hash_bytes

    path = project.config.model.path
    try:
        listed = subprocess.run(
            ["git", "log", f"-n{GIT_HISTORY}", "--format=%H", "--", path],
            cwd=project.root,
            capture_output=True,
            text=True,
            timeout=60,
        )
        commits = listed.stdout.split() if listed.returncode == 0 else []
        for commit in commits:
            shown = subprocess.run(
                ["git", "show", f"{commit}:./{path}"], cwd=project.root, capture_output=True, timeout=60
            )
            if shown.returncode == 0 and hash_bytes(shown.stdout) == production.hash:
                with project.store.writer(len(shown.stdout)) as blob:
                    blob.write(shown.stdout)
                return
    except (OSError, subprocess.TimeoutExpired):
        return


def _read_metrics(root: Path, stage: Stage) -> dict[str, Any]:
    from ..pipeline import dag
    from ..pipeline.metrics import merged, parse

    per_file: dict[str, dict[str, Any]] = {}
    for path in stage.metrics:
        path = dag.norm(path)
        try:
            per_file[path] = parse((root / path).read_bytes(), path)
        except OSError:
            raise _CannotRescore(f"the stage did not write its metrics file {path}") from None
    return merged(per_file)


def _rows(metrics: dict[str, Any]) -> int | None:
    """The number of evaluation rows, when the metrics say it (``n_test``, ``support``...)."""
    for name in ROW_KEYS:
        values = [
            int(v)
            for k, v in metrics.items()
            if k.rsplit(".", 1)[-1] == name
            and isinstance(v, (int, float))
            and not isinstance(v, bool)
            and float(v).is_integer()
            and v > 0
        ]
        if values:
            return max(values)
    return None


# --- the cache: plain data, read as input --------------------------------------------


def cache_path(project: Project, key: str) -> Path:
    return project.state_dir / CACHE_DIR / f"{key}.json"


def _cache_get(project: Project, key: str, production: Version) -> dict[str, Any] | None:
    try:
        entry = json.loads(cache_path(project, key).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("key") != key or entry.get("hash") != production.hash:
        return None
    metrics = entry.get("metrics")
    if not isinstance(metrics, dict) or not all(
        isinstance(k, str) and (v is None or isinstance(v, (int, float, str, bool))) for k, v in metrics.items()
    ):
        return None
    return metrics


def _cache_put(project: Project, key: str, production: Version, stage: str, metrics: dict[str, Any]) -> None:
    from .lineage import now

    entry = {
        "key": key,
        "model": production.model,
        "version": production.version,
        "hash": production.hash,
        "stage": stage,
        "metrics": metrics,
        "at": now(),
    }
    directory = project.state_dir / CACHE_DIR
    atomic_write(directory / f"{key}.json", json.dumps(entry, indent=1, sort_keys=True), fsync=False)
    entries = sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime)
    for old in entries[:-CACHE_KEEP]:
        old.unlink(missing_ok=True)
