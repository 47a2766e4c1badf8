"""Steps of "a failing canary is rolled back" (05_operations.feature), imported by test_05_operations.py.

The real `specops serve --canary 50` (compile, then `python -m runtime
serve` in a child process) in a copy of the example repository: the
registry's champion is a well-formed ONNX model, its candidate a real ONNX
model whose output is NaN (every answer it would give is a 500).  The
minRequests edit goes through the spec, so the compiled analysis is the
one judged.  Shared steps (the copy, YAML edits) live in conftest.py."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from runtime.audit.database import open_database
from runtime.audit.log import AuditLog
from runtime.contracts.steps import ServeConfig
from runtime.features.online import OnlineEngine
from runtime.features.store import open_store
from runtime.monitoring.incidents import read_incident
from runtime.registry import Registry
from runtime.serving.canary import routes_to_challenger
from tests.runtime.serving.served import BIAS, WEIGHTS, asset_events, free_port, write_onnx


CONFIG = "generated/runtime/pump-failure/serve.json"
MODEL = "pump-failure"
AT = "2026-03-01T12:01:00Z"
FLEET = [f"P-{i:02d}" for i in range(30)]


def q(name: str) -> str:
    return f'"(?P<{name}>[^"]*)"'


@dataclass
class Canary:
    champion: str = ""
    challenger: str = ""
    process: subprocess.Popen | None = None
    port: int = 0
    log: Path | None = None
    # rid, status, wall-clock time the request was sent (s), version that answered
    outcomes: list[tuple[str, int, float, str | None]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    workers: list[threading.Thread] = field(default_factory=list)
    rolled_back_at: float = 0.0

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log else ""


@pytest.fixture
def canary() -> Any:
    state = Canary()
    yield state
    state.stop.set()
    for w in state.workers:
        w.join(timeout=15)
    if state.process is not None and state.process.poll() is None:
        state.process.terminate()  # `specops serve` passes it on to the server it started
        try:
            state.process.wait(timeout=30)
        finally:
            if state.process.poll() is None:
                state.process.kill()


def _config() -> ServeConfig:
    return ServeConfig.model_validate_json(Path(CONFIG).read_text(encoding="utf-8"))


def _register(name: str, alias: str, bias: float) -> str:
    config = _config()
    path = Path(f"build/{name}.onnx")
    write_onnx(path, list(config.features), WEIGHTS, bias)
    registry = Registry(config.artifacts.uri)
    entry = registry.register(MODEL, {"model.onnx": path}, "model.onnx", {})
    registry.set_alias(MODEL, alias, entry.version)
    return entry.version


@given("the fleet's recent events are in the online store")
def fleet(canary: Canary) -> None:
    config = _config()
    assert config.online_store is not None and config.online_store.url
    Path(config.online_store.url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    store = open_store(config.online_store.url)
    engine = OnlineEngine(config.feature_sets, store)
    for i, asset in enumerate(FLEET):
        for event in asset_events(asset, "pump", "low", 1.0 + 8.0 * i / len(FLEET)):
            engine.apply(event)
    store.close()


@given(parsers.re(rf"the local registry's champion of {q('model')} scores probabilities"))
def champion(canary: Canary, model: str) -> None:
    assert model == MODEL
    canary.champion = _register("champion", "champion", BIAS)


@given("its candidate answers nothing but errors")
def broken_candidate(canary: Canary) -> None:
    canary.challenger = _register("broken", "candidate", math.nan)


@when(parsers.re(rf"I start the canary with {q('command')}"))
def start(canary: Canary, command: str) -> None:
    canary.port = free_port()
    argv = command.format(port=canary.port).split()
    assert argv[0] == "specops"
    canary.log = Path("serve.log")
    canary.process = subprocess.Popen([sys.executable, "-m", "compiler", *argv[1:]], stdout=canary.log.open("wb"),
                                      stderr=subprocess.STDOUT, env={**os.environ, "SPECOPS_DEBUG": ""})
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and canary.process.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{canary.port}/v2/health/ready", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"the server did not start:\n{canary.output()}")


@when("requests for the fleet keep arriving")
def load(canary: Canary) -> None:
    def worker(k: int) -> None:
        i = 0
        while not canary.stop.is_set():
            rid = f"bdd-{k}-{i}"
            body = json.dumps({"instances": [{"entity": FLEET[(k + 3 * i) % len(FLEET)], "at": AT}]}).encode()
            i += 1
            req = urllib.request.Request(f"http://127.0.0.1:{canary.port}/v1/models/{MODEL}:predict", data=body,
                                         headers={"content-type": "application/json", "x-request-id": rid})
            sent = time.time()
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    version = json.loads(r.read())["predictions"][0]["model"]["version"]
                    canary.outcomes.append((rid, r.status, sent, version))
            except urllib.error.HTTPError as exc:
                exc.read()
                canary.outcomes.append((rid, exc.code, sent, None))

    canary.workers = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(3)]
    for w in canary.workers:
        w.start()


def _incidents() -> list[Path]:
    return sorted((Path(_config().work_dir) / "incidents").glob("*.json"))


@then(parsers.re(r"the canary is rolled back within (?P<seconds>\d+) seconds"))
def rolled_back(canary: Canary, seconds: str) -> None:
    deadline = time.monotonic() + int(seconds)
    while time.monotonic() < deadline and not _incidents():
        time.sleep(0.1)
    assert _incidents(), canary.output()
    # the server's clock when it rolled back (same machine as the client's)
    canary.rolled_back_at = read_incident(_incidents()[0]).opened_at_us / 1e6
    time.sleep(1.0)  # the load goes on after the rollback
    canary.stop.set()
    for w in canary.workers:
        w.join(timeout=15)
    failed = [t for _, s, t, _ in canary.outcomes if s != 200]
    first = min(t for _, _, t, _ in canary.outcomes)
    print(f"\ncanary rollback (BDD): {len(canary.outcomes)} requests, {len(failed)} failed (challenger), "
          f"rolled back {canary.rolled_back_at - first:.2f}s after the first request")


@then("no request routed to the champion failed")
def champion_never_failed(canary: Canary) -> None:
    champion_arm = [(s, v) for rid, s, _, v in canary.outcomes if not routes_to_challenger(rid, 50.0)]
    assert champion_arm and all(s == 200 and v == canary.champion for s, v in champion_arm)
    assert all(routes_to_challenger(rid, 50.0) for rid, s, _, _ in canary.outcomes if s != 200)


@then("the incident names the failed criterion with its numbers and says the next step is a pull request")
def incident_evidence(canary: Canary) -> None:
    [path] = _incidents()
    incident = read_incident(path)
    assert incident.kind == "canary_rollback" and incident.actions_taken == ("rollback",)
    assert incident.evidence["thresholds"]["min_requests"] == 40  # the analysis compiled from the edited spec
    assert incident.evidence["failures"][0].startswith("error rate 1.0000")
    assert incident.evidence["challenger"]["version"] == canary.challenger
    assert incident.evidence["challenger"]["requests"] >= 40
    assert "next step forward is a pull request" in incident.summary


@then("the audit log records the rollback under the incident's id")
def audited(canary: Canary) -> None:
    config = _config()
    assert config.review is not None
    log = AuditLog(open_database(config.review.store))
    [incident] = [read_incident(p) for p in _incidents()]
    records = [r for r in log.records() if r.action == "canary.rolled_back"]
    assert [r.subject for r in records] == [incident.id]
    assert records[0].actor == f"predictor:{MODEL}" and log.verify().ok


@then("the champion answers every request after the rollback")
def champion_after(canary: Canary) -> None:
    after = [(s, v) for _, s, t, v in canary.outcomes if t > canary.rolled_back_at]  # sent after it
    assert after and all(s == 200 and v == canary.champion for s, v in after)
