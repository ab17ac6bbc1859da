"""Side-by-side measurement that a busy machine cannot tilt: the tools alternate, round by round.

Every benchmark area takes its figures through :func:`alternate`: round ``i`` runs
each tool once, in an order that reverses every round (A B, B A, A B, …) so neither
tool always runs first (warm caches) or last (a machine getting busier). The
figures are the median of each tool's samples and, per round, the ratio of the
peer's time to ours, reported as a median with its min–max: a ratio from one round
compares two runs taken seconds apart under the same load. The load average before
and after is printed with the table, so a reader can tell a quiet run from a busy one.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Comparison:
    """The samples of one figure: seconds per tool, one per round, in round order."""

    name: str
    tools: list[str]
    samples: dict[str, list[float]] = field(default_factory=dict)
    load: tuple[float, float] = (0.0, 0.0)
    notes: dict[str, str] = field(default_factory=dict)
    """Per tool, why it has no samples (not installed, failed) or what it reported."""

    def median(self, tool: str) -> float | None:
        values = self.samples.get(tool) or []
        return statistics.median(values) if values else None

    def ratios(self, peer: str, ours: str) -> list[float]:
        """Per round: the peer's seconds over ours (> 1: we are faster)."""
        a, b = self.samples.get(ours) or [], self.samples.get(peer) or []
        return [p / o for o, p in zip(a, b, strict=False) if o > 0]

    def ratio_text(self, peer: str, ours: str) -> str:
        ratios = self.ratios(peer, ours)
        if not ratios:
            return "—"
        middle = statistics.median(ratios)
        return f"{middle:.2f}x ({min(ratios):.2f}–{max(ratios):.2f})" if len(ratios) > 1 else f"{middle:.2f}x"


def load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:  # not on this platform
        return float("nan")


def alternate(
    name: str, runs: dict[str, Callable[[], float | None]], rounds: int = 5, *, warmup: bool = True
) -> Comparison:
    """Run each tool's ``runs[tool]()`` (which returns its seconds, or None when it could not run) in
    alternating order for ``rounds`` rounds; a tool that returns None once is dropped from later rounds."""
    tools = list(runs)
    result = Comparison(name, tools, {tool: [] for tool in tools})
    before = load_average()
    alive = list(tools)
    if warmup:
        for tool in tools:
            if runs[tool]() is None:
                alive.remove(tool)
                result.notes.setdefault(tool, "could not run")
    for index in range(max(1, rounds)):
        order = alive if index % 2 == 0 else list(reversed(alive))
        for tool in order:
            seconds = runs[tool]()
            if seconds is None:
                result.notes.setdefault(tool, "could not run")
                continue
            result.samples[tool].append(seconds)
    result.load = (before, load_average())
    return result


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:,.0f} ms"
    return f"{seconds:,.2f} s"


def table(comparisons: list[Comparison], ours: str = "flowtide", *, title: str = "") -> str:
    """One row per (figure, peer): medians of both, the per-round ratio median (min–max), load before → after."""
    lines = []
    if title:
        lines.append(title)
    header = f"  {'figure':<44} {'peer':<22} {ours:>10} {'peer':>10}  {'peer ÷ ' + ours:<22} load"
    lines.append(header)
    for comparison in comparisons:
        peers = [tool for tool in comparison.tools if tool != ours]
        for peer in peers or [None]:
            mine = comparison.median(ours)
            theirs = comparison.median(peer) if peer else None
            ratio = comparison.ratio_text(peer, ours) if peer else ""
            note = comparison.notes.get(peer or ours, "")
            load = f"{comparison.load[0]:.1f}→{comparison.load[1]:.1f}"
            lines.append(
                f"  {comparison.name:<44} {peer or '':<22} {fmt_seconds(mine):>10} {fmt_seconds(theirs):>10}  "
                f"{ratio:<22} {load}" + (f"  ({note})" if note else "")
            )
    rounds = max((len(v) for c in comparisons for v in c.samples.values()), default=0)
    lines.append(f"  medians of {rounds} alternating rounds (A B, B A, …); ratio per round, median (min–max)")
    return "\n".join(lines)
