"""The online store's Redis goes away mid-load under the real `specops serve`
process: the online-store breaker opens within what its thresholds imply,
every answer during the outage is the declared fallback (marked), no more
5xx than ``failureThreshold`` (and only before it opens), and after Redis
returns the breaker closes again and the answers are normal.

Redis is a PRIVATE ``redis-server`` on a free port (never the machine's
shared one), failed two ways: paused (SIGSTOP: every call hangs until the
client's socket timeout) and killed (SIGKILL: connection refused; restarted
from the snapshot taken before).  The numbers are printed (run with -s).
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from runtime.features.stores.redis_store import CONNECT_TIMEOUT_S, CONNECTION_RETRIES, SOCKET_TIMEOUT_S
from tests.conftest import require_tool
from tests.runtime.serving.served import T0, free_port, iso, make_repo, start_server, stop_server

pytestmark = pytest.mark.services

# The ServiceLevel's failureThreshold and halfOpenRequests; openFor shortened
# from 60 s so the test waits seconds, not minutes, for the recovery.
BREAKER = {"failure_threshold": 5, "window_s": 30.0, "open_for_s": 4.0, "half_open_requests": 3,
           "fallback": "human_review"}
AT = iso(T0 + timedelta(minutes=1))
BEFORE_S, FAULT_S = 1.5, 6.0


@dataclass
class Answer:
    sent: float
    done: float
    status: int
    body: dict


class PrivateRedis:
    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.root = root
        self.process = self._start()

    def _start(self) -> subprocess.Popen:
        process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.root), "--dbfilename", "snapshot.rdb"],
            stdout=open(self.root / "redis.log", "ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._ping():
                return process
            time.sleep(0.05)
        process.kill()
        raise AssertionError("the private redis-server did not start:\n" + (self.root / "redis.log").read_text())

    def _ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def snapshot(self) -> None:
        import redis

        redis.Redis(port=self.port).save()

    def cut(self, how: str) -> None:
        if how == "paused":
            self.process.send_signal(signal.SIGSTOP)
        else:
            self.process.kill()
            self.process.wait()

    def restore(self, how: str) -> None:
        if how == "paused":
            self.process.send_signal(signal.SIGCONT)
        else:
            self.process = self._start()  # loads snapshot.rdb

    def stop(self) -> None:
        self.process.send_signal(signal.SIGCONT)
        self.process.kill()
        self.process.wait()


def post(url: str, entity: str) -> tuple[int, dict]:
    body = json.dumps({"instances": [{"entity": entity, "at": AT}]}).encode()
    request = urllib.request.Request(url, body, {"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def circuit_gauge(base: str) -> float:
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("specops_circuit_state{") and 'dependency="online-store"' in line:
                return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no specops_circuit_state for the online store on /metrics")


@pytest.mark.parametrize("how", ["paused", "killed"])
def test_redis_outage_mid_load(tmp_path: Path, how: str) -> None:
    require_tool("redis-server", "apt-get install redis-server")
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    store = PrivateRedis(redis_dir)
    server = None
    try:
        repo = make_repo(tmp_path / "repo", store_url=f"redis://127.0.0.1:{store.port}/0?prefix=breaker-test",
                         breaker=BREAKER)
        store.snapshot()
        server = start_server(repo)
        url = f"{server.url}/v1/models/pump-failure:predict"
        assert post(url, "T-LOW")[0] == 200
        answers: list[Answer] = []
        stop = threading.Event()

        def load() -> None:
            while not stop.is_set():
                sent = time.monotonic()
                status, body = post(url, "T-LOW")
                answers.append(Answer(sent, time.monotonic(), status, body))

        client = threading.Thread(target=load)
        client.start()
        time.sleep(BEFORE_S)
        cut = time.monotonic()
        store.cut(how)
        time.sleep(FAULT_S / 2)
        gauge_during = circuit_gauge(server.url)
        time.sleep(FAULT_S / 2)
        store.restore(how)
        restored = time.monotonic()
        deadline = restored + BREAKER["open_for_s"] + 10
        closed_at = None
        while time.monotonic() < deadline:
            time.sleep(0.1)
            recent = [a for a in answers if a.sent > restored]
            normal = [a for a in recent if a.status == 200 and "breaker" not in a.body["predictions"][0]]
            if len(normal) >= 20:
                closed_at = normal[0].done
                break
        stop.set()
        client.join()
        gauge_after = circuit_gauge(server.url)
    finally:
        if server is not None:
            assert stop_server(server) == 0 if server.process.poll() is None else True
        store.stop()

    before = [a for a in answers if a.done < cut]
    during = [a for a in answers if cut <= a.sent < restored]
    errors = [a for a in answers if a.status >= 500]
    marked = [a for a in answers if a.status == 200 and "breaker" in a.body["predictions"][0]]
    first_fallback = min(a.done for a in marked)
    time_to_open = first_fallback - cut
    # A sequential client opens it after failureThreshold failed calls, each
    # bounded by the store client's timeouts and retries (plus a little slack).
    per_call = (max(CONNECT_TIMEOUT_S, SOCKET_TIMEOUT_S) * (CONNECTION_RETRIES + 1)) + 0.25
    open_bound = BREAKER["failure_threshold"] * per_call
    recovery = (closed_at - restored) if closed_at is not None else None
    numbers = {
        "how": how, "requests_before": len(before), "requests_during_fault": len(during),
        "fallbacks_marked": len(marked), "errors_5xx": len(errors), "time_to_open_s": round(time_to_open, 3),
        "open_bound_s": round(open_bound, 3), "recovery_after_restore_s": round(recovery, 3) if recovery else None,
        "recovery_bound_s": BREAKER["open_for_s"] + 2.0, "gauge_during": gauge_during, "gauge_after": gauge_after,
        "requests_total": len(answers),
    }
    print("\nbreaker/redis", json.dumps(numbers))

    assert all(a.status == 200 and "breaker" not in a.body["predictions"][0] for a in before)
    assert len(errors) <= BREAKER["failure_threshold"], numbers
    assert all(a.body["error"].startswith("the online store is unavailable") for a in errors)
    assert all(a.done <= first_fallback for a in errors), "a 5xx after the breaker opened"
    assert time_to_open <= open_bound, numbers
    assert len(during) >= 10 and len(marked) >= 10, numbers
    for a in marked:  # every fallback says what, and routes to a human with its rule
        p = a.body["predictions"][0]
        assert p["breaker"]["dependency"] == "online-store" and p["breaker"]["fallback"] == "human_review"
        assert p["breaker"]["state"] in ("open", "half_open")
        assert p["action"] == "human_review" and p["reason"]["rule"] == "circuit-open:online-store"
    assert all(a.status == 200 for a in during if a.done > first_fallback)
    assert gauge_during == 2.0 and gauge_after == 0.0, numbers
    assert recovery is not None and recovery <= BREAKER["open_for_s"] + 2.0, numbers
    after = [a for a in answers if a.done >= closed_at]
    assert after and all(a.status == 200 and "breaker" not in a.body["predictions"][0]
                         and a.body["predictions"][0]["action"] == "auto" for a in after)
