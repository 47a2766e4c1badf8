"""The prometheus backend and the metric catalog it shares with the runtime:
schema conformance, one alert per objective and action with its labels, the
burn-rate windows, the ServiceMonitor's selection of KServe's predictor, and
rules that query only what the runtime exports."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
import types
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from compiler.emit.backends import kserve, prometheus
from compiler.emit.prometheus_models import PrometheusRule, ServiceMonitor
from compiler.plan import ObjectivePlan, Origin, SloPlan, SystemPlan
from compiler.spec.servicelevel import ACTIONS
from runtime.contracts.metrics import METRICS, OBJECTIVE_SLIS, metric


def _docs(plan: SystemPlan) -> dict[str, dict[str, Any]]:
    return {a.path: yaml.safe_load(a.content) for a in prometheus.emit(plan)}


def _objective(name: str, metric_name: str, bound: float, window_ms: int, actions: tuple[str, ...] = ("page",),
               direction: str = "max") -> ObjectivePlan:
    return ObjectivePlan(name=name, metric=metric_name, direction=direction, bound=bound,  # type: ignore[arg-type]
                         window_ms=window_ms, actions=actions, severity="page",
                         origin=Origin("ServiceLevel/x", "specs/slos/x.yaml", 9))


def _slo(plan: SystemPlan, *objectives: ObjectivePlan) -> SloPlan:
    return dataclasses.replace(plan.slos[0], objectives=objectives)


# ---------------------------------------------------------------- outputs


def test_one_rule_per_service_level_and_cloud_environment_one_monitor_per_predictor(plan):
    assert sorted(_docs(plan)) == [
        "generated/prod/prometheusrule-pump-failure-slo.yaml",
        "generated/prod/servicemonitor-pump-failure-predictor.yaml",
        "generated/staging/prometheusrule-pump-failure-slo.yaml",
        "generated/staging/servicemonitor-pump-failure-predictor.yaml",
    ]  # and nothing for the edge environment, which runs no Prometheus


def test_manifests_pass_the_strict_schemas(plan, shared_schemas, tmp_path):
    for a in prometheus.emit(plan):
        out = tmp_path / a.path
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(a.content)
    run = subprocess.run([sys.executable, str(shared_schemas / "validate.py"), "--cel", "on", str(tmp_path)],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "4 documents checked, 0 invalid" in run.stdout


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, tuple):
        for arg in typing.get_args(annotation):
            found = _model_of(arg)
            if found is not None:
                return found
    return None


def _unknown_aliases(model: type[BaseModel], schema: dict[str, Any], where: str) -> list[str]:
    if schema.get("type") == "array":
        schema = schema.get("items") or {}
    props = schema.get("properties")
    if props is None:
        return []
    out = []
    for name, info in model.model_fields.items():
        alias = info.alias or name
        if alias not in props:
            out.append(f"{where}.{alias}")
            continue
        sub = _model_of(info.annotation)
        if sub is not None:
            out += _unknown_aliases(sub, props[alias], f"{where}.{alias}")
    return out


def test_every_model_field_is_a_field_of_the_crd(shared_schemas):
    """Also the optional fields the example does not use (a rule's 'for')."""
    for model, file in ((PrometheusRule, "prometheusrule"), (ServiceMonitor, "servicemonitor")):
        schema = json.loads((shared_schemas / "monitoring.coreos.com" / f"{file}_v1-strict.json").read_text())
        assert _unknown_aliases(model, schema, model.__name__) == []
    assert "for" in prometheus.Rule.model_fields["for_"].alias  # type: ignore[operator]


# ------------------------------------------------------------ alerts, labels


def _rules(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for g in doc["spec"]["groups"] for r in g["rules"]]


def test_one_alert_per_objective_and_action_with_its_labels(plan, repo: Path):
    slo = next(s for s in plan.slos if s.environment == "prod")
    doc = _docs(plan)["generated/prod/prometheusrule-pump-failure-slo.yaml"]
    alerts = [r for r in _rules(doc) if "alert" in r]
    expected = sorted([(o.name, a) for o in slo.objectives for a in o.actions
                       for _ in range(2 if o.metric == "availability" else 1)] + [("(telemetry)", "page")])
    assert sorted((r["labels"]["objective"], r["labels"]["specops_action"]) for r in alerts) == expected
    spec_lines = (repo / "specs/slos/pump-failure.yaml").read_text().splitlines()
    for r in alerts:
        labels = r["labels"]
        assert set(labels) == {"specops_action", "model", "environment", "objective", "severity", "service_level"}
        assert labels["specops_action"] in ACTIONS
        assert (labels["model"], labels["environment"], labels["service_level"]) == ("pump-failure", "prod", "pump-failure")
        assert set(r["annotations"]) == {"summary", "description", "specops_source"}
        # The source annotation points at the objective's own line.
        file, line = re.match(r"(\S+):(\d+) ", r["annotations"]["specops_source"]).groups()  # type: ignore[union-attr]
        assert file == "specs/slos/pump-failure.yaml"
        wanted = "name: pump-failure" if labels["objective"] == "(telemetry)" else f"name: {labels['objective']},"
        assert wanted in spec_lines[int(line) - 1]
        assert "for" not in r  # the SLI is already averaged over its window
    assert len({r["alert"] for r in alerts}) == len(alerts)


def test_absence_alert_only_where_someone_can_be_paged_and_the_predictor_never_scales_to_zero(plan):
    slo = plan.slos[0]
    alert = prometheus.build_absence_alert(slo)
    assert alert is not None and alert.alert == "SpecOpsTelemetryAbsent"
    assert alert.expr == ('absent_over_time(specops_requests_total{model="pump-failure",'
                          f'environment="{slo.environment}"}}[10m])')
    assert prometheus.build_absence_alert(dataclasses.replace(slo, notify=())) is None
    assert prometheus.build_absence_alert(dataclasses.replace(slo, min_replicas=0)) is None


def test_recording_rules_are_named_by_metric_and_window_and_deduplicated(plan):
    o1 = _objective("slow", "latency_p99", 0.25, 300_000, ("rollback",))
    o2 = _objective("very-slow", "latency_p99", 1.0, 300_000, ("page",))
    o3 = _objective("slow-long", "latency_p99", 0.2, 3_600_000, ("page",))
    records = [r.record for r in prometheus.build_recordings(_slo(plan, o1, o2, o3))]
    assert records == ["specops:latency_p99:5m", "specops:latency_p99:1h"]
    alerts = prometheus.build_alerts(_slo(plan, o1, o2, o3))
    assert [a.expr.split(" > ")[1] for a in alerts] == ["0.25", "1", "0.2"]


def test_burn_rate_windows_derive_from_the_objective_window(plan):
    """W = 1h gives the SRE workbook's 1h/5m and 6h/30m; W = 2h scales them."""
    for window_ms, expected in ((3_600_000, ("1h", "5m", "6h", "30m")), (7_200_000, ("2h", "10m", "12h", "1h"))):
        o = _objective("availability", "availability", 0.999, window_ms, ("page",), direction="min")
        fast, slow = prometheus.build_alerts(_slo(plan, o))
        assert fast.alert == "SpecOpsAvailabilityPageFastBurn" and slow.alert == "SpecOpsAvailabilityPageSlowBurn"
        windows = tuple(re.findall(r"availability_error_ratio:(\w+)\{", fast.expr + slow.expr))
        assert windows == expected
        assert fast.expr.count("> (14.4 * (1 - 0.999))") == 2 and slow.expr.count("> (6 * (1 - 0.999))") == 2
        recorded = {r.record for r in prometheus.build_recordings(_slo(plan, o))}
        assert recorded == {f"specops:availability_error_ratio:{w}" for w in expected}


def test_alert_names_are_distinct_for_distinct_objectives():
    names = [prometheus.alert_name(o, a) for o in ("a-b", "a--b", "ab", "a-b-c", "ab-c", "a-bc") for a in ACTIONS]
    assert len(set(names)) == len(names)
    assert prometheus.alert_name("review-time", "open_circuit") == "SpecOpsReviewTimeOpenCircuit"
    assert prometheus.alert_name("a--b", "page") == "SpecOpsA_BPage"


@pytest.mark.parametrize(("millis", "text"), [(250, "250ms"), (300_000, "5m"), (5_400_000, "1h30m"),
                                              (86_400_000, "1d"), (604_800_000, "1w"), (1500, "1s500ms")])
def test_prom_duration(millis: int, text: str):
    assert prometheus.prom_duration(millis) == text


def test_gauges_must_stay_beyond_the_bound_for_the_whole_window(plan):
    high = prometheus.sli_expr(OBJECTIVE_SLIS["review_backlog"], plan.slos[0], 3_600_000, "max")
    low = prometheus.sli_expr(OBJECTIVE_SLIS["realized_pr_auc"], plan.slos[0], 3_600_000, "min")
    assert high.startswith("max by (model, environment) (min_over_time(specops_review_backlog{")
    assert low.startswith("min by (model, version, environment) (max_over_time(specops_realized_quality{")
    assert 'metric="pr_auc"' in low
    # judged only once the series existed at the window's start (first tenth, at least 1m)
    assert high.endswith('and max by (model, environment) (present_over_time(specops_review_backlog{'
                         'model="pump-failure",environment="prod"}[6m] offset 54m))')
    short = prometheus.sli_expr(OBJECTIVE_SLIS["review_backlog"], plan.slos[0], 120_000, "max")
    assert short.endswith("[1m] offset 1m))")


# ------------------------------------------------------------ ServiceMonitor


def test_service_monitor_selects_the_predictor_kserve_creates(plan):
    docs = _docs(plan)
    isvcs = {a.path: yaml.safe_load(a.content) for a in kserve.emit(plan)}
    for serving in plan.servings:
        mon = docs[f"generated/{serving.environment}/servicemonitor-{serving.name}-predictor.yaml"]
        isvc = isvcs[f"generated/{serving.environment}/inferenceservice-{serving.name}.yaml"]
        assert mon["metadata"]["namespace"] == isvc["metadata"]["namespace"]
        assert mon["spec"]["namespaceSelector"] == {"matchNames": [isvc["metadata"]["namespace"]]}
        assert mon["spec"]["selector"]["matchLabels"] == {
            "serving.kserve.io/inferenceservice": isvc["metadata"]["name"],
            "component": "predictor",
            "networking.internal.knative.dev/serviceType": "Private",
        }
        assert mon["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "scheme": "http",
                                             "interval": "30s", "scrapeTimeout": "10s"}]


