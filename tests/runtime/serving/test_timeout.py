"""``timeout_s`` per request: an online store slower than the model's timeout
(a real store behind the store interface, each read delayed) makes the
request answer 504 with a clear message, before any decision, review
hand-off or decision metric is recorded; over HTTP the error is counted with
reason ``timeout`` and the server keeps answering the other entities."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from runtime.features.state import EntityState
from runtime.features.store import ApplyResult, OnlineStore, open_store
from runtime.serving.errors import Timeout
from runtime.serving.online import OnlineFeatures
from runtime.serving.predictor import SpecOpsPredictor
from runtime.serving.review import InMemoryReviewQueue
from tests.runtime.serving.served import REPO, STORE, T0, iso, make_repo

AT = iso(T0 + timedelta(minutes=1))
TIMEOUT_S = 0.25
DELAY_S = 0.6  # the slow entity's read: well past the timeout


class SlowStore:
    """A real store whose reads of ``slow`` entities take ``delay_s`` (a store
    under load, or a long network path)."""

    def __init__(self, inner: OnlineStore, slow: frozenset[str], delay_s: float) -> None:
        self.inner, self.slow, self.delay_s = inner, slow, delay_s

    def update(self, feature_set: str, entity: str, step: Callable[[EntityState | None], ApplyResult],
               ttl_s: float | None) -> bool:
        return self.inner.update(feature_set, entity, step, ttl_s)

    def get(self, feature_set: str, entity: str) -> EntityState | None:
        if entity in self.slow:
            time.sleep(self.delay_s)
        return self.inner.get(feature_set, entity)

    def quarantined(self, feature_set: str) -> list[str]:
        return self.inner.quarantined(feature_set)

    def close(self) -> None:
        self.inner.close()


def test_a_read_slower_than_the_timeout_answers_504_and_decides_nothing(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path, timeout_s=TIMEOUT_S)
    monkeypatch.chdir(tmp_path)
    config = repo.config
    store = SlowStore(open_store(STORE), frozenset({"P-CRIT"}), DELAY_S)
    queue = InMemoryReviewQueue()
    predictor = SpecOpsPredictor(config, features=OnlineFeatures(config.feature_sets, config.features, store),
                                 review=queue)
    assert predictor.load()
    decisions = predictor.metrics._decisions["human_review"]
    before = decisions._value.get()

    started = time.monotonic()
    with pytest.raises(Timeout) as caught:
        predictor.predict({"instances": [{"entity": "P-CRIT", "at": AT}]}, {"x-request-id": "slow-1"})
    elapsed = time.monotonic() - started
    assert caught.value.status == 504 and caught.value.reason == "timeout"
    assert "beyond the model's timeout of 0.25s (at the online feature read)" in caught.value.message
    assert caught.value.message.startswith("instances[0]: the prediction took 0.")
    assert DELAY_S <= elapsed < DELAY_S + 1.0  # answered as soon as the read returned
    # P-CRIT would have gone to a human (HR-010): nothing was handed off or counted.
    assert queue.items() == ()
    assert decisions._value.get() == before

    # The same predictor answers a fast entity well within the timeout.
    [p] = predictor.predict({"instances": [{"entity": "T-LOW", "at": AT}]}, {"x-request-id": "fast-1"})["predictions"]
    assert p["action"] == "auto"


SERVER = '''
import sys
from pathlib import Path
sys.path.insert(0, REPO)
from runtime.contracts.steps import ServeConfig
from runtime.features.store import open_store
from runtime.serving.online import OnlineFeatures
from runtime.serving.predictor import SpecOpsPredictor
from runtime.serving.server import SpecOpsModelServer
from tests.runtime.serving.test_timeout import DELAY_S, SlowStore

config = ServeConfig.model_validate_json(Path(CONFIG).read_text())
store = SlowStore(open_store(STORE), frozenset({"P-CRIT"}), DELAY_S)
predictor = SpecOpsPredictor(config, features=OnlineFeatures(config.feature_sets, config.features, store))
predictor.load()
SpecOpsModelServer(host="127.0.0.1", http_port=PORT).start([predictor])
'''


def _post(url: str, body: dict) -> tuple[int, dict, float]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"content-type": "application/json"})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    return status, json.loads(raw), time.monotonic() - started


def _timeouts(url: str) -> float:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    lines = [line for line in text.splitlines()
             if line.startswith("specops_request_errors_total{") and 'reason="timeout"' in line]
    assert len(lines) == 1, lines
    return float(lines[0].rsplit(" ", 1)[1])


def test_over_http_a_timeout_is_a_504_counted_as_timeout_and_the_server_keeps_serving(tmp_path: Path) -> None:
    from tests.runtime.serving.served import CONFIG, free_port

    repo = make_repo(tmp_path, timeout_s=TIMEOUT_S)
    port = free_port()
    script = (SERVER.replace("REPO", repr(str(REPO))).replace("CONFIG", repr(CONFIG)).replace("STORE", repr(STORE))
              .replace("PORT", str(port)))
    log = open(tmp_path / "server.log", "wb")
    process = subprocess.Popen([sys.executable, "-c", script], cwd=repo.root, stdout=log, stderr=subprocess.STDOUT,
                               env={**os.environ, "PYTHONPATH": str(REPO)})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, (tmp_path / "server.log").read_text(errors="replace")
            try:
                with urllib.request.urlopen(url + "/v2/health/ready", timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the server did not become ready"
                time.sleep(0.2)
        predict = url + "/v1/models/pump-failure:predict"
        assert _timeouts(url) == 0.0  # initialised at start-up
        status, answer, elapsed = _post(predict, {"instances": [{"entity": "P-CRIT", "at": AT}]})
        assert status == 504, answer
        assert "beyond the model's timeout of 0.25s" in answer["error"]
        assert elapsed >= DELAY_S
        assert _timeouts(url) == 1.0
        status, answer, elapsed = _post(predict, {"instances": [{"entity": "T-LOW", "at": AT}]})
        assert status == 200 and answer["predictions"][0]["action"] == "auto"
        assert elapsed < TIMEOUT_S + 1.0
        assert _timeouts(url) == 1.0
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
