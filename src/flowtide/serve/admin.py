"""The admin endpoints: ``POST /admin/reload`` and ``POST /admin/canary``, behind a bearer token.

Without ``FLOWTIDE_ADMIN_TOKEN`` they answer 403; a wrong token gets 401. The
token is compared in constant time.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import TYPE_CHECKING, Any

from ..errors import FlowtideError, reason_of
from .body import request_json
from .validate import RequestProblem

if TYPE_CHECKING:
    from .app import ServeApp

ADMIN_TOKEN_ENV = "FLOWTIDE_ADMIN_TOKEN"


def problem_response(problem: RequestProblem):
    from starlette.responses import JSONResponse

    headers = dict(problem.headers)
    if problem.close:
        headers["connection"] = "close"
    return JSONResponse(problem.body(), status_code=problem.status, headers=headers)


async def reload(app: ServeApp, request):
    """Fetch the followed registry and reload now; 503 while something the registry asks for is not served."""
    from starlette.responses import JSONResponse

    refused = refuse(app.admin_token, request)
    if refused is not None:
        return problem_response(refused)
    try:
        await asyncio.to_thread(app.watch.refresh)
    except FlowtideError:
        pass  # said in the problems below
    try:
        changed = await asyncio.to_thread(app.reload, force=True)
    except Exception as exc:
        return JSONResponse({"error": f"reload failed: {reason_of(exc)}"}, status_code=503)
    app._set_degraded()
    body = {"reloaded": changed, "models": app.describe_versions()}
    problems = app.all_problems()
    if problems:
        body["problems"] = problems
    return JSONResponse(body, status_code=503 if problems else 200)


async def canary(app: ServeApp, request):
    """Set a canary's weight (kept across reloads)."""
    from starlette.responses import JSONResponse

    refused = refuse(app.admin_token, request)
    if refused is not None:
        return problem_response(refused)
    try:
        payload = await request_json(request, app.max_body, app.body_timeout)
        model, weight = canary_request(payload, app.deployments)
    except RequestProblem as problem:
        return problem_response(problem)
    await asyncio.to_thread(app.set_weight, model, weight)  # may wait for a reload: not on the loop
    return JSONResponse({"model": model, "weight": weight, "serving": app.deployments[model].router.describe()})


def refuse(admin_token: str | None, request) -> RequestProblem | None:
    """Why ``request`` may not use an admin endpoint (None: it may)."""
    if not admin_token:
        return RequestProblem(403, f"admin actions are disabled: start the server with {ADMIN_TOKEN_ENV} set")
    given = request.headers.get("authorization", "")
    scheme, _, token = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), admin_token.encode()):
        return RequestProblem(
            401,
            "missing or wrong admin token (Authorization: Bearer TOKEN)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return None


def canary_request(payload: Any, deployments: dict[str, Any]) -> tuple[str, float]:
    """(model, weight) of a ``/admin/canary`` body, or a RequestProblem saying what is wrong."""
    if not isinstance(payload, dict):
        raise RequestProblem(422, "invalid request", [{"field": "(body)", "reason": "must be an object"}])
    problems = [
        {"field": str(key)[:40], "reason": "is not a field of this request (model, weight)"}
        for key in payload
        if key not in ("model", "weight")
    ]
    weight = payload.get("weight")
    if not (isinstance(weight, (int, float)) and not isinstance(weight, bool) and 0.0 <= weight <= 1.0):
        problems.append({"field": "weight", "reason": "must be a number in [0, 1]"})
    model = payload.get("model")
    if model is not None and not isinstance(model, str):
        problems.append({"field": "model", "reason": "must be a model name (a string)"})
    if problems:
        raise RequestProblem(422, "invalid request", problems)
    if model is None and len(deployments) == 1:
        model = next(iter(deployments))
    if model is None:
        raise RequestProblem(
            422, "invalid request", [{"field": "model", "reason": "is required when several models are served"}]
        )
    if model not in deployments:
        raise RequestProblem(404, f"no model {model[:80]!r} is served")
    if deployments[model].router.canary is None:
        raise RequestProblem(409, f"model {model!r} has no canary: promote a version to staging first")
    return model, float(weight)
