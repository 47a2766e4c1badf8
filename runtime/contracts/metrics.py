"""The Prometheus metrics the runtime exports and the SLO rules query: one
catalog, the single source of truth for both sides.

The predictor, ingester, monitor and review queue export exactly these
series (name, type, labels, histogram buckets); the compiler's ``prometheus``
backend turns ServiceLevel objectives into PromQL over them through
``OBJECTIVE_SLIS``.  A later runtime SLO evaluator reads the same table, so
an objective cannot mean one thing in Prometheus and another in the runtime.

Conventions (https://prometheus.io/docs/practices/naming/): base units
(seconds, ratios 0..1), ``_total`` on counters, no unit on plain numbers.
Label values are bounded: model and environment come from the compiled
config, version from the ModelRelease, ``reason`` / ``action`` / ``metric``
from the fixed tuples below (never free text, never an entity id).

Exporters initialise their counters at 0 on start-up (for their model,
version and environment): the rules read a missing ``specops_requests_total``
as "the predictor exports nothing" and page, and a missing error counter as 0.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AVAILABILITY_SHORT_WINDOW_DIVISOR",
    "CIRCUIT_DEPENDENCIES",
    "CIRCUIT_STATES",
    "CLIENT_ERROR_REASONS",
    "DECISION_ACTIONS",
    "ERROR_REASONS",
    "LABEL_ENVIRONMENT",
    "LABEL_MODEL",
    "LABEL_VERSION",
    "METRICS",
    "MIN_RULE_WINDOW_S",
    "OBJECTIVE_SLIS",
    "QUALITY_METRICS",
    "SCRAPE_INTERVAL_S",
    "LabelMatcher",
    "MetricSpec",
    "MetricType",
    "SliSpec",
    "metric",
    "EDGE_REJECTION_REASONS",
]

LABEL_MODEL = "model"
LABEL_VERSION = "version"  # the ModelRelease version the request was served by
LABEL_ENVIRONMENT = "environment"

# Why a request failed.  Client errors are the caller's fault and spend no
# error budget; every other reason does.
ERROR_REASONS: tuple[str, ...] = (
    "invalid_input", "timeout", "model_error", "feature_unavailable", "circuit_open", "internal",
)
CLIENT_ERROR_REASONS: tuple[str, ...] = ("invalid_input",)
# What the serving path did with a prediction (runtime.contracts.Decision.action).
DECISION_ACTIONS: tuple[str, ...] = ("auto", "human_review", "abstain")
# specops_circuit_state values: 0 closed, 1 half-open, 2 open.
CIRCUIT_STATES: tuple[str, ...] = ("closed", "half_open", "open")
# What a predictor's circuit breakers guard (the ``dependency`` label).
CIRCUIT_DEPENDENCIES: tuple[str, ...] = ("online-store", "model")
# The ``metric`` label of the quality gauges.
QUALITY_METRICS: tuple[str, ...] = ("pr_auc", "recall_at_precision")
# Why the edge runner refused a bundle (runtime.export.bundle.BundleError.reason
# and the edge health check); the ``reason`` label of the edge counters.
EDGE_REJECTION_REASONS: tuple[str, ...] = (
    "incomplete", "unsigned", "bad_signature", "checksum_mismatch", "unlisted_file", "throwaway_key",
    "invalid_manifest", "wrong_release", "unhealthy", "fetch_failed",
)

MetricType = Literal["counter", "gauge", "histogram"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Feature age at prediction time: seconds to a day (ingest lag to a stale online store).
_AGE_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0, 86400.0)
# Human review: a minute to two days.
_REVIEW_BUCKETS = (60.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0, 172800.0)


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricSpec(_Contract):
    """One exported metric family."""

    name: Annotated[str, Field(pattern=r"^specops_[a-z0-9_]+$")]
    type: MetricType
    help: str
    labels: tuple[str, ...]
    # Upper bounds of histogram buckets (``le``), ascending; +Inf is implicit.
    buckets: tuple[float, ...] = ()

    @property
    def series(self) -> str:
        """The series a rule selects: ``_bucket`` for histograms, the name otherwise."""
        return f"{self.name}_bucket" if self.type == "histogram" else self.name


_REQ = (LABEL_MODEL, LABEL_VERSION, LABEL_ENVIRONMENT)
_ENV = (LABEL_MODEL, LABEL_ENVIRONMENT)

METRICS: tuple[MetricSpec, ...] = (
    # predictor
    MetricSpec(name="specops_requests_total", type="counter", labels=_REQ,
               help="Prediction requests received, by model version."),
    MetricSpec(name="specops_request_errors_total", type="counter", labels=(*_REQ, "reason"),
               help="Prediction requests that failed, by reason (ERROR_REASONS)."),
    MetricSpec(name="specops_request_duration_seconds", type="histogram", labels=_REQ, buckets=_LATENCY_BUCKETS,
               help="End-to-end prediction latency in seconds, features included."),
    MetricSpec(name="specops_decisions_total", type="counter", labels=(*_REQ, "action"),
               help="Predictions by what was done with them (DECISION_ACTIONS)."),
    MetricSpec(name="specops_escalations_total", type="counter", labels=(*_ENV, "rule"),
               help="Predictions sent to a human, by the policy rule id that sent them."),
    MetricSpec(name="specops_feature_age_seconds", type="histogram", labels=(*_REQ, "feature_set"), buckets=_AGE_BUCKETS,
               help="Age of the online features a prediction used (now minus their last update), in seconds."),
    MetricSpec(name="specops_circuit_state", type="gauge", labels=(*_REQ, "dependency"),
               help="Circuit breaker state: 0 closed, 1 half-open, 2 open, by dependency (CIRCUIT_DEPENDENCIES)."),
    MetricSpec(name="specops_skew_checks_total", type="counter", labels=_ENV,
               help="Served feature vectors recomputed offline for the training-serving skew check."),
    MetricSpec(name="specops_skew_mismatches_total", type="counter", labels=_ENV,
               help="Skew checks whose online and offline features differ beyond tolerance."),
    # ingester
    MetricSpec(name="specops_ingested_events_total", type="counter", labels=(LABEL_ENVIRONMENT, "feature_set", "outcome"),
               help="Stream events applied to the online store (outcome: applied, late, rejected)."),
    # review queue
    MetricSpec(name="specops_review_backlog", type="gauge", labels=_ENV,
               help="Review items waiting for a human decision."),
    MetricSpec(name="specops_review_decision_seconds", type="histogram", labels=_ENV, buckets=_REVIEW_BUCKETS,
               help="Time from escalation to a human decision, in seconds."),
    # monitor
    MetricSpec(name="specops_estimated_quality", type="gauge", labels=(*_REQ, "metric"),
               help="Quality estimated without labels (confidence-based), by metric (QUALITY_METRICS)."),
    MetricSpec(name="specops_realized_quality", type="gauge", labels=(*_REQ, "metric"),
               help="Quality measured against matured labels, by metric (QUALITY_METRICS)."),
    MetricSpec(name="specops_feature_drift_share", type="gauge", labels=_ENV,
               help="Share of features whose drift test rejects (after multiple-testing correction)."),
    MetricSpec(name="specops_prediction_drift_psi", type="gauge", labels=_REQ,
               help="Population stability index of the score distribution against the training reference."),
    # edge runner (it also exports the predictor's request, error, duration and decision series)
    MetricSpec(name="specops_edge_bundle_info", type="gauge", labels=_REQ,
               help="1 for the edge bundle version being served, 0 for one that served before."),
    MetricSpec(name="specops_edge_bundle_rejections_total", type="counter", labels=(*_ENV, "reason"),
               help="Edge bundles refused before serving (verification or health check), by EDGE_REJECTION_REASONS."),
    MetricSpec(name="specops_edge_rollbacks_total", type="counter", labels=(*_ENV, "reason"),
               help="Switches back to the previous edge bundle because the current one was found bad."),
    # predictor: challenger and reload
    MetricSpec(name="specops_canary_traffic_percent", type="gauge", labels=_REQ,
               help="Share of requests the in-process challenger (this version) answers; 0 after a rollback."),
    MetricSpec(name="specops_canary_requests_total", type="counter", labels=(*_REQ, "role", "outcome"),
               help="Requests scored per arm (role: champion, canary, shadow; outcome: ok, error)."),
    MetricSpec(name="specops_reloads_total", type="counter", labels=(*_ENV, "outcome"),
               help="Release reloads (outcome: loaded, refused -- the new release failed to load or warm)."),
    # predictor: the shared RuntimeControl channel (database backend)
    MetricSpec(name="specops_control_staleness_seconds", type="gauge", labels=_ENV,
               help="Seconds since the predictor last read its RuntimeControl row; grows while the store is down."),
)

_BY_NAME = {m.name: m for m in METRICS}


def metric(name: str) -> MetricSpec:
    return _BY_NAME[name]


class LabelMatcher(_Contract):
    """``label op "value"`` in a selector (``!~`` takes a regex alternation)."""

    label: str
    op: Literal["=", "!=", "=~", "!~"]
    value: str


class SliSpec(_Contract):
    """How an objective metric is measured from the catalog.

    * ``quantile``: ``histogram_quantile(q, rate(<histogram>[window]))``;
    * ``ratio``: ``rate(<numerator>[window]) / rate(<denominator>[window])``;
    * ``availability``: 1 - the ratio, alerted by multi-window burn rate;
    * ``gauge``: the gauge stays beyond the bound for the whole window.

    ``direction`` is the bound a breach crosses: ``max`` (too high is bad) or
    ``min``; an objective bounding the other side has no rule (SO485).
    ``by`` is what the SLI is aggregated by (per release version for
    request-path metrics, so a rollback knows which version breached)."""

    kind: Literal["quantile", "ratio", "availability", "gauge"]
    metric: str
    quantile: float | None = None
    denominator: str | None = None
    matchers: tuple[LabelMatcher, ...] = ()
    direction: Literal["max", "min"]
    by: tuple[str, ...]
    unit: Literal["seconds", "ratio", "count", "score"]


_SERVER_ERRORS = LabelMatcher(label="reason", op="!~", value="|".join(CLIENT_ERROR_REASONS))


def _quality(name: str, which: str) -> SliSpec:
    return SliSpec(kind="gauge", metric=name, matchers=(LabelMatcher(label="metric", op="=", value=which),),
                   direction="min", by=_REQ, unit="ratio")


# Every objective metric a ServiceLevel may name -> its SLI.
OBJECTIVE_SLIS: dict[str, SliSpec] = {
    "latency_p99": SliSpec(kind="quantile", metric="specops_request_duration_seconds", quantile=0.99,
                           direction="max", by=_REQ, unit="seconds"),
    "error_rate": SliSpec(kind="ratio", metric="specops_request_errors_total", denominator="specops_requests_total",
                          matchers=(_SERVER_ERRORS,), direction="max", by=_REQ, unit="ratio"),
    "availability": SliSpec(kind="availability", metric="specops_request_errors_total",
                            denominator="specops_requests_total", matchers=(_SERVER_ERRORS,),
                            direction="min", by=_ENV, unit="ratio"),
    "feature_freshness": SliSpec(kind="quantile", metric="specops_feature_age_seconds", quantile=0.99,
                                 direction="max", by=_ENV, unit="seconds"),
    "estimated_pr_auc": _quality("specops_estimated_quality", "pr_auc"),
    "realized_pr_auc": _quality("specops_realized_quality", "pr_auc"),
    "realized_recall_at_precision": _quality("specops_realized_quality", "recall_at_precision"),
    "prediction_drift_psi": SliSpec(kind="gauge", metric="specops_prediction_drift_psi", direction="max",
                                    by=_REQ, unit="score"),
    "feature_drift_share": SliSpec(kind="gauge", metric="specops_feature_drift_share", direction="max",
                                   by=_ENV, unit="ratio"),
    "review_backlog": SliSpec(kind="gauge", metric="specops_review_backlog", direction="max", by=_ENV, unit="count"),
    "review_time_p90": SliSpec(kind="quantile", metric="specops_review_decision_seconds", quantile=0.9,
                               direction="max", by=_ENV, unit="seconds"),
    "skew_mismatch_rate": SliSpec(kind="ratio", metric="specops_skew_mismatches_total",
                                  denominator="specops_skew_checks_total", direction="max", by=_ENV, unit="ratio"),
}

# How often Prometheus scrapes the runtime (the ServiceMonitor's interval),
# and the shortest window a rule may aggregate over: rate() needs at least two
# samples, and four scrapes keep one missed scrape from emptying the window.
SCRAPE_INTERVAL_S = 30
MIN_RULE_WINDOW_S = 4 * SCRAPE_INTERVAL_S
# Availability's short burn-rate window is the objective window / 12 (see the
# prometheus backend), so its window must be 12x the minimum.
AVAILABILITY_SHORT_WINDOW_DIVISOR = 12
