"""Fixtures of the control channel tests: a database of each backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from control_support import PG_DSN, pg_schema, require_service

from runtime.audit.database import PostgresDatabase, SqliteDatabase


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqliteDatabase | PostgresDatabase]:
    if request.param == "sqlite":
        database: SqliteDatabase | PostgresDatabase = SqliteDatabase(tmp_path / "review.db")
        yield database
        database.close()
        return
    require_service("PostgreSQL", "127.0.0.1", 5432)
    database = PostgresDatabase(PG_DSN, pg_schema())
    try:
        yield database
    finally:
        database.drop_schema()
        database.close()
