"""ServiceLevel objectives evaluated over metric series, exactly as the
generated PrometheusRules evaluate them (compiler/emit/backends/prometheus.py).

Both read ``runtime.contracts.metrics.OBJECTIVE_SLIS``; what the rules add
around it is restated here and pinned to the compiler's constants by
tests/monitoring/test_slo_vectors.py:

* every SLI is measured over the objective's window W and compared with its
  bound, with no ``for`` (the window already averages);
* quantile: ``histogram_quantile(q, sum by (le, by...) (rate(bucket[W])))``;
* ratio: ``(sum by (rate(bad[W])) or total * 0) / sum by (rate(total[W]))``;
* availability: the same error ratio, alerted by multi-window burn rate:
  FastBurn 14.4x the budget (1 - bound) over W and W/12, SlowBurn 6x over 6W
  and 6W/12 -- both windows of a pair must burn;
* gauge: beyond the bound at every sample of W (``min_over_time`` for a max
  bound, ``max_over_time`` for a min bound, then max/min by), and only if the
  series already had a sample in the window's first tenth (>= 1m);
* telemetry: no ``specops_requests_total`` sample for 10m pages (when the
  ServiceLevel notifies someone and the predictor never scales to zero).

A value with no answer (no series, one sample, 0/0) is ``no_data``, never ok.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from runtime.contracts.metrics import LABEL_ENVIRONMENT, LABEL_MODEL, OBJECTIVE_SLIS, SliSpec, metric
from runtime.contracts.monitoring import ObjectiveResult
from runtime.contracts.steps import MonitorConfig, ObjectiveConfig
from runtime.monitoring.promql import divide, group_key, histogram_quantile, over_time, present, rate, sum_by
from runtime.monitoring.series import Labels, SeriesSet

__all__ = [
    "ABSENT_AFTER_MS", "BURN_RATES", "GAUGE_START_SLOT_MIN_MS", "HEARTBEAT_METRIC", "TELEMETRY_ALERT",
    "TELEMETRY_OBJECTIVE", "Alert", "BurnRate", "Objective", "SloEvaluation", "alert_name", "evaluate",
    "objectives_of",
]

HEARTBEAT_METRIC = "specops_requests_total"
ABSENT_AFTER_MS = 10 * 60_000
TELEMETRY_ALERT = "SpecOpsTelemetryAbsent"
TELEMETRY_OBJECTIVE = "(telemetry)"
GAUGE_START_SLOT_MIN_MS = 60_000
LABEL_ACTION = "specops_action"
LABEL_SERVICE_LEVEL = "service_level"


@dataclass(frozen=True, slots=True)
class BurnRate:
    name: str
    factor: float
    long_mult: int
    short_div: int

    def windows(self, window_ms: int) -> tuple[int, int]:
        long = window_ms * self.long_mult
        return long, long // self.short_div


BURN_RATES: tuple[BurnRate, ...] = (BurnRate("FastBurn", 14.4, 1, 12), BurnRate("SlowBurn", 6.0, 6, 12))


@dataclass(frozen=True, slots=True)
class Objective:
    """One objective of a compiled MonitorConfig, with the side its rule bounds."""

    name: str
    metric: str
    bound: float
    direction: Literal["max", "min"]
    window_ms: int
    actions: tuple[str, ...]
    severity: Literal["page", "ticket"]
    service_level: str


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert the generated rules would have firing, with its full label set."""

    name: str
    labels: Labels


@dataclass(frozen=True, slots=True)
class SloEvaluation:
    at_ms: int
    results: tuple[ObjectiveResult, ...]
    alerts: tuple[Alert, ...] = field(default=())


def objectives_of(config: MonitorConfig) -> tuple[Objective, ...]:
    """The objectives a rule exists for (an objective bounding the other side than its SLI has none: SO485)."""
    out = []
    for o in config.objectives:
        sli = OBJECTIVE_SLIS.get(o.metric)
        bound = None if sli is None else (o.max if sli.direction == "max" else o.min)
        if sli is None or bound is None:
            continue
        out.append(_objective(o, sli, bound, config))
    return tuple(out)


def _objective(o: ObjectiveConfig, sli: SliSpec, bound: float, config: MonitorConfig) -> Objective:
    return Objective(name=o.name, metric=o.metric, bound=float(bound), direction=sli.direction,
                     window_ms=round(o.window_s * 1000), actions=tuple(o.actions), severity=o.severity,
                     service_level=o.service_level or config.model)


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] if part else "_" for part in name.replace("_", "-").split("-"))


def alert_name(objective: str, action: str, burn: str = "") -> str:
    """``SpecOps<Objective><Action>[FastBurn|SlowBurn]``, as the rules name them."""
    return f"SpecOps{_camel(objective)}{_camel(action)}{burn}"


