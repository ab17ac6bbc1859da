"""What monitoring does about what it found (its reactions): retrain (with a cooldown) and act on canary verdicts.

``retrain`` is the local training trigger shared with ``flowtide loop`` and the
demo: pull (when sources are configured), run the pipeline, evaluate the gates,
register a candidate and, when it passed, promote it to staging (the canary).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..atomic import atomic_write

if TYPE_CHECKING:
    from ..project import Project
    from .analysis import CanaryVerdict

STATE_FILE = "monitor.json"


@dataclass
class RetrainResult:
    pulled: bool = False
    ran: list[str] = field(default_factory=list)
    gates_passed: bool | None = None
    registered: int | None = None
    staged: bool = False
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def read_state(project: Project) -> dict[str, Any]:
    try:
        return json.loads((project.state_dir / STATE_FILE).read_bytes())
    except (FileNotFoundError, ValueError):
        return {}


def write_state(project: Project, state: dict[str, Any]) -> None:
    atomic_write(project.state_dir / STATE_FILE, json.dumps(state, indent=2, sort_keys=True))


def retrain(project: Project, *, pull: bool = True, stage: bool = True, log=None) -> RetrainResult:
    """pull → run → gate → register → promote to staging (each step only when the previous one produced something)."""
    from ..pipeline import run
    from ..registry import Registry, promote, register
    from ..registry.gate import evaluate

    say = log or (lambda line: None)
    result = RetrainResult()
    if pull and project.config.sources:
        from ..data.pull import pull as pull_sources

        pulled = pull_sources(project)
        result.pulled = pulled.changed
        say(f"pull: {', '.join(f'{r.name} {r.status}' for r in pulled.results)}")
    run_result = run(project)
    result.ran = list(run_result.ran) + list(getattr(run_result, "restored", []))
    say(f"run: ran {', '.join(run_result.ran) or 'nothing'}")
    model = project.config.model
    if model is None:
        result.message = "no model: section: nothing to register"
        return result
    artifact = project.resolve(model.path, "model path")
    if not artifact.is_file():
        result.message = f"no artifact at {model.path} after the run"
        return result
    digest, _ = project.stat_cache.hash(artifact, key=model.path)
    known = {v.hash: v for v in Registry.load(project).versions(model.name)}
    if digest in known:
        result.message = f"the artifact is already registered as v{known[digest].version}: nothing new to deploy"
        return result
    report = evaluate(project)
    result.gates_passed = report.ok
    version = register(project)
    result.registered = version.version
    say(f"register: {version.label} (gates {'passed' if report.ok else 'failed'})")
    if stage and report.ok:
        promote(project, model.name, version.version, "staging", reason="retrained by monitor/loop")
        result.staged = True
        say(f"promote: {version.label} -> staging")
    result.message = f"v{version.version} registered" + (" and promoted to staging" if result.staged else "")
    return result


def cooldown_left(project: Project, cooldown_seconds: float, now: float | None = None) -> float:
    last = read_state(project).get("last_trigger")
    if last is None:
        return 0.0
    return max(0.0, float(last) + cooldown_seconds - (now or time.time()))


def record_trigger(project: Project, now: float | None = None, outcome: dict | None = None) -> None:
    state = read_state(project)
    state["last_trigger"] = now or time.time()
    if outcome is not None:
        state["last_outcome"] = outcome
    write_state(project, state)


def act(project: Project, verdicts: list[CanaryVerdict], *, approve: str | None = None) -> list[str]:
    """Act on each canary verdict; returns what was done (or why not).

    *rollback* archives the canary (production is untouched, so no approval is
    needed). *promote* moves the canary to production only when ``approve`` names
    who approves it (the person running ``flowtide loop`` or ``monitor --act
    --approve``); otherwise it says which approved road to take.
    """
    from ..errors import RegistryError
    from ..registry import promote

    done = []
    for verdict in verdicts:
        reason = f"monitor: canary verdict {verdict.verdict}: {verdict.reason}"
        label = f"{verdict.model} v{verdict.canary}"
        try:
            if verdict.verdict == "promote" and approve:
                promote(project, verdict.model, verdict.canary, "production", reason=f"{reason}; approved by {approve}")
                done.append(f"promoted {label} to production (approved by {approve})")
            elif verdict.verdict == "promote":
                done.append(
                    f"{label}: the canary verdict is promote; production needs an approval: deploy.yml's "
                    f"production job, or `flowtide promote {verdict.model} {verdict.canary} --to production`"
                )
            elif verdict.verdict == "rollback":
                promote(project, verdict.model, verdict.canary, "archived", reason=reason)
                done.append(f"rolled back the canary {label} (archived)")
        except RegistryError as exc:
            done.append(f"could not act on {label}: {exc.message}")
    return done
