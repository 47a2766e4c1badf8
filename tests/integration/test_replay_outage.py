"""The whole loop on a failure no drill injected before: every gateway goes silent
(`specops replay --scenario gateway-outage`). Real NATS, ingester, server and monitor on
the event clock; the freshness objective must breach and its actions be enforced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pipeline_project import PipelineRun, copy_project, specops

from tests.conftest import require_service


@pytest.mark.services
def test_a_gateway_outage_breaches_freshness_and_the_loop_acts(pipeline_run: PipelineRun, tmp_path: Path) -> None:
    require_service("NATS", "127.0.0.1", 4222)
    assert pipeline_run.code == 0, pipeline_run.output
    project = copy_project(pipeline_run.root, tmp_path / "project")
    code, output = specops("replay", "specs/", "--scenario", "gateway-outage", "--days", "0.5", cwd=project)
    report = json.loads((project / ".specops/work/pump-failure/monitor/local/report.json").read_text())
    status = {o["objective"]: o for o in report["objectives"]}
    freshness = status["freshness"]
    # Silent from hour 4 of 12: at the end the stalest asset's features are ~8 h old, past the 4 h bound.
    assert freshness["status"] == "breach" and freshness["value"] > 4 * 3600, freshness
    assert status["latency"]["status"] == "ok" and status["errors"]["status"] == "ok"
    fired = {a["alertname"] for a in report["alerts"]}
    assert {"SpecOpsFreshnessOpenCircuit", "SpecOpsFreshnessPage"} <= fired
    # Enforced, not only reported: one incident, the circuit forced open (predictions now take the
    # breaker's fallback) and the on-call paged.
    actions = report["sections"]["actions"]["data"]
    (incident,) = actions["open_incidents"]
    assert actions["opened"] == [incident["id"]] and incident["key"].startswith("freshness@")
    assert incident["actions_taken"] == ["open_circuit", "page"]
    control = json.loads((project / ".specops/work/pump-failure/control/pump-failure-local.json").read_text())
    assert control["circuit_forced_open_until_us"] > report["as_of_us"]
    assert "objective freshness (feature_freshness) breached" in output
    assert code == 0, output[-3000:]
