"""Both control channel backends: a change sets its levers and keeps the
others; the database row changes in the same transaction as its audit
record (the chain verifies, and a failed audit append leaves the row as it
was); ``open_channel`` picks the backend a compiled config names."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.audit.database import DatabaseError, SqliteDatabase
from runtime.audit.log import AuditLog
from runtime.contracts.monitoring import RuntimeControl, control_path
from runtime.contracts.steps import ControlChannelConfig, ReviewStoreConfig
from runtime.control import DatabaseChannel, FileChannel, open_channel
from runtime.serving.control import ControlReader

T0 = 1_800_000_000_000_000


def test_file_channel_merges_levers_and_the_predictor_reader_sees_them(tmp_path: Path) -> None:
    channel = FileChannel.of(str(tmp_path), "m", "prod")
    assert channel.read() == RuntimeControl()  # no file: no override
    channel.update(actor="a", at_us=T0, circuit_forced_open_until_us=T0 + 10, incident="inc-1")
    after = channel.update(actor="a", at_us=T0 + 1, canary_percent=0.0, canary_reason="worse")
    assert after == RuntimeControl(circuit_forced_open_until_us=T0 + 10, canary_percent=0.0, canary_reason="worse",
                                   incident="inc-1", updated_at_us=T0 + 1)
    assert channel.where == control_path(str(tmp_path), "m", "prod")
    assert ControlReader(channel.path).current() == after == channel.read()


def test_file_channel_replaces_an_unreadable_file_whole(tmp_path: Path) -> None:
    channel = FileChannel.of(str(tmp_path), "m", "prod")
    Path(channel.path).parent.mkdir(parents=True)
    Path(channel.path).write_text("{not json")
    with pytest.raises(ValueError):
        channel.read()  # the reader is told; a writer replaces it
    assert channel.update(actor="a", at_us=T0, canary_percent=5).canary_percent == 5
    assert channel.read().canary_percent == 5


def test_database_channel_changes_one_row_with_its_audit_record(db) -> None:  # type: ignore[no-untyped-def]
    prod, staging = DatabaseChannel(db, "m", "prod"), DatabaseChannel(db, "m", "staging")
    assert prod.read() == RuntimeControl()  # the table is created on first use; no row: no override
    prod.update(actor="system:enforcer", at_us=T0, circuit_forced_open_until_us=T0 + 600_000_000,
                circuit_reason="p99 above 250 ms", incident="inc-1")
    prod.update(actor="predictor:m", at_us=T0 + 5, canary_percent=0.0, incident="inc-2")
    staging.update(actor="system:enforcer", at_us=T0 + 6, canary_percent=25.0)
    got = DatabaseChannel(db, "m", "prod").read()  # another reader (replica) of the same store
    assert got == RuntimeControl(circuit_forced_open_until_us=T0 + 600_000_000, circuit_reason="p99 above 250 ms",
                                 canary_percent=0.0, incident="inc-2", updated_at_us=T0 + 5)
    assert staging.read().canary_percent == 25.0 and staging.read().circuit_forced_open_until_us is None
    with db.transaction() as tx:
        assert tx.rows("SELECT count(*) FROM runtime_control")[0][0] == 2
    log = AuditLog(db)
    records = list(log.records())
    assert [(r.actor, r.action, r.subject) for r in records] == [
        ("system:enforcer", "control.changed", "m/prod"), ("predictor:m", "control.changed", "m/prod"),
        ("system:enforcer", "control.changed", "m/staging")]
    assert records[1].payload["changes"] == {"canary_percent": 0.0, "incident": "inc-2"}
    assert records[1].payload["control"]["circuit_reason"] == "p99 above 250 ms"
    assert log.verify().ok


def test_a_failed_audit_append_leaves_the_row_unchanged(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "review.db")
    channel = DatabaseChannel(db, "m", "prod")
    channel.update(actor="a", at_us=T0, canary_percent=50.0)
    with db.transaction() as tx:  # from now on the audit append fails
        tx.execute("CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'no'); END")
    with pytest.raises(DatabaseError, match="no"):
        channel.update(actor="a", at_us=T0 + 1, canary_percent=0.0)
    assert channel.read() == RuntimeControl(canary_percent=50.0, updated_at_us=T0)  # one transaction: nothing
    db.close()


def test_open_channel_follows_the_compiled_config(tmp_path: Path) -> None:
    assert isinstance(open_channel(None, str(tmp_path), "m", "prod"), FileChannel)
    assert isinstance(open_channel(ControlChannelConfig(), str(tmp_path), "m", "prod"), FileChannel)
    store = ReviewStoreConfig(backend="sqlite", path=str(tmp_path / "x" / "review.db"))
    channel = open_channel(ControlChannelConfig(backend="database", store=store), str(tmp_path), "m", "prod")
    assert isinstance(channel, DatabaseChannel) and "runtime_control m/prod" in channel.where
    pg = ControlChannelConfig(backend="database", store=ReviewStoreConfig(backend="postgres", dsn_env="NO_SUCH_DSN",
                                                                          dsn_secret="review/dsn"))
    with pytest.raises(DatabaseError, match=r"\$NO_SUCH_DSN"):
        open_channel(pg, str(tmp_path), "m", "prod", env={})
    with pytest.raises(ValueError, match="needs its store"):
        ControlChannelConfig(backend="database")
