"""Two predictor processes (``python -m runtime serve``, as two replicas of
one InferenceService) reading one PostgreSQL ``runtime_control`` row: the
monitor's open_circuit (ActionEffects, through the database channel)
reaches both within ~1-2 s, and so does its release.  Also in-process: the
store going away mid-traffic fails no request and the last control holds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from control_support import PG_DSN, PgProxy, pg_schema, require_service
from prometheus_client import REGISTRY

from runtime.actions.effects import ActionEffects
from runtime.audit.database import PostgresDatabase
from runtime.audit.log import AuditLog
from runtime.contracts.monitoring import Incident, ObjectiveResult
from runtime.contracts.steps import (ArtifactStoreConfig, ControlChannelConfig, EnforcementConfig, MonitorConfig,
                                     ObjectiveConfig, ReviewStoreConfig)
from runtime.control import ControlRefresher, DatabaseChannel
from runtime.serving.predictor import SpecOpsPredictor
from tests.runtime.serving.served import CONFIG, MODEL, T0, iso, make_repo, start_server, stop_server

AT = iso(T0 + timedelta(minutes=1))
DSN_ENV = "SPECOPS_TEST_CONTROL_DSN"


def control_config(schema: str) -> ControlChannelConfig:
    return ControlChannelConfig(backend="database", refresh_s=1.0,
                                store=ReviewStoreConfig(backend="postgres", dsn_env=DSN_ENV, schema_name=schema))


def monitor(tmp: Path, environment: str, control: ControlChannelConfig) -> MonitorConfig:
    return MonitorConfig(
        model=MODEL, spec_hash="0" * 64, artifacts=ArtifactStoreConfig(uri=str(tmp / "artifacts")),
        work_dir=str(tmp / "monitor-work"), environment=environment, namespace="pm-prod",
        objectives=(ObjectiveConfig(name="latency", metric="latency_p99", max=0.25, window_s=300,
                                    actions=("open_circuit",), severity="page"),),
        psi_warning=0.1, psi_alert=0.25, p_value=0.01, correction="none", persistence=2, drift_window_s=3600,
        notifiers=(), retrain_workflow="w", retrain_namespace="pm-staging", output=str(tmp / "monitor"),
        enforcement=EnforcementConfig(mode="cluster"), control=control)


def incident(environment: str) -> tuple[Incident, ObjectiveResult]:
    now = time.time_ns() // 1000
    inc = Incident(id="inc-replicas", kind="objective_breach", key="latency", model=MODEL, environment=environment,
                   opened_at_us=now, summary="latency p99 0.4 s > 0.25 s", actions_taken=(), evidence={})
    res = ObjectiveResult(model=MODEL, environment=environment, objective="latency", metric="latency_p99",
                          status="breach", value=0.4, bound=0.25, direction="max", window_s=300.0, window_end_us=now,
                          actions=("open_circuit",), severity="page", version=None, evidence={})
    return inc, res


def predict(url: str) -> dict:
    body = json.dumps({"instances": [{"entity": "T-LOW", "at": AT}]}).encode()
    req = urllib.request.Request(f"{url}/v1/models/{MODEL}:predict", data=body,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())["predictions"][0]


def forced(answer: dict) -> bool:
    return answer.get("breaker", {}).get("state") == "forced_open"


@pytest.fixture
def schema() -> Iterator[str]:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    name = pg_schema()
    yield name
    owner = PostgresDatabase(PG_DSN, name)
    owner.drop_schema()
    owner.close()


def converge(urls: list[str], want: bool, timeout_s: float = 5.0) -> list[float]:
    """Seconds until each replica answers forced_open == ``want``."""
    start, took = time.monotonic(), [None] * len(urls)  # type: list[float | None]
    while None in took:
        for i, url in enumerate(urls):
            if took[i] is None and forced(predict(url)) == want:
                took[i] = time.monotonic() - start
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"replicas not converged within {timeout_s} s: {took}")
        time.sleep(0.02)
    return [t for t in took if t is not None]


def test_two_predictor_processes_converge_on_one_row(tmp_path: Path, schema: str) -> None:
    control = control_config(schema)
    repos = [make_repo(tmp_path / name, control=control.model_dump()) for name in ("a", "b")]
    servers = []
    try:
        for repo in repos:
            servers.append(start_server(repo, env={DSN_ENV: PG_DSN}))
        urls = [s.url for s in servers]
        assert not any(forced(predict(u)) for u in urls)
        environment = repos[0].config.environment
        effects = ActionEffects(monitor(tmp_path, environment, control), (), environ={DSN_ENV: PG_DSN})
        inc, res = incident(environment)
        outcome = effects.open_circuit(inc, res, time.time_ns() // 1000 + 3_600_000_000)
        assert outcome.ok and "runtime_control" in outcome.detail["control"]
        opened = converge(urls, True)
        answer = predict(urls[1])
        assert answer["breaker"]["incident"] == "inc-replicas" and answer["action"] == "human_review"
        effects.channel.update(actor="system:enforcer", at_us=time.time_ns() // 1000,
                               circuit_forced_open_until_us=None)
        released = converge(urls, False)
        print(f"replicas forced open after {opened} s, released after {released} s")
        assert max(opened) < 2.5 and max(released) < 2.5  # refresh_s = 1: ~1 s, plus a request
        db = PostgresDatabase(PG_DSN, schema)
        assert [r.action for r in AuditLog(db).records()] == ["control.changed", "control.changed"]
        db.close()
    finally:
        for server in servers:
            stop_server(server)


def test_store_down_mid_traffic_fails_no_request(tmp_path: Path, schema: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path / "a")
    monkeypatch.chdir(repo.root)
    proxy = PgProxy()
    monkeypatch.setenv(DSN_ENV, proxy.dsn())  # the predictor reaches the store through the proxy
    config = repo.config.model_copy(update={"control": control_config(schema).model_copy(update={"refresh_s": 0.1})})
    writer = DatabaseChannel(PostgresDatabase(PG_DSN, schema), MODEL, repo.config.environment)
    p = SpecOpsPredictor(config)
    try:
        assert p.load()
        refresher = p.control
        assert isinstance(refresher, ControlRefresher)
        ask = lambda: p.predict({"instances": [{"entity": "T-LOW", "at": AT}]}, {})["predictions"][0]  # noqa: E731
        writer.update(actor="system:enforcer", at_us=time.time_ns() // 1000,
                      circuit_forced_open_until_us=time.time_ns() // 1000 + 3_600_000_000, incident="inc-9")
        deadline = time.monotonic() + 3
        while not forced(ask()):
            assert time.monotonic() < deadline, "the forced control never arrived"
            time.sleep(0.02)
        proxy.down()
        answers, start = [], time.monotonic()
        while refresher.failures < 5 or time.monotonic() - start < 1.0:  # requests while reads keep failing
            assert time.monotonic() - start < 10, f"only {refresher.failures} failed reads in 10 s"
            answers.append(ask())
        assert refresher.failing
        assert all(forced(a) and a["breaker"]["incident"] == "inc-9" for a in answers), "the last control must hold"
        print(f"{len(answers)} requests answered while the store was down, {refresher.failures} failed reads")
        stale = REGISTRY.get_sample_value("specops_control_staleness_seconds",
                                          {"model": MODEL, "environment": repo.config.environment})
        assert stale is not None and stale >= 0.5
        proxy.up()
        writer.update(actor="system:enforcer", at_us=time.time_ns() // 1000, circuit_forced_open_until_us=None)
        deadline = time.monotonic() + 3
        while forced(ask()):
            assert time.monotonic() < deadline, "the release never arrived after the store came back"
            time.sleep(0.02)
        p.unload()
        assert not [t for t in threading.enumerate() if t.name == f"control {refresher.path}"], \
            "unload leaves the control refresher's thread running"
    finally:
        p.unload()  # stops the refresher and closes its channel (asserted below)
        proxy.down()
        writer.db.close()


def test_serve_without_the_control_dsn_says_which_variable(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "a", control=control_config("t_unused").model_dump())
    env = {k: v for k, v in os.environ.items() if k != DSN_ENV}
    done = subprocess.run([sys.executable, "-m", "runtime", "serve", "--config", CONFIG], cwd=repo.root, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert f"${DSN_ENV}" in done.stderr and "Traceback" not in done.stderr
