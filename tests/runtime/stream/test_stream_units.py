"""The stream's pure parts: wire decoding, subject matching, the publisher's
encoding (round trip with decoding), metrics text, readiness logic, the
ingest step's refusal of an unusable config, and the names the compiler and
the runtime must agree on."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from compiler.emit.backends import kubernetes
from compiler.plan import ONLINE_STORE_ENV
from runtime.contracts.steps import DataSourceConfig, FieldConfig
from runtime.stream.decode import Poison, decode_event, parse_timestamp
from runtime.stream.jetstream import NATS_CREDENTIALS_ENV, connect_options, subject_matches
from runtime.stream.publisher import encode_event
from runtime.stream.status import IngestStatus, render_metrics

SOURCE = DataSourceConfig(
    name="s", type="stream", stream_url="nats://127.0.0.1:4222", subject="a.b", stream="S", entity="id",
    timestamp="t", fields=(FieldConfig(name="id", type="string"), FieldConfig(name="t", type="timestamp"),
                           FieldConfig(name="x", type="float", nullable=True)),
    max_null_fraction=0, max_duplicate_fraction=0, max_out_of_range_fraction=0, min_rows=0,
    quarantine_action="quarantine", max_bad_fraction=0,
)
T = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)


def test_encode_then_decode_gives_back_the_record_without_undeclared_columns():
    record = {"id": "A1", "t": T, "x": 2, "pii_email": "a@b.c", "_event_id": "e1", "_arrival_time": T}
    eid, payload = encode_event(SOURCE, record)
    assert eid == "e1" and b"pii_email" not in payload
    decoded = decode_event(SOURCE, payload)
    assert decoded == {"id": "A1", "t": T, "x": 2.0, "_event_id": "e1", "_arrival_time": T}
    assert isinstance(decoded["x"], float)  # a JSON integer in a float field is read as a float


def test_an_event_without_id_gets_the_same_id_on_both_sides():
    eid, payload = encode_event(SOURCE, {"id": "A1", "t": T, "x": 1.5})
    decoded = decode_event(SOURCE, json.dumps({k: v for k, v in json.loads(payload).items() if k != "_event_id"}).encode())
    assert decoded["_event_id"] == eid


@pytest.mark.parametrize(("payload", "reason"), [
    (b"{oops", "malformed JSON"),
    (b"\xff\xfe", "malformed JSON"),
    (b'"text"', "malformed event: expected a JSON object, got str"),
    (b'{"id": "A", "t": "not a time"}', "field 't': 'not a time' is not an ISO-8601 timestamp"),
    (b'{"id": "A", "t": "2026-01-01T00:00:00Z", "_arrival_time": true}', "field '_arrival_time'"),
])
def test_poison_is_named_with_its_reason(payload, reason):
    result = decode_event(SOURCE, payload)
    assert isinstance(result, Poison) and result.reason.startswith(reason), result


def test_timestamps_are_utc_whatever_their_spelling():
    assert parse_timestamp("2026-01-02T03:04:05.123456Z") == T
    assert parse_timestamp("2026-01-02T04:04:05.123456+01:00") == T
    assert parse_timestamp("2026-01-02T03:04:05.123456") == T  # naive = UTC, as in the batch path
    assert parse_timestamp(T.timestamp()) == T
    assert parse_timestamp(True) is None and parse_timestamp(float("nan")) is None


@pytest.mark.parametrize(("pattern", "subject", "match"), [
    ("a.b", "a.b", True), ("a.*", "a.b", True), ("a.>", "a.b.c", True), ("a.>", "a", False),
    ("a.*", "a.b.c", False), ("a.b", "a.c", False), (">", "x", True),
])
def test_subject_matching_follows_nats_wildcards(pattern, subject, match):
    assert subject_matches(pattern, subject) is match


def test_metrics_and_readiness_reflect_the_status():
    status = IngestStatus()
    assert not status.snapshot().ready
    status.set(nats_connected=True, subscribed=True, store_ok=True, lag=7)
    status.count("applied", 3)
    status.count("duplicates")
    snap = status.snapshot()
    assert snap.ready and snap.not_ready_reasons() == []
    text = render_metrics(snap, "sensor")
    assert 'specops_ingest_applied_total{source="sensor"} 3' in text
    assert 'specops_ingest_duplicates_total{source="sensor"} 1' in text
    assert 'specops_ingest_lag_messages{source="sensor"} 7' in text
    assert "# TYPE specops_ingest_consumed_total counter" in text
    status.set(store_ok=False)
    assert status.snapshot().not_ready_reasons() == ["online store unavailable"]


def test_credentials_come_from_the_variable_the_compiled_deployment_sets(monkeypatch):
    assert NATS_CREDENTIALS_ENV == kubernetes.STREAM_ENV
    monkeypatch.setenv(NATS_CREDENTIALS_ENV, "ingest:s3cret")
    assert connect_options("nats://h:4222", name="n")[("user")] == "ingest"
    monkeypatch.setenv(NATS_CREDENTIALS_ENV, "tok")
    assert connect_options("nats://h:4222", name="n")["token"] == "tok"


def test_ingest_refuses_a_config_whose_store_secret_is_missing(repo, tmp_path):
    cfg = json.loads((repo / "generated/runtime/ingest-sensor-stream/ingest.json").read_text())
    cfg["online_store"] = {"backend": "redis", "url_env": ONLINE_STORE_ENV}
    path = tmp_path / "ingest.json"
    path.write_text(json.dumps(cfg))
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(repo)}
    res = subprocess.run([sys.executable, "-m", "runtime", "ingest", "--config", str(path)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60, env=env)
    assert res.returncode == 2
    assert f"environment variable {ONLINE_STORE_ENV} is not set" in res.stderr and "Traceback" not in res.stderr


def test_publish_rejects_bad_arguments_without_a_traceback(repo, tmp_path):
    res = subprocess.run([sys.executable, "-m", "runtime", "publish", "--stream-config", "missing.json", "--generate"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60, env={"PYTHONPATH": str(repo)})
    assert res.returncode == 2 and "missing.json: no such file" in res.stderr and "Traceback" not in res.stderr


def test_the_health_server_answers_the_probes_of_the_generated_deployment(repo):
    import urllib.error
    import urllib.request

    import yaml

    from runtime.contracts.steps import IngestConfig
    from runtime.stream.health import HealthServer

    doc = yaml.safe_load((repo / "generated/prod/deployment-ingest-sensor-stream.yaml").read_text())
    (container,) = doc["spec"]["template"]["spec"]["containers"]
    live, ready = container["livenessProbe"]["httpGet"], container["readinessProbe"]["httpGet"]
    assert live["port"] == ready["port"] == IngestConfig.model_fields["port"].default == container["ports"][0]["containerPort"]

    status = IngestStatus()
    server = HealthServer(status, "sensor", port=0, host="127.0.0.1")
    server.start()

    def get(path: str) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=5) as r:
                return r.status
        except urllib.error.HTTPError as exc:
            return exc.code

    try:
        assert (get(live["path"]), get(ready["path"])) == (200, 503)  # alive, not yet connected
        status.set(nats_connected=True, subscribed=True, store_ok=True)
        assert get(ready["path"]) == 200
        status.set(heartbeat=status.snapshot().heartbeat - 3600)  # a loop stuck for an hour
        assert get(live["path"]) == 503
        assert get("/metrics") == 200 and get("/nope") == 404
    finally:
        server.stop()
