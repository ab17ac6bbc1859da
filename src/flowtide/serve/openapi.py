"""The OpenAPI document of a running server: what each endpoint takes and every answer it can give.

Built from the live deployments (one ``/predict/MODEL`` and ``/feedback/MODEL``
per served model, with that model's input schema and label type) and the
server's settings (tokens, limits), so it says exactly what the server does;
``tests/test_serve_api.py`` runs schemathesis against it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .feedback import MAX_ID, MAX_ITEMS
from .validate import MAX_ROWS

if TYPE_CHECKING:
    from .app import ServeApp

_ERROR = {"$ref": "#/components/schemas/Error"}
# a request id the server can take: 1 to 160 characters, no control characters
_REQUEST_ID = {"type": "string", "minLength": 1, "maxLength": MAX_ID, "pattern": "^[^\\x00-\\x1f\\x7f-\\x9f]+$"}


def _error(text: str) -> dict[str, Any]:
    return {"description": text, "content": {"application/json": {"schema": _ERROR}}}


def _json(text: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": text, "content": {"application/json": {"schema": schema}}}


def _body_errors(app: ServeApp) -> dict[str, Any]:
    """The answers every endpoint that reads a JSON body can give before looking at its content."""
    return {
        "400": _error("the body is empty, not JSON, nested too deeply, or has a bad Content-Length"),
        "408": _error(f"the body did not arrive within {app.body_timeout:g} s (the connection is closed)"),
        "413": _error(f"the body is larger than {app.max_body} bytes"),
        "415": _error("the body is not JSON: send Content-Type: application/json"),
    }


def _predict(app: ServeApp, model: str, deployment: Any, feedback_op: str) -> dict[str, Any]:
    row = deployment.validator.openapi_row()
    rows = {"type": "array", "items": row, "minItems": 1, "maxItems": MAX_ROWS}
    answer = {
        "type": "object",
        "required": ["model", "version", "role", "request_ids", "predictions"],
        "properties": {
            "model": {"type": "string"},
            "version": {"type": ["integer", "null"]},
            "role": {"enum": ["production", "canary"]},
            "request_ids": {"type": "array", "items": {"type": "string"}},
            "predictions": {"type": "array"},
            "request_id": {"type": "string", "description": "single-row requests only"},
            "prediction": {"description": "single-row requests only"},
        },
    }
    return {
        "post": {
            "operationId": f"predict_{model}",
            "summary": f"Predict with the served version(s) of {model}",
            "description": (
                'One row, a list of rows or {"rows": [...]}. A request id (X-Request-Id, or a generated one; '
                "batches get ID-0, ID-1...) is returned and logged: send the truth for it to "
                f"/feedback/{model} later. X-Request-Key keeps one caller on one version of a canary."
            ),
            "parameters": [
                {"name": "x-request-id", "in": "header", "required": False, "schema": {"type": "string"}},
                {"name": app.key_header.decode(), "in": "header", "required": False, "schema": {"type": "string"}},
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "anyOf": [
                                row,
                                rows,
                                {
                                    "type": "object",
                                    "required": ["rows"],
                                    "properties": {"rows": rows},
                                    "additionalProperties": False,
                                },
                            ]
                        }
                    }
                },
            },
            "responses": {
                "200": {
                    **_json("the predictions, their request ids and the version that answered", answer),
                    "links": {
                        "Feedback": {
                            "operationId": feedback_op,
                            "requestBody": {"request_id": "$response.body#/request_ids/0"},
                            "description": "the truth for the first row of this request",
                        }
                    },
                },
                **_body_errors(app),
                "422": _error("invalid input: each problem names the field and the reason"),
                "500": _error("the model itself failed (a server fault; the server log has the traceback)"),
            },
        }
    }


def _feedback(app: ServeApp, model: str, deployment: Any) -> dict[str, Any]:
    item = {
        "type": "object",
        "required": ["request_id", "label"],
        "properties": {"request_id": _REQUEST_ID, "label": deployment.labels.schema()},
        "additionalProperties": False,
    }
    items = {"type": "array", "items": item, "minItems": 1, "maxItems": MAX_ITEMS}
    window = getattr(app.deploy, "feedback_window", "7d")
    operation: dict[str, Any] = {
        "operationId": f"feedback_{model}",
        "summary": f"The truth for earlier predictions of {model}",
        "description": (
            f"Accepted only for request ids this deployment returned for {model} in the last {window} "
            "(deploy.feedback_window), with a label of the model's type. The first label of an id wins: "
            "sending the same label again changes nothing, a different one is refused (409). "
            "All or nothing: one refused item refuses the request."
        ),
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "anyOf": [
                            item,
                            items,
                            {
                                "type": "object",
                                "required": ["feedback"],
                                "properties": {"feedback": items},
                                "additionalProperties": False,
                            },
                        ]
                    }
                }
            },
        },
        "responses": {
            "200": _json(
                "labels written (accepted) and labels already recorded identically (unchanged)",
                {
                    "type": "object",
                    "required": ["accepted"],
                    "properties": {"accepted": {"type": "integer"}, "unchanged": {"type": "integer"}},
                },
            ),
            **_body_errors(app),
            "404": _error("a request id was not issued for this model by this deployment within the window"),
            "409": _error("a request id already has a different label (the first label wins)"),
            "422": _error("invalid feedback: each problem names the item's field and the reason"),
            "503": _error("the prediction log buffer is full: retry after the Retry-After seconds"),
        },
    }
    if app.feedback.token:
        operation["security"] = [{"feedback": []}]
        operation["responses"]["401"] = _error("missing or wrong feedback token (FLOWTIDE_FEEDBACK_TOKEN)")
    return {"post": operation}


def _admin(app: ServeApp) -> dict[str, Any]:
    if not app.admin_token:
        disabled = {"403": _error("admin actions are disabled: start the server with FLOWTIDE_ADMIN_TOKEN set")}
        return {
            "/admin/reload": {"post": {"summary": "reload from the registry (disabled)", "responses": disabled}},
            "/admin/canary": {"post": {"summary": "set the canary weight (disabled)", "responses": disabled}},
        }
    refused = {"401": _error("missing or wrong admin token (Authorization: Bearer TOKEN)")}
    served = sorted(app.deployments)
    canary = {
        "type": "object",
        "required": ["weight"],
        "properties": {
            "weight": {"type": "number", "minimum": 0, "maximum": 1},
            "model": {
                "type": ["string", "null"],
                "description": "the model (null or left out: the only one served)",
                **({"examples": served} if served else {}),
            },
        },
        "additionalProperties": False,
    }
    return {
        "/admin/reload": {
            "post": {
                "summary": "fetch the registry and reload what it says to serve",
                "security": [{"admin": []}],
                "responses": {
                    "200": _json("reloaded", {"type": "object", "required": ["reloaded", "models"]}),
                    **refused,
                    "503": _error("some version could not be loaded: the previous ones are still served"),
                },
            }
        },
        "/admin/canary": {
            "post": {
                "summary": "set the share of traffic the canary gets (kept across reloads)",
                "security": [{"admin": []}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": canary}}},
                "responses": {
                    "200": _json("the new weight", {"type": "object", "required": ["model", "weight", "serving"]}),
                    **_body_errors(app),
                    **refused,
                    "404": _error("no such model is served"),
                    "409": _error("the model has no canary (promote a version to staging first)"),
                    "422": _error("invalid request: each problem names the field and the reason"),
                },
            }
        },
    }


def document(app: ServeApp) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``app`` as it is configured and deployed now."""
    paths: dict[str, Any] = {}
    for model, deployment in sorted(app.deployments.items()):
        paths[f"/predict/{model}"] = _predict(app, model, deployment, f"feedback_{model}")
        paths[f"/feedback/{model}"] = _feedback(app, model, deployment)
    health = {
        "type": "object",
        "required": ["status", "models"],
        "properties": {
            "status": {"enum": ["ok", "degraded", "no production model"]},
            "models": {"type": "object", "additionalProperties": {"type": ["integer", "null"]}},
            "problems": {"type": "array", "items": {"type": "string"}},
        },
    }
    paths["/health"] = {
        "get": {
            "summary": "liveness and the served versions",
            "description": (
                "200 while at least one model is served: status ok, or degraded (with the problems) when "
                "something the registry asks for cannot be served, e.g. an artifact the remote store could "
                "not provide; a degraded replica still answers and should stay in the load balancer. "
                "503 when nothing is served."
            ),
            "responses": {
                "200": _json("serving (ok or degraded)", health),
                "503": _json("no model is served", health),
            },
        }
    }
    paths["/models"] = {
        "get": {
            "summary": "versions, stages and canary weights",
            "responses": {"200": _json("every registered model", {"type": "object", "required": ["models"]})},
        }
    }
    paths["/metrics"] = {
        "get": {
            "summary": "Prometheus metrics",
            "responses": {"200": {"description": "Prometheus text format", "content": {"text/plain": {}}}},
        }
    }
    paths["/openapi.json"] = {
        "get": {"summary": "this document", "responses": {"200": _json("OpenAPI 3.1", {"type": "object"})}}
    }
    paths.update(_admin(app))
    return {
        "openapi": "3.1.0",
        "info": {"title": f"flowtide serve: {app.watch.config.project}", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {"type": "string"},
                        "detail": {
                            "type": "array",
                            "items": {"type": "object", "properties": {"field": {"type": "string"}}},
                        },
                        "inputs": {
                            "type": "array",
                            "items": {"type": "string"},
                            "description": "with a field that is not an input: the model's inputs",
                        },
                        "inputs_declared_by": {
                            "type": "string",
                            "description": "what declares the inputs: model.features in flowtide.yaml, the model's feature_names_in_, ...",
                        },
                    },
                }
            },
            "securitySchemes": {
                "admin": {"type": "http", "scheme": "bearer", "description": "FLOWTIDE_ADMIN_TOKEN"},
                "feedback": {"type": "http", "scheme": "bearer", "description": "FLOWTIDE_FEEDBACK_TOKEN"},
            },
        },
    }
