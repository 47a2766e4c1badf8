"""The predictor's background reader of the database channel, against a
real PostgreSQL taken away by closing its (proxied) connections: the last
control is kept, the failure is logged once, staleness grows, and the
reader converges again once the database is back."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import pytest
from control_support import PG_DSN, PgProxy, pg_schema, require_service

from runtime.audit.database import PostgresDatabase
from runtime.contracts.monitoring import RuntimeControl
from runtime.control import ControlRefresher, DatabaseChannel

T0 = 1_800_000_000_000_000
FAR = 4_102_444_800_000_000  # 2100-01-01


def wait_for(what: Callable[[], bool], timeout_s: float = 5.0) -> float:
    start = time.monotonic()
    while not what():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"not within {timeout_s} s")
        time.sleep(0.01)
    return time.monotonic() - start


@pytest.fixture
def pg() -> Iterator[tuple[PgProxy, str]]:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    proxy, schema = PgProxy(), pg_schema()
    yield proxy, schema
    proxy.down()
    owner = PostgresDatabase(PG_DSN, schema)
    owner.drop_schema()
    owner.close()


def test_database_down_keeps_the_last_control_and_recovers(pg: tuple[PgProxy, str],
                                                           caplog: pytest.LogCaptureFixture) -> None:
    proxy, schema = pg
    writer = DatabaseChannel(PostgresDatabase(PG_DSN, schema), "m", "prod")  # the monitor: direct
    reader_db = PostgresDatabase(proxy.dsn(), schema)  # the predictor: through the proxy
    refresher = ControlRefresher(DatabaseChannel(reader_db, "m", "prod"), interval_s=0.05).start()
    try:
        forced = writer.update(actor="system:enforcer", at_us=T0, circuit_forced_open_until_us=FAR, incident="inc-1")
        took = wait_for(lambda: refresher.current() == forced)
        assert took < 1.0 and refresher.forced_open(T0) == forced
        caplog.set_level(logging.INFO, logger="runtime.control.refresher")
        proxy.down()
        wait_for(lambda: refresher.failures >= 5)
        assert refresher.failing and "DatabaseError" in refresher.failing
        assert refresher.current() == forced and refresher.forced_open(T0) == forced  # the last value is kept
        assert refresher.staleness_s() >= 4 * 0.05
        # The monitor changes the row meanwhile: not seen while the store is unreachable...
        cleared = writer.update(actor="system:enforcer", at_us=T0 + 1, circuit_forced_open_until_us=None)
        time.sleep(0.2)
        assert refresher.current() == forced
        down_logs = [r for r in caplog.records if "cannot be read" in r.getMessage()]
        assert len(down_logs) == 1, [r.getMessage() for r in caplog.records]  # once, not once per read
        # ...and converged on within a refresh once it is back.
        proxy.up()
        took = wait_for(lambda: refresher.current() == cleared)
        assert took < 2.0 and refresher.failing is None and refresher.staleness_s() < 1.0
        assert refresher.forced_open(T0) is None
        assert sum("readable again" in r.getMessage() for r in caplog.records) == 1
    finally:
        refresher.stop()
        reader_db.close()
        writer.db.close()


def test_a_store_down_at_start_serves_with_no_override_until_it_is_up(pg: tuple[PgProxy, str]) -> None:
    proxy, schema = pg
    proxy.down()
    reader_db = PostgresDatabase(proxy.dsn(), schema)
    refresher = ControlRefresher(DatabaseChannel(reader_db, "m", "prod"), interval_s=0.05).start()
    try:
        assert refresher.current() == RuntimeControl() and refresher.failing  # start() did not raise
        writer = DatabaseChannel(PostgresDatabase(PG_DSN, schema), "m", "prod")
        control = writer.update(actor="a", at_us=T0, canary_percent=0.0)
        writer.db.close()
        proxy.up()
        wait_for(lambda: refresher.current() == control)
    finally:
        refresher.stop()
        reader_db.close()
