"""What the serving path records and what monitoring concludes: the shared
shapes between the predictor (producer), the monitor (consumer) and the
actions that enforce objectives.

Defined once here so the prediction log, drift, skew, SLO evaluation and
enforcement agree on field names without importing each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "ACTIONS", "INCIDENT_KINDS", "LOG_COLUMNS", "Incident", "ObjectiveResult", "PredictionRecord", "RuntimeControl",
    "control_path",
]

# One row per answered prediction *and* per failed request (score is None
# then, ``status`` the HTTP status and ``error`` the reason), so error rate,
# latency and availability can be evaluated from the log without Prometheus.
#
# Parquet layout (after compaction): hive-partitioned
#   <root>/model=<model>/date=<YYYY-MM-DD of served_at>/part-<first_seq>-<last_seq>-<log_id>.parquet
# with the scalar columns below plus one struct column ``features`` holding
# one field per model feature (float64 for numeric, string for categorical).
# ``log_id`` names the write-ahead store (one per predictor replica; seq is
# per store).  A failed request has prediction_id "<request_id>/-", entity "".
# runtime.predlog writes and reads this layout (reader: log_view/read_log).
LOG_COLUMNS: tuple[str, ...] = (
    "seq",                    # int64, the write-ahead store's sequence number (monotonic per log)
    "prediction_id",          # str, "<request_id>/<index>"
    "request_id",             # str
    "served_at_us",           # int64, server clock when the answer was produced (UTC microseconds)
    "at_us",                  # int64, the time the features describe (request `at`, else served_at)
    "entity",                 # str
    "model", "version", "release", "role", "environment", "spec_hash",  # str; role: champion|canary|shadow
    "score",                  # float64 | null (null for failed requests)
    "threshold",              # float64 | null
    "decision",               # bool | null
    "confidence",             # float64 | null
    "action",                 # str | null: auto | human_review | abstain
    "rule",                   # str | null: the policy rule (or breaker/fallback) that chose the action
    "feature_vector_sha256",  # str | null
    "feature_age_s",          # float64 | null
    "latency_s",              # float64, request latency as the server measured it
    "status",                 # int32, HTTP status of the request (200 ok, 4xx/5xx failed)
    "error",                  # str | null: the error reason (runtime.contracts.metrics ERROR_REASONS)
    "fallback",               # str | null: set when a circuit breaker's fallback produced this answer
)

ACTIONS = ("rollback", "open_circuit", "retrain", "page")


@dataclass(frozen=True, slots=True)
class PredictionRecord:
    """One logged request outcome (see LOG_COLUMNS for the meaning of each field)."""

    seq: int
    prediction_id: str
    request_id: str
    served_at_us: int
    at_us: int
    entity: str
    model: str
    version: str
    release: str
    role: str
    environment: str
    spec_hash: str
    score: float | None
    threshold: float | None
    decision: bool | None
    confidence: float | None
    action: str | None
    rule: str | None
    feature_vector_sha256: str | None
    feature_age_s: float | None
    latency_s: float
    status: int
    error: str | None
    fallback: str | None
    features: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ObjectiveResult:
    """One ServiceLevel objective evaluated over one window.

    ``status``: ``ok``, ``breach`` (the bound is crossed), ``no_data`` (too
    few observations to judge: never a silent ok), or ``estimated`` values
    are marked by ``basis``."""

    objective: str                       # the objective's name in the ServiceLevel
    metric: str                          # OBJECTIVE_SLIS key, e.g. latency_p99
    model: str
    environment: str
    status: Literal["ok", "breach", "no_data"]
    value: float | None
    bound: float
    direction: Literal["max", "min"]
    window_s: float
    window_end_us: int
    actions: tuple[str, ...]             # subset of ACTIONS, from the spec
    severity: Literal["page", "ticket"]
    basis: Literal["realized", "estimated", "observed"] = "observed"
    version: str | None = None           # the release version the value belongs to, when per version
    evidence: Mapping[str, Any] = field(default_factory=dict)  # numbers a human needs to judge it


INCIDENT_KINDS = ("objective_breach", "canary_rollback", "circuit_open", "edge_rollback", "review_escalation")


@dataclass(frozen=True, slots=True)
class Incident:
    """Something that went wrong and what acted on it, with its evidence.

    ``key`` makes recording idempotent: the same breach seen again while the
    incident is open updates nothing."""

    id: str                              # deterministic: sha256 of (kind, model, environment, key)[:16]
    kind: str                            # one of INCIDENT_KINDS
    key: str
    model: str
    environment: str
    opened_at_us: int
    summary: str
    actions_taken: tuple[str, ...]
    evidence: Mapping[str, Any]
    status: Literal["open", "resolved"] = "open"
    resolved_at_us: int | None = None


@dataclass(frozen=True, slots=True)
class RuntimeControl:
    """What monitoring may change in a running predictor, and nothing else.

    Written (atomically: temp file + os.replace) by the actions that enforce
    objectives to ``control_path(work_dir, model, environment)`` as JSON with
    these field names; the predictor re-reads it when its mtime changes
    (checked at most once a second).  ``None`` means "no override".
    In a cluster the same two levers exist: the circuit (this file on the
    predictor's volume) and canaryTrafficPercent -> 0 on the InferenceService.
    A file in the monitor pod reaches no predictor, so a cluster compiles the
    ``database`` control channel instead (``runtime.control``): the same
    fields as JSON in one ``runtime_control`` row of the review store.
    """

    circuit_forced_open_until_us: int | None = None  # serving uses its declared fallback until then
    circuit_reason: str | None = None
    canary_percent: float | None = None              # 0.0 = all traffic back to the champion
    canary_reason: str | None = None
    incident: str | None = None                      # the Incident id that set this
    updated_at_us: int = 0


def control_path(work_dir: str, model: str, environment: str) -> str:
    """Where a predictor of ``model`` in ``environment`` reads its RuntimeControl."""
    return f"{work_dir.rstrip('/')}/control/{model}-{environment}.json"
