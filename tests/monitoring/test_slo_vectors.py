"""The runtime's SLO evaluator against the promtool test vectors.

``tests/slo/vectors`` holds the scenarios promtool runs against the generated
PrometheusRules (tests/slo/test_promtool.py): input series, evaluation times
and the complete set of alerts firing at each.  The runtime evaluator reads
the compiled monitor config of the same environment (what the CronWorkflow
runs) and must fire exactly those alerts, labels included, at every time.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from compiler.emit.backends import prometheus
from runtime.contracts.steps import MonitorConfig
from runtime.monitoring import slo
from runtime.monitoring.promql import histogram_quantile, rate
from runtime.monitoring.series import Series, SeriesError, parse_duration_ms, parse_values, series_from_vector

REPO = Path(__file__).resolve().parents[2]
VECTORS = sorted((REPO / "tests/slo/vectors").glob("*.yaml"))


def monitor_config(rules: str, model: str) -> MonitorConfig:
    """The compiled monitor config beside a generated rule file (its ConfigMap's JSON)."""
    env_dir = (REPO / rules).parent
    for path in sorted(env_dir.glob("configmap-*-monitor-config.yaml")):
        doc = yaml.safe_load(path.read_text())
        for text in doc["data"].values():
            config = MonitorConfig.model_validate(json.loads(text))
            if config.model == model:
                return config
    raise AssertionError(f"no monitor config for {model} in {env_dir}")


def evaluate_vector(vector: dict[str, Any], at: str) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    config = monitor_config(vector["rules"], vector["labels"]["model"])
    data = series_from_vector(vector["series"], vector["interval"])
    heartbeat = ({o.service_level or config.model for o in config.objectives}
                 if config.notifiers and config.min_replicas >= 1 else set())
    result = slo.evaluate(slo.objectives_of(config), data, model=config.model, environment=config.environment,
                          at_ms=parse_duration_ms(at), heartbeat=tuple(heartbeat))
    return {(a.name, a.labels) for a in result.alerts}


def expected(vector: dict[str, Any], step: dict[str, Any]) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    return {(a["alertname"], tuple(sorted({**vector["labels"], **a["labels"]}.items()))) for a in step["firing"]}


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_the_evaluator_fires_exactly_what_promtool_expects(path: Path) -> None:
    vector = yaml.safe_load(path.read_text())
    for step in vector["expect"]:
        got, want = evaluate_vector(vector, step["at"]), expected(vector, step)
        assert got == want, (f"{path.name} at {step['at']}: {vector['description']}\n"
                             f"unexpected: {sorted(got - want)}\nmissing: {sorted(want - got)}")


def test_a_changed_scenario_changes_the_answer() -> None:
    """Not vacuous: the error-rate vector without its model errors fires nothing at 25m."""
    vector = yaml.safe_load((REPO / "tests/slo/vectors/error-rate.yaml").read_text())
    assert evaluate_vector(vector, "25m") == expected(vector, vector["expect"][1]) != set()
    vector["series"] = [s for s in vector["series"] if "model_error" not in s["series"]]
    assert evaluate_vector(vector, "25m") == set()


def test_the_rule_constants_are_the_compilers() -> None:
    assert [(b.name, b.factor, b.long_mult, b.short_div) for b in slo.BURN_RATES] == \
        [(b.name, b.factor, b.long_mult, b.short_div) for b in prometheus.BURN_RATES]
    assert slo.GAUGE_START_SLOT_MIN_MS == prometheus.GAUGE_START_SLOT_MIN_MS
    assert slo.ABSENT_AFTER_MS == prometheus.ABSENT_AFTER_MS
    assert slo.HEARTBEAT_METRIC == prometheus.HEARTBEAT_METRIC
    assert (slo.TELEMETRY_ALERT, slo.TELEMETRY_OBJECTIVE) == (prometheus.TELEMETRY_ALERT, prometheus.TELEMETRY_LABEL)
    for name in ("a", "pump-failure", "a--b", "realized_recall", "x-"):
        for action in ("rollback", "open_circuit"):
            assert slo.alert_name(name, action, "FastBurn") == prometheus.alert_name(name, action, "FastBurn")


@pytest.mark.parametrize("env", ["prod", "staging"])
def test_every_generated_alert_is_one_the_evaluator_can_fire(env: str) -> None:
    rules = yaml.safe_load((REPO / f"generated/{env}/prometheusrule-pump-failure-slo.yaml").read_text())
    names = {r["alert"] for g in rules["spec"]["groups"] for r in g["rules"] if "alert" in r}
    config = monitor_config(f"generated/{env}/prometheusrule-pump-failure-slo.yaml", "pump-failure")
    ours = {slo.TELEMETRY_ALERT}
    for o in slo.objectives_of(config):
        burns = [b.name for b in slo.BURN_RATES] if o.metric == "availability" else [""]
        ours |= {slo.alert_name(o.name, a, b) for a in o.actions for b in burns}
    assert ours == names


# ------------------------------------------------------------ the arithmetic


def test_promtool_value_notation() -> None:
    assert parse_values("1+2x3 _ _x2 5x1 stale 7-1x1") == [1, 3, 5, 7, None, None, None, 5, 5,
                                                          parse_values("stale")[0], 7, 6]
    with pytest.raises(SeriesError, match="not a promtool value"):
        parse_values("1+x3")
    assert parse_duration_ms("17d12h") == (17 * 24 + 12) * 3_600_000
    with pytest.raises(SeriesError, match="not a Prometheus duration"):
        parse_duration_ms("5 minutes")


def test_rate_extrapolates_like_prometheus() -> None:
    # 10/s sampled every 30s from t=0: at 5m over [5m] the window holds 11 samples
    # spanning the whole range, so no extrapolation is needed.
    s = Series("c", (), tuple((i * 30_000, i * 300.0) for i in range(21)))
    assert rate(s, 300_000, 300_000) == pytest.approx(10.0)
    # Ending 2 minutes before the window's end: extrapolated by half a spacing only.
    short = Series("c", (), tuple((i * 30_000, i * 300.0) for i in range(7)))
    assert rate(short, 300_000, 300_000) == pytest.approx(1800 * (180 + 15) / 180 / 300)
    # A counter reset counts the value before it.
    reset = Series("c", (), ((0, 0.0), (30_000, 100.0), (60_000, 20.0)))
    assert rate(reset, 60_000, 60_000) == pytest.approx(120 / 60)
    assert rate(Series("c", (), ((0, 1.0),)), 60_000, 60_000) is None


def test_histogram_quantile_interpolates_like_prometheus() -> None:
    buckets = [(0.1, 50.0), (0.25, 90.0), (0.5, 100.0), (math.inf, 100.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.99, buckets) == pytest.approx(0.25 + 0.25 * 9 / 10)
    assert histogram_quantile(0.99, [(0.1, 0.0), (math.inf, 10.0)]) == 0.1  # the +Inf bucket: highest finite bound
    assert math.isnan(histogram_quantile(0.99, [(0.1, 0.0), (math.inf, 0.0)]))  # no observations
