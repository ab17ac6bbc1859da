"""The serving app: ``create_app(project)`` builds an ASGI app from small pieces.

``POST /predict/{model}`` is the hot path and is answered by a plain ASGI
handler (validate, route, predict, log) without a framework in the way; the
other endpoints (health, models, metrics, OpenAPI, feedback, admin) are
Starlette routes. The deployments (one canary router per model) live in one
dict that a reload replaces in one assignment, after the new models loaded:
in-flight requests finish on the router they started with.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .router import CanaryRouter, ModelApp, PredictRequest, send_json
from .validate import RequestProblem, RowValidator

if TYPE_CHECKING:
    from ..project import Project

log = logging.getLogger("flowtide.serve")

ADMIN_TOKEN_ENV = "FLOWTIDE_ADMIN_TOKEN"
MAX_BODY = 1 << 20


@dataclass(frozen=True)
class Deployment:
    """What one model serves right now: its router and the validator of its inputs."""

    router: CanaryRouter
    validator: RowValidator


class ServeApp:
    """The ASGI app. Build it with :func:`create_app`."""

    def __init__(
        self,
        watch: Any,
        *,
        log_dir: str | os.PathLike[str] | None = None,
        interval: float = 2.0,
        admin_token: str | None = None,
        flush_interval: float = 1.0,
        predlog: Any = None,
    ) -> None:
        from .metrics import ServeMetrics
        from .predlog import PredictionLog

        self.watch = watch
        config = watch.config
        self.deploy = config.deploy
        self.interval = interval
        self.admin_token = admin_token
        self.max_body = getattr(self.deploy, "max_body", MAX_BODY)
        self.extra_fields = getattr(self.deploy, "extra_fields", "reject")
        canary = self.deploy.canary
        self.key_header = (canary.key_header if canary else "x-request-key").lower().encode()
        self.metrics = ServeMetrics()
        if predlog is None:
            directory = Path(log_dir) if log_dir else watch.base.state_dir / "predictions"
            predlog = PredictionLog(directory, flush_interval=flush_interval, ship=_shipper(watch.base))
        self.predlog = predlog
        self.deployments: dict[str, Deployment] = {}
        self.weights: dict[str, float] = {}  # admin overrides of the canary weight, kept across reloads
        self._stamp: Any = None
        self._reload_lock = threading.Lock()
        self._follower: asyncio.Task | None = None
        self.started = time.time()
        self.reload()
        self._starlette = self._build_routes()

    # -- loading and swapping -----------------------------------------------------

    def reload(self, *, force: bool = False) -> bool:
        """Load what the registry says to serve, then swap it in; False when nothing changed."""
        with self._reload_lock:
            stamp = self.watch.stamp()
            if stamp == self._stamp and not force:
                return False
            try:
                deployments = self._build_deployments()
            except Exception:
                self.metrics.reloads.labels("failed").inc()
                raise
            self.deployments = deployments  # the swap: one reference assignment
            self._stamp = stamp
            self.metrics.reloads.labels("ok").inc()
            keep = set()
            for d in deployments.values():
                for app in (d.router.production, d.router.canary, d.router.shadow_app):
                    if app is not None and app.hash:
                        keep.add(app.hash)
            self.watch.forget_except(keep)
            return True

    def _build_deployments(self) -> dict[str, Deployment]:
        schema = self.watch.input_schema()
        out: dict[str, Deployment] = {}
        for model, stages in self.watch.wanted().items():
            production = stages.get("production")
            if production is None:
                continue
            prod_app = self._model_app(model, production, "production")
            canary_app = shadow_app = None
            staging = stages.get("staging")
            if staging is not None and staging.hash != production.hash:
                if self.deploy.canary is not None:
                    canary_app = self._model_app(model, staging, "canary")
                elif self.deploy.shadow:
                    shadow_app = self._model_app(model, staging, "shadow")
            weight = self.weights.get(model, self.deploy.canary.weight if self.deploy.canary else 0.0)
            router = CanaryRouter(prod_app, canary=canary_app, weight=weight, shadow=shadow_app)
            features: list[str] = []
            for app in (prod_app, canary_app, shadow_app):
                if app is not None:
                    features += [f for f in (getattr(app.loaded, "features", None) or []) if f not in features]
            validator = RowValidator(schema, features or None, extra_fields=self.extra_fields)
            out[model] = Deployment(router, validator)
            self.metrics.weight.labels(model).set(router.weight)
        return out

    def _model_app(self, model: str, version: Any, role: str) -> ModelApp:
        loaded = self.watch.load(version)
        return ModelApp(model, loaded, role, predlog=self.predlog, metrics=self.metrics)

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
        await asyncio.to_thread(self.predlog.close)

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await asyncio.to_thread(self._poll)
            except Exception as exc:  # keep serving the old models; say why once per failure
                log.warning("reload failed, still serving the previous versions: %s", exc)

    def _poll(self) -> None:
        self.watch.refresh()
        if self.watch.stamp() != self._stamp and self.reload():
            log.info("reloaded: %s", self.describe_versions())

    def describe_versions(self) -> dict[str, Any]:
        return {m: d.router.describe() for m, d in self.deployments.items()}

    # -- ASGI ------------------------------------------------------------------------

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/predict/"):
            await self._predict(scope, receive, send)
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
            payload = await read_json(receive, content_type, length, self.max_body)
            rows, batch = deployment.validator.rows(payload)
        except RequestProblem as problem:
            self.metrics.error(model, problem.status)
            await send_json(send, problem.status, problem.body(), [(b"x-request-id", request_id.encode())])
            return
        ids = [f"{request_id}-{i}" for i in range(len(rows))] if batch else [request_id]
        scope["flowtide.request"] = PredictRequest(model, rows, ids, key or request_id, batch, started)
        await deployment.router(scope, receive, send)

    # -- the other endpoints (Starlette) ---------------------------------------------

    def _build_routes(self):
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse, Response
        from starlette.routing import Route

        app_self = self

        async def health(request):
            served = {m: d.router.production.version for m, d in app_self.deployments.items()}
            status = 200 if served else 503
            body = {"status": "ok" if served else "no production model", "models": served}
            return JSONResponse(body, status_code=status)

        async def models(request):
            stages = app_self.watch.all_versions()
            out = {}
            for model in sorted(set(stages) | set(app_self.deployments)):
                deployment = app_self.deployments.get(model)
                out[model] = {
                    "serving": deployment.router.describe() if deployment else None,
                    "versions": stages.get(model, []),
                }
            return JSONResponse({"models": out})

        async def metrics(request):
            app_self.metrics.dropped.set(app_self.predlog.dropped)
            body, content_type = app_self.metrics.exposition()
            return Response(body, media_type=content_type)

        async def openapi(request):
            return JSONResponse(app_self.openapi())

        async def feedback(request):
            model = request.path_params["model"]
            if model not in app_self.deployments and model not in app_self.watch.all_versions():
                return JSONResponse({"error": f"no model {model!r} is served"}, status_code=404)
            try:
                payload = await app_self._request_json(request)
                items = _feedback_items(payload)
            except RequestProblem as problem:
                app_self.metrics.error(model, problem.status)
                return JSONResponse(problem.body(), status_code=problem.status)
            now = time.time()
            for rid, label in items:
                app_self.predlog.feedback(rid, now, model, label)
            return JSONResponse({"accepted": len(items)})

        async def admin_reload(request):
            refused = app_self._refuse_admin(request)
            if refused is not None:
                return refused
            try:
                await asyncio.to_thread(app_self.watch.refresh)
                changed = await asyncio.to_thread(app_self.reload, force=True)
            except Exception as exc:
                return JSONResponse({"error": f"reload failed: {exc}"}, status_code=500)
            return JSONResponse({"reloaded": changed, "models": app_self.describe_versions()})

        async def admin_canary(request):
            refused = app_self._refuse_admin(request)
            if refused is not None:
                return refused
            try:
                payload = await app_self._request_json(request)
                model, weight = app_self._canary_request(payload)
            except RequestProblem as problem:
                return JSONResponse(problem.body(), status_code=problem.status)
            await asyncio.to_thread(app_self.set_weight, model, weight)  # may wait for a reload: not on the loop
            return JSONResponse(
                {"model": model, "weight": weight, "serving": app_self.deployments[model].router.describe()}
            )

        @contextlib.asynccontextmanager
        async def lifespan(app):
            await app_self.startup()
            try:
                yield
            finally:
                await app_self.shutdown()

        return Starlette(
            routes=[
                Route("/health", health, methods=["GET"]),
                Route("/models", models, methods=["GET"]),
                Route("/metrics", metrics, methods=["GET"]),
                Route("/openapi.json", openapi, methods=["GET"]),
                Route("/feedback/{model}", feedback, methods=["POST"]),
                Route("/admin/reload", admin_reload, methods=["POST"]),
                Route("/admin/canary", admin_canary, methods=["POST"]),
            ],
            lifespan=lifespan,
        )

    # -- admin ---------------------------------------------------------------------------

    async def _request_json(self, request):
        """The JSON body of a Starlette request, with the same limits as /predict."""
        return await read_json(
            request.receive,
            request.headers.get("content-type", "").encode(),
            request.headers.get("content-length", "").encode() or None,
            self.max_body,
        )

    def _refuse_admin(self, request):
        from starlette.responses import JSONResponse

        if not self.admin_token:
            return JSONResponse(
                {"error": f"admin actions are disabled: start the server with {ADMIN_TOKEN_ENV} set"},
                status_code=403,
            )
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self.admin_token.encode()):
            return JSONResponse(
                {"error": "missing or wrong admin token (Authorization: Bearer TOKEN)"},
                status_code=401,
                headers={"www-authenticate": "Bearer"},
            )
        return None

    def _canary_request(self, payload: Any) -> tuple[str, float]:
        if not isinstance(payload, dict):
            raise RequestProblem(422, "invalid request", [{"field": "(body)", "reason": "must be an object"}])
        weight = payload.get("weight")
        if not (isinstance(weight, (int, float)) and not isinstance(weight, bool) and 0.0 <= weight <= 1.0):
            raise RequestProblem(422, "invalid request", [{"field": "weight", "reason": "must be a number in [0, 1]"}])
        model = payload.get("model")
        if model is None and len(self.deployments) == 1:
            model = next(iter(self.deployments))
        if model not in self.deployments:
            raise RequestProblem(404, f"no model {model!r} is served")
        if self.deployments[model].router.canary is None:
            raise RequestProblem(409, f"model {model!r} has no canary: promote a version to staging first")
        return model, float(weight)

    def set_weight(self, model: str, weight: float) -> None:
        self.weights[model] = weight
        with self._reload_lock:
            current = self.deployments[model]
            deployments = dict(self.deployments)
            deployments[model] = Deployment(current.router.with_weight(weight), current.validator)
            self.deployments = deployments
        self.metrics.weight.labels(model).set(weight)

    # -- OpenAPI -------------------------------------------------------------------------

    def openapi(self) -> dict[str, Any]:
        paths: dict[str, Any] = {}
        for model, deployment in sorted(self.deployments.items()):
            row = deployment.validator.openapi_row()
            paths[f"/predict/{model}"] = {
                "post": {
                    "summary": f"Predict with the served version(s) of {model}",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        row,
                                        {"type": "array", "items": row},
                                        {"type": "object", "properties": {"rows": {"type": "array", "items": row}}},
                                    ]
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {"description": "predictions with request ids and the version that answered"},
                        "413": {"description": "body too large"},
                        "415": {"description": "not application/json"},
                        "422": {"description": "invalid input: field and reason"},
                    },
                }
            }
            paths[f"/feedback/{model}"] = {
                "post": {
                    "summary": "Ground truth for earlier request ids",
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"request_id": {"type": "string"}, "label": {}},
                                }
                            }
                        }
                    },
                    "responses": {"200": {"description": "accepted count"}},
                }
            }
        for path, text in (
            ("/health", "liveness and the served versions"),
            ("/models", "versions, stages and canary weights"),
            ("/metrics", "Prometheus metrics"),
        ):
            paths[path] = {"get": {"summary": text, "responses": {"200": {"description": text}}}}
        for path, text in (("/admin/reload", "reload from the registry"), ("/admin/canary", "set the canary weight")):
            paths[path] = {
                "post": {"summary": text, "security": [{"bearer": []}], "responses": {"200": {"description": "done"}}}
            }
        return {
            "openapi": "3.1.0",
            "info": {"title": f"flowtide serve: {self.watch.config.project}", "version": "1"},
            "paths": paths,
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        }


# --- request bodies ---------------------------------------------------------------------


async def read_json(receive, content_type: bytes, length: bytes | None, limit: int) -> Any:
    """The JSON body of a request, refusing wrong types, oversize and hostile nesting with 4xx."""
    media = content_type.split(b";", 1)[0].strip().lower()
    if media != b"application/json" and not media.endswith(b"+json"):
        raise RequestProblem(415, "the body must be JSON: send Content-Type: application/json")
    if length:
        try:
            if int(length) > limit:
                raise RequestProblem(413, f"the body is larger than {limit} bytes")
        except ValueError:
            raise RequestProblem(400, "invalid Content-Length") from None
    chunks = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise RequestProblem(400, "the client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestProblem(413, f"the body is larger than {limit} bytes")
        chunks.append(chunk)
        more = message.get("more_body", False)
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if not body:
        raise RequestProblem(400, "the body is empty: send a JSON object")
    try:
        return json.loads(body)
    except RecursionError:  # deep nesting: only ever an attack on the parser (rows are flat objects)
        raise RequestProblem(400, "the JSON is nested too deeply (rows are flat objects)") from None
    except ValueError as exc:
        raise RequestProblem(400, f"invalid JSON: {exc}") from None


def _feedback_items(payload: Any) -> list[tuple[str, Any]]:
    if isinstance(payload, dict) and "feedback" in payload:
        payload = payload["feedback"]
    items = payload if isinstance(payload, list) else [payload]
    out = []
    for index, item in enumerate(items):
        where = f"feedback[{index}]." if isinstance(payload, list) else ""
        if not isinstance(item, dict):
            raise RequestProblem(
                422, "invalid request", [{"field": where.rstrip(".") or "(body)", "reason": "must be an object"}]
            )
        rid = item.get("request_id")
        if not isinstance(rid, str) or not 0 < len(rid) <= 160:
            raise RequestProblem(
                422, "invalid request", [{"field": where + "request_id", "reason": "must be a string"}]
            )
        if "label" not in item:
            raise RequestProblem(422, "invalid request", [{"field": where + "label", "reason": "is required"}])
        label = item["label"]
        if isinstance(label, (dict, list)):
            raise RequestProblem(
                422, "invalid request", [{"field": where + "label", "reason": "must be a single value"}]
            )
        out.append((rid, label))
    if len(out) > 10_000:
        raise RequestProblem(413, "at most 10000 feedback items per request")
    return out


def _shipper(project: Any):
    """Ship closed log segments to <remote>/predictions/<replica>/ when a remote store is set."""
    if project is None or not getattr(project.config.store, "remote", None):
        return None
    remote = project.config.store.remote.rstrip("/")
    endpoint = project.config.store.endpoint_url

    def ship(path: Path, replica: str) -> None:
        import fsspec

        options = {"client_kwargs": {"endpoint_url": endpoint}} if endpoint and remote.startswith("s3") else {}
        fs, root = fsspec.core.url_to_fs(remote, **options)
        directory = f"{root}/predictions/{replica}"
        fs.makedirs(directory, exist_ok=True)
        fs.put_file(str(path), f"{directory}/{path.name}")

    return ship


def create_app(
    project: Project | None = None,
    *,
    follow: str | None = None,
    interval: float = 2.0,
    log_dir: str | os.PathLike[str] | None = None,
    admin_token: str | None = None,
    flush_interval: float = 1.0,
    watch: Any = None,
) -> ServeApp:
    """The serving app for ``project``: production (and canary / shadow) of every registered model.

    ``admin_token`` defaults to $FLOWTIDE_ADMIN_TOKEN; without one admin endpoints answer 403.
    """
    if watch is None:
        from .follow import RegistryWatch

        if project is None:
            raise ValueError("create_app needs a project (or a watch)")
        watch = RegistryWatch(project, follow=follow)
    if admin_token is None:
        env = project.env if project is not None else os.environ
        admin_token = env.get(ADMIN_TOKEN_ENV) or None
    return ServeApp(watch, log_dir=log_dir, interval=interval, admin_token=admin_token, flush_interval=flush_interval)
