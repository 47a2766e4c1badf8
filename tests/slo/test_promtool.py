"""The generated SLO rules, proven with Prometheus' own tools.

* ``promtool check rules`` accepts every generated PrometheusRule (its
  ``.spec`` is a Prometheus rule file).
* ``promtool test rules`` runs every vector in ``vectors/`` (data: input
  series, evaluation times, the complete set of alerts firing at each) against
  the generated rules: each expected alert fires with its labels (the
  ``specops_action`` above all) and every other alert of the file stays silent.
* The vectors together fire every alert of the example's prod rules, and a
  wrong expectation makes promtool fail (the harness can detect a bug).

promtool comes from the Debian package ``prometheus``; without it these tests
skip locally and fail in CI (``SPECOPS_REQUIRE_SERVICES=1``).
"""

from __future__ import annotations

import copy
import subprocess
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

from compiler.spec.servicelevel import ObjectiveMetric
from runtime.contracts.metrics import OBJECTIVE_SLIS

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
VECTORS = HERE / "vectors"

RULE_FILES = sorted(
    [*REPO.glob("generated/*/prometheusrule-*.yaml"),
     *REPO.glob("tests/golden/cases/*/expected/generated/*/prometheusrule-*.yaml")]
)
VECTOR_FILES = sorted(VECTORS.glob("*.yaml"))


def _rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def rules_spec(path: Path) -> dict[str, Any]:
    """The ``.spec`` of a generated PrometheusRule: a Prometheus rule file."""
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert len(docs) == 1 and docs[0]["kind"] == "PrometheusRule", f"{_rel(path)}: not one PrometheusRule"
    return docs[0]["spec"]