# ------------------------------------------------- the catalog is the contract


def test_metric_catalog_is_well_formed():
    names = [m.name for m in METRICS]
    assert len(names) == len(set(names))
    for m in METRICS:
        assert m.help.strip() and len(m.labels) == len(set(m.labels))
        if m.type == "counter":
            assert m.name.endswith("_total") and not m.buckets
        if m.type == "histogram":
            assert m.name.endswith("_seconds") and m.buckets == tuple(sorted(set(m.buckets))) and "le" not in m.labels
        if m.type == "gauge":
            assert not m.buckets


def test_every_sli_reads_catalog_metrics_with_their_labels():
    kinds = {"quantile": "histogram", "ratio": "counter", "availability": "counter", "gauge": "gauge"}
    for name, sli in OBJECTIVE_SLIS.items():
        source = metric(sli.metric)
        assert source.type == kinds[sli.kind], name
        assert set(sli.by) <= set(source.labels), name
        assert {m.label for m in sli.matchers} <= set(source.labels), name
        if sli.denominator:
            assert metric(sli.denominator).type == "counter" and set(sli.by) <= set(metric(sli.denominator).labels)
        if sli.kind == "quantile":
            assert sli.quantile is not None and 0 < sli.quantile < 1


_SELECTOR = re.compile(r"\b(specops_[a-z_]+)\{([^}]*)\}")
_LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)(?:=~|!~|!=|=)\"")


