"""Prometheus: per ServiceLevel and cloud environment where its model is
served, a ``PrometheusRule`` enforcing every objective; per served predictor,
a ``ServiceMonitor`` scraping its ``/metrics``.

Why it looks like this (details in docs/architecture.md, "SLO rules"):

* The PromQL comes from one table, ``runtime.contracts.metrics.OBJECTIVE_SLIS``
  (metric names, labels, buckets the runtime exports), so rules and runtime
  cannot drift apart.
* Each objective gets one recording rule ``specops:<metric>:<window>`` (the
  SLI over the objective's window) and one alert per action, labelled
  ``specops_action`` (what the runtime's enforcer or Alertmanager route does),
  plus model, environment, objective, severity and service_level.
* Availability is alerted by multi-window, multi-burn-rate (SRE workbook
  ch. 5), windows derived from the objective's window W: fast burn
  14.4x over W and W/12, slow burn 6x over 6W and W/2.  For W = 1h these are
  exactly the workbook's 1h/5m and 6h/30m.
* Gauges (quality, drift, backlog) breach when they stay beyond the bound for
  the whole window (``min_over_time`` / ``max_over_time``), so one bad
  sample does not retrain or page.
* No ``for:`` clauses: every SLI is already averaged over its window.
* KServe (Serverless) labels each revision's Knative private Service with
  ``serving.kserve.io/inferenceservice`` and ``component: predictor``; the
  ServiceMonitor selects those private Services (one target per pod, not the
  activator) on their ``http`` port, which queue-proxy forwards to the
  runtime's server, so both the champion and canary revision are scraped.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from compiler.emit.artifact import Artifact
from compiler.emit.conventions import ANNOTATION_SOURCE, labels, wave
from compiler.emit.layout import manifest_file
from compiler.emit.prometheus_models import (
    Endpoint,
    LabelSelector,
    NamespaceSelector,
    ObjectMeta,
    PrometheusRule,
    PrometheusRuleSpec,
    Rule,
    RuleGroup,
    ServiceMonitor,
    ServiceMonitorSpec,
)
from compiler.emit.serialize import yaml_artifact
from compiler.plan import ObjectivePlan, ServingPlan, SloPlan, SystemPlan
from runtime.contracts.metrics import LABEL_ENVIRONMENT, LABEL_MODEL, OBJECTIVE_SLIS, LabelMatcher, SliSpec, metric

__all__ = [
    "BURN_RATES",
    "LABEL_ACTION",
    "NAME",
    "SCRAPE_INTERVAL",
    "BurnRate",
    "alert_name",
    "build_absence_alert",
    "build_alerts",
    "build_prometheus_rule",
    "build_recordings",
    "build_service_monitor",
    "emit",
    "prom_duration",
    "recording_name",
    "sli_expr",
]

NAME = "prometheus"
LABEL_ACTION = "specops_action"
LABEL_SERVICE_LEVEL = "service_level"
SCRAPE_INTERVAL = "30s"
SCRAPE_TIMEOUT = "10s"
METRICS_PATH = "/metrics"
# KServe's labels on the Services of an InferenceService's predictor, and
# Knative's on the per-revision private Service that reaches the pods directly.
KSERVE_ISVC_LABEL = "serving.kserve.io/inferenceservice"
KSERVE_COMPONENT_LABEL = "component"
KNATIVE_SERVICE_TYPE_LABEL = "networking.internal.knative.dev/serviceType"
KNATIVE_HTTP_PORT = "http"
# The series whose absence means the predictor exports nothing (the runtime
# exports its counters from start-up, at 0 before the first request).
HEARTBEAT_METRIC = "specops_requests_total"
ABSENT_AFTER_MS = 10 * 60_000
# Every objective's alert name ends in its action (or burn window), so this one never collides.
TELEMETRY_ALERT = "SpecOpsTelemetryAbsent"
TELEMETRY_LABEL = "(telemetry)"  # not a DNS-1123 name, so never a spec objective's name


@dataclass(frozen=True, slots=True)
class BurnRate:
    """A burn-rate alert: ``factor`` times the budget rate over a long and a short window."""

    name: str  # alert name suffix
    factor: float
    long_mult: int  # long window = objective window x long_mult
    short_div: int  # short window = long window / short_div

    def windows(self, window_ms: int) -> tuple[int, int]:
        long = window_ms * self.long_mult
        return long, long // self.short_div


# SRE workbook, "Alerting on SLOs", multiwindow multi-burn-rate: 14.4x spends
# 2% of a 30-day budget in 1h; 6x spends 5% in 6h; short window = long / 12.
BURN_RATES: tuple[BurnRate, ...] = (BurnRate("FastBurn", 14.4, 1, 12), BurnRate("SlowBurn", 6.0, 6, 12))

# A gauge's series must have a sample in the first tenth of the window (at
# least two scrapes long) to be judged.
GAUGE_START_SLOT_MIN_MS = 60_000

_UNITS_MS = (("w", 7 * 86_400_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1))


def prom_duration(millis: int) -> str:
    """A Prometheus duration: ``300000`` -> ``5m``, ``5400000`` -> ``1h30m``."""
    out, rest = [], millis
    for unit, size in _UNITS_MS:
        if rest >= size:
            out.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(out) or "0s"


def _num(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _selector(series: str, slo: SloPlan, matchers: Sequence[LabelMatcher] = ()) -> str:
    # Names are DNS-1123 labels (validated), so they never need escaping.
    parts = [f'{LABEL_MODEL}="{slo.model}"', f'{LABEL_ENVIRONMENT}="{slo.environment}"']
    parts += [f'{m.label}{m.op}"{m.value}"' for m in matchers]
    return f"{series}{{{','.join(parts)}}}"


def _rate_sum(series: str, sli: SliSpec, slo: SloPlan, window: str, matchers: Sequence[LabelMatcher] = ()) -> str:
    return f"sum by ({', '.join(sli.by)}) (rate({_selector(series, slo, matchers)}[{window}]))"


def sli_expr(sli: SliSpec, slo: SloPlan, window_ms: int, direction: str) -> str:
    """PromQL for an SLI over a window (for availability: the error ratio)."""
    w = prom_duration(window_ms)
    source = metric(sli.metric)
    if sli.kind == "quantile":
        by = ", ".join(("le", *sli.by))
        return (f"histogram_quantile({sli.quantile}, sum by ({by}) "
                f"(rate({_selector(source.series, slo, sli.matchers)}[{w}])))")
    if sli.kind in ("ratio", "availability"):
        assert sli.denominator is not None
        bad = _rate_sum(source.series, sli, slo, w, sli.matchers)
        total = _rate_sum(metric(sli.denominator).series, sli, slo, w)
        # A counter never incremented has no series: count it as 0, not "no data".
        return f"({bad} or {total} * 0) / {total}"
    # gauge: beyond the bound at every sample of the window, and only once the
    # series already existed at the window's start (a new version's first
    # readings are not judged alone).
    selector = _selector(source.series, slo, sli.matchers)
    by = ", ".join(sli.by)
    inner, outer = ("min_over_time", "max") if direction == "max" else ("max_over_time", "min")
    slot = max(window_ms // 10, GAUGE_START_SLOT_MIN_MS)
    started = (f"max by ({by}) (present_over_time({selector}[{prom_duration(slot)}] "
               f"offset {prom_duration(window_ms - slot)}))")
    return f"{outer} by ({by}) ({inner}({selector}[{w}])) and {started}"


def recording_name(objective_metric: str, window_ms: int) -> str:
    """``specops:<objective metric>:<window>``; availability records its error ratio."""
    what = "availability_error_ratio" if OBJECTIVE_SLIS[objective_metric].kind == "availability" else objective_metric
    return f"specops:{what}:{prom_duration(window_ms)}"


def _recorded(slo: SloPlan, objective_metric: str, window_ms: int) -> str:
    return (f'{recording_name(objective_metric, window_ms)}{{{LABEL_SERVICE_LEVEL}="{slo.name}",'
            f'{LABEL_MODEL}="{slo.model}",{LABEL_ENVIRONMENT}="{slo.environment}"}}')


def _windows(o: ObjectivePlan) -> tuple[int, ...]:
    if OBJECTIVE_SLIS[o.metric].kind != "availability":
        return (o.window_ms,)
    return tuple(w for b in BURN_RATES for w in b.windows(o.window_ms))


def build_recordings(slo: SloPlan) -> tuple[Rule, ...]:
    """One recording per (SLI, window), deduplicated, in objective order."""
    out: dict[str, Rule] = {}
    for o in slo.objectives:
        sli = OBJECTIVE_SLIS[o.metric]
        for w in sorted(_windows(o)):
            name = recording_name(o.metric, w)
            out.setdefault(name, Rule(record=name, expr=sli_expr(sli, slo, w, o.direction),
                                      labels={LABEL_SERVICE_LEVEL: slo.name}))
    return tuple(out.values())


def _camel(name: str) -> str:
    # An empty part (from "--") becomes "_", so distinct names stay distinct: a-b -> AB, a--b -> A_B.
    return "".join(part[:1].upper() + part[1:] if part else "_" for part in name.replace("_", "-").split("-"))


def alert_name(objective: str, action: str, burn: str = "") -> str:
    """``SpecOps<Objective><Action>[FastBurn|SlowBurn]``, e.g. ``SpecOpsErrorsOpenCircuit``."""
    return f"SpecOps{_camel(objective)}{_camel(action)}{burn}"


def _bound_text(o: ObjectivePlan) -> str:
    if OBJECTIVE_SLIS[o.metric].unit == "seconds":
        return prom_duration(round(o.bound * 1000))
    return _num(o.bound)


def _alert(slo: SloPlan, o: ObjectivePlan, action: str, expr: str, burn: str, what: str) -> Rule:
    side = "above" if o.direction == "max" else "below"
    return Rule(
        alert=alert_name(o.name, action, burn),
        expr=expr,
        labels={
            LABEL_ACTION: action,
            LABEL_MODEL: slo.model,
            LABEL_ENVIRONMENT: slo.environment,
            "objective": o.name,
            "severity": o.severity,
            LABEL_SERVICE_LEVEL: slo.name,
        },
        annotations={
            "summary": f"{slo.model} in {slo.environment}: {o.metric} {what}",
            "description": (f"Objective '{o.name}' of ServiceLevel {slo.name}: {o.metric} {side} "
                            f"{_bound_text(o)} over {prom_duration(o.window_ms)}; triggers {action}."),
            "specops_source": str(o.origin),
        },
    )


def build_alerts(slo: SloPlan) -> tuple[Rule, ...]:
    out: list[Rule] = []
    for o in slo.objectives:
        sli = OBJECTIVE_SLIS[o.metric]
        op = ">" if o.direction == "max" else "<"
        for action in o.actions:
            if sli.kind == "availability":
                budget = f"(1 - {_num(o.bound)})"
                for b in BURN_RATES:
                    long, short = b.windows(o.window_ms)
                    limit = f"({_num(b.factor)} * {budget})"
                    expr = f"{_recorded(slo, o.metric, long)} > {limit} and {_recorded(slo, o.metric, short)} > {limit}"
                    what = (f"error budget burning {_num(b.factor)}x too fast over {prom_duration(long)} "
                            f"and {prom_duration(short)}")
                    out.append(_alert(slo, o, action, expr, b.name, what))
            else:
                expr = f"{_recorded(slo, o.metric, o.window_ms)} {op} {_num(o.bound)}"
                out.append(_alert(slo, o, action, expr, "", f"{'above' if op == '>' else 'below'} {_bound_text(o)}"))
    return tuple(out)


def build_absence_alert(slo: SloPlan) -> Rule | None:
    """Every SLI vanishes when the predictor stops exporting (crashed, not
    scraped), and a vanished SLI fires nothing: page instead of staying silent.
    Only where someone can be paged and the predictor never scales to zero."""
    if not slo.notify or slo.min_replicas < 1:
        return None
    heartbeat = _selector(metric(HEARTBEAT_METRIC).series, slo)
    return Rule(
        alert=TELEMETRY_ALERT,
        expr=f"absent_over_time({heartbeat}[{prom_duration(ABSENT_AFTER_MS)}])",
        labels={LABEL_ACTION: "page", LABEL_MODEL: slo.model, LABEL_ENVIRONMENT: slo.environment,
                "objective": TELEMETRY_LABEL, "severity": "page", LABEL_SERVICE_LEVEL: slo.name},
        annotations={
            "summary": f"{slo.model} in {slo.environment}: no metrics for {prom_duration(ABSENT_AFTER_MS)}",
            "description": (f"No {HEARTBEAT_METRIC} from the {slo.predictor} predictor: every objective of "
                            f"ServiceLevel {slo.name} is blind; triggers page."),
            "specops_source": str(slo.origin),
        },
    )


def build_prometheus_rule(plan: SystemPlan, slo: SloPlan) -> PrometheusRule:
    absence = build_absence_alert(slo)
    rules = (*build_recordings(slo), *build_alerts(slo), *((absence,) if absence else ()))
    group = RuleGroup(name=f"specops-slo-{slo.name}", rules=rules)
    meta = ObjectMeta(name=f"{slo.name}-slo", namespace=slo.namespace,
                      labels=labels(plan.name, slo.environment, slo.model),
                      annotations={ANNOTATION_SOURCE: str(slo.origin), **wave("PrometheusRule")})
    return PrometheusRule(metadata=meta, spec=PrometheusRuleSpec(groups=(group,)))


def build_service_monitor(plan: SystemPlan, serving: ServingPlan) -> ServiceMonitor:
    meta = ObjectMeta(name=f"{serving.name}-predictor", namespace=serving.namespace,
                      labels=labels(plan.name, serving.environment, serving.model),
                      annotations={ANNOTATION_SOURCE: str(serving.origin), **wave("ServiceMonitor")})
    selector = LabelSelector(match_labels={KSERVE_ISVC_LABEL: serving.name, KSERVE_COMPONENT_LABEL: "predictor",
                                           KNATIVE_SERVICE_TYPE_LABEL: "Private"})
    endpoint = Endpoint(port=KNATIVE_HTTP_PORT, path=METRICS_PATH, scheme="http", interval=SCRAPE_INTERVAL,
                        scrape_timeout=SCRAPE_TIMEOUT)
    return ServiceMonitor(metadata=meta, spec=ServiceMonitorSpec(
        selector=selector, namespace_selector=NamespaceSelector(match_names=(serving.namespace,)), endpoints=(endpoint,)))


def emit(plan: SystemPlan) -> Iterator[Artifact]:
    for slo in plan.slos:
        yield yaml_artifact(manifest_file(plan, slo.environment, "PrometheusRule", f"{slo.name}-slo"),
                            build_prometheus_rule(plan, slo), (slo.origin.resource, f"Model/{slo.model}"), NAME)
    for serving in plan.servings:
        yield yaml_artifact(manifest_file(plan, serving.environment, "ServiceMonitor", f"{serving.name}-predictor"),
                            build_service_monitor(plan, serving), (serving.origin.resource,), NAME)
