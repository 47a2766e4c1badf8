"""The RuntimeControl channel of one (model, environment): read the current
control, or change some of its fields, keeping the others.

``FileChannel``: the JSON file at ``control_path`` (temp file + fsync +
os.replace, so a reader never sees half of it); one machine only.
``DatabaseChannel``: one row of ``runtime_control`` in the review store
(PostgreSQL in a cluster, SQLite locally), changed in the same transaction
as its audit record, so every replica of the predictor and the monitor pod
share it and the change is in the audit chain or did not happen.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Protocol

from runtime.audit.database import Database, DatabaseError, open_database
from runtime.audit.log import AUDIT_DDL, AuditLog
from runtime.contracts.monitoring import RuntimeControl, control_path
from runtime.contracts.steps import ControlChannelConfig
from runtime.control.codec import decode, encode

__all__ = ["CONTROL_DDL", "ControlChannel", "DatabaseChannel", "FileChannel", "open_channel"]


class ControlChannel(Protocol):
    where: str  # for messages and evidence: a file path or "<store> runtime_control model/environment"

    def read(self) -> RuntimeControl:
        """The current control (no row or file: no override); raises when the channel cannot be read."""
        ...

    def update(self, *, actor: str, at_us: int, **changes: Any) -> RuntimeControl:
        """Set ``changes`` (RuntimeControl fields) and ``updated_at_us``, keeping the other fields."""
        ...

    def close(self) -> None:
        """Release what the channel holds (a database connection); reads may not follow."""
        ...


class FileChannel:
    def __init__(self, path: str) -> None:
        self.path = self.where = path

    @classmethod
    def of(cls, work_dir: str, model: str, environment: str) -> "FileChannel":
        return cls(control_path(work_dir, model, environment))

    def read(self) -> RuntimeControl:
        try:
            raw = Path(self.path).read_bytes()
        except FileNotFoundError:
            return RuntimeControl()
        return decode(raw)

    def read_lenient(self) -> RuntimeControl:
        try:
            return self.read()
        except (OSError, ValueError, TypeError):
            # An unreadable file is replaced whole by this write: the levers
            # must not depend on a file nobody can parse.
            return RuntimeControl()

    def update(self, *, actor: str, at_us: int, **changes: Any) -> RuntimeControl:
        path = Path(self.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        control = replace(self.read_lenient(), **changes, updated_at_us=at_us)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(encode(control))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return control

    def close(self) -> None:
        """Nothing held between reads: each opens the file."""


def _table(big: str) -> str:
    return (f"CREATE TABLE IF NOT EXISTS runtime_control (model TEXT NOT NULL, environment TEXT NOT NULL, "
            f"control TEXT NOT NULL, updated_at_us {big} NOT NULL, PRIMARY KEY (model, environment))")


CONTROL_DDL: dict[str, tuple[str, ...]] = {
    "sqlite": (*AUDIT_DDL["sqlite"], _table("INTEGER")),
    "postgres": (*AUDIT_DDL["postgres"], _table("BIGINT")),
}


class DatabaseChannel:
    """One ``runtime_control`` row; the table (and the audit log, when
    missing) is created on first use, so neither the monitor nor the
    predictor depends on who started first."""

    def __init__(self, db: Database, model: str, environment: str) -> None:
        self.db, self.model, self.environment = db, model, environment
        self.where = f"{db.where} runtime_control {model}/{environment}"
        self._ready = False
        self._setup_lock = threading.Lock()

    def _setup(self) -> None:
        if self._ready:
            return
        with self._setup_lock:
            if self._ready:
                return
            if self.db.dialect == "sqlite":
                self.db.setup(CONTROL_DDL)
            else:
                # Not Database.setup: that skips everything once the review tables exist.
                with self.db.transaction() as tx:
                    tx.lock("setup")
                    ready = tx.rows("SELECT to_regclass('runtime_control') IS NOT NULL "
                                    "AND to_regclass('audit_log') IS NOT NULL")[0][0]
                    if not ready:
                        for stmt in CONTROL_DDL["postgres"]:
                            tx.execute(stmt)
            self._ready = True

    def read(self) -> RuntimeControl:
        self._setup()
        with self.db.transaction() as tx:
            rows = tx.rows("SELECT control FROM runtime_control WHERE model = ? AND environment = ?",
                           (self.model, self.environment))
        return decode(rows[0][0]) if rows else RuntimeControl()

    def update(self, *, actor: str, at_us: int, **changes: Any) -> RuntimeControl:
        self._setup()
        with self.db.transaction() as tx:
            tx.lock("runtime_control")  # read-modify-write: two writers must not lose each other's lever
            rows = tx.rows("SELECT control FROM runtime_control WHERE model = ? AND environment = ?",
                           (self.model, self.environment))
            try:
                current = decode(rows[0][0]) if rows else RuntimeControl()
            except (ValueError, TypeError):
                current = RuntimeControl()  # replaced whole, as the file is
            control = replace(current, **changes, updated_at_us=at_us)
            tx.execute("INSERT INTO runtime_control (model, environment, control, updated_at_us) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT (model, environment) DO UPDATE SET control = excluded.control, "
                       "updated_at_us = excluded.updated_at_us",
                       (self.model, self.environment, encode(control, indent=None), at_us))
            AuditLog.append(tx, actor=actor, action="control.changed", subject=f"{self.model}/{self.environment}",
                            payload={"model": self.model, "environment": self.environment,
                                     "changes": json.loads(json.dumps(changes, default=str)),
                                     "control": asdict(control)}, at_us=at_us)
        return control

    def close(self) -> None:
        self.db.close()


def open_channel(config: ControlChannelConfig | None, work_dir: str, model: str, environment: str,
                 env: Mapping[str, str] | None = None) -> FileChannel | DatabaseChannel:
    """The channel a compiled config names (None: the file under work_dir).
    Opening a database channel connects lazily: a store down at start-up is
    the refresher's problem, not a reason to refuse to serve."""
    if config is None or config.backend == "file":
        return FileChannel.of(work_dir, model, environment)
    assert config.store is not None  # the config's validator
    if config.store.backend == "sqlite" and config.store.path:
        try:
            Path(config.store.path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseError(f"control channel store {config.store.path}: cannot create its folder: {exc}") from None
    return DatabaseChannel(open_database(config.store, env), model, environment)
