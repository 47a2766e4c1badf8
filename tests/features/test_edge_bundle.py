"""Acceptance: edge bundles (tests/features/edge_bundle.feature).

The real edge runner in a child process (`python -m runtime edge`), real
bundles from the train and export-onnx steps (``tests/runtime/edge``), a
client loop, and a channel the bad bundle is published to."""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pytest_bdd import given, parsers, scenarios, then, when

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime" / "edge"))

from edge_bundles import build_release, edge_config, private_key_file, public_key_file, resign, write_config  # noqa: E402
from edge_process import Channel, ClientLoop, EdgeProcess  # noqa: E402

from runtime.export.golden import read_golden  # noqa: E402

scenarios("edge_bundle.feature")


@dataclass
class Edge:
    root: Path
    key: Ed25519PrivateKey
    v1: Any = None
    v2: Any = None
    runner: EdgeProcess | None = None
    channel: Channel | None = None
    loop: ClientLoop | None = None
    outcome: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Ed25519PrivateKey, Any, Any]:
    root = tmp_path_factory.mktemp("edge-feature")
    key = Ed25519PrivateKey.generate()
    key_file = private_key_file(root / "signing.pem", key)
    return root, key, build_release(root / "v1", "1.0.0", key_file, trees=40), \
        build_release(root / "v2", "2.0.0", key_file, trees=90)


@pytest.fixture
def edge(built: tuple[Path, Ed25519PrivateKey, Any, Any], tmp_path: Path) -> Iterator[Edge]:
    _, key, v1, v2 = built
    state = Edge(tmp_path, key, v1, v2)
    yield state
    if state.loop is not None:
        state.loop.stop()
    if state.runner is not None and state.runner.proc is not None:
        state.runner.stop()


@given(parsers.parse('an edge runner serving release "{version}" and watching a bundle channel'))
def _runner(edge: Edge, version: str) -> None:
    assert version == edge.v1.version
    edge.channel = Channel(edge.root / "publish")
    edge.channel.publish(edge.v1.bundle)
    trusted = public_key_file(edge.root / "trusted.pub", edge.key)
    config = write_config(edge.root / "edge-run.json", edge_config(edge.root / "work", edge.v1, trusted,
                                                                  watch=edge.channel.uri, poll_interval_s=0.3))
    edge.runner = EdgeProcess(config, edge.root / "edge.log")
    edge.runner.start()
    assert edge.runner.call("GET", "/readyz")[0] == 200


@given("a client sending predictions in a loop")
def _loop(edge: Edge) -> None:
    assert edge.runner is not None
    instance = dict(read_golden((edge.v1.bundle / "golden.json").read_bytes()).rows[0])
    edge.loop = ClientLoop(edge.runner.port, instance)
    edge.loop.start()
    time.sleep(0.3)


def _publish(edge: Edge, alter: Any) -> None:
    bundle = edge.root / "bad-bundle"
    shutil.copytree(edge.v2.bundle, bundle)
    alter(bundle)
    assert edge.channel is not None and edge.runner is not None
    at = edge.channel.publish(bundle)
    edge.outcome = edge.runner.wait_outcome(edge.channel.uri, at)
    time.sleep(0.5)  # predictions keep flowing after the refusal


@when(parsers.parse('a bundle of release "{version}" signed by an untrusted key is published'))
def _untrusted(edge: Edge, version: str) -> None:
    _publish(edge, lambda b: resign(b, Ed25519PrivateKey.generate(), meta={"version": version}))


@when(parsers.parse('a bundle of release "{version}" whose model was altered after signing is published'))
def _altered(edge: Edge, version: str) -> None:
    def alter(b: Path) -> None:
        resign(b, edge.key, meta={"version": version})
        data = bytearray((b / "model.onnx").read_bytes())
        data[len(data) // 2] ^= 0x01
        (b / "model.onnx").write_bytes(bytes(data))

    _publish(edge, alter)


@then(parsers.parse('the runner refuses it for "{reason}"'))
def _refused(edge: Edge, reason: str) -> None:
    assert edge.outcome["accepted"] is False and edge.outcome["reason"] == reason, edge.outcome


@then(parsers.parse('every prediction was answered by release "{version}"'))
def _answered(edge: Edge, version: str) -> None:
    assert edge.loop is not None and edge.runner is not None
    edge.loop.stop()
    responses, edge.loop = edge.loop.responses, None
    assert len(responses) > 10 and all(r.status == 200 and r.version == version for r in responses)
    assert edge.runner.call("GET", "/readyz")[1]["version"] == version


@then(parsers.parse('an incident records the refusal with reason "{reason}"'))
def _incident(edge: Edge, reason: str) -> None:
    [path] = (edge.root / "work" / "edge" / "incidents").glob("*.json")
    incident = json.loads(path.read_text())
    assert incident["kind"] == "edge_rollback" and incident["evidence"]["reason"] == reason
    assert incident["id"] == edge.outcome["incident"] and "1.0.0 keeps serving" in incident["summary"]
