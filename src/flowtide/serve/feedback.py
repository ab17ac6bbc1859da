"""Feedback: ground-truth labels for earlier predictions, accepted only when they can be true.

A label is accepted when (in this order, the first failing check decides the status):

1. the caller has the feedback token, if ``FLOWTIDE_FEEDBACK_TOKEN`` is set (else 401);
2. the body is one item, a list of items or ``{"feedback": [...]}``, each item exactly
   ``{"request_id": str, "label": ...}`` with a label of the model's type (else 422);
3. some replica sharing the prediction log issued that request id for that model within
   ``deploy.feedback_window`` (else 404);
4. the id has no label yet, or the same one (else 409): **the first label wins**, so a
   later, different label can neither flip a verdict nor be mistaken for a correction.

A request is all or nothing: one refused item refuses it, and nothing is written.
Refused feedback is never logged, so ``flowtide monitor`` only ever sees accepted labels.
"""

from __future__ import annotations

import hmac
import math
import re
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from .validate import RequestProblem

FEEDBACK_TOKEN_ENV = "FLOWTIDE_FEEDBACK_TOKEN"
MAX_ITEMS = 10_000
MAX_ID = 160
_ID = re.compile(r"[^\x00-\x1f\x7f-\x9f]{1,160}")  # no control characters (the OpenAPI pattern too)
_FLOAT_MAX = sys.float_info.max


def _finite(value: Any) -> bool:
    if type(value) is float:
        return math.isfinite(value)
    return type(value) is int and -_FLOAT_MAX <= value <= _FLOAT_MAX


@dataclass(frozen=True)
class LabelRule:
    """What a label of one model must be: one of known classes, or a value of one type."""

    classes: tuple | None = None
    """Known classes (the target's declared `in:` list, else the served versions' classes)."""
    kind: str | None = None
    """The target's declared type (int, float, str, bool, date), "number" for a regressor, None: any scalar."""
    low: float | None = None
    high: float | None = None

    def check(self, value: Any) -> str | None:
        """Why ``value`` is not a label of this model (None: it is)."""
        if self.classes is not None:
            ok = value in self.classes and (type(value) is not bool or any(type(c) is bool for c in self.classes))
            if type(value) in (dict, list) or not ok:
                return f"must be one of the model's classes ({', '.join(map(str, self.classes))})"
            return None
        kind = self.kind
        if kind in ("float", "number") or kind == "int":
            if not _finite(value):
                return "must be a finite number"
            if kind == "int" and not float(value).is_integer():
                return "must be an integer"
            if self.low is not None and value < self.low:
                return f"must be >= {self.low:g}"
            if self.high is not None and value > self.high:
                return f"must be <= {self.high:g}"
            return None
        if kind in ("str", "date", "datetime"):
            return None if type(value) is str and len(value) <= 1000 else "must be a string of at most 1000 characters"
        if kind == "bool":
            return None if type(value) is bool else "must be true or false"
        if type(value) is str:
            return None if len(value) <= 1000 else "must be at most 1000 characters"
        if type(value) is bool or _finite(value):
            return None
        return "must be a single finite number, string or boolean"

    def schema(self) -> dict[str, Any]:
        """The JSON Schema of a label (for the OpenAPI document)."""
        if self.classes is not None:
            return {"enum": list(self.classes)}
        kind = self.kind
        if kind in ("float", "number", "int"):
            out: dict[str, Any] = {
                "type": "integer" if kind == "int" else "number",
                "minimum": self.low if self.low is not None else -_FLOAT_MAX,
                "maximum": self.high if self.high is not None else _FLOAT_MAX,
            }
            return out
        if kind in ("str", "date", "datetime"):
            return {"type": "string", "maxLength": 1000}
        if kind == "bool":
            return {"type": "boolean"}
        return {
            "type": ["string", "number", "boolean"],
            "maxLength": 1000,
            "minimum": -_FLOAT_MAX,
            "maximum": _FLOAT_MAX,
        }


def label_rule(target: dict[str, Any] | None, loaded: list[Any]) -> LabelRule:
    """The rule for a model's labels from its target column's checks, its task and its loaded versions.

    ``target`` is ``{type, min, max, in, task}`` of ``model.target`` and ``model.task`` (None when
    nothing is declared); ``loaded`` are the served versions' LoadedModels, which say their task
    (a scikit-learn classifier also knows its classes). A regressor's label is a finite number.
    """
    target = target or {}
    task = target.get("task")
    if target.get("in"):
        return LabelRule(classes=tuple(target["in"]))
    if target.get("type"):
        numeric = target["type"] in ("int", "float")
        low, high = target.get("min"), target.get("max")
        return LabelRule(
            kind=target["type"],
            low=low if numeric and isinstance(low, (int, float)) else None,
            high=high if numeric and isinstance(high, (int, float)) else None,
        )
    if task == "regression":
        return LabelRule(kind="number")
    classes: list = []
    regressor = False
    for model in loaded:
        estimator = getattr(getattr(model, "predictor", None), "estimator", None)
        known = getattr(estimator, "classes_", None)
        if known is not None:
            values = known.tolist() if hasattr(known, "tolist") else list(known)
            classes += [c for c in values if c not in classes]
        elif getattr(model, "task", None) == "regression" or getattr(estimator, "_estimator_type", None) == "regressor":
            regressor = True
    if classes:
        return LabelRule(classes=tuple(classes))
    return LabelRule(kind="number" if regressor and task != "classification" else None)


