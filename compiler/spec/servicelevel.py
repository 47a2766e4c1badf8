"""`ServiceLevel`: a model's objectives and the action each breach triggers,
plus circuit-breaker and drift settings.  Dashboard-only monitoring is a
non-goal: every objective names at least one action."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from compiler.spec.base import Duration, Float, Name, SpecModel, Resource, Str

__all__ = [
    "ACTIONS",
    "CircuitBreaker",
    "DriftPolicy",
    "Objective",
    "ServiceLevel",
    "ServiceLevelSpec",
]

Action = Literal["rollback", "open_circuit", "retrain", "page"]
ACTIONS: tuple[str, ...] = ("rollback", "open_circuit", "retrain", "page")
ObjectiveMetric = Literal[
    "latency_p99",
    "availability",
    "error_rate",
    "feature_freshness",
    "realized_pr_auc",
    "estimated_pr_auc",
    "realized_recall_at_precision",
    "prediction_drift_psi",
    "feature_drift_share",
    "review_backlog",
    "review_time_p90",
    "skew_mismatch_rate",
]
# Metrics measured as a time span (written as durations) vs. plain numbers.
DURATION_METRICS = frozenset({"latency_p99", "feature_freshness", "review_time_p90"})
RATIO_METRICS = frozenset({
    "availability", "error_rate", "realized_pr_auc", "estimated_pr_auc",
    "realized_recall_at_precision", "feature_drift_share", "skew_mismatch_rate",
})
# Quality measured against labels: needs the labels to have matured.
REALIZED_METRICS = frozenset({"realized_pr_auc", "realized_recall_at_precision"})


class Objective(SpecModel):
    name: Name
    metric: ObjectiveMetric
    # Bound: a duration for time metrics ("250ms"), a number otherwise.
    max: Duration | Float | None = None
    min: Duration | Float | None = None
    window: Duration
    actions: Annotated[tuple[Action, ...], Field(min_length=1)]
    severity: Literal["page", "ticket"] = "ticket"

    @model_validator(mode="after")
    def _bound(self) -> "Objective":
        if (self.min is None) == (self.max is None):
            raise ValueError("an objective sets exactly one of 'min' or 'max'")
        bound = self.max if self.max is not None else self.min
        if self.metric in DURATION_METRICS and not isinstance(bound, Duration):
            raise ValueError(f"'{self.metric}' is bounded by a duration such as '250ms' or '15m'")
        if self.metric not in DURATION_METRICS and isinstance(bound, Duration):
            raise ValueError(f"'{self.metric}' is bounded by a number, not a duration")
        if self.metric in RATIO_METRICS and not 0.0 <= float(bound) <= 1.0:  # type: ignore[arg-type]
            raise ValueError(f"'{self.metric}' is a ratio between 0 and 1, got {bound}")
        return self


class CircuitBreaker(SpecModel):
    failure_threshold: Annotated[int, Field(ge=1, le=10_000, strict=True)] = 5
    window: Duration = Duration.parse("30s")
    open_for: Duration = Duration.parse("60s")
    half_open_requests: Annotated[int, Field(ge=1, le=1000, strict=True)] = 3
    fallback: Literal["previous_model", "conservative_rule", "human_review"]


class DriftPolicy(SpecModel):
    psi_warning: Annotated[float, Field(gt=0.0, strict=True)] = 0.1
    psi_alert: Annotated[float, Field(gt=0.0, strict=True)] = 0.25
    p_value: Annotated[float, Field(gt=0.0, lt=1.0, strict=True)] = 0.01
    correction: Literal["bonferroni", "benjamini_hochberg", "none"] = "benjamini_hochberg"
    # Consecutive windows a drift must persist before it counts.
    persistence: Annotated[int, Field(ge=1, le=100, strict=True)] = 2
    window: Duration = Duration.parse("1h")

    @model_validator(mode="after")
    def _order(self) -> "DriftPolicy":
        if self.psi_warning >= self.psi_alert:
            raise ValueError("'psiWarning' must be below 'psiAlert'")
        return self


class ServiceLevelSpec(SpecModel):
    model: Name
    environments: tuple[Name, ...] = ()
    objectives: Annotated[tuple[Objective, ...], Field(min_length=1)]
    circuit_breaker: CircuitBreaker | None = None
    drift: DriftPolicy = DriftPolicy()
    notify: tuple[Name, ...] = ()


class ServiceLevel(Resource):
    KIND = "ServiceLevel"
    kind: Literal["ServiceLevel"]
    spec: ServiceLevelSpec
