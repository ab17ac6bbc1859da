"""Registry operations: register a candidate, promote between stages, roll back production.

Each appends one event under the project's "registry" mutex and returns the
resulting :class:`Version`; the rules (identical bytes register nothing, passed
gates and a stay in staging before production, production is replaced but never
emptied except by a forced archive, ``--force`` only with a reason) are enforced here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import RegistryError, UsageError
from . import snapshot
from .lineage import _commit, _lineage, _model_config, _tag, actor, is_git_repo, now, read_gate_results, read_metrics
from .log import REGISTRY_FILE, Registry, Version, _append, _dump_event

if TYPE_CHECKING:
    from ..project import Project


def register(project: Project, *, require_gates: bool = False) -> Version:
    """Record the current artifact of ``model:`` as a new candidate version."""
    with project.repository("register"):  # no gc deletes the artifact's blob before the event names it
        _refuse_stale_artifact(project)
        return _register(project, require_gates=require_gates)


def _refuse_stale_artifact(project: Project) -> None:
    """A pipeline's artifact must be the bytes its stage produced, or the recorded lineage would be false."""
    model = _model_config(project)
    produced = _produced_by(project, model.path)
    artifact = project.resolve(model.path, "model path")
    if produced is None or not artifact.is_file():
        return  # not a stage output (registered as is), or missing (_register says so)
    stage, recorded = produced
    digest, _ = project.stat_cache.hash(artifact, key=model.path)
    if recorded is not None and digest != recorded:
        raise RegistryError(
            f"{model.name}: the artifact {model.path} (hash {digest[:12]}) is not what stage {stage!r} produced "
            f"according to flowtide.lock (hash {recorded[:12]}); not registered",
            hint="It changed after the run, or a run did not finish. Run the pipeline (`flowtide run`) "
            "and register again.",
        )


def _produced_by(project: Project, path: str) -> tuple[str, str | None] | None:
    """(stage whose outs hold ``path``, the hash flowtide.lock records for it, if any); None if no stage writes it."""
    from ..pipeline import dag

    wanted = dag.norm(path)
    for name, stage in project.config.stages.items():
        for out in dag.outputs(stage):
            if out != wanted and not wanted.startswith(out + "/"):
                continue
            entry = project.read_lock().stages.get(name)
            outs = entry.get("outs") if isinstance(entry, dict) else None
            record = outs.get(out) if isinstance(outs, dict) else None
            if isinstance(record, dict) and out != wanted:  # a directory output: its file map
                files = record.get("files")
                record = files.get(wanted[len(out) + 1 :]) if isinstance(files, dict) else None
            digest = record.get("hash") if isinstance(record, dict) else None
            return name, digest if isinstance(digest, str) else None
    return None


