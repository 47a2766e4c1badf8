"""Fixtures: a review store on SQLite (a temp file) and on PostgreSQL (a
schema of its own, dropped afterwards), a controllable clock, a queue factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from review_support import PG_DSN, Clock, pg_schema, policy, require_service

from runtime.audit.database import PostgresDatabase, SqliteDatabase
from runtime.review import ReviewQueue


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
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


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_queue(db: SqliteDatabase | PostgresDatabase, clock: Clock) -> Callable[..., ReviewQueue]:
    def make(**over: object) -> ReviewQueue:
        pager = over.pop("pager", None)
        return ReviewQueue(db, "pump-failure", policy(**over), clock_us=clock, pager=pager).setup()  # type: ignore[arg-type]

    return make
