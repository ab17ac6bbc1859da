"""``sweep``: run the pipeline once per point of a params grid, each in an isolated copy.

Every point gets its own temporary copy of the project with its params applied
(the working tree is never touched), shares the project's store and stage
index (so stages a point does not change are restored, not rerun), and is
recorded as a run. With the Ray executor the points fan out as Ray tasks.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import FlowtideError, UsageError
from .fingerprint import _MISSING, flatten, lookup

if TYPE_CHECKING:
    from ..project import Project
    from .runs import RunRecord

_SKIP = {".git", ".flowtide", "__pycache__", ".venv", ".pytest_cache", ".ruff_cache"}


@dataclass
class SweepResult:
    id: str
    metric: str | None
    points: list[dict[str, Any]] = field(default_factory=list)
    """{"params": {...overrides}, "metrics": {...}, "run_id", "status", "error"?}."""
    best: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "metric": self.metric, "points": self.points, "best": self.best}


def parse_grid(assignments: list[str]) -> list[dict[str, Any]]:
    """``["train.lr=0.1,0.01", "train.depth=3,5"]`` → the cartesian product as override dicts."""
    axes: list[tuple[str, list[Any]]] = []
    for text in assignments:
        key, sep, values = text.partition("=")
        if not sep or not key or not values:
            raise UsageError(f"bad sweep axis {text!r}", hint="Write KEY=V1,V2,... e.g. train.lr=0.1,0.01")
        axes.append((key.strip(), [_value(v) for v in _split(values)]))
    if not axes:
        raise UsageError("nothing to sweep", hint="Give at least one KEY=V1,V2 axis, e.g. train.lr=0.1,0.01")
    return [dict(zip([k for k, _ in axes], combo, strict=True)) for combo in itertools.product(*[v for _, v in axes])]


def _split(values: str) -> list[str]:
    """Split on commas outside brackets: ``3,[a,b]`` → ``["3", "[a,b]"]``."""
    parts, depth, current = [], 0, ""
    for char in values:
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def _value(text: str) -> Any:
    """A YAML-like scalar or flow list: 0.1 → float, true → bool, [a, b] → list, anything else a string."""
    from ..config._miniyaml import _GiveUp, _scalar

    text = text.strip()
    try:
        return _scalar(text)
    except _GiveUp:
        return text


def _set(params: dict[str, Any], dotted: str, value: Any) -> None:
    node = params
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value


def prepare_copy(project: Project, workdir: Path, overrides: dict[str, Any]) -> Path:
    """Copy the project's working tree to ``workdir`` and apply the params overrides there."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        return {n for n in names if n in _SKIP}

    shutil.copytree(project.root, workdir, ignore=ignore, symlinks=True)
    params_path = workdir / project.config.params
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    data = yaml.load(params_path.read_text()) if params_path.exists() else {}
    for key, value in overrides.items():
        if lookup(data, key) is _MISSING:
            raise UsageError(
                f"sweep param {key!r} is not in {project.config.params}",
                hint="Sweep over keys that exist in the params file (dotted, e.g. train.lr).",
            )
        _set(data, key, value)
    with open(params_path, "w") as handle:
        yaml.dump(data, handle)
    # the copy is its own state directory, so that a running sweep never blocks `flowtide run` here
    (workdir / ".flowtide").mkdir(exist_ok=True)
    return workdir


def run_point(root: str, store_root: str, index: str, stages: list[str] | None, jobs: int) -> dict[str, Any]:
    """Run the pipeline in one prepared copy; picklable arguments so it can be a Ray task."""
    from ..config import load_config
    from ..project import Project
    from ..store import Store
    from .engine import run

    project = Project(root=Path(root), config=load_config(root), env=dict(os.environ))
    project.__dict__["store"] = Store(store_root)
    project.__dict__["pipeline_index"] = index
    started = time.time()
    try:
        result = run(project, stages, jobs=jobs, executor="local", record=False)
        return {"ok": True, "started": started, "finished": time.time(), **result.to_dict()}
    except FlowtideError as exc:
        partial = getattr(exc, "result", None)
        data = partial.to_dict() if partial is not None else {}
        return {"ok": False, "started": started, "finished": time.time(), "error": exc.message, **data}


def sweep(
    project: Project,
    assignments: list[str],
    *,
    stages: list[str] | None = None,
    executor: str | None = None,
    jobs: int = 1,
    metric: str | None = None,
    minimize: bool = False,
    log=None,
) -> SweepResult:
    """Run the pipeline over the grid of ``assignments``; record each point as a run."""
    from .engine import index_dir
    from .runs import RunRecord, git_state, new_id, save

    say = log or (lambda line: None)
    grid = parse_grid(assignments)
    kind = executor or project.config.executor
    sweep_id = new_id()
    base = project.state_dir / "sweeps"
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{sweep_id}-", dir=base))
    commit, dirty = git_state(project.root)
    base_params = project.params()
    index = str(index_dir(project))
    store_root = str(project.store.root)
    try:
        roots = [str(prepare_copy(project, tmp / f"p{i}", overrides)) for i, overrides in enumerate(grid)]
        say(f"sweep {sweep_id}: {len(grid)} point(s) on the {kind} executor")
        if kind == "ray":
            from .executors import import_ray

            ray = import_ray()
            started_here = not ray.is_initialized()
            if started_here:
                ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
            try:
                remote = ray.remote(num_cpus=1)(run_point)
                outcomes = ray.get([remote.remote(r, store_root, index, stages, 1) for r in roots])
            finally:
                if started_here:
                    ray.shutdown()
        else:
            outcomes = []
            for overrides, root in zip(grid, roots, strict=True):
                say("point " + ", ".join(f"{k}={v}" for k, v in overrides.items()))
                outcomes.append(run_point(root, store_root, index, stages, jobs))
        result = SweepResult(id=sweep_id, metric=metric)
        for overrides, outcome in zip(grid, outcomes, strict=True):
            params = flatten(base_params)
            params.update(flatten(overrides))
            record: RunRecord = RunRecord(
                id=new_id(),
                started=outcome["started"],
                finished=outcome["finished"],
                status="ok" if outcome["ok"] else "failed",
                kind="sweep",
                sweep=sweep_id,
                git_commit=commit,
                git_dirty=dirty,
                executor=kind,
                params=params,
                metrics=outcome.get("metrics", {}),
                stages=outcome.get("stages", {}),
                data={n: e.get("hash") for n, e in project.read_lock().sources.items()},
                message=outcome.get("error"),
            )
            notes: list[str] = []
            save(project, record, warnings=notes)
            for note in notes:
                say(f"({note})")
            point = {"params": overrides, "metrics": record.metrics, "run_id": record.id, "status": record.status}
            if outcome.get("error"):
                point["error"] = outcome["error"]
            result.points.append(point)
        result.metric = metric or _first_metric(result.points)
        scored = [p for p in result.points if isinstance(p["metrics"].get(result.metric), (int, float))]
        if scored:
            result.best = (min if minimize else max)(scored, key=lambda p: p["metrics"][result.metric])
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _first_metric(points: list[dict[str, Any]]) -> str | None:
    for point in points:
        for key, value in point["metrics"].items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return key
    return None
