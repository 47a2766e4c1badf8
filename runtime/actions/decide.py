"""Pure decision: one monitoring run's ObjectiveResults + the persisted
state -> the steps enforcement takes.  No clock, disk or network here.

Rules:
- A breach with no open incident for its objective opens one and asks for
  every declared action; a breach seen again while the incident is open asks
  for nothing new (idempotent), except actions not yet done (suppressed by the
  rate limit or failed) and a forced-open circuit that has expired.
- Rate limit: an action fires at most once per ``min_interval_s`` per scope
  (the model's levers: per model and environment; a page: per objective).
- Hysteresis: an open incident resolves only after ``resolve_after_ok``
  consecutive ok evaluations, each clearing the bound by ``resolve_margin``;
  a breach or no_data in between restarts the count, so an alternating series
  keeps one incident open and never re-fires.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from runtime.contracts.monitoring import Incident, ObjectiveResult
from runtime.contracts.steps import EnforcementConfig

__all__ = ["Fire", "Observe", "Open", "OpenIncident", "Resolve", "StateView", "Step", "Suppress", "decide",
           "incident_id", "objective_key", "rate_scope"]

KIND = "objective_breach"


@dataclass(frozen=True, slots=True)
class OpenIncident:
    """What decisions need to know of an open incident."""

    id: str
    objective_key: str
    actions: tuple[str, ...]           # declared when it opened
    ok_streak: int
    breaches: int
    done: Mapping[str, int] = field(default_factory=dict)   # action -> when it last fired (us)
    suppressed: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class StateView:
    open: Mapping[str, OpenIncident]   # by objective_key
    last_fired_us: Mapping[str, int]   # rate_scope -> last successful firing (us)


@dataclass(frozen=True, slots=True)
class Open:
    incident: Incident
    objective_key: str
    result: ObjectiveResult


@dataclass(frozen=True, slots=True)
class Fire:
    incident_id: str
    action: str
    scope: str
    result: ObjectiveResult
    renew: bool = False  # an expired forced-open circuit, opened again


@dataclass(frozen=True, slots=True)
class Suppress:
    incident_id: str
    action: str
    scope: str
    until_us: int
    result: ObjectiveResult


@dataclass(frozen=True, slots=True)
class Observe:
    incident_id: str
    ok_streak: int
    breaches: int
    result: ObjectiveResult


@dataclass(frozen=True, slots=True)
class Resolve:
    incident_id: str
    ok_streak: int
    result: ObjectiveResult


Step = Open | Fire | Suppress | Observe | Resolve


def objective_key(r: ObjectiveResult) -> str:
    """One incident at a time per objective (and per version, when the value is per version)."""
    return r.objective if r.version is None else f"{r.objective}@{r.version}"


def rate_scope(model: str, environment: str, action: str, key: str) -> str:
    # Rollback, circuit and retrain are levers of the whole model; a page is about one objective.
    return f"{model}/{environment}/{action}" + (f"/{key}" if action == "page" else "")


def incident_id(kind: str, model: str, environment: str, key: str) -> str:
    return hashlib.sha256("\n".join((kind, model, environment, key)).encode()).hexdigest()[:16]


def _summary(r: ObjectiveResult) -> str:
    op = "<=" if r.direction == "max" else ">="
    value = "no value" if r.value is None else f"{r.value:g}"
    where = f" (version {r.version})" if r.version else ""
    return (f"{r.model}/{r.environment}: objective {r.objective} ({r.metric}) breached{where}: {value}, "
            f"must be {op} {r.bound:g} over {r.window_s:g}s")


def _evidence(r: ObjectiveResult) -> dict[str, object]:
    return {"objective": r.objective, "metric": r.metric, "value": r.value, "bound": r.bound,
            "direction": r.direction, "window_s": r.window_s, "window_end_us": r.window_end_us, "basis": r.basis,
            "severity": r.severity, "version": r.version, "details": dict(r.evidence)}


def _clears(r: ObjectiveResult, margin: float) -> bool:
    """ok, and (with a margin) clear of the bound by that fraction of it."""
    if r.status != "ok":
        return False
    if margin == 0 or r.value is None:
        return True
    slack = abs(r.bound) * margin
    return r.value <= r.bound - slack if r.direction == "max" else r.value >= r.bound + slack


def decide(results: Iterable[ObjectiveResult], view: StateView, policy: EnforcementConfig,
           now_us: int) -> tuple[Step, ...]:
    steps: list[Step] = []
    last = dict(view.last_fired_us)
    # Sorted: the same results in any order give the same steps.
    for r in sorted(results, key=lambda r: (objective_key(r), r.window_end_us)):
        key = objective_key(r)
        inc = view.open.get(key)
        if r.status == "breach":
            if inc is None:
                opened = Incident(id=incident_id(KIND, r.model, r.environment, f"{key}@{r.window_end_us}"), kind=KIND,
                                  key=f"{key}@{r.window_end_us}", model=r.model, environment=r.environment,
                                  opened_at_us=now_us, summary=_summary(r), actions_taken=(),
                                  evidence={"opened_by": _evidence(r)})
                steps.append(Open(opened, key, r))
                inc = OpenIncident(opened.id, key, r.actions, 0, 1)
                wanted = list(r.actions)
            else:
                steps.append(Observe(inc.id, 0, inc.breaches + 1, r))
                wanted = [a for a in inc.actions if a not in inc.done]
                circuit = inc.done.get("open_circuit")
                if circuit is not None and now_us >= circuit + int(policy.circuit_open_s * 1e6):
                    wanted.append("open_circuit")  # still breaching after the forced window: keep it open
            for action in wanted:
                scope = rate_scope(r.model, r.environment, action, key)
                interval_us = int(policy.min_interval_s.get(action, 0.0) * 1e6)  # type: ignore[call-overload]
                prev = last.get(scope)
                if prev is not None and now_us - prev < interval_us:
                    if action not in inc.suppressed:  # recorded once, retried every run until it fires
                        steps.append(Suppress(inc.id, action, scope, prev + interval_us, r))
                    continue
                steps.append(Fire(inc.id, action, scope, r, renew=action in inc.done))
                last[scope] = now_us
        elif inc is not None:
            streak = inc.ok_streak + 1 if _clears(r, policy.resolve_margin) else 0
            if streak >= policy.resolve_after_ok:
                steps.append(Resolve(inc.id, streak, r))
            else:
                steps.append(Observe(inc.id, streak, inc.breaches, r))
    return tuple(steps)
