"""Fixtures: the incident store on SQLite (a temp file) and PostgreSQL (a schema of its own)."""

from __future__ import annotations

import pytest
import actions_support  # noqa: F401 - importable by the tests

from runtime.actions.state import ActionState
from runtime.audit.database import PostgresDatabase, SqliteDatabase


# `db` (SQLite and PostgreSQL) is tests/conftest.py's.


@pytest.fixture
def state(db: SqliteDatabase | PostgresDatabase) -> ActionState:
    return ActionState(db).setup()
