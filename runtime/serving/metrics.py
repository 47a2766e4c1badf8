"""The predictor's Prometheus series, by the names, labels and buckets of
the catalog (``runtime.contracts.metrics``) the SLO rules query.

Families are created once per process on prometheus_client's default
registry, which kserve's ``/metrics`` serves.  Counters are initialised at
0 for the served model, version and environment at start-up: the rules read
a missing request counter as "the predictor exports nothing".
"""

from __future__ import annotations

from functools import cache
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from runtime.contracts.metrics import (CIRCUIT_DEPENDENCIES, CIRCUIT_STATES, DECISION_ACTIONS, ERROR_REASONS,
                                      LABEL_ENVIRONMENT, LABEL_MODEL, LABEL_VERSION, metric)

__all__ = ["RolloutMetrics", "ServingMetrics"]

_REQUESTS = "specops_requests_total"
_ERRORS = "specops_request_errors_total"
_DURATION = "specops_request_duration_seconds"
_DECISIONS = "specops_decisions_total"
_ESCALATIONS = "specops_escalations_total"
_FEATURE_AGE = "specops_feature_age_seconds"
_CIRCUIT = "specops_circuit_state"


def _family(name: str) -> Any:
    spec = metric(name)
    base = spec.name[: -len("_total")] if spec.type == "counter" else spec.name  # the client appends _total
    if spec.type == "counter":
        return Counter(base, spec.help, spec.labels)
    if spec.type == "histogram":
        return Histogram(base, spec.help, spec.labels, buckets=spec.buckets)
    if spec.type == "gauge":
        return Gauge(base, spec.help, spec.labels)
    raise ValueError(f"{name}: the predictor exports no {spec.type}")


@cache
def _families() -> dict[str, Any]:
    return {n: _family(n) for n in (_REQUESTS, _ERRORS, _DURATION, _DECISIONS, _ESCALATIONS, _FEATURE_AGE, _CIRCUIT)}


class ServingMetrics:
    """The series of one served (model, version, environment)."""

    def __init__(self, model: str, version: str, environment: str, rules: tuple[str, ...] = ()) -> None:
        fam = _families()
        req = {LABEL_MODEL: model, LABEL_VERSION: version, LABEL_ENVIRONMENT: environment}
        env = {LABEL_MODEL: model, LABEL_ENVIRONMENT: environment}
        self.requests = fam[_REQUESTS].labels(**req)
        self.duration = fam[_DURATION].labels(**req)
        self._errors = {r: fam[_ERRORS].labels(**req, reason=r) for r in ERROR_REASONS}
        self._decisions = {a: fam[_DECISIONS].labels(**req, action=a) for a in DECISION_ACTIONS}
        self._escalations = fam[_ESCALATIONS]
        self._env = env
        # .labels() costs microseconds per call: children are kept.  Initialised at 0 as
        # well: a rate over a fresh series needs a first sample.
        self._escalation_children = {rule: self._escalations.labels(**env, rule=rule) for rule in rules}
        self._age = fam[_FEATURE_AGE]
        self._req = req
        self._age_children: dict[str, Any] = {}
        self._circuit = fam[_CIRCUIT]

    def circuit(self, dependency: str, state: str) -> None:
        """``specops_circuit_state``: 0 closed, 1 half-open, 2 open (exported
        only by a predictor with breakers: it sets each at load)."""
        if dependency not in CIRCUIT_DEPENDENCIES:
            raise ValueError(f"unknown circuit dependency {dependency!r}; one of {CIRCUIT_DEPENDENCIES}")
        self._circuit.labels(**self._req, dependency=dependency).set(CIRCUIT_STATES.index(state))

    def error(self, reason: str) -> None:
        self._errors.get(reason, self._errors["internal"]).inc()

    def decision(self, action: str, rule: str | None) -> None:
        self._decisions[action].inc()
        if action == "human_review":
            rule = rule or "none"
            child = self._escalation_children.get(rule)
            if child is None:
                child = self._escalation_children[rule] = self._escalations.labels(**self._env, rule=rule)
            child.inc()

    def feature_age(self, feature_set: str, seconds: float) -> None:
        child = self._age_children.get(feature_set)
        if child is None:
            child = self._age_children[feature_set] = self._age.labels(**self._req, feature_set=feature_set)
        child.observe(seconds)


_CANARY_PERCENT = "specops_canary_traffic_percent"
_CANARY_REQUESTS = "specops_canary_requests_total"
_RELOADS = "specops_reloads_total"
_CONTROL_STALENESS = "specops_control_staleness_seconds"


@cache
def _rollout_families() -> dict[str, Any]:
    from prometheus_client import Gauge

    spec = metric(_CANARY_PERCENT)
    return {_CANARY_PERCENT: Gauge(spec.name, spec.help, spec.labels),
            _CANARY_REQUESTS: _family(_CANARY_REQUESTS), _RELOADS: _family(_RELOADS),
            _CONTROL_STALENESS: _family(_CONTROL_STALENESS)}


class RolloutMetrics:
    """Challenger arms and reloads of one served (model, environment)."""

    def __init__(self, model: str, environment: str) -> None:
        fam = _rollout_families()
        self._model, self._environment = model, environment
        self._percent = fam[_CANARY_PERCENT]
        self._arm = fam[_CANARY_REQUESTS]
        self._arm_children: dict[tuple[str, str, bool], Any] = {}
        self._reloads = {o: fam[_RELOADS].labels(model=model, environment=environment, outcome=o)
                         for o in ("loaded", "refused")}
        self._staleness = fam[_CONTROL_STALENESS].labels(model=model, environment=environment)

    def _labels(self, version: str) -> dict[str, str]:
        return {LABEL_MODEL: self._model, LABEL_VERSION: version, LABEL_ENVIRONMENT: self._environment}

    def percent(self, version: str, value: float) -> None:
        self._percent.labels(**self._labels(version)).set(value)

    def arm(self, version: str, role: str, ok: bool) -> None:
        key = (version, role, ok)
        child = self._arm_children.get(key)
        if child is None:  # .labels() costs microseconds per call: children are kept
            child = self._arm_children[key] = self._arm.labels(**self._labels(version), role=role,
                                                                outcome="ok" if ok else "error")
        child.inc()

    def reload(self, loaded: bool) -> None:
        self._reloads["loaded" if loaded else "refused"].inc()

    def control_staleness(self, seconds: float) -> None:
        self._staleness.set(seconds)
