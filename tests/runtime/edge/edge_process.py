"""The edge runner as a real child process (``python -m runtime edge``), a
client loop against it, and a bundle channel switched atomically (a symlink
replaced with os.replace), for the process and acceptance tests."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Channel", "ClientLoop", "EdgeProcess"]

REPO = Path(__file__).resolve().parents[3]


class EdgeProcess:
    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log = config, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self, timeout: float = 60.0) -> None:
        self.log.write_text("")
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "runtime", "edge", "--config", str(self.config)],
                                         cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(r"serving on http://[^:]+:(\d+)", self.log.read_text(errors="replace"))
            if m:
                self.port = int(m.group(1))
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"edge runner exited {self.proc.returncode}: {self.log.read_text()}")
            time.sleep(0.05)
        raise AssertionError(f"edge runner did not start in {timeout}s: {self.log.read_text()}")

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=json.dumps(body) if body is not None else None,
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        text = data.decode()
        return resp.status, json.loads(text) if resp.getheader("Content-Type", "").startswith("application/json") else text

    def wait_outcome(self, source: str, since_us: int, timeout: float = 60.0) -> dict[str, Any]:
        """The first install outcome for ``source`` recorded after ``since_us`` (the poller's or ours)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _, status = self.call("GET", "/v1/status")
            for o in status["recent"]:
                if o["source"] == source and o["at_us"] >= since_us:
                    return o
            time.sleep(0.05)
        raise AssertionError(f"no outcome for {source} within {timeout}s: {self.log.read_text()}")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return -9
        return int(self.proc.returncode)


class Channel:
    """A bundle location (a symlink) whose content is replaced atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.link = root / "channel"
        self._n = 0
        root.mkdir(parents=True, exist_ok=True)

    @property
    def uri(self) -> str:
        return str(self.link)

    def publish(self, bundle: Path) -> int:
        """Put a copy of ``bundle`` behind the channel; returns the time (us) just before the switch."""
        self._n += 1
        slot = self.root / f"slot-{self._n}"
        shutil.copytree(bundle, slot)
        tmp = self.root / ".channel.tmp"
        tmp.unlink(missing_ok=True)
        os.symlink(slot.name, tmp)
        at = int(time.time() * 1_000_000)
        os.replace(tmp, self.link)
        return at


@dataclass
class Response:
    t: float
    status: int
    version: str | None
    score: float | None
    latency_s: float


@dataclass
class ClientLoop:
    """Predictions in a loop over one keep-alive connection, every answer recorded."""

    port: int
    instance: dict[str, Any]
    responses: list[Response] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        body = json.dumps({"instances": [self.instance]})
        while not self._stop.is_set():
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/v1/predict", body=body, headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = json.loads(resp.read())
            except (OSError, http.client.HTTPException, ValueError) as exc:
                self.errors.append(repr(exc))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                continue
            dt = time.perf_counter() - t0
            ok = resp.status == 200
            self.responses.append(Response(time.time(), resp.status, data.get("version") if ok else None,
                                           data["predictions"][0]["score"] if ok else None, dt))
        conn.close()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=15)
