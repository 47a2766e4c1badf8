"""A user's file source becomes a stream by editing its DataSource alone:
the compiler then deploys an ingester for it (Deployment + ConfigMap per
environment, and the local ingest config), and that compiled config drives a
real ingester: generator events published to NATS land in the online store."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from stream_harness import IngesterProcess, StreamNames, delete_streams, free_port, require_service, wait_until
from typer.testing import CliRunner

from compiler.cli import app
from runtime.contracts.steps import GeneratorConfig, IngestConfig
from runtime.data.generator import iter_events
from runtime.features.online import OnlineEngine
from runtime.features.store import open_store

pytestmark = pytest.mark.services

FILE_BLOCK = """  type: file
  file:
    path: data/events/*.parquet
    format: parquet
"""


def _compile(root: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    monkeypatch.chdir(root)
    res = CliRunner().invoke(app, ["compile", "specs/", "--out", "generated/"])
    assert res.exit_code == 0, res.output
    return {str(p.relative_to(root)): p.read_bytes() for p in (root / "generated").rglob("*") if p.is_file()}


def test_switching_sensor_events_to_a_stream_deploys_an_ingester_that_works(repo, tmp_path, monkeypatch):
    require_service("NATS", "127.0.0.1", 4222)
    names = StreamNames.new()
    for folder in ("specs", "policies"):
        shutil.copytree(repo / folder, tmp_path / folder)
    # The starting point is a production user's repository: no embedded sample data.  (The example's
    # System.sampleData generates *files* for sensor-events; with it, the switch also needs sampleData
    # repointed, and lint says so (SO495) rather than compiling something that cannot run.)
    system = tmp_path / "specs/system.yaml"
    system.write_text(re.sub(r"(?m)^  sampleData:\n(?:(?:    .*)?\n)*", "", system.read_text()))
    assert "sampleData" not in system.read_text()
    before = _compile(tmp_path, monkeypatch)

    spec = tmp_path / "specs/data/sensor-events.yaml"
    text = spec.read_text()
    assert text.count(FILE_BLOCK) == 1
    spec.write_text(text.replace(FILE_BLOCK, f"""  type: stream
  stream:
    url: nats://127.0.0.1:4222
    subject: {names.subject}
    stream: {names.stream}
    durable: {names.durable}
"""))
    after = _compile(tmp_path, monkeypatch)

    appeared = sorted(set(after) - set(before))
    # Besides the ingester, only content-addressed release ConfigMaps get new names (the lineage hash changed).
    renamed = [p for p in appeared if re.search(r"/configmap-pump-failure-(serve|edge)-", p)]
    assert [p for p in appeared if p not in renamed] == [
        "generated/prod/configmap-ingest-sensor-events-config.yaml",
        "generated/prod/deployment-ingest-sensor-events.yaml",
        "generated/runtime/ingest-sensor-events/ingest.json",
        "generated/staging/configmap-ingest-sensor-events-config.yaml",
        "generated/staging/deployment-ingest-sensor-events.yaml",
    ], appeared
    deployment = yaml.safe_load(after["generated/prod/deployment-ingest-sensor-events.yaml"])
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["ingest", "--config", "generated/runtime/ingest-sensor-events/ingest.json"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 8080}
    cluster = IngestConfig.model_validate_json(
        json.loads(json.dumps(yaml.safe_load(after["generated/prod/configmap-ingest-sensor-events-config.yaml"])))
        ["data"]["ingest.json"])
    assert cluster.online_store.url_env == "SPECOPS_ONLINE_STORE_URL" and cluster.online_store.url is None
    assert {e["name"] for e in container["env"]} >= {"SPECOPS_ONLINE_STORE_URL"}

    local_path = tmp_path / "generated/runtime/ingest-sensor-events/ingest.json"
    config = IngestConfig.model_validate_json(local_path.read_text())
    assert (config.source.type, config.source.subject, config.source.stream) == ("stream", names.subject, names.stream)
    assert [fs.name for fs in config.feature_sets] == ["asset-health"]
    # The compiled local config, unchanged except the health port (8080 may be taken on a shared machine).
    run_config = tmp_path / "ingest-run.json"
    run_config.write_text(json.dumps({**json.loads(local_path.read_text()), "port": free_port()}))

    generator = GeneratorConfig(seed=11, assets=4, days=0.5)
    (tmp_path / "generator.json").write_text(generator.model_dump_json())
    expected = list(iter_events(generator))
    ingester = IngesterProcess(run_config, tmp_path)
    try:
        pub = subprocess.run([sys.executable, "-m", "runtime", "publish", "--stream-config", str(local_path),
                              "--generate", "--generator", "generator.json"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert pub.returncode == 0, pub.stderr
        assert f"published {len(expected)} event(s) to {names.subject}" in pub.stdout
        ingester.wait_metric("applied", len(expected), timeout=90)
        m = ingester.metrics()
        assert (m["applied"], m["duplicates"], m["dead_lettered"]) == (len(expected), 0, 0)
    finally:
        rc = ingester.terminate()
        delete_streams(names.stream, f"{names.stream}_DEAD_LETTER")
    assert rc == 0, ingester.log()

    # The embedded-default store the compiled config names, read with the same engine the predictor uses.
    assert config.online_store.url == "sqlite:///.specops/online/features.sqlite"
    engine = OnlineEngine(config.feature_sets, open_store(f"sqlite:///{tmp_path}/.specops/online/features.sqlite"))
    per_asset = Counter(e["asset_id"] for e in expected)
    for asset, n in per_asset.items():
        last = max(e["event_time"] for e in expected if e["asset_id"] == asset)
        assert engine.read(asset, last)["events_count_24h"] == n, asset
