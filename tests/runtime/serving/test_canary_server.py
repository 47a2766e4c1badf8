"""Reliability with real processes: the real kserve server (`python -m
runtime serve`) under concurrent load, with real ONNX challengers.

* a canary whose model outputs NaN (every request it answers is a 500) is
  rolled back automatically: zero failed champion requests;
* a shadow whose scores are shifted (PSI) is rolled back: every request is
  answered by the champion, the shadow score rides in the provenance;
* a reload under load (the registry's champion alias moved) switches with
  zero failed requests; a release that cannot be warmed is refused and the
  current one keeps serving.

Each test prints its numbers (run with -s to see them).
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from runtime.contracts.monitoring import control_path
from runtime.features.online import OnlineEngine
from runtime.features.store import open_store
from runtime.monitoring.incidents import read_incident
from runtime.registry import Registry
from runtime.serving.canary import routes_to_challenger
from tests.runtime.serving.served import (
    BIAS, MODEL, STORE, WEIGHTS, ServedRepo, Server, asset_events, make_repo, start_server, stop_server, write_onnx,
)

AT = "2026-03-01T12:01:00Z"
ANALYSIS = {"steps": [10, 25, 50, 100], "percent": 0.0, "challenger_alias": "candidate", "interval_s": 300.0,
            "max_error_rate": 0.01, "max_latency_p99_ms": 200.0, "max_score_psi": 0.2, "min_requests": 60}
ASSETS = [f"A-{i:02d}" for i in range(40)]


def fill_assets(repo: ServedRepo) -> None:
    """40 pumps with vibration 1..9: scores spread over (0, 1), so PSI has a distribution to compare."""
    old = Path.cwd()
    os.chdir(repo.root)
    try:
        store = open_store(STORE)
        engine = OnlineEngine(repo.config.feature_sets, store)
        for i, asset in enumerate(ASSETS):
            for event in asset_events(asset, "pump", "low", 1.0 + 8.0 * i / (len(ASSETS) - 1)):
                engine.apply(event)
        store.close()
    finally:
        os.chdir(old)


def register(repo: ServedRepo, name: str, alias: str, *, bias: float = BIAS) -> str:
    path = repo.root / "build" / f"{name}.onnx"
    write_onnx(path, list(repo.config.features), WEIGHTS, bias)
    old = Path.cwd()
    os.chdir(repo.root)
    try:
        registry = Registry(repo.config.artifacts.uri)
        entry = registry.register(MODEL, {"model.onnx": path}, "model.onnx", {})
        registry.set_alias(MODEL, alias, entry.version)
    finally:
        os.chdir(old)
    return entry.version


@dataclass
class Outcome:
    rid: str
    status: int
    t: float
    version: str | None = None
    role: str | None = None
    shadow: dict | None = None


@dataclass
class Load:
    server: Server
    threads: int = 4
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    t0: float = 0.0

    def _worker(self, k: int) -> None:
        i = 0
        while not self._stop.is_set():
            rid = f"w{k}-{i}"
            entity = ASSETS[(k * 7919 + i) % len(ASSETS)]
            i += 1
            body = json.dumps({"instances": [{"entity": entity, "at": AT}]}).encode()
            req = urllib.request.Request(f"{self.server.url}/v1/models/{MODEL}:predict", data=body,
                                         headers={"content-type": "application/json", "x-request-id": rid})
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    [p] = json.loads(r.read())["predictions"]
                    self.outcomes.append(Outcome(rid, r.status, time.monotonic() - self.t0, p["model"]["version"],
                                                 p["model"]["role"], p.get("shadow")))
            except urllib.error.HTTPError as exc:
                exc.read()
                self.outcomes.append(Outcome(rid, exc.code, time.monotonic() - self.t0))
            except OSError:
                self.outcomes.append(Outcome(rid, 0, time.monotonic() - self.t0))

    def start(self) -> "Load":
        self.t0 = time.monotonic()
        self._workers = [threading.Thread(target=self._worker, args=(k,), daemon=True) for k in range(self.threads)]
        for w in self._workers:
            w.start()
        return self

    def stop(self) -> list[Outcome]:
        self._stop.set()
        for w in self._workers:
            w.join(timeout=15)
        return list(self.outcomes)

    def wait_for(self, predicate, timeout_s: float) -> bool:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return False


def metric_value(server: Server, line_start: str) -> float:
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def incidents(repo: ServedRepo) -> list[Path]:
    return sorted((repo.root / repo.config.work_dir / "incidents").glob("*.json"))


def test_a_canary_answering_errors_is_rolled_back_with_zero_failed_champion_requests(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, canary=ANALYSIS)
    fill_assets(repo)
    champion = register(repo, "champion", "champion")
    challenger = register(repo, "broken", "candidate", bias=math.nan)  # scores NaN: every answer a 500
    server = start_server(repo, env={"SPECOPS_SERVE_CANARY_PERCENT": "25", "SPECOPS_SERVE_RELOAD_POLL_S": "0"})
    try:
        load = Load(server).start()
        assert load.wait_for(lambda: bool(incidents(repo)), 60), server.log()
        time.sleep(1.0)  # keep the load on after the rollback
        outcomes = load.stop()
        rollback_at = metric_value(server, f'specops_canary_traffic_percent{{environment="local",model="{MODEL}",'
                                           f'version="{challenger}"}}')
    finally:
        stop_server(server)
    to_challenger = [o for o in outcomes if routes_to_challenger(o.rid, 25.0)]
    champion_arm = [o for o in outcomes if not routes_to_challenger(o.rid, 25.0)]
    answered_by_challenger = [o for o in outcomes if o.role == "canary"]
    failed = [o for o in outcomes if o.status != 200]
    [path] = incidents(repo)
    incident = read_incident(path)
    last_failure = max(o.t for o in failed)
    print(f"\ncanary rollback: {len(outcomes)} requests, {len(to_challenger)} routed to the challenger by id, "
          f"{len(failed)} failed (all challenger), champion arm {len(champion_arm)} requests / "
          f"{sum(o.status != 200 for o in champion_arm)} failed; last challenger failure at {last_failure:.2f}s; "
          f"evidence {incident.evidence['challenger']}")
    assert all(o.status == 200 and o.version == champion and o.role == "champion" for o in champion_arm)
    assert not answered_by_challenger  # it never produced an answer: every one it took failed
    assert failed and all(routes_to_challenger(o.rid, 25.0) for o in failed)
    # judged at minRequests challenger requests (a few more may have been in flight on other threads)
    assert ANALYSIS["min_requests"] <= len(failed) <= ANALYSIS["min_requests"] + load.threads
    after = [o for o in outcomes if o.t > last_failure]
    assert after and all(o.status == 200 and o.version == champion for o in after)
    assert rollback_at == 0.0
    assert incident.kind == "canary_rollback" and incident.evidence["challenger"]["error_rate"] == 1.0
    assert incident.evidence["failures"][0].startswith("error rate 1.0000")
    control = json.loads((repo.root / control_path(repo.config.work_dir, MODEL, "local")).read_text())
    assert control["canary_percent"] == 0.0 and control["incident"] == incident.id
    assert "ROLLBACK" in server.log() and "pull request" in incident.summary


def test_a_shadow_with_shifted_scores_is_rolled_back_and_never_answers(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, canary=ANALYSIS)
    fill_assets(repo)
    champion = register(repo, "champion", "champion")
    shadow = register(repo, "shifted", "candidate", bias=BIAS + 3.0)  # same features, scores pushed up
    server = start_server(repo, env={"SPECOPS_SERVE_SHADOW": "1", "SPECOPS_SERVE_RELOAD_POLL_S": "0"})
    try:
        load = Load(server).start()
        assert load.wait_for(lambda: bool(incidents(repo)), 60), server.log()
        time.sleep(1.0)
        outcomes = load.stop()
    finally:
        stop_server(server)
    with_shadow = [o for o in outcomes if o.shadow is not None]
    incident = read_incident(incidents(repo)[0])
    psi_value = incident.evidence["score_psi"]["psi"]
    print(f"\nshadow rollback: {len(outcomes)} requests, {len(with_shadow)} shadow-scored before the rollback, "
          f"PSI {psi_value:.2f} > {ANALYSIS['max_score_psi']}, champion scores {incident.evidence['champion']['scores']}")
    assert all(o.status == 200 and o.version == champion and o.role == "champion" for o in outcomes)
    assert len(with_shadow) >= ANALYSIS["min_requests"]
    assert all(o.shadow["version"] == shadow and 0 <= o.shadow["score"] <= 1 for o in with_shadow)  # type: ignore[index]
    last_shadowed = max(o.t for o in with_shadow)
    assert any(o.t > last_shadowed for o in outcomes)  # answers continued, without the shadow
    assert psi_value > ANALYSIS["max_score_psi"] and "score PSI" in incident.summary


def test_a_reload_under_load_fails_no_request_and_a_bad_release_is_refused(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    fill_assets(repo)
    v1 = register(repo, "v1", "champion")
    server = start_server(repo, env={"SPECOPS_SERVE_RELOAD_POLL_S": "0.2"})
    try:
        load = Load(server).start()
        assert load.wait_for(lambda: len(load.outcomes) > 200, 30)
        v2 = register(repo, "v2", "champion", bias=BIAS + 0.5)
        moved = time.monotonic() - load.t0
        assert load.wait_for(lambda: any(o.version == v2 for o in load.outcomes[-50:]), 30), server.log()
        time.sleep(0.5)
        register(repo, "v3-nan", "champion", bias=math.nan)  # loads, but cannot score: refused at warm-up
        assert load.wait_for(lambda: "refused" in server.log(), 30), server.log()
        time.sleep(1.0)
        outcomes = load.stop()
        refused = metric_value(server, f'specops_reloads_total{{environment="local",model="{MODEL}",outcome="refused"}}')
        loaded = metric_value(server, f'specops_reloads_total{{environment="local",model="{MODEL}",outcome="loaded"}}')
    finally:
        stop_server(server)
    versions = Counter(o.version for o in outcomes)
    first_v2 = min(o.t for o in outcomes if o.version == v2)
    print(f"\nreload under load: {len(outcomes)} requests, {sum(o.status != 200 for o in outcomes)} failed; "
          f"by version {dict(versions)}; v2 answered {first_v2 - moved:.2f}s after the alias moved; "
          f"reloads loaded={loaded:g} refused={refused:g}")
    assert all(o.status == 200 for o in outcomes), Counter(o.status for o in outcomes)
    assert set(versions) == {v1, v2}
    last_v1 = max(o.t for o in outcomes if o.version == v1)
    assert all(o.version == v2 for o in outcomes if o.t > last_v1 + 1.0)  # switched once, never back
    assert (loaded, refused) == (1.0, 1.0)
    assert f"still serving {v2}" in server.log()


def test_sighup_reloads_a_moved_alias_without_polling(tmp_path: Path) -> None:
    import signal

    repo = make_repo(tmp_path)
    fill_assets(repo)
    v1 = register(repo, "v1", "champion")
    server = start_server(repo, env={"SPECOPS_SERVE_RELOAD_POLL_S": "0"})
    try:
        load = Load(server, threads=2).start()
        assert load.wait_for(lambda: len(load.outcomes) > 50, 30)
        v2 = register(repo, "v2", "champion", bias=BIAS + 0.5)
        time.sleep(1.0)
        assert all(o.version == v1 for o in load.outcomes[-20:])  # no polling: nothing moved yet
        server.process.send_signal(signal.SIGHUP)
        assert load.wait_for(lambda: any(o.version == v2 for o in load.outcomes[-20:]), 30), server.log()
        outcomes = load.stop()
        assert server.process.poll() is None  # SIGHUP reloads, never stops the server
    finally:
        stop_server(server)
    print(f"\nSIGHUP reload: {len(outcomes)} requests, {sum(o.status != 200 for o in outcomes)} failed")
    assert all(o.status == 200 for o in outcomes)