def _scope(model: str, environment: str) -> dict[str, str]:
    return {LABEL_MODEL: model, LABEL_ENVIRONMENT: environment}


def _rates(data: SeriesSet, name: str, sli: SliSpec, scope: dict[str, str], t: int, w: int,
           by: Sequence[str], with_matchers: bool = True) -> dict[Labels, float]:
    found = data.select(name, sli.matchers if with_matchers else (), scope)
    return sum_by(((s.labels, r) for s in found if (r := rate(s, t, w)) is not None), by)


def sli_values(sli: SliSpec, data: SeriesSet, scope: dict[str, str], t: int, w: int,
               direction: str) -> dict[Labels, float]:
    """The SLI per ``by`` group at t over [w] (for availability: the error ratio)."""
    source = metric(sli.metric)
    if sli.kind == "quantile":
        assert sli.quantile is not None
        per_le = _rates(data, source.series, sli, scope, t, w, ("le", *sli.by))
        groups: dict[Labels, list[tuple[float, float]]] = {}
        for key, value in per_le.items():
            labels = dict(key)
            le = labels.pop("le", None)
            if le is None:
                continue  # a bucket without `le` is not a bucket (PromQL skips it too)
            groups.setdefault(tuple(sorted(labels.items())), []).append((float(le), value))
        return {k: histogram_quantile(sli.quantile, b) for k, b in groups.items()}
    if sli.kind in ("ratio", "availability"):
        assert sli.denominator is not None
        bad = _rates(data, source.series, sli, scope, t, w, sli.by)
        total = _rates(data, metric(sli.denominator).series, sli, scope, t, w, sli.by, with_matchers=False)
        # `bad or total * 0`: a counter never incremented counts as 0, not "no data".
        return {k: divide(bad.get(k, 0.0 * v), v) for k, v in total.items()}
    inner = "min" if direction == "max" else "max"
    slot = max(w // 10, GAUGE_START_SLOT_MIN_MS)
    found = data.select(source.series, sli.matchers, scope)
    values: dict[Labels, float] = {}
    started: set[Labels] = set()
    for s in found:
        key = group_key(s.labels, sli.by)
        v = over_time(s, t, w, inner)
        if v is not None:
            values[key] = v if key not in values else (max if direction == "max" else min)(values[key], v)
        if present(s, t, slot, w - slot):
            started.add(key)
    return {k: v for k, v in values.items() if k in started}


def _gauge_unstarted(sli: SliSpec, data: SeriesSet, scope: dict[str, str], t: int, w: int) -> set[Labels]:
    """Gauge groups with samples in the window that the rule does not judge yet (too young)."""
    found = data.select(metric(sli.metric).series, sli.matchers, scope)
    return {group_key(s.labels, sli.by) for s in found if over_time(s, t, w, "min") is not None}


def _breaches(value: float, o: Objective) -> bool:
    return value > o.bound if o.direction == "max" else value < o.bound  # NaN compares false, as in PromQL


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else value


def _result(o: Objective, model: str, environment: str, t: int, status: str, value: float | None,
            key: Labels, evidence: dict[str, object]) -> ObjectiveResult:
    return ObjectiveResult(objective=o.name, metric=o.metric, model=model, environment=environment,
                           status=status, value=value, bound=o.bound, direction=o.direction,  # type: ignore[arg-type]
                           window_s=o.window_ms / 1000, window_end_us=t * 1000, actions=o.actions,
                           severity=o.severity, basis=_basis(o.metric), version=dict(key).get("version"),
                           evidence=evidence)


def _basis(objective_metric: str) -> Literal["realized", "estimated", "observed"]:
    # Quality measured against matured labels, or estimated before they mature; the rest is observed.
    if objective_metric.startswith("realized_"):
        return "realized"
    return "estimated" if objective_metric.startswith("estimated_") else "observed"


def _alert_labels(o: Objective, action: str, key: Labels) -> Labels:
    labels = {**dict(key), LABEL_ACTION: action, "objective": o.name, "severity": o.severity,
              LABEL_SERVICE_LEVEL: o.service_level}
    return tuple(sorted(labels.items()))


def _evaluate_one(o: Objective, data: SeriesSet, model: str, environment: str, t: int
                  ) -> tuple[list[ObjectiveResult], list[Alert]]:
    sli = OBJECTIVE_SLIS[o.metric]
    scope = _scope(model, environment)
    results: list[ObjectiveResult] = []
    alerts: list[Alert] = []
    if sli.kind == "availability":
        budget = 1 - o.bound
        per_window = {w: sli_values(sli, data, scope, t, w, o.direction)
                      for b in BURN_RATES for w in b.windows(o.window_ms)}
        main = sli_values(sli, data, scope, t, o.window_ms, o.direction)
        keys = sorted({k for values in per_window.values() for k in values} | set(main))
        for key in keys:
            burns: dict[str, object] = {}
            firing = False
            for b in BURN_RATES:
                long, short = b.windows(o.window_ms)
                limit = b.factor * budget
                lv, sv = per_window[long].get(key, math.nan), per_window[short].get(key, math.nan)
                fires = lv > limit and sv > limit
                burns[b.name] = {"long_window_s": long / 1000, "short_window_s": short / 1000,
                                 "long_burn": _finite(lv / budget) if budget else None,
                                 "short_burn": _finite(sv / budget) if budget else None, "factor": b.factor,
                                 "firing": fires}
                if fires:
                    firing = True
                    alerts += [Alert(alert_name(o.name, a, b.name), _alert_labels(o, a, key)) for a in o.actions]
            ratio = main.get(key, math.nan)
            value = None if math.isnan(ratio) else 1 - ratio
            status = "breach" if firing else ("no_data" if value is None else "ok")
            evidence = {"error_ratio": _finite(ratio), "budget": budget, "burn_rates": burns}
            if value is None:
                evidence["reason"] = "no requests in the window"
            elif not firing and value < o.bound:
                # Burn-rate alerting: below the objective over W, but not spending the budget fast enough to act.
                evidence["note"] = (f"below {o.bound:g} over the window, but the budget burns "
                                    f"{ratio / budget:.1f}x: under the {' and '.join(f'{b.factor:g}x' for b in BURN_RATES)}"
                                    " burn rates that act")
            results.append(_result(o, model, environment, t, status, value, key, evidence))
    else:
        values = sli_values(sli, data, scope, t, o.window_ms, o.direction)
        for key, raw in sorted(values.items()):
            fires = _breaches(raw, o)
            value = _finite(raw)
            status = "breach" if fires else ("no_data" if value is None else "ok")
            evidence: dict[str, object] = {"window_s": o.window_ms / 1000}
            if value is None:
                evidence["reason"] = ("no observations in the window" if sli.kind == "quantile"
                                      else "no requests in the window")
            results.append(_result(o, model, environment, t, status, value, key, evidence))
            if fires:
                alerts += [Alert(alert_name(o.name, a), _alert_labels(o, a, key)) for a in o.actions]
        if sli.kind == "gauge":
            for key in sorted(_gauge_unstarted(sli, data, scope, t, o.window_ms) - set(values)):
                results.append(_result(o, model, environment, t, "no_data", None, key, {
                    "reason": "the series began inside the window: not judged until it has lasted the whole window"}))
    if not results:
        results.append(_result(o, model, environment, t, "no_data", None, (), {
            "reason": f"no {metric(sli.metric).name} series for {model} in {environment}"}))
    return results, alerts


def _telemetry(data: SeriesSet, model: str, environment: str, t: int, service_level: str
               ) -> tuple[ObjectiveResult, Alert | None]:
    found = data.select(HEARTBEAT_METRIC, (), _scope(model, environment))
    absent = not any(present(s, t, ABSENT_AFTER_MS) for s in found)
    result = ObjectiveResult(
        objective=TELEMETRY_OBJECTIVE, metric="telemetry", model=model, environment=environment,
        status="breach" if absent else "ok", value=0.0 if absent else 1.0, bound=1.0, direction="min",
        window_s=ABSENT_AFTER_MS / 1000, window_end_us=t * 1000, actions=("page",), severity="page",
        evidence={"heartbeat": HEARTBEAT_METRIC, "reason": f"no {HEARTBEAT_METRIC} sample for 10m"} if absent else {})
    if not absent:
        return result, None
    labels = {**_scope(model, environment), LABEL_ACTION: "page", "objective": TELEMETRY_OBJECTIVE,
              "severity": "page", LABEL_SERVICE_LEVEL: service_level}
    return result, Alert(TELEMETRY_ALERT, tuple(sorted(labels.items())))


def evaluate(objectives: Iterable[Objective], data: SeriesSet, *, model: str, environment: str, at_ms: int,
             heartbeat: Sequence[str] = ()) -> SloEvaluation:
    """Every objective at ``at_ms``; ``heartbeat``: the ServiceLevels whose rules page on absent telemetry."""
    results: list[ObjectiveResult] = []
    alerts: list[Alert] = []
    for o in objectives:
        r, a = _evaluate_one(o, data, model, environment, at_ms)
        results += r
        alerts += a
    for service_level in sorted(set(heartbeat)):
        r1, a1 = _telemetry(data, model, environment, at_ms, service_level)
        results.append(r1)
        if a1 is not None:
            alerts.append(a1)
    return SloEvaluation(at_ms=at_ms, results=tuple(results),
                         alerts=tuple(sorted(set(alerts), key=lambda a: (a.name, a.labels))))