def _register(project: Project, *, require_gates: bool) -> Version:
    model = _model_config(project)
    artifact = project.resolve(model.path, "model path")
    if artifact.is_dir():
        raise UsageError(f"model path {model.path} is a directory; `model.path` must name the artifact file")
    if not artifact.is_file():
        raise UsageError(
            f"model artifact {model.path} does not exist",
            hint="Run `flowtide run` to train it first.",
        )
    digest, size = project.stat_cache.hash(artifact, key=model.path)
    project.store.add_file(artifact, digest)
    project.stat_cache.save()
    # identical bytes are the same model: whatever the gates say now, nothing new is registered or deployed
    same = _registered_as(project, model.name, digest)
    if same is not None:
        return same

    gates = read_gate_results(project).get(digest)
    if gates is None:
        if model.tests or project.config.gates:
            gates = {"passed": False, "evaluated": False, "message": "gates not evaluated: run `flowtide gate` first"}
        else:
            gates = {"passed": True, "evaluated": False, "message": "no gates or model tests declared"}
    if require_gates and not gates.get("passed"):
        raise RegistryError(
            f"{model.name}: the gates did not pass for artifact {digest[:12]}; not registered",
            hint="See `flowtide gate`; drop --require-gates to register it as a failed candidate.",
        )
    data, stages = _lineage(project, model.path)
    commit, dirty = _commit(project)
    who = actor(project)
    path = project.root / REGISTRY_FILE
    with project.mutex("registry", timeout=60):
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raw = b""
        view = snapshot.load(project)  # the state without a replay of the whole log when nothing changed
        same = _registered_as(project, model.name, digest, raw, view)  # again under the mutex: a concurrent register
        if same is not None:
            return same
        number = (view.latest(model.name) if view is not None else 0) + 1
        tag = f"{model.name}@v{number}"
        event = {
            "event": "register",
            "model": model.name,
            "version": number,
            "hash": digest,
            "size": size,
            "format": model.format,
            "path": model.path,
            "metrics": read_metrics(project),
            "params": project.params(),
            "data": data,
            "lineage": stages,
            "commit": commit,
            "dirty": dirty,
            "gates": gates,
            "at": now(),
            "tag": tag,
            **who,
        }
        _append_and_fold(project, view, event)
    version = Registry(path, [event]).get(model.name, number)
    if is_git_repo(project):
        message = _dump_event({k: event[k] for k in ("hash", "data", "metrics", "gates") if k in event})
        warning = _tag(project, tag, commit, f"{tag}\n\n{message}")
        if warning:
            version.warnings.append(warning)
        if dirty:
            version.warnings.append(
                f"{tag} was built from a working tree with uncommitted changes: commit {commit[:8] if commit else '(none)'} "
                "alone does not reproduce it"
            )
    from ..remote import auto_push

    auto_push(project, {digest})
    return version


def _registered_as(
    project: Project, model: str, digest: str, raw: bytes | None = None, view: snapshot.Snapshot | None = None
) -> Version | None:
    """The version of ``model`` whose artifact has hash ``digest`` (marked ``existing``), or None.

    A substring test on the raw log first; then only the lines holding the hash are parsed, and the
    lowest version they register is taken from the snapshot (which vouches for the whole log).
    """
    import json

    path = project.root / REGISTRY_FILE
    if raw is None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
    needle = digest.encode()
    if needle not in raw:
        return None
    if view is None:
        view = snapshot.load(project)
    if view is None:
        return None
    numbers = []
    at = raw.find(needle)
    while at != -1:
        start, end = raw.rfind(b"\n", 0, at) + 1, raw.find(b"\n", at)
        end = len(raw) if end == -1 else end
        try:
            event = json.loads(raw[start:end])
        except (ValueError, RecursionError):
            event = None
        if isinstance(event, dict) and (event.get("event"), event.get("model"), event.get("hash")) == (
            "register",
            model,
            digest,
        ):
            numbers.append(event.get("version"))
        at = raw.find(needle, end)
    for number in sorted(n for n in numbers if view.has(model, n)):
        version = view.get(model, number)
        if version.hash == digest:
            version.existing = True
            return version
    return None


def _append_and_fold(project: Project, view: snapshot.Snapshot | None, event: dict) -> None:
    """Append ``event`` and fold it into the snapshot, so the next reader finds it valid."""
    line = (_dump_event(event) + "\n").encode("utf-8")
    start = view.covered if view is not None else 0
    _append(project, event)
    if view is not None:
        view.appended(event, line, start)
    else:
        snapshot.load(project)  # the registry's first line: a snapshot of it


# --- promote / rollback --------------------------------------------------------