def _problem(status: int, message: str, problems: list[dict[str, str]], **kwargs: Any) -> RequestProblem:
    return RequestProblem(status, message, problems, **kwargs)


def parse_items(payload: Any, rule: LabelRule) -> list[tuple[str, Any]]:
    """(request_id, label) pairs of a feedback body; RequestProblem(422) naming every bad field."""
    batch = isinstance(payload, list)
    if isinstance(payload, dict) and set(payload) == {"feedback"}:
        payload, batch = payload["feedback"], True
        if not isinstance(payload, list):
            raise _problem(422, "invalid feedback", [{"field": "feedback", "reason": "must be a list of items"}])
    items = payload if batch else [payload]
    if not items:
        raise _problem(422, "invalid feedback", [{"field": "feedback", "reason": "must not be empty"}])
    if len(items) > MAX_ITEMS:
        raise _problem(
            422, "invalid feedback", [{"field": "feedback", "reason": f"at most {MAX_ITEMS} items per request"}]
        )
    out: dict[str, Any] = {}
    problems: list[dict[str, str]] = []
    for index, item in enumerate(items):
        where = f"feedback[{index}]." if batch else ""
        if not isinstance(item, dict):
            problems.append({"field": where.rstrip(".") or "(body)", "reason": "must be an object"})
            continue
        for key in item:
            if key not in ("request_id", "label"):
                problems.append({"field": where + str(key)[:40], "reason": "is not a feedback field"})
        rid = item.get("request_id")
        if not (isinstance(rid, str) and _ID.fullmatch(rid)):
            problems.append(
                {
                    "field": where + "request_id",
                    "reason": f"must be a request id (1 to {MAX_ID} characters, no control characters)",
                }
            )
            rid = None
        if "label" not in item:
            problems.append({"field": where + "label", "reason": "is required"})
        else:
            reason = rule.check(item["label"])
            if reason:
                problems.append({"field": where + "label", "reason": reason})
            elif rid is not None:
                if rid in out and out[rid] != item["label"]:
                    problems.append({"field": where + "label", "reason": "differs from an earlier label of this id"})
                out.setdefault(rid, item["label"])
        if len(problems) >= 20:
            break
    if problems:
        raise _problem(422, "invalid feedback", problems)
    return list(out.items())


class FeedbackDesk:
    """Checks feedback against the prediction log and writes what it accepts (one request at a time)."""

    def __init__(self, predlog: Any, metrics: Any, *, window: float, token: str | None = None) -> None:
        self.predlog = predlog
        self.metrics = metrics
        self.window = window
        self.token = token or None
        self._lock = threading.Lock()

    def authorize(self, authorization: str) -> RequestProblem | None:
        if self.token is None:
            return None
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.token.encode()):
            return None
        return RequestProblem(
            401,
            f"missing or wrong feedback token (Authorization: Bearer TOKEN, the value of {FEEDBACK_TOKEN_ENV})",
            headers={"WWW-Authenticate": "Bearer"},
        )

    def accept(self, model: str, items: list[tuple[str, Any]], now: float | None = None) -> dict[str, int]:
        """Write the labels of ``items`` or refuse them all (404 unknown ids, 409 other labels). Blocking: not on the loop."""
        now = time.time() if now is None else now
        since = now - self.window
        ids = [rid for rid, _ in items]
        with self._lock:  # check and write as one step: two racing labels for an id cannot both be first
            issued = self.predlog.issued(model, ids, since)
            unknown = [(i, rid) for i, rid in enumerate(ids) if rid not in issued]
            if unknown:
                raise _problem(
                    404,
                    f"feedback refused: {len(unknown)} request id(s) were not issued for {model} by this deployment "
                    f"in the last {_duration(self.window)} (feedback is accepted only for ids a prediction returned; "
                    "a prediction made under a second ago may not be visible to other replicas yet: retry)",
                    [_item(i, rid, "unknown request id") for i, rid in unknown[:20]],
                )
            given = self.predlog.labels(model, ids, since)
            conflicts = [(i, rid) for i, (rid, label) in enumerate(items) if rid in given and given[rid] != label]
            if conflicts:
                raise _problem(
                    409,
                    f"feedback refused: {len(conflicts)} request id(s) already have a different label "
                    "(the first label wins; it cannot be changed)",
                    [_item(i, rid, f"already labelled {given[rid]!r}") for i, rid in conflicts[:20]],
                )
            fresh = [(rid, label) for rid, label in items if rid not in given]
            if not self.predlog.can_take(len(fresh)):
                raise RequestProblem(
                    503, "the prediction log buffer is full: retry in a few seconds", headers={"Retry-After": "2"}
                )
            for rid, label in fresh:
                self.predlog.feedback(rid, now, model, label)
        out = {"accepted": len(fresh)}
        if len(fresh) < len(items):
            out["unchanged"] = len(items) - len(fresh)  # the same label again (a retried request): no-op
        return out


def _item(index: int, rid: str, reason: str) -> dict[str, str]:
    return {"field": f"feedback[{index}].request_id", "request_id": rid, "reason": reason}


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