def alerts_of(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for group in spec["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                assert rule["alert"] not in out, f"alert {rule['alert']} defined twice"
                out[rule["alert"]] = rule
    return out


def load_vector(path: Path) -> dict[str, Any]:
    vector = yaml.safe_load(path.read_text())
    missing = {"description", "rules", "interval", "labels", "series", "expect"} - set(vector)
    assert not missing, f"{path.name}: missing {sorted(missing)}"
    return vector


def promtool_test(vector: dict[str, Any], spec: dict[str, Any], rules_file: str) -> dict[str, Any]:
    """The promtool unit-test file for a vector: at every evaluation time, one
    ``alert_rule_test`` per alert of the rule file, expected firing exactly as
    the vector says (an empty list asserts silence)."""
    alerts = alerts_of(spec)
    tests = []
    for step in vector["expect"]:
        firing: dict[str, list[dict[str, Any]]] = {}
        for alert in step["firing"]:
            name = alert["alertname"]
            assert name in alerts, f"the vector expects {name}, which the rules do not define: {sorted(alerts)}"
            firing.setdefault(name, []).append({
                "exp_labels": {**vector["labels"], **alert["labels"]},
                # Annotations are static text (no $value), so the rule's own are expected.
                "exp_annotations": alerts[name].get("annotations", {}),
            })
        tests += [{"eval_time": step["at"], "alertname": name, "exp_alerts": firing.get(name, [])} for name in sorted(alerts)]
    return {
        "rule_files": [rules_file],
        "evaluation_interval": vector.get("evaluation_interval", "1m"),
        "tests": [{"interval": vector["interval"], "input_series": vector["series"], "alert_rule_test": tests}],
    }


def run_promtool_test(promtool: str, vector: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    spec = rules_spec(REPO / vector["rules"])
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(promtool_test(vector, spec, "rules.yaml"), sort_keys=False))
    return subprocess.run([promtool, "test", "rules", "test.yaml"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, check=False)


# ------------------------------------------------------------------ check rules


def test_there_are_rule_files_and_vectors() -> None:
    assert any(p.parts[-3] == "generated" for p in RULE_FILES), "no generated/<env>/prometheusrule-*.yaml"
    assert len(VECTOR_FILES) >= 9


@pytest.mark.parametrize("path", RULE_FILES, ids=_rel)
def test_promtool_accepts_every_generated_rule_file(path: Path, promtool: str, tmp_path: Path) -> None:
    spec = rules_spec(path)
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(spec, sort_keys=False))
    run = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, f"{_rel(path)}:\n{run.stdout}{run.stderr}"
    count = sum(len(g["rules"]) for g in spec["groups"])
    assert f"SUCCESS: {count} rules found" in run.stdout, run.stdout


def test_promtool_rejects_a_broken_expression(promtool: str, tmp_path: Path) -> None:
    """The check is real: a PromQL syntax error is reported."""
    spec = copy.deepcopy(rules_spec(REPO / "generated/prod/prometheusrule-pump-failure-slo.yaml"))
    spec["groups"][0]["rules"][0]["expr"] += " >"
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(spec))
    run = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode != 0 and "parse error" in (run.stdout + run.stderr)


# ------------------------------------------------------------------ test rules


@pytest.mark.parametrize("path", VECTOR_FILES, ids=lambda p: p.stem)
def test_vector(path: Path, promtool: str, tmp_path: Path) -> None:
    vector = load_vector(path)
    assert any(step["firing"] for step in vector["expect"]) or "isolation" in path.stem, \
        f"{path.name} never expects an alert"
    assert any(not step["firing"] for step in vector["expect"]), f"{path.name} never checks silence"
    run = run_promtool_test(promtool, vector, tmp_path)
    assert run.returncode == 0, f"{path.name}: {vector['description']}\n{run.stdout}{run.stderr}"
    assert "SUCCESS" in run.stdout


def test_vectors_fire_every_alert_of_the_example(promtool: str) -> None:
    """Every alert of the prod rules (one per objective, action and burn window) fires in some vector."""
    alerts = set(alerts_of(rules_spec(REPO / "generated/prod/prometheusrule-pump-failure-slo.yaml")))
    fired = {a["alertname"] for p in VECTOR_FILES for step in load_vector(p)["expect"] for a in step["firing"]}
    assert alerts - fired == set(), f"no vector fires: {sorted(alerts - fired)}"


def test_example_covers_every_objective_metric() -> None:
    """The example ServiceLevel uses every objective metric, so the vectors exercise every rule template."""
    spec = yaml.safe_load((REPO / "specs/slos/pump-failure.yaml").read_text())
    used = {o["metric"] for o in spec["spec"]["objectives"]}
    assert set(OBJECTIVE_SLIS) == set(ObjectiveMetric.__args__)  # type: ignore[attr-defined]
    assert set(OBJECTIVE_SLIS) - used == set()


@pytest.mark.parametrize("mutation", ["wrong-action", "missing-alert", "extra-alert"])
def test_a_wrong_expectation_fails(mutation: str, promtool: str, tmp_path: Path) -> None:
    """The harness detects a wrong action label, an alert that should fire but
    is not expected, and an expected alert that does not fire."""
    vector = load_vector(VECTORS / "error-rate.yaml")
    firing = vector["expect"][1]["firing"]
    if mutation == "wrong-action":
        firing[0]["labels"]["specops_action"] = "rollback"
        culprit = "alertname: SpecOpsErrorsOpenCircuit, time: 25m"
    elif mutation == "missing-alert":
        del firing[1]
        culprit = "alertname: SpecOpsErrorsPage, time: 25m"
    else:
        vector["expect"][0]["firing"] = [copy.deepcopy(firing[0])]
        culprit = "alertname: SpecOpsErrorsOpenCircuit, time: 10m"
    run = run_promtool_test(promtool, vector, tmp_path)
    assert run.returncode != 0, run.stdout
    assert "FAILED" in run.stderr and culprit in run.stderr, run.stderr


# ------------------------------------------------------ any objective compiles


def _objectives() -> Any:
    from hypothesis import strategies as st

    from compiler.plan import ObjectivePlan, Origin

    def one(i: int, metric_name: str) -> Any:
        sli = OBJECTIVE_SLIS[metric_name]
        bound = (st.floats(min_value=1e-6, max_value=1.0) if sli.unit == "ratio"
                 else st.floats(min_value=1e-3, max_value=1e6))
        # Windows the lint accepts (SO486): >= 2m, availability >= 24m; odd ones like 1h30m500ms too.
        least = 24 * 60_000 if sli.kind == "availability" else 2 * 60_000
        window = st.integers(min_value=least, max_value=30 * 86_400_000)
        actions = st.lists(st.sampled_from(("rollback", "open_circuit", "retrain", "page")), min_size=1, max_size=4,
                           unique=True).map(tuple)
        return st.builds(ObjectivePlan, name=st.just(f"o{i}-{metric_name.replace('_', '-')}"),
                         metric=st.just(metric_name), direction=st.just(sli.direction), bound=bound,
                         window_ms=window, actions=actions, severity=st.sampled_from(("page", "ticket")),
                         origin=st.just(Origin("ServiceLevel/sl", "specs/slos/sl.yaml", 7 + i)))

    metrics = st.lists(st.sampled_from(sorted(OBJECTIVE_SLIS)), min_size=1, max_size=8)
    return metrics.flatmap(lambda ms: st.tuples(*(one(i, m) for i, m in enumerate(ms))))


def test_any_lint_clean_objectives_compile_into_rules_promtool_accepts(promtool: str, tmp_path: Path) -> None:
    """Random objectives (every metric, bounds from 1e-6, windows from 2m to 30d
    with odd units, several actions): the emitted rules pass our offline check
    and ``promtool check rules``."""
    import dataclasses

    from hypothesis import HealthCheck, given, settings

    from compiler.emit.backends import prometheus
    from compiler.emit.rules_lint import check_rules
    from compiler.emit.serialize import plain
    from compiler.plan import SloPlan

    plan_stub = types.SimpleNamespace(name="sys")  # build_prometheus_rule reads only the system's name

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(_objectives())
    def check(objectives: tuple[Any, ...]) -> None:
        slo = SloPlan(name="sl", model="m", environment="prod", namespace="ns", predictor="m",
                      objectives=objectives, origin=objectives[0].origin, notify=("oncall",), min_replicas=1)
        doc = plain(prometheus.build_prometheus_rule(plan_stub, dataclasses.replace(slo)))  # type: ignore[arg-type]
        assert check_rules([doc]) == []
        rules = tmp_path / "rules.yaml"
        rules.write_text(yaml.safe_dump(doc["spec"]))
        run = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60,
                             check=False)
        assert run.returncode == 0, f"{objectives}\n{run.stdout}{run.stderr}"

    check()
