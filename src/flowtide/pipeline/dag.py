"""The pipeline graph: stages linked by outs → deps, checked for cycles and clashing outs.

Built from the config on every command (a handful of stages costs microseconds);
errors point at the line of flowtide.yaml that causes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config import Config, Stage
from ..errors import UsageError


def norm(path: str) -> str:
    """A project path in one spelling: posix, no ``./`` prefix, no trailing slash."""
    path = path.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path.rstrip("/") or "."


def overlaps(a: str, b: str) -> bool:
    """Whether two project paths name the same file or one lies inside the other (a directory)."""
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def outputs(stage: Stage) -> list[str]:
    """Everything a stage writes: outs, then metrics and plots files (each once)."""
    seen: dict[str, None] = {}
    for path in (*stage.outs, *stage.metrics, *stage.plots):
        seen.setdefault(norm(path), None)
    return list(seen)


@dataclass
class Graph:
    """Stages in topological order with their direct upstream stages."""

    stages: dict[str, Stage]
    order: list[str]
    upstream: dict[str, list[str]] = field(default_factory=dict)
    producer: dict[str, str] = field(default_factory=dict)
    """out path → the stage that writes it."""

    def downstream(self, name: str) -> list[str]:
        """Every stage that (transitively) depends on ``name``, in topological order."""
        found = {name}
        for other in self.order:
            if any(up in found for up in self.upstream[other]):
                found.add(other)
        return [s for s in self.order if s in found and s != name]

    def select(self, names: list[str] | None) -> list[str]:
        """``names`` and everything upstream of them, in topological order (all stages when None)."""
        if not names:
            return list(self.order)
        unknown = [n for n in names if n not in self.stages]
        if unknown:
            known = ", ".join(self.order) or "(none)"
            raise UsageError(
                f"unknown stage {unknown[0]!r}",
                hint=f"Stages in flowtide.yaml: {known}.",
            )
        wanted: set[str] = set()
        todo = list(names)
        while todo:
            name = todo.pop()
            if name not in wanted:
                wanted.add(name)
                todo.extend(self.upstream[name])
        return [s for s in self.order if s in wanted]


def build(config: Config) -> Graph:
    """The DAG of ``config.stages``; ConfigError on a cycle or two stages writing one path."""
    stages = config.stages
    producer: dict[str, str] = {}
    for name, stage in stages.items():
        for out in outputs(stage):
            for other_out, other in producer.items():
                if other != name and overlaps(out, other_out):
                    kind, index = _locate(stage, out)
                    raise config.error(
                        f"out {out!r} of stage {name!r} is also written by stage {other!r} ({other_out!r})",
                        "stages",
                        name,
                        kind,
                        index,
                        hint="Each path may be produced by one stage only; rename one of the outputs.",
                    )
            producer[out] = name
    upstream: dict[str, list[str]] = {}
    dep_index: dict[tuple[str, str], int] = {}
    for name, stage in stages.items():
        ups: list[str] = []
        for index, dep in enumerate(stage.deps):
            dep = norm(dep)
            for out, owner in producer.items():
                if overlaps(dep, out) and owner not in ups:
                    if owner == name:
                        raise config.error(
                            f"stage {name!r} depends on its own output {out!r}",
                            "stages",
                            name,
                            "deps",
                            index,
                        )
                    ups.append(owner)
                    dep_index[(name, owner)] = index
        upstream[name] = ups
    order = _toposort(config, upstream, dep_index)
    return Graph(stages={n: stages[n] for n in order}, order=order, upstream=upstream, producer=producer)


def _locate(stage: Stage, out: str) -> tuple[str, int]:
    for kind in ("outs", "metrics", "plots"):
        for index, path in enumerate(getattr(stage, kind)):
            if norm(path) == out:
                return kind, index
    return "outs", 0


def _toposort(config: Config, upstream: dict[str, list[str]], dep_index: dict[tuple[str, str], int]) -> list[str]:
    """Depth-first order that keeps the file's stage order where the graph allows it."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for up in upstream[name]:
            if state.get(up) == 1:
                cycle = [*path[path.index(up) :], up]
                raise config.error(
                    "stages form a cycle: " + " → ".join(cycle),
                    "stages",
                    name,
                    "deps",
                    dep_index[(name, up)],
                    hint="A stage cannot depend (directly or through others) on its own outputs.",
                )
            if state.get(up) is None:
                visit(up)
        path.pop()
        state[name] = 2
        order.append(name)

    for name in upstream:
        if state.get(name) is None:
            visit(name)
    return order
