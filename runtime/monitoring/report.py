"""The monitor's report: one frozen value, built from the SLO evaluation and
whatever inputs exist; rendered to text, JSON and HTML by
``runtime.monitoring.render``.

A section whose input is missing is present with ``available = False`` and a
note saying what to do ("no prediction log yet: serve traffic first"), so a
reader never mistakes a missing input for a healthy one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from runtime.contracts.metrics import OBJECTIVE_SLIS
from runtime.contracts.monitoring import ObjectiveResult, PredictionRecord
from runtime.monitoring.series import SeriesSet
from runtime.monitoring.slo import Alert, Objective, SloEvaluation, sli_values

__all__ = [
    "LogSummary", "MonitorReport", "PerformanceWindow", "ReviewSummary", "Section", "Trend", "log_summary", "trends",
]

# Points per SLO trend plot: enough to see a burn, few enough for an inline SVG.
TREND_POINTS = 48


@dataclass(frozen=True, slots=True)
class Section:
    """A report section that may lack its input: ``note`` says why and what to do."""

    available: bool
    note: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LogSummary:
    records: int
    requests: int
    failed_requests: int
    first_served_us: int
    last_served_us: int
    versions: tuple[str, ...]
    actions: Mapping[str, int]  # auto / human_review / abstain


@dataclass(frozen=True, slots=True)
class ReviewSummary:
    backlog: int
    decided: int
    p90_time_to_decision_s: float | None
    oldest_open_age_s: float | None


@dataclass(frozen=True, slots=True)
class PerformanceWindow:
    """Model quality over one window; ``basis`` says whether labels had matured (realized) or not (estimated)."""

    start_us: int
    end_us: int
    basis: str  # realized | estimated
    metric: str
    value: float | None
    lower: float | None = None
    upper: float | None = None


@dataclass(frozen=True, slots=True)
class Trend:
    """One objective's SLI over time (for the SLO burn plot)."""

    objective: str
    metric: str
    bound: float
    direction: str
    points: tuple[tuple[int, float], ...]  # (ms, value); gaps where the SLI had no answer


@dataclass(frozen=True, slots=True)
class MonitorReport:
    model: str
    environment: str
    spec_hash: str
    as_of_us: int
    objectives: tuple[ObjectiveResult, ...]
    alerts: tuple[Alert, ...]
    trends: tuple[Trend, ...]
    log: Section
    review: Section
    drift: Section
    skew: Section
    performance: Section
    # What enforcement did with the breaches (runtime.actions): filled after enforcing.
    actions: Section = field(default_factory=lambda: Section(False, "not enforced"))

    @property
    def breaches(self) -> tuple[ObjectiveResult, ...]:
        return tuple(r for r in self.objectives if r.status == "breach")

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values (NaN and infinities as null), for the canonical serializer."""
        return _plain({
            "model": self.model, "environment": self.environment, "spec_hash": self.spec_hash,
            "as_of_us": self.as_of_us,
            "summary": {s: sum(1 for r in self.objectives if r.status == s) for s in ("ok", "breach", "no_data")},
            "objectives": [_result_json(r) for r in self.objectives],
            "alerts": [{"alertname": a.name, "labels": dict(a.labels)} for a in self.alerts],
            "trends": [{"objective": t.objective, "metric": t.metric, "bound": t.bound, "direction": t.direction,
                        "points": [list(p) for p in t.points]} for t in self.trends],
            "sections": {name: {"available": s.available, "note": s.note, "data": s.data}
                         for name, s in (("log", self.log), ("review", self.review), ("drift", self.drift),
                                         ("skew", self.skew), ("performance", self.performance),
                                         ("actions", self.actions))},
        })


def _result_json(r: ObjectiveResult) -> dict[str, Any]:
    return {"objective": r.objective, "metric": r.metric, "model": r.model, "environment": r.environment,
            "status": r.status, "value": r.value, "bound": r.bound,
            "direction": r.direction, "window_s": r.window_s, "window_end_us": r.window_end_us,
            "actions": list(r.actions), "severity": r.severity, "basis": r.basis, "version": r.version,
            "evidence": r.evidence}


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return _plain({k: getattr(value, k) for k in value.__dataclass_fields__})
    return value


def log_summary(records: Sequence[PredictionRecord]) -> LogSummary:
    requests = {r.request_id for r in records}
    failed = {r.request_id for r in records if r.status >= 400}
    actions: dict[str, int] = {}
    for r in records:
        if r.action:
            actions[r.action] = actions.get(r.action, 0) + 1
    return LogSummary(records=len(records), requests=len(requests), failed_requests=len(failed),
                      first_served_us=min(r.served_at_us for r in records),
                      last_served_us=max(r.served_at_us for r in records),
                      versions=tuple(sorted({r.version for r in records})), actions=dict(sorted(actions.items())))


def trends(objectives: Sequence[Objective], data: SeriesSet, evaluation: SloEvaluation, *, model: str,
           environment: str) -> tuple[Trend, ...]:
    """Each objective's SLI (the worst version) over the last two windows (at least an hour)."""
    scope = {"model": model, "environment": environment}
    out = []
    for o in objectives:
        sli = OBJECTIVE_SLIS[o.metric]
        span_ms = max(2 * o.window_ms, 3_600_000)
        step = max(span_ms // TREND_POINTS, 1)
        points = []
        for i in range(TREND_POINTS + 1):
            t = evaluation.at_ms - span_ms + i * step
            values = [v for v in sli_values(sli, data, scope, t, o.window_ms, o.direction).values() if not math.isnan(v)]
            if values and sli.kind == "availability":
                points.append((t, 1 - max(values)))  # the worst version: the highest error ratio
            elif values:
                points.append((t, max(values) if o.direction == "max" else min(values)))
        if points:
            out.append(Trend(o.name, o.metric, o.bound, o.direction, tuple(points)))
    return tuple(out)
