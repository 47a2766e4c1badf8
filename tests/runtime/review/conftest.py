"""Fixtures: a review store on SQLite (a temp file) and on PostgreSQL (a
schema of its own, dropped afterwards), a controllable clock, a queue factory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from review_support import Clock, policy

from runtime.audit.database import PostgresDatabase, SqliteDatabase
from runtime.review import ReviewQueue


# `db` (SQLite and PostgreSQL) is tests/conftest.py's.


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_queue(db: SqliteDatabase | PostgresDatabase, clock: Clock) -> Callable[..., ReviewQueue]:
    def make(**over: object) -> ReviewQueue:
        pager = over.pop("pager", None)
        return ReviewQueue(db, "pump-failure", policy(**over), clock_us=clock, pager=pager).setup()  # type: ignore[arg-type]

    return make
