"""Model apps and the canary router: small ASGI apps that answer validated prediction requests.

A :class:`ModelApp` serves one loaded model version in one role (production,
canary or shadow). A :class:`CanaryRouter` is an ASGI app wrapping them: it
sends a request to the canary when the stable hash of its key falls under the
canary weight (so one caller always sees one version), otherwise to
production, and afterwards gives the shadow a copy whose answer is only logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..formats import LoadedModel

log = logging.getLogger("flowtide.serve")

_HASH_SPACE = 1 << 64
# what numpy and scikit-learn raise for values they cannot use (a string for a number, an unknown category)
_INPUT_ERRORS = (ValueError, TypeError, OverflowError)
INLINE_BELOW = 0.001
"""Seconds: a prediction expected to take less runs on the event loop, anything slower in the thread pool."""


@dataclass
class PredictRequest:
    """A validated request, handed from the app to the router in ``scope["flowtide.request"]``."""

    model: str
    rows: list[dict]
    ids: list[str]
    key: str
    batch: bool
    started: float


def _default(value: Any) -> Any:
    # numpy scalars and arrays out of a model: turn them into plain JSON values
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot encode {type(value).__name__}")


def json_bytes(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), default=_default).encode()


async def send_json(send, status: int, data: Any, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json_bytes(data)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def sticky_fraction(key: str) -> float:
    """A stable number in [0, 1) for a routing key (the same in every process and run)."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _HASH_SPACE


class ModelApp:
    """Serves one loaded model version in one role; logs every prediction."""

    def __init__(self, model: str, loaded: LoadedModel, role: str, *, predlog=None, metrics=None, pool=None) -> None:
        self.model = model
        self.pool = pool
        """Executor the model runs in (None: on the calling thread)."""
        self.loaded = loaded
        self.role = role
        version = getattr(loaded, "version", None)
        self.version = getattr(version, "version", version)
        self.hash = getattr(version, "hash", None)
        self.predlog = predlog
        self.metrics = metrics
        self._version_header = str(self.version).encode()
        self._row_cost: float | None = None  # moving average of seconds per row; None: not measured yet

    def _inline(self, rows: int) -> bool:
        """Whether to predict on the event loop: only a model measured to answer this request in under INLINE_BELOW.

        Handing a request to a thread costs ~0.2 ms of CPU and latency; a fast model's
        prediction is cheaper than that and delays nothing else noticeably.
        """
        cost = self._row_cost
        return self.pool is None or (cost is not None and cost * rows < INLINE_BELOW)

    def predict(self, rows: list[dict]) -> list:
        started = time.perf_counter()
        predictions = self.loaded.predict(rows)
        per_row = (time.perf_counter() - started) / max(len(rows), 1)
        cost = self._row_cost
        self._row_cost = per_row if cost is None else cost + 0.1 * (per_row - cost)
        return predictions.tolist() if hasattr(predictions, "tolist") else list(predictions)

    def _log(self, request: PredictRequest, predictions: list, seconds: float) -> None:
        if self.metrics is not None:
            self.metrics.observe(self.model, self.version, self.role, len(request.rows), seconds)
        if self.predlog is not None:
            now = time.time()
            ms = seconds * 1000.0
            for rid, row, output in zip(request.ids, request.rows, predictions, strict=False):
                self.predlog.prediction(rid, now, self.model, self.version, self.role, row, output, ms)

    async def __call__(self, scope, receive, send) -> None:
        request: PredictRequest = scope["flowtide.request"]
        try:
            if self._inline(len(request.rows)):
                predictions = self.predict(request.rows)
            else:  # off the event loop: /health and other requests are answered meanwhile
                predictions = await asyncio.get_running_loop().run_in_executor(self.pool, self.predict, request.rows)
        except _INPUT_ERRORS as exc:
            # inputs that passed validation (undeclared column types) but the model cannot use: the input's fault
            log.warning("%s v%s refused its inputs: %s: %s", self.model, self.version, type(exc).__name__, exc)
            if self.metrics is not None:
                self.metrics.error(self.model, 422)
            message = f"model {self.model} v{self.version} cannot predict on these inputs: {type(exc).__name__}: {exc}"
            await send_json(
                send,
                422,
                {
                    "error": message[:1000],
                    "detail": [
                        {
                            "field": "(body)",
                            "reason": "the model refused these values (declare column types and `in:` lists "
                            "under checks: so the server refuses them before the model)",
                        }
                    ],
                },
            )
            return
        except Exception as exc:  # the model itself failed: a server error, said plainly
            log.exception("%s v%s failed to predict", self.model, self.version)
            if self.metrics is not None:
                self.metrics.error(self.model, 500)
            await send_json(
                send,
                500,
                {"error": f"model {self.model} v{self.version} failed: {type(exc).__name__}: {exc}"[:1000]},
            )
            return
        seconds = time.perf_counter() - request.started
        body: dict[str, Any] = {
            "model": self.model,
            "version": self.version,
            "role": self.role,
            "request_ids": request.ids,
            "predictions": predictions,
        }
        if not request.batch:
            body["request_id"] = request.ids[0]
            body["prediction"] = predictions[0]
        await send_json(send, 200, body, [(b"x-model-version", self._version_header)])
        self._log(request, predictions, seconds)

    def shadow(self, request: PredictRequest) -> None:
        """Predict a copy of the request; the answer is logged, never returned."""
        started = time.perf_counter()
        try:
            predictions = self.predict(request.rows)
        except Exception:
            log.exception("shadow %s v%s failed to predict", self.model, self.version)
            if self.metrics is not None:
                self.metrics.error(self.model, 500)
            return
        seconds = time.perf_counter() - started
        if self.metrics is not None:
            self.metrics.observe(self.model, self.version, self.role, len(request.rows), seconds)
        if self.predlog is not None:
            now = time.time()
            for rid, row, output in zip(request.ids, request.rows, predictions, strict=False):
                self.predlog.prediction(rid, now, self.model, self.version, self.role, row, output, seconds * 1000.0)

    def describe(self) -> dict[str, Any]:
        return {"version": self.version, "role": self.role, "hash": self.hash}


class CanaryRouter:
    """Routes a request to production or the canary (sticky by key); copies it to the shadow."""

    def __init__(
        self,
        production: ModelApp,
        *,
        canary: ModelApp | None = None,
        weight: float = 0.0,
        shadow: ModelApp | None = None,
    ) -> None:
        self.production = production
        self.canary = canary
        self.weight = weight if canary is not None else 0.0
        self.shadow_app = shadow

    def pick(self, key: str) -> ModelApp:
        if self.canary is not None and self.weight > 0.0 and sticky_fraction(key) < self.weight:
            return self.canary
        return self.production

    async def __call__(self, scope, receive, send) -> None:
        request: PredictRequest = scope["flowtide.request"]
        await self.pick(request.key)(scope, receive, send)
        if self.shadow_app is not None:  # after the answer went out: the caller never waits for it
            pool = self.shadow_app.pool
            if self.shadow_app._inline(len(request.rows)):
                self.shadow_app.shadow(request)
            else:
                pool.submit(self.shadow_app.shadow, request)

    def with_weight(self, weight: float) -> CanaryRouter:
        return CanaryRouter(self.production, canary=self.canary, weight=weight, shadow=self.shadow_app)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"production": self.production.describe()}
        if self.canary is not None:
            out["canary"] = {**self.canary.describe(), "weight": self.weight}
        if self.shadow_app is not None:
            out["shadow"] = self.shadow_app.describe()
        return out
