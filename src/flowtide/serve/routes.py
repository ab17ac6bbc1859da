"""The endpoints beside ``/predict`` (health, models, metrics, OpenAPI, feedback, admin) as Starlette routes.

Every answer, error or not, is JSON: unknown paths and wrong methods too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from . import admin
from .admin import problem_response
from .body import request_json
from .feedback import label_rule, parse_items
from .validate import RequestProblem

if TYPE_CHECKING:
    from .app import ServeApp

log = logging.getLogger("flowtide.serve")


def build_routes(app_self: ServeApp):
    """The Starlette app answering everything but ``/predict/{model}``, with ``app_self``'s lifespan."""
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def health(request):
        status, body = app_self.health_body()
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
        from .openapi import document

        return JSONResponse(document(app_self))

    async def feedback(request):
        model = request.path_params["model"]
        deployment = app_self.deployments.get(model)
        label = model if deployment is not None else "(unknown)"  # metric labels: never the caller's text
        try:
            refused = app_self.feedback.authorize(request.headers.get("authorization", ""))
            if refused is not None:
                app_self.metrics.feedback_rejected.labels(label, "unauthorized").inc()
                raise refused
            if deployment is None and model not in await asyncio.to_thread(app_self.watch.all_versions):
                app_self.metrics.feedback_rejected.labels(label, "unknown_model").inc()
                raise RequestProblem(404, f"no model {model!r} is served")
            rule = deployment.labels if deployment is not None else label_rule(None, [])
            try:
                payload = await request_json(request, app_self.max_body, app_self.body_timeout)
                items = parse_items(payload, rule)
            except RequestProblem as problem:
                reason = (
                    "invalid_label"
                    if any(d.get("field", "").endswith("label") for d in problem.detail)
                    else "invalid_body"
                )
                app_self.metrics.feedback_rejected.labels(label, reason).inc()
                raise
            try:
                answer = await asyncio.to_thread(app_self.feedback.accept, model, items)
            except RequestProblem as problem:
                reason = {404: "unknown_request_id", 409: "already_labelled"}.get(problem.status, "log_full")
                app_self.metrics.feedback_rejected.labels(label, reason).inc()
                raise
        except RequestProblem as problem:
            app_self.metrics.error(label, problem.status)
            return problem_response(problem)
        app_self.metrics.feedback.labels(label, "accepted").inc(answer["accepted"])
        if answer.get("unchanged"):
            app_self.metrics.feedback.labels(label, "unchanged").inc(answer["unchanged"])
        return JSONResponse(answer)

    async def admin_reload(request):
        return await admin.reload(app_self, request)

    async def admin_canary(request):
        return await admin.canary(app_self, request)

    async def http_error(request, exc: HTTPException):
        # unknown paths and wrong methods: JSON like every other answer
        if exc.status_code == 405:
            text = f"{request.method} is not allowed on {request.url.path}"
        elif exc.status_code == 404:
            text = f"no such endpoint {request.url.path} (see /openapi.json)"
        else:
            text = exc.detail
        return JSONResponse({"error": text}, status_code=exc.status_code, headers=exc.headers)

    async def server_error(request, exc: Exception):
        log.exception("internal error answering %s", request.url.path, exc_info=exc)
        return JSONResponse({"error": "internal server error (the server log has the details)"}, status_code=500)

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
        exception_handlers={HTTPException: http_error, Exception: server_error},
        lifespan=lifespan,
    )
