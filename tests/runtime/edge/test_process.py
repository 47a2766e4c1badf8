"""The edge runner as a real process under a client loop: a corrupt bundle,
a tampered bundle with recomputed checksums and an unsigned bundle are
pushed to its channel and refused while it keeps answering from the bundle
it has; a good new bundle then takes over.  Zero failed predictions, the
right version answering each time.  Then kill -9, the current bundle rots on
disk, and the restarted runner switches back to the previous one."""

from __future__ import annotations

import json
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from edge_bundles import edge_config, resign, retamper, write_config
from edge_process import Channel, ClientLoop, EdgeProcess

from runtime.export.golden import read_golden
from runtime.serving.scoring import OnnxScorer


def _expected(bundle: Path, instance: dict[str, Any]) -> float:
    scorer = OnnxScorer(bundle / "model.onnx")
    return scorer.score(scorer.vector(instance))


def _metric(text: str, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    raise AssertionError(f"{name} {labels} not exported")


def test_bad_bundles_never_serve_and_a_good_one_takes_over_under_load(tmp_path: Path, releases: Any) -> None:
    v1, v2 = releases.v1, releases.v2
    good = tmp_path / "v2-good"
    shutil.copytree(v2.bundle, good)
    resign(good, releases.key, meta={"version": "2.0.0"})
    corrupt = tmp_path / "v2-corrupt"
    shutil.copytree(good, corrupt)
    data = bytearray((corrupt / "model.onnx").read_bytes())
    data[200] ^= 0xFF
    (corrupt / "model.onnx").write_bytes(bytes(data))
    tampered = tmp_path / "v2-tampered"
    shutil.copytree(good, tampered)
    retamper(tampered)
    unsigned = tmp_path / "v2-unsigned"
    shutil.copytree(good, unsigned)
    (unsigned / "manifest.sig").unlink()

    channel = Channel(tmp_path / "publish")
    channel.publish(v1.bundle)
    work = tmp_path / "work"
    config = write_config(tmp_path / "edge-run.json",
                          edge_config(work, v1, releases.trusted, watch=channel.uri, poll_interval_s=0.3))
    runner = EdgeProcess(config, tmp_path / "edge.log")
    runner.start()
    loop: ClientLoop | None = None
    try:
        assert runner.call("GET", "/readyz") == (200, {"ready": True, "version": "1.0.0"})
        instance = dict(read_golden((v1.bundle / "golden.json").read_bytes()).rows[0])
        expected = {"1.0.0": _expected(v1.bundle, instance), "2.0.0": _expected(good, instance)}
        assert abs(expected["1.0.0"] - expected["2.0.0"]) > 1e-6  # the versions are told apart by their answers
        loop = ClientLoop(runner.port, instance)
        loop.start()
        time.sleep(0.5)
        timeline: dict[str, Any] = {}
        for name, bundle, reason in (("corrupt", corrupt, "checksum_mismatch"), ("tampered", tampered, "bad_signature"),
                                     ("unsigned", unsigned, "unsigned"), ("good", good, None)):
            n0 = len(loop.responses)
            at = channel.publish(bundle)
            outcome = runner.wait_outcome(channel.uri, at)
            timeline[name] = {"outcome_ms": round((outcome["at_us"] - at) / 1000, 1), "reason": outcome["reason"],
                              "accepted": outcome["accepted"]}
            time.sleep(0.4)  # keep serving through and after the refusal
            timeline[name]["requests"] = len(loop.responses) - n0
            assert outcome["reason"] == reason and outcome["accepted"] is (reason is None), outcome
        loop.stop()
        _, metrics = runner.call("GET", "/metrics")
        _, status = runner.call("GET", "/v1/status")
    finally:
        if loop is not None:
            loop.stop()

    responses = loop.responses
    failed = [r for r in responses if r.status != 200]
    versions = [r.version for r in responses]
    switch = versions.index("2.0.0")
    latencies = [r.latency_s * 1000 for r in responses]
    summary = {"requests": len(responses), "failed": len(failed), "client_errors": len(loop.errors),
               "answered_by_1.0.0": switch, "answered_by_2.0.0": len(responses) - switch,
               "latency_ms_p50": round(statistics.median(latencies), 3),
               "latency_ms_p99": round(float(np.percentile(latencies, 99)), 3), "pushes": timeline}
    (tmp_path / "edge-process-summary.json").write_text(json.dumps(summary, indent=2))
    print("edge process test:", json.dumps(summary))
    assert not failed and not loop.errors, (failed[:3], loop.errors[:3])
    assert set(versions[:switch]) == {"1.0.0"} and set(versions[switch:]) == {"2.0.0"}  # never back, never mixed
    assert all(abs(r.score - expected[r.version]) < 1e-6 for r in responses)  # each answer is its version's
    assert switch > 0 and all(timeline[n]["requests"] > 0 for n in timeline)
    assert status["serving"]["version"] == "2.0.0" and status["previous"]["version"] == "1.0.0"
    for reason in ("checksum_mismatch", "bad_signature", "unsigned"):
        assert _metric(metrics, "specops_edge_bundle_rejections_total", reason=reason) == 1.0
    assert _metric(metrics, "specops_edge_bundle_info", version="2.0.0") == 1.0
    assert _metric(metrics, "specops_requests_total", version="2.0.0") == len(responses) - switch
    incidents = [json.loads(p.read_text()) for p in (work / "edge" / "incidents").glob("*.json")]
    assert sorted(i["evidence"]["reason"] for i in incidents) == ["bad_signature", "checksum_mismatch", "unsigned"]

    # kill -9, then the current bundle (2.0.0) rots on disk: the restarted runner serves the previous one.
    runner.kill9()
    model = work / "edge" / "current" / "bundle" / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 3] ^= 0x10
    model.write_bytes(bytes(data))
    runner.start()
    try:
        assert runner.call("GET", "/readyz") == (200, {"ready": True, "version": "1.0.0"})
        status_code, answer = runner.call("POST", "/v1/predict", {"instances": [instance]})
        assert status_code == 200 and abs(answer["predictions"][0]["score"] - expected["1.0.0"]) < 1e-6
        _, metrics = runner.call("GET", "/metrics")
        assert _metric(metrics, "specops_edge_rollbacks_total", reason="checksum_mismatch") == 1.0
    finally:
        assert runner.stop() == 0  # SIGTERM: a clean exit
    rollback = [json.loads(p.read_text()) for p in (work / "edge" / "incidents").glob("*.json")
                if "switched back" in json.loads(p.read_text())["summary"]]
    assert len(rollback) == 1 and rollback[0]["actions_taken"] == ["rollback"]


@pytest.mark.parametrize("path, expected", [("/healthz", 200), ("/nope", 404)])
def test_http_paths(tmp_path: Path, releases: Any, path: str, expected: int) -> None:
    config = write_config(tmp_path / "edge-run.json", edge_config(tmp_path / "work", releases.v1, releases.trusted))
    runner = EdgeProcess(config, tmp_path / "edge.log")
    runner.start()
    try:
        assert runner.call("GET", path)[0] == expected
        code, body = runner.call("POST", "/v1/predict", {"instances": [{"nope": 1}]})
        assert code == 400 and body["reason"] == "invalid_input"
    finally:
        assert runner.stop() == 0