def promote(
    project: Project,
    model: str,
    version: str | int,
    to: str,
    *,
    reason: str | None = None,
    force: bool = False,
) -> Version:
    """Move a version to ``to`` (staging, production or archived) with an audit event."""
    if to not in ("staging", "production", "archived"):
        raise UsageError(f"cannot promote to {to!r}: choose staging, production or archived")
    if force and not (reason and reason.strip()):
        raise UsageError("--force needs --reason TEXT: a forced promotion must say why (it goes into the audit log)")
    with project.mutex("registry", timeout=60):
        view = _view(project)
        target = view.get(model, version)
        if target.stage == to:
            return target
        if target.stage == "production":
            _refuse_emptying_production(target, to, force)
        if to == "production" and not force:
            if not target.gates.get("passed"):
                raise RegistryError(
                    f"{target.label} failed its gates; it cannot be promoted to production",
                    hint="Fix the model, or override with --force --reason TEXT (recorded in the registry).",
                )
            if not target.staged:
                raise RegistryError(
                    f"{target.label} has not been in staging; promote it to staging first",
                    hint=f"flowtide promote {model} {target.version} --to staging (or --force --reason TEXT).",
                )
        event = {
            "event": "promote",
            "model": model,
            "version": target.version,
            "from": target.stage,
            "to": to,
            "at": now(),
            "reason": reason,
            "forced": force,
            **actor(project),
        }
        replaced = view.in_stage(model, to) if to != "archived" else None
        if replaced is not None:
            event["replaces"] = replaced
        moves = view.moves(model)
        _append_and_fold(project, view, event)
        moved = _after(view, target, event)
        _stage_tag(project, moves, moved, to, event)
    return moved


def _refuse_emptying_production(target: Version, to: str, force: bool) -> None:
    """Production is only replaced (promote another version, rollback), never emptied by accident.

    The one way to leave a model without production is an explicit archive of the
    production version with --force --reason (``promote`` already demands the reason).
    """
    model = target.model
    replace = (
        f"To replace it, promote another version (flowtide promote {model} VERSION --to production) "
        f"or go back to the previous one (flowtide rollback {model})"
    )
    if to == "staging":
        raise RegistryError(
            f"{target.label} is already in production; moving it to staging would leave {model!r} without a "
            "production version (serve would answer 404)",
            hint=f"{replace}; it is archived then.",
        )
    if to == "archived" and not force:
        raise RegistryError(
            f"{target.label} is in production; archiving it would leave {model!r} without a production version "
            "(serve would answer 404)",
            hint=f"{replace}; to take the model out of service on purpose: --force --reason TEXT.",
        )


def rollback(project: Project, model: str, *, reason: str | None = None) -> Version:
    """Return production to the previous production version; archive the current one."""
    with project.mutex("registry", timeout=60):
        view = _view(project)
        number = view.in_stage(model, "production")
        if number is None:
            raise RegistryError(f"model {model!r} has no production version to roll back")
        current = view.get(model, number)
        number = view.previous_production(model)
        previous = view.get(model, number) if number is not None else None
        if previous is None:
            raise RegistryError(
                f"{current.label} is the first production version of {model!r}; there is nothing to roll back to",
                hint=f"Promote another version instead: flowtide promote {model} VERSION --to production.",
            )
        event = {
            "event": "rollback",
            "model": model,
            "version": previous.version,
            "from": current.version,
            "at": now(),
            "reason": reason,
            **actor(project),
        }
        moves = view.moves(model)
        _append_and_fold(project, view, event)
        restored = _after(view, previous, event)
        _stage_tag(project, moves, restored, "production", event)
    return restored


def _view(project: Project) -> snapshot.Snapshot:
    view = snapshot.load(project)
    if view is None:
        Registry.load(project).get("", 1)  # no registry yet: the "no registered versions" message
    return view


def _after(view: snapshot.Snapshot, version: Version, event: dict) -> Version:
    """``version`` after ``event``: the replayed object when this process replayed the log, else the
    snapshot's stage for it and the event added to its history."""
    if view.registry is not None:
        return view.registry.get(version.model, version.version)
    version.stage = view.stage(version.model, version.version)
    version.staged = version.version in view.models[version.model]["staged"]
    version.history.append(event)
    return version


def _stage_tag(project: Project, moves: int, version: Version, stage: str, event: dict) -> None:
    """A GTO-style tag ``MODEL#STAGE#N`` per stage move, on the version's commit, with the event as message.

    N counts the model's stage moves, so the tags alone replay the history; a tag
    that cannot be made is a warning (the registry file stays the source of truth).
    """
    if not is_git_repo(project):
        return
    tag = f"{version.model}#{stage}#{moves + 1}"
    warning = _tag(project, tag, version.commit, f"{tag}\n\n{_dump_event(event)}")
    if warning:
        version.warnings.append(warning)
