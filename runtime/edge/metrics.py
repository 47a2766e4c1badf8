"""The edge runner's Prometheus series, by the catalog's names and labels
(``runtime.contracts.metrics``): the predictor's request series per bundle
version, plus the bundle version served, rejections and rollbacks.

One registry per runner (not the process default), so a test can run two.
Counters are initialised at 0 for every reason at start-up: a rate over a
series that appears only at the first failure misses that failure.
"""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from runtime.contracts.metrics import (
    DECISION_ACTIONS,
    EDGE_REJECTION_REASONS,
    ERROR_REASONS,
    LABEL_ENVIRONMENT,
    LABEL_MODEL,
    LABEL_VERSION,
    metric,
)

__all__ = ["EdgeMetrics"]


def _family(name: str, registry: CollectorRegistry) -> Any:
    spec = metric(name)
    if spec.type == "counter":
        return Counter(spec.name[: -len("_total")], spec.help, spec.labels, registry=registry)
    if spec.type == "histogram":
        return Histogram(spec.name, spec.help, spec.labels, buckets=spec.buckets, registry=registry)
    return Gauge(spec.name, spec.help, spec.labels, registry=registry)


class EdgeMetrics:
    def __init__(self, model: str, environment: str) -> None:
        self.registry = CollectorRegistry()
        names = ("specops_requests_total", "specops_request_errors_total", "specops_request_duration_seconds",
                 "specops_decisions_total", "specops_edge_bundle_info", "specops_edge_bundle_rejections_total",
                 "specops_edge_rollbacks_total")
        self._f = {n: _family(n, self.registry) for n in names}
        self._env = {LABEL_MODEL: model, LABEL_ENVIRONMENT: environment}
        self._lock = threading.Lock()
        self._versions: set[str] = set()
        for r in EDGE_REJECTION_REASONS:
            self._f["specops_edge_bundle_rejections_total"].labels(**self._env, reason=r)
            self._f["specops_edge_rollbacks_total"].labels(**self._env, reason=r)

    def _req(self, version: str) -> dict[str, str]:
        req = {**self._env, LABEL_VERSION: version}
        with self._lock:
            if version not in self._versions:
                self._versions.add(version)
                self._f["specops_requests_total"].labels(**req)
                for r in ERROR_REASONS:
                    self._f["specops_request_errors_total"].labels(**req, reason=r)
                for a in DECISION_ACTIONS:
                    self._f["specops_decisions_total"].labels(**req, action=a)
        return req

    def serving(self, version: str) -> None:
        """``version`` now serves: its info gauge 1, every other version's 0."""
        self._req(version)
        with self._lock:
            versions = set(self._versions)
        for v in versions:
            self._f["specops_edge_bundle_info"].labels(**self._env, version=v).set(1 if v == version else 0)

    def answered(self, version: str, seconds: float, rows: int) -> None:
        req = self._req(version)
        self._f["specops_requests_total"].labels(**req).inc()
        self._f["specops_request_duration_seconds"].labels(**req).observe(seconds)
        self._f["specops_decisions_total"].labels(**req, action="auto").inc(rows)

    def failed(self, version: str, reason: str, seconds: float) -> None:
        req = self._req(version)
        self._f["specops_requests_total"].labels(**req).inc()
        self._f["specops_request_errors_total"].labels(**req, reason=reason).inc()
        self._f["specops_request_duration_seconds"].labels(**req).observe(seconds)

    def rejected(self, reason: str) -> None:
        self._f["specops_edge_bundle_rejections_total"].labels(**self._env, reason=reason).inc()

    def rolled_back(self, reason: str) -> None:
        self._f["specops_edge_rollbacks_total"].labels(**self._env, reason=reason).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
