"""The RuntimeControl reader: re-read only when the file changes and at most
once per interval, a missing file is "no override", a bad file keeps the
last good control (and says why); and the Redis store's short timeouts."""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from runtime.contracts.monitoring import RuntimeControl, control_path
from runtime.features.store import StoreError
from runtime.features.stores.redis_store import RedisStore
from runtime.serving.control import ControlReader


@dataclass
class Clock:
    t: float = 0.0

    def __call__(self) -> float:
        return self.t


def write(path: Path, data: object) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data) if not isinstance(data, str) else data)
    os.replace(tmp, path)


def test_reread_when_changed_at_most_once_per_interval(tmp_path: Path) -> None:
    clock = Clock()
    path = Path(control_path(str(tmp_path), "pump-failure", "prod"))
    assert path == tmp_path / "control" / "pump-failure-prod.json"
    path.parent.mkdir()
    reader = ControlReader(str(path), clock=clock)
    assert reader.current() == RuntimeControl() and reader.canary_percent() is None  # absent: no override
    write(path, {"canary_percent": 0, "canary_reason": "p99 2x champion", "incident": "i-1", "updated_at_us": 5})
    assert reader.canary_percent() is None  # within the interval: not looked at
    clock.t += 1.0
    assert reader.canary_percent() == 0.0 and reader.current().incident == "i-1" and reader.reloads == 1
    for _ in range(5):
        clock.t += 1.0
        reader.current()
    assert reader.reloads == 1  # unchanged file: stat only
    write(path, {"circuit_forced_open_until_us": 2_000, "circuit_reason": "errors", "updated_at_us": 6})
    clock.t += 1.0
    assert reader.forced_open(1_999) is not None and reader.forced_open(2_000) is None
    assert reader.canary_percent() is None and reader.reloads == 2
    path.unlink()
    clock.t += 1.0
    assert reader.current() == RuntimeControl()


def test_a_reader_opened_by_a_relative_path_keeps_reading_its_file_after_a_chdir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for project, percent in (("a", 10), ("b", 90)):
        path = tmp_path / project / "control.json"
        path.parent.mkdir()
        write(path, {"canary_percent": percent, "updated_at_us": 1})
    monkeypatch.chdir(tmp_path / "a")
    clock = Clock()
    reader = ControlReader("control.json", clock=clock)
    monkeypatch.chdir(tmp_path / "b")  # another project's file of the same name is here now
    assert reader.canary_percent() == 10.0


@pytest.mark.parametrize("bad,why", [
    ("{not json", "Expecting property name"),
    ('["a list"]', "not a JSON object"),
    ({"canary_percent": 150}, "canary_percent: 150 is not a number in [0, 100]"),
    ({"circuit_forced_open_until_us": "tomorrow"}, "not a time in UTC microseconds"),
    ({"circuit_forced_open_until_us": 2**62}, "not a time in UTC microseconds (0 to year 9999)"),
    ({"circuit_open": True}, "unknown fields ['circuit_open']"),
])
def test_a_bad_file_keeps_the_last_good_control_and_says_why(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                             bad: object, why: str) -> None:
    clock = Clock()
    path = tmp_path / "control.json"
    write(path, {"canary_percent": 25})
    reader = ControlReader(str(path), clock=clock)
    assert reader.canary_percent() == 25.0
    write(path, bad)
    os.utime(path, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))  # a new mtime even within the same tick
    clock.t += 1.0
    with caplog.at_level(logging.WARNING, logger="runtime.serving.control"):
        assert reader.canary_percent() == 25.0
    assert why in caplog.text and "keeping the last one" in caplog.text


@pytest.mark.parametrize("query,message", [
    ("socket_timeout=0", "socket_timeout='0' must be a positive number of seconds"),
    ("connect_timeout=fast", "connect_timeout='fast' must be a positive number of seconds"),
    ("retries=1.5", "retries must be a whole number"),
])
def test_redis_timeouts_are_checked(query: str, message: str) -> None:
    with pytest.raises(StoreError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RedisStore(f"redis://127.0.0.1:1/0?{query}")


def test_redis_defaults_fail_fast_well_under_a_request_timeout() -> None:
    store = RedisStore("redis://127.0.0.1:1/0?prefix=p")
    kwargs = store.client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == 0.25 and kwargs["socket_connect_timeout"] == 0.25
    assert kwargs["retry"].get_retries() == 1
    custom = RedisStore("redis://127.0.0.1:1/0?socket_timeout=0.1&connect_timeout=0.05&retries=0")
    kwargs = custom.client.connection_pool.connection_kwargs
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"], kwargs["retry"].get_retries()) == (0.1, 0.05, 0)
