"""Prometheus metrics of the server: requests, errors and latency per model version and role.

Each app owns its own ``CollectorRegistry`` (several apps can live in one
process, e.g. in tests). Labelled children are cached per (model, version,
role) so the request path does one dict lookup, not a label resolution.
"""

from __future__ import annotations

from typing import Any

_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ServeMetrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        labels = ("model", "version", "role")
        self.requests = Counter("flowtide_predictions", "Rows predicted", labels, registry=self.registry)
        self.latency = Histogram(
            "flowtide_request_latency_seconds",
            "Time to answer a prediction request",
            labels,
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "flowtide_request_errors", "Refused or failed requests", ("model", "status"), registry=self.registry
        )
        self.weight = Gauge(
            "flowtide_canary_weight", "Share of traffic sent to the canary", ("model",), registry=self.registry
        )
        self.reloads = Counter("flowtide_reloads", "Model reloads", ("outcome",), registry=self.registry)
        self.dropped = Gauge(
            "flowtide_prediction_log_dropped", "Log rows dropped (buffer full)", registry=self.registry
        )
        self.feedback = Counter(
            "flowtide_feedback_labels",
            "Feedback labels accepted (outcome=accepted) or re-sent unchanged (outcome=unchanged)",
            ("model", "outcome"),
            registry=self.registry,
        )
        self.feedback_rejected = Counter(
            "flowtide_feedback_rejected",
            "Feedback requests refused, by reason (nothing of a refused request is logged)",
            ("model", "reason"),
            registry=self.registry,
        )
        self.degraded = Gauge(
            "flowtide_degraded",
            "1 while the server cannot serve what the registry asks (see /health for why), else 0",
            registry=self.registry,
        )
        self.shipped = Counter(
            "flowtide_log_segments_shipped",
            "Prediction log segments copied to the remote store, by outcome (ok, failed: retried at the next close)",
            ("outcome",),
            registry=self.registry,
        )
        self.fetches = Counter(
            "flowtide_artifact_fetches",
            "Model artifacts downloaded from the remote store, by outcome (ok, failed)",
            ("outcome",),
            registry=self.registry,
        )
        self._children: dict[tuple, tuple[Any, Any]] = {}
        self._errors: dict[tuple, Any] = {}

    def observe(self, model: str, version: int | None, role: str, rows: int, seconds: float) -> None:
        key = (model, version, role)
        child = self._children.get(key)
        if child is None:
            labels = (model, str(version), role)
            child = self._children[key] = (self.requests.labels(*labels), self.latency.labels(*labels))
        child[0].inc(rows)
        child[1].observe(seconds)

    def error(self, model: str, status: int) -> None:
        key = (model, status)
        child = self._errors.get(key)
        if child is None:
            child = self._errors[key] = self.errors.labels(model, str(status))
        child.inc()

    def exposition(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