def test_generated_rules_query_only_what_the_runtime_exports(plan):
    """Every raw metric a rule selects is in the catalog, with labels it has."""
    catalog = {m.series: m for m in METRICS}
    seen = set()
    for path, doc in _docs(plan).items():
        if doc["kind"] != "PrometheusRule":
            continue
        for rule in _rules(doc):
            for series, matchers in _SELECTOR.findall(rule["expr"]):
                assert series in catalog, f"{path}: {series} is not exported by the runtime"
                labels = set(_LABEL.findall(matchers))
                allowed = set(catalog[series].labels) | ({"le"} if series.endswith("_bucket") else set())
                assert labels <= allowed, f"{path}: {series} has no label(s) {labels - allowed}"
                seen.add(catalog[series].name)
    assert seen == {metric(s.metric).name for s in OBJECTIVE_SLIS.values()} | {
        metric(s.denominator).name for s in OBJECTIVE_SLIS.values() if s.denominator}


# ------------------------------------------------------- offline check (SO610)


def test_inconsistent_rules_are_reported_at_the_service_level(plan):
    """SO610: an alert that lost its action label, or reads a recording nobody
    writes, is a compiler bug reported at the ServiceLevel, and nothing is written."""
    from compiler.compile import output_checks
    from compiler.emit import emit
    from compiler.emit.artifact import Artifact

    artifacts = emit(plan)
    assert output_checks(plan, artifacts) == []
    target = "generated/prod/prometheusrule-pump-failure-slo.yaml"
    broken = []
    for a in artifacts:
        if a.path == target:
            text = a.content.replace(b"specops_action: retrain", b"specops_action: retrian", 1)
            text = text.replace(b"specops:skew_mismatch_rate:1h{", b"specops:skew_mismatch_rate:2h{", 1)
            assert text != a.content
            a = Artifact(a.path, text, a.sources, a.backend)  # no cached document: the bytes are checked
        broken.append(a)
    diags = output_checks(plan, broken)
    assert {d.code for d in diags} == {"SO610"}
    messages = " | ".join(d.message for d in diags)
    assert "specops_action='retrian'" in messages
    assert "reads specops:skew_mismatch_rate:2h, which no earlier rule of the group records" in messages
    assert {(d.location.file, d.location.line) for d in diags} == {("specs/slos/pump-failure.yaml", 6)}
