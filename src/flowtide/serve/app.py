"""The serving app: ``create_app(project)`` builds an ASGI app from small pieces.

``POST /predict/{model}`` is the hot path and is answered by a plain ASGI
handler (validate, route, predict, log) without a framework in the way; the
model itself runs in a bounded thread pool, so the event loop keeps answering
``/health`` under load. The other endpoints (health, models, metrics, OpenAPI,
feedback, admin) are Starlette routes (``routes.py``, ``admin.py``). Every
answer, error or not, is JSON. Closed log segments ship to the remote store
(``shipping.py``).

The deployments (one canary router per model) live in one dict that a reload
replaces in one assignment, after the new models loaded (and their artifacts
were fetched): in-flight requests finish on the router they started with. A
version that cannot be loaded does not stop the others: the model keeps its
previous deployment (or serves production without the canary), ``/health``
says ``degraded`` and why, and the reload is retried with a backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import FlowtideError, reason_of
from ..formats import FROM_ONNX, FROM_SKLEARN
from .admin import ADMIN_TOKEN_ENV
from .body import read_json
from .feedback import FEEDBACK_TOKEN_ENV, FeedbackDesk, LabelRule, label_rule
from .router import CanaryRouter, ModelApp, PredictRequest, send_json
from .routes import build_routes
from .shipping import shipper
from .validate import RequestProblem, RowValidator

if TYPE_CHECKING:
    from ..project import Project
    from ..registry import Version

log = logging.getLogger("flowtide.serve")

MAX_BODY = 1 << 20
RETRY_MAX = 60.0
"""Longest wait (seconds) between two retries of a reload that could not load everything."""


def default_threads() -> int:
    """Prediction threads: the cores, at most 4 (models hold the GIL part of the time: more threads only queue)."""
    return max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class Deployment:
    """What one model serves right now: its router, the validator of its inputs and the rule for its labels."""

    router: CanaryRouter
    validator: RowValidator
    labels: LabelRule


class ServeApp:
    """The ASGI app. Build it with :func:`create_app`."""

    def __init__(
        self,
        watch: Any,
        *,
        log_dir: str | os.PathLike[str] | None = None,
        interval: float = 2.0,
        admin_token: str | None = None,
        feedback_token: str | None = None,
        flush_interval: float = 1.0,
        predlog: Any = None,
        threads: int | None = None,
    ) -> None:
        from .metrics import ServeMetrics
        from .predlog import PredictionLog

        self.watch = watch
        config = watch.config
        self.deploy = config.deploy
        self.interval = interval
        self.admin_token = admin_token
        self.max_body = getattr(self.deploy, "max_body", MAX_BODY)
        self.body_timeout = float(getattr(self.deploy, "body_timeout", 10.0))
        self.extra_fields = getattr(self.deploy, "extra_fields", "reject")
        canary = self.deploy.canary
        self.key_header = (canary.key_header if canary else "x-request-key").lower().encode()
        self.metrics = ServeMetrics()
        watch.on_fetch = lambda outcome: self.metrics.fetches.labels(outcome).inc()
        if predlog is None:
            directory = Path(log_dir) if log_dir else watch.base.state_dir / "predictions"
            segment = self.deploy.log_segment.seconds
            predlog = PredictionLog(
                directory,
                flush_interval=flush_interval,
                segment_seconds=segment,
                ship=shipper(watch.project, self.metrics),
            )
        self.predlog = predlog
        window = self.deploy.feedback_window.seconds
        self.feedback = FeedbackDesk(self.predlog, self.metrics, window=window, token=feedback_token)
        self.threads = threads or default_threads()
        # a bounded pool: at most `threads` predictions at once, the rest wait in its queue (not on the loop)
        self.pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="flowtide-predict")
        self.deployments: dict[str, Deployment] = {}
        self.weights: dict[str, float] = {}  # admin overrides of the canary weight, kept across reloads
        self.problems: dict[str, str] = {}
        """What the server cannot serve although the registry asks for it, and why (empty: healthy)."""
        self._stamp: Any = None
        self._retry_at = 0.0
        self._failures = 0
        self._reload_lock = threading.Lock()
        self._follower: asyncio.Task | None = None
        self.started = time.time()
        self.reload()
        if self.problems:
            log.warning("serving what could be loaded; %s", "; ".join(self.all_problems()))
        self._starlette = build_routes(self)

    # -- loading and swapping -----------------------------------------------------

    def reload(self, *, force: bool = False) -> bool:
        """Load what the registry says to serve (fetching missing artifacts), then swap it in.

        False when nothing changed. A version that cannot be loaded is recorded in
        :attr:`problems` (``/health`` says degraded) and retried later; the rest is
        served. Blocking (loads models, may download): call it off the event loop.
        """
        with self._reload_lock:
            stamp = self.watch.stamp()
            if stamp == self._stamp and not force and not self.problems:
                return False
            deployments, problems = self._build_deployments()
            self.deployments = deployments  # the swap: one reference assignment
            self._stamp = stamp
            self._note_problems(problems)
            self.metrics.reloads.labels("failed" if problems else "ok").inc()
            keep = set()
            for d in deployments.values():
                for app in (d.router.production, d.router.canary, d.router.shadow_app):
                    if app is not None and app.hash:
                        keep.add(app.hash)
            self.watch.forget_except(keep)
            return True

    def _note_problems(self, problems: dict[str, str]) -> None:
        for key, reason in problems.items():
            if self.problems.get(key) != reason:  # say each new problem once, not on every retry
                log.warning("cannot serve %s", reason)
        if self.problems and not problems:
            log.info("recovered: serving everything the registry asks for")
        self.problems = problems
        self._failures = self._failures + 1 if problems else 0
        backoff = min(RETRY_MAX, max(self.interval, 0.5) * (2 ** min(self._failures - 1, 10)))
        self._retry_at = time.monotonic() + backoff if problems else 0.0
        self._set_degraded()

    def _set_degraded(self) -> None:
        self.metrics.degraded.set(1 if self.all_problems() else 0)

    def all_problems(self) -> list[str]:
        out = list(self.problems.values())
        if getattr(self.watch, "follow_problem", None):
            out.insert(0, self.watch.follow_problem)
        return out

    def _build_deployments(self) -> tuple[dict[str, Deployment], dict[str, str]]:
        schema = self.watch.input_schema()
        target = self.watch.target_rule() if hasattr(self.watch, "target_rule") else None
        out: dict[str, Deployment] = {}
        problems: dict[str, str] = {}
        for model, stages in self.watch.wanted().items():
            production = stages.get("production")
            if production is None:
                continue
            try:
                prod_app = self._model_app(model, production, "production")
            except Exception as exc:  # keep what this model served before (nothing at start: then it is not served)
                previous = self.deployments.get(model)
                kept = (
                    f"still serving v{previous.router.production.version}"
                    if previous is not None
                    else "not served until it loads"
                )
                problems[model] = f"{model} v{production.version} (production): {reason_of(exc)}; {kept}"
                if previous is not None:
                    out[model] = previous
                continue
            canary_app = shadow_app = None
            staging = stages.get("staging")
            if staging is not None and staging.hash != production.hash:
                role = "canary" if self.deploy.canary is not None else ("shadow" if self.deploy.shadow else None)
                try:
                    if role == "canary":
                        canary_app = self._model_app(model, staging, "canary")
                    elif role == "shadow":
                        shadow_app = self._model_app(model, staging, "shadow")
                except Exception as exc:  # production alone, rather than a version the registry moved away from
                    problems[f"{model} {role}"] = (
                        f"{model} v{staging.version} ({role}): {reason_of(exc)}; serving production only"
                    )
            weight = self.weights.get(model, self.deploy.canary.weight if self.deploy.canary else 0.0)
            router = CanaryRouter(prod_app, canary=canary_app, weight=weight, shadow=shadow_app)
            features: list[str] = []
            declared_by: list[str] = []
            loaded = []
            for app in (prod_app, canary_app, shadow_app):
                if app is not None:
                    loaded.append(app.loaded)
                    features += [f for f in (getattr(app.loaded, "features", None) or []) if f not in features]
                    source = getattr(app.loaded, "features_from", "")
                    if source and source not in declared_by:
                        declared_by.append(source)
            own = any(source in (FROM_SKLEARN, FROM_ONNX) for source in declared_by)
            by_name = any(getattr(getattr(m, "predictor", None), "by_name", False) is True for m in loaded)
            validator = RowValidator(
                self.watch.input_schema(features, by_name=by_name) if own else schema,
                features or None,
                extra_fields=self.extra_fields,
                declared_by=" and ".join(declared_by),
            )
            out[model] = Deployment(router, validator, label_rule(target, loaded))
            self.metrics.weight.labels(model).set(router.weight)
        return out, problems

    def _model_app(self, model: str, version: Version, role: str) -> ModelApp:
        loaded = self.watch.load(version)
        return ModelApp(model, loaded, role, predlog=self.predlog, metrics=self.metrics, pool=self.pool)

    # -- lifecycle -----------------------------------------------------------------

    async def startup(self) -> None:
        self.predlog.start()
        if self.interval and self.interval > 0 and self._follower is None:
            self._follower = asyncio.get_running_loop().create_task(self._follow())

    async def shutdown(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._follower
            self._follower = None
        await asyncio.to_thread(self.pool.shutdown, wait=True)
        await asyncio.to_thread(self.predlog.close)

    async def _follow(self) -> None:
        said = None
        while True:
            await asyncio.sleep(self.interval)
            try:
                await asyncio.to_thread(self._poll)
                said = None
            except Exception as exc:  # keep serving the old models; say why once per failure
                reason = reason_of(exc)
                if reason != said:
                    log.warning("reload failed, still serving the previous versions: %s", reason)
                said = reason
                self.problems = {**self.problems, "reload": f"reload failed: {reason}; still serving {self._serving()}"}
                self._set_degraded()

    def _poll(self) -> None:
        try:
            self.watch.refresh()
        except FlowtideError:  # the git remote is unreachable: serve what we have; /health says why
            pass
        finally:
            self._set_degraded()
        due = bool(self.problems) and time.monotonic() >= self._retry_at
        if (self.watch.stamp() != self._stamp or due) and self.reload(force=due):
            log.info("reloaded: %s", self.describe_versions())

    def _serving(self) -> str:
        return ", ".join(f"{m} v{d.router.production.version}" for m, d in self.deployments.items()) or "nothing"

    def describe_versions(self) -> dict[str, Any]:
        return {m: d.router.describe() for m, d in self.deployments.items()}

    # -- ASGI ------------------------------------------------------------------------

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/predict/"):
            started = False

            async def tracked(message) -> None:
                nonlocal started
                started = True
                await send(message)

            try:
                await self._predict(scope, receive, tracked)
            except Exception:  # a bug of ours: still a JSON answer, and the traceback stays in the server log
                log.exception("internal error answering %s", scope["path"])
                if not started:
                    await send_json(send, 500, {"error": "internal server error (the server log has the details)"})
            return
        await self._starlette(scope, receive, send)

    async def _predict(self, scope, receive, send) -> None:
        started = time.perf_counter()
        model = scope["path"][len("/predict/") :]
        if scope["method"] != "POST":
            await send_json(send, 405, {"error": "use POST"}, [(b"allow", b"POST")])
            return
        deployment = self.deployments.get(model)
        if deployment is None:
            self.metrics.error(model if model in self.deployments else "(unknown)", 404)
            known = ", ".join(sorted(self.deployments)) or "none (promote a version to production)"
            await send_json(send, 404, {"error": f"no model {model!r} is served; served models: {known}"})
            return
        request_id = key = None
        content_type = b""
        length = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
            elif name == b"content-length":
                length = value
            elif name == b"x-request-id":
                request_id = value.decode("latin-1")
            elif name == self.key_header:
                key = value.decode("latin-1")
        if request_id is None or not (0 < len(request_id) <= 128 and request_id.isprintable()):
            request_id = uuid.uuid4().hex
        try:
            payload = await read_json(receive, content_type, length, self.max_body, self.body_timeout)
            rows, batch = deployment.validator.rows(payload)
        except RequestProblem as problem:
            self.metrics.error(model, problem.status)
            headers = [(b"x-request-id", request_id.encode()), *problem.header_list()]
            await send_json(send, problem.status, problem.body(), headers)
            return
        ids = [f"{request_id}-{i}" for i in range(len(rows))] if batch else [request_id]
        scope["flowtide.request"] = PredictRequest(model, rows, ids, key or request_id, batch, started)
        await deployment.router(scope, receive, send)

    # -- the other endpoints (Starlette, in routes.py) -----------------------------------

    def health_body(self) -> tuple[int, dict[str, Any]]:
        """``/health``: 200 while at least one model is served (``degraded`` when something the
        registry asks for is not, with the reasons), 503 when nothing is served."""
        served = {m: d.router.production.version for m, d in self.deployments.items()}
        problems = self.all_problems()
        status = ("degraded" if problems else "ok") if served else "no production model"
        body: dict[str, Any] = {"status": status, "models": served}
        if problems:
            body["problems"] = problems
        return (200 if served else 503), body

    # -- admin ---------------------------------------------------------------------------

    def set_weight(self, model: str, weight: float) -> None:
        self.weights[model] = weight
        with self._reload_lock:
            current = self.deployments[model]
            deployments = dict(self.deployments)
            deployments[model] = Deployment(current.router.with_weight(weight), current.validator, current.labels)
            self.deployments = deployments
        self.metrics.weight.labels(model).set(weight)


def create_app(
    project: Project | None = None,
    *,
    follow: str | None = None,
    interval: float = 2.0,
    log_dir: str | os.PathLike[str] | None = None,
    admin_token: str | None = None,
    feedback_token: str | None = None,
    flush_interval: float = 1.0,
    threads: int | None = None,
    watch: Any = None,
) -> ServeApp:
    """The serving app for ``project``: production (and canary / shadow) of every registered model.

    ``admin_token`` defaults to $FLOWTIDE_ADMIN_TOKEN (without one admin endpoints answer 403);
    ``feedback_token`` to $FLOWTIDE_FEEDBACK_TOKEN (without one /feedback needs no token, but
    still accepts labels only for request ids this deployment issued). ``threads``: how many
    predictions run at once (default: the cores, at most 4).
    """
    from ..extras import require

    require("serve", "serving (create_app)")
    if watch is None:
        from .follow import RegistryWatch

        if project is None:
            raise ValueError("create_app needs a project (or a watch)")
        watch = RegistryWatch(project, follow=follow)
    env = project.env if project is not None else os.environ
    if admin_token is None:
        admin_token = env.get(ADMIN_TOKEN_ENV) or None
    if feedback_token is None:
        feedback_token = env.get(FEEDBACK_TOKEN_ENV) or None
    return ServeApp(
        watch,
        log_dir=log_dir,
        interval=interval,
        admin_token=admin_token,
        feedback_token=feedback_token,
        flush_interval=flush_interval,
        threads=threads,
    )
