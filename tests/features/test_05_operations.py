"""Stage 5, operations (05_operations.feature): online predictions.

The real `specops serve` (compile, then `python -m runtime serve` in a child
process) in a copy of the example repository; the model and the online
store are prepared the way `specops run` and the ingester leave them (a
registry version aliased candidate, an SQLite online store filled by the
online engine).  Shared steps (the copy) live in conftest.py."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.features.canary_steps import *  # noqa: F401,F403 - the canary scenario's steps
from pytest_bdd import given, parsers, scenarios, then, when

from runtime.contracts.steps import ServeConfig
from runtime.features.online import OnlineEngine
from runtime.features.store import open_store
from runtime.registry import Registry
from tests.runtime.serving.served import BIAS, WEIGHTS, asset_events, free_port, write_onnx

scenarios("05_operations.feature")

CONFIG = "generated/runtime/pump-failure/serve.json"


def q(name: str) -> str:
    return f'"(?P<{name}>[^"]*)"'


@dataclass
class Serving:
    version: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)
    process: subprocess.Popen | None = None
    port: int = 0
    answer: dict[str, Any] = field(default_factory=dict)
    log: Path | None = None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log else ""


@pytest.fixture
def serving() -> Any:
    state = Serving()
    yield state
    if state.process is not None and state.process.poll() is None:
        state.process.terminate()  # `specops serve` passes it on to the server it started
        try:
            assert state.process.wait(timeout=30) == 0, state.output()
        finally:
            if state.process.poll() is None:
                state.process.kill()
        if state.port:
            with pytest.raises(OSError):  # the server stopped too: nothing listens any more
                urllib.request.urlopen(f"http://127.0.0.1:{state.port}/v2/health/live", timeout=2)


def _config() -> ServeConfig:
    return ServeConfig.model_validate_json(Path(CONFIG).read_text(encoding="utf-8"))


@given(parsers.re(rf"the model {q('model')} is registered locally as {q('alias')}"))
def registered(serving: Serving, model: str, alias: str) -> None:
    config = _config()
    onnx_path = Path("build/model.onnx")
    write_onnx(onnx_path, list(config.features), WEIGHTS, BIAS)
    registry = Registry(config.artifacts.uri)
    entry = registry.register(model, {"model.onnx": onnx_path}, "model.onnx", {})
    registry.set_alias(model, alias, entry.version)
    serving.version = entry.version


@given(parsers.re(rf"the online store holds the recent events of the critical pump {q('asset')}"))
def store_filled(serving: Serving, asset: str) -> None:
    config = _config()
    assert config.online_store is not None and config.online_store.url
    Path(config.online_store.url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    store = open_store(config.online_store.url)
    serving.events = asset_events(asset, "pump", "critical", 9.0)
    engine = OnlineEngine(config.feature_sets, store)
    for event in serving.events:
        engine.apply(event)
    store.close()


@when(parsers.re(rf"I start {q('command')}"))
def start(serving: Serving, command: str) -> None:
    serving.port = free_port()
    argv = command.format(port=serving.port).split()
    assert argv[0] == "specops"
    serving.log = Path("serve.log")
    serving.process = subprocess.Popen([sys.executable, "-m", "compiler", *argv[1:]], stdout=serving.log.open("wb"),
                                       stderr=subprocess.STDOUT, env={**os.environ, "SPECOPS_DEBUG": ""})
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and serving.process.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{serving.port}/v2/health/ready", timeout=1):
                return
        except OSError:
            time.sleep(0.2)


@when(parsers.re(rf"I ask for a prediction for {q('asset')} at {q('at')}"))
def ask(serving: Serving, asset: str, at: str) -> None:
    assert serving.process is not None and serving.process.poll() is None, serving.output()
    body = json.dumps({"instances": [{"entity": asset, "at": at}]}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{serving.port}/v1/models/pump-failure:predict", data=body,
                                     headers={"content-type": "application/json", "x-request-id": "bdd-1"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        [serving.answer] = json.loads(response.read())["predictions"]


@then(parsers.re(rf"the answer names the registered version and the release {q('release')}"))
def names_release(serving: Serving, release: str) -> None:
    model = serving.answer["model"]
    assert (model["version"], model["release"]) == (serving.version, release)
    entry = Registry(_config().artifacts.uri).entry("pump-failure", serving.version)
    assert model["sha256"] == entry.sha256  # the exact file the registry recorded


@then(parsers.re(rf"the answer carries the spec hash compiled into {q('file')}"))
def spec_hash(serving: Serving, file: str) -> None:
    assert serving.answer["spec_hash"] == json.loads(Path(file).read_text())["spec_hash"]
    manifest = json.loads(Path("generated/manifest.json").read_text())
    assert file in json.dumps(manifest)  # the config is one of the compiler's outputs, traced to its specs


@then("the answer's features are what the online engine computes from the asset's events")
def features_recomputed(serving: Serving) -> None:
    config = _config()
    engine = OnlineEngine(config.feature_sets, open_store("memory://"))
    for event in serving.events:
        engine.apply(event)
    expected = engine.read(serving.answer["entity"], serving.answer["at"])
    assert serving.answer["features"] == {f: expected[f] for f in config.features}


@then("the answer's feature vector hash is the sha256 of those features as the model reads them")
def vector_hash(serving: Serving) -> None:
    config = _config()
    vocab = {"asset_type": ["compressor", "pump", "turbine"], "criticality": ["critical", "high", "low", "medium"]}
    row = np.array([[np.nan if (v := serving.answer["features"][f]) is None
                     else (vocab[f].index(v) if f in vocab else float(v)) for f in config.features]], dtype="<f4")
    assert serving.answer["feature_vector_sha256"] == hashlib.sha256(row.tobytes()).hexdigest()


@then(parsers.re(rf"the answer's action is {q('action')} because of rule {q('rule')}"))
def action(serving: Serving, action: str, rule: str) -> None:
    assert (serving.answer["action"], serving.answer["reason"]["rule"]) == (action, rule)
    assert serving.answer["reason"]["message"]
    assert serving.answer["request_id"] == "bdd-1"


@then("the prediction is counted on /metrics under the registered version")
def counted(serving: Serving) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{serving.port}/metrics", timeout=5) as response:
        text = response.read().decode()
    line = (f'specops_decisions_total{{action="human_review",environment="local",model="pump-failure",'
            f'version="{serving.version}"}} 1.0')
    assert line in text.splitlines()


@then(parsers.re(rf"the server exits with code (?P<code>\d+) saying {q('text')}"))
def exits(serving: Serving, code: str, text: str) -> None:
    assert serving.process is not None
    assert serving.process.wait(timeout=60) == int(code), serving.output()
    assert text in serving.output()
