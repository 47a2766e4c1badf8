"""One monitoring run's enforcement: decide (pure), then execute each step
against the persisted state and the effects, recording every action in the
audit log and its incident's evidence.

``enforce(results, config, state, effects)`` is the entry the monitor step
calls after it evaluates its objectives; ``python -m runtime act`` calls it
with results read from a file.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from runtime.actions.decide import Fire, Observe, Open, Resolve, Suppress, decide
from runtime.actions.effects import Effects, Outcome
from runtime.actions.state import ActionState
from runtime.contracts.monitoring import Incident, ObjectiveResult
from runtime.contracts.steps import MonitorConfig

__all__ = ["EnforcementReport", "enforce"]


@dataclass(frozen=True, slots=True)
class EnforcementReport:
    model: str
    environment: str
    at_us: int
    opened: tuple[str, ...]                 # incident ids opened by this run
    fired: tuple[dict[str, Any], ...]       # {incident, action, ok, detail}
    suppressed: tuple[dict[str, Any], ...]  # {incident, action, until_us}
    resolved: tuple[str, ...]
    ignored: int                            # results of another model or environment
    open_incidents: tuple[Incident, ...]

    @property
    def failed(self) -> tuple[dict[str, Any], ...]:
        return tuple(f for f in self.fired if not f["ok"])

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "environment": self.environment, "at_us": self.at_us, "opened": list(self.opened),
                "fired": list(self.fired), "suppressed": list(self.suppressed), "resolved": list(self.resolved),
                "ignored": self.ignored,
                "open_incidents": [{"id": i.id, "key": i.key, "summary": i.summary, "opened_at_us": i.opened_at_us,
                                    "actions_taken": list(i.actions_taken)} for i in self.open_incidents]}


def _message(kind: str, incident: Incident, result: ObjectiveResult) -> dict[str, Any]:
    text = incident.summary if kind == "incident.opened" else f"resolved: {incident.summary}"
    return {"kind": kind, "id": incident.id, "summary": incident.summary, "text": text, "model": incident.model,
            "environment": incident.environment, "severity": result.severity, "objective": result.objective,
            "metric": result.metric, "value": result.value, "bound": result.bound, "opened_at_us": incident.opened_at_us,
            "actions_taken": list(incident.actions_taken), "evidence": dict(incident.evidence)}


def _execute(effects: Effects, step: Fire, incident: Incident, config: MonitorConfig, now_us: int) -> Outcome:
    try:
        if step.action == "rollback":
            return effects.rollback(incident, step.result)
        if step.action == "open_circuit":
            return effects.open_circuit(incident, step.result, now_us + int(config.enforcement.circuit_open_s * 1e6))
        if step.action == "retrain":
            return effects.retrain(incident, step.result)
        if step.action == "page":
            return effects.page(incident, _message("incident.opened", incident, step.result))
        return Outcome(False, {"error": f"unknown action {step.action!r}"})
    except Exception as exc:  # one failing lever must not stop the others; it is recorded and retried
        return Outcome(False, {"error": f"{type(exc).__name__}: {exc}"})


def enforce(results: Iterable[ObjectiveResult], config: MonitorConfig, state: ActionState, effects: Effects,
            now_us: int | None = None) -> EnforcementReport:
    now = time.time_ns() // 1000 if now_us is None else now_us
    all_results = list(results)
    mine = [r for r in all_results if r.model == config.model and r.environment == config.environment]
    steps = decide(mine, state.view(config.model, config.environment), config.enforcement, now)
    lost: set[str] = set()  # incidents another monitor opened first: it acts on them
    opened: list[str] = []
    fired: list[dict[str, Any]] = []
    suppressed: list[dict[str, Any]] = []
    resolved: list[str] = []
    for step in steps:
        if isinstance(step, Open):
            if state.open(step.incident, step.objective_key, step.result.actions, now):
                opened.append(step.incident.id)
            else:
                lost.add(step.incident.id)
        elif isinstance(step, Observe):
            state.observe(step.incident_id, step.ok_streak, step.breaches)
        elif isinstance(step, Suppress):
            if step.incident_id not in lost:
                state.suppress(step.incident_id, step.action, step.scope, step.until_us, now)
                suppressed.append({"incident": step.incident_id, "action": step.action, "until_us": step.until_us})
        elif isinstance(step, Fire):
            renew = now - int(config.enforcement.circuit_open_s * 1e6) if step.renew else None
            if step.incident_id in lost or not state.claim(step.incident_id, step.action, step.scope, now, renew):
                continue
            outcome = _execute(effects, step, state.incident(step.incident_id), config, now)
            state.finish(step.incident_id, step.action, outcome.ok, outcome.detail, now)
            fired.append({"incident": step.incident_id, "action": step.action, "ok": outcome.ok,
                          "detail": dict(outcome.detail)})
        elif isinstance(step, Resolve):
            done = state.resolve(step.incident_id, step.ok_streak, {"value": step.result.value,
                                                                     "window_end_us": step.result.window_end_us}, now)
            if done is not None:
                resolved.append(done.id)
                if "page" in done.actions_taken:  # whoever was paged hears it is over
                    try:
                        effects.page(done, _message("incident.resolved", done, step.result))
                    except Exception:  # noqa: BLE001 - the resolution is recorded; a lost all-clear is not an incident
                        pass
    return EnforcementReport(config.model, config.environment, now, tuple(opened), tuple(fired), tuple(suppressed),
                             tuple(resolved), len(all_results) - len(mine),
                             state.incidents(config.model, "open"))
