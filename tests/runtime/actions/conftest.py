"""Fixtures: the incident store on SQLite (a temp file) and PostgreSQL (a schema of its own)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from actions_support import PG_DSN, pg_schema, require_service

from runtime.actions.state import ActionState
from runtime.audit.database import PostgresDatabase, SqliteDatabase


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqliteDatabase | PostgresDatabase]:
    if request.param == "sqlite":
        database: SqliteDatabase | PostgresDatabase = SqliteDatabase(tmp_path / "actions.db")
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


@pytest.fixture
def state(db: SqliteDatabase | PostgresDatabase) -> ActionState:
    return ActionState(db).setup()
