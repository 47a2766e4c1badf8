"""The database the review queue and the audit log share: SQLite (embedded
default) or PostgreSQL (production), behind one small interface so an
escalation and its audit record commit in one transaction on either.

SQL is written once with ``?`` placeholders; the PostgreSQL side rewrites
them to ``%s``.  Every transaction takes the write lock up front
(``BEGIN IMMEDIATE`` on SQLite; on PostgreSQL the audit chain takes an
advisory lock), so readers of "the last record" never race.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, Protocol

from runtime.contracts.steps import ReviewStoreConfig
from runtime.sqlite_wal import connect_wal

__all__ = ["Database", "DatabaseError", "PostgresDatabase", "SqliteDatabase", "Tx", "open_database"]

Dialect = Literal["sqlite", "postgres"]


class DatabaseError(Exception):
    """The store cannot be opened or used; the message says which and what to do."""


class Tx(Protocol):
    dialect: Dialect

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; the number of rows it changed."""
        ...

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def lock(self, name: str) -> None:
        """Serialise with every other transaction that locks ``name``."""
        ...


class Database(Protocol):
    dialect: Dialect
    where: str  # for messages: a file path or host/db (never a password)

    def transaction(self) -> Any:  # a context manager yielding a Tx
        ...

    def setup(self, ddl: Mapping[str, Sequence[str]]) -> None: ...

    def close(self) -> None: ...


class _SqliteTx:
    dialect: Dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._conn.execute(sql, tuple(params)).rowcount

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, tuple(params)).fetchall()

    def lock(self, name: str) -> None:
        pass  # BEGIN IMMEDIATE already holds the database's one write lock


class SqliteDatabase:
    """WAL + synchronous=FULL: a committed transaction survives kill -9 and
    power loss; one connection per thread (sqlite3 connections are not shared)."""

    dialect: Dialect = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.where = str(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseError(f"review store {self.path}: cannot create its folder: {exc}") from None
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._guard = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = connect_wal(self.path, synchronous="full", timeout=60.0)
                conn.execute("PRAGMA foreign_keys=ON")
            except sqlite3.Error as exc:
                raise DatabaseError(f"review store {self.path}: cannot open: {exc}") from None
            self._local.conn = conn
            with self._guard:
                self._all.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[_SqliteTx]:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise DatabaseError(f"review store {self.where}: {exc}") from None
        try:
            yield _SqliteTx(conn)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise DatabaseError(f"review store {self.where}: {exc}") from None
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def setup(self, ddl: Mapping[str, Sequence[str]]) -> None:
        with self.transaction() as tx:
            for stmt in ddl["sqlite"]:
                tx.execute(stmt)

    def close(self) -> None:
        with self._guard:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


_PLACEHOLDER = re.compile(r"\?")


class _PostgresTx:
    dialect: Dialect = "postgres"

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        # Without parameters psycopg leaves the text alone (plpgsql bodies use %).
        cur = self._conn.execute(_PLACEHOLDER.sub("%s", sql), tuple(params)) if params else self._conn.execute(sql)
        return cur.rowcount

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(_PLACEHOLDER.sub("%s", sql), tuple(params)).fetchall()

    def lock(self, name: str) -> None:
        # Per schema, so stores in different schemas never wait for each other.
        self._conn.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.' || %s))", (name,))


class PostgresDatabase:
    """psycopg 3, one connection per thread, every statement in an explicit
    transaction; ``schema`` (optional) isolates one store from another."""

    dialect: Dialect = "postgres"

    def __init__(self, dsn: str, schema: str | None = None) -> None:
        try:
            import psycopg
        except ImportError:  # pragma: no cover - a dependency of the runtime
            raise DatabaseError("the postgres review store needs psycopg (pip install 'psycopg[binary]')") from None
        self._psycopg = psycopg
        self.dsn = dsn
        self.schema = schema
        if schema is not None and not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", schema):
            raise DatabaseError(f"review store schema {schema!r}: use lower-case letters, digits and _")
        info = psycopg.conninfo.conninfo_to_dict(dsn) if dsn else {}
        self.where = f"postgres {info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}" + (
            f" schema {schema}" if schema else "")
        self._local = threading.local()
        self._all: list[Any] = []
        self._guard = threading.Lock()

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            try:
                conn = self._psycopg.connect(self.dsn, autocommit=True, connect_timeout=10)
                if self.schema:
                    # Only when missing: an application role may lack CREATE on the database.
                    if conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)).fetchone() is None:
                        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                    conn.execute(f'SET search_path TO "{self.schema}"')
            except self._psycopg.Error as exc:
                raise DatabaseError(f"review store {self.where}: cannot connect: {str(exc).strip()}") from None
            self._local.conn = conn
            with self._guard:
                self._all.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[_PostgresTx]:
        conn = self._conn()
        try:
            with conn.transaction():
                yield _PostgresTx(conn)
        except self._psycopg.Error as exc:
            raise DatabaseError(f"review store {self.where}: {str(exc).strip()}") from None

    def setup(self, ddl: Mapping[str, Sequence[str]]) -> None:
        """Create what is missing.  A store already set up by its owner is left
        alone, so the application role needs no DDL rights (and, without
        UPDATE/DELETE on audit_log or ownership of it, cannot drop the triggers)."""
        with self.transaction() as tx:
            tx.lock("setup")  # two processes creating the same triggers at once would collide
            # "Set up" per DDL: every table it creates exists (and audit_log's triggers, when it
            # creates audit_log).  Another component's tables being there says nothing about ours
            # (the actions' incident tables live in the same store as the review queue).
            tables = sorted({m.lower() for stmt in ddl["postgres"]
                             for m in re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", stmt, re.I)})
            checks = [f"to_regclass('{t}') IS NOT NULL" for t in tables] or ["false"]
            if "audit_log" in tables:
                checks.append("(SELECT count(*) FROM pg_trigger WHERE tgrelid = to_regclass('audit_log') "
                              "AND tgname IN ('audit_log_no_change', 'audit_log_no_truncate')) = 2")
            if tx.rows("SELECT " + " AND ".join(checks))[0][0]:
                return
            for stmt in ddl["postgres"]:
                tx.execute(stmt)

    def drop_schema(self) -> None:
        """Tests only: remove this store's schema and everything in it."""
        if self.schema:
            self._conn().execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')

    def close(self) -> None:
        with self._guard:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


def open_database(config: ReviewStoreConfig, env: Mapping[str, str] | None = None) -> SqliteDatabase | PostgresDatabase:
    """The store a compiled config names.  PostgreSQL's DSN comes from the
    environment variable the config names (the pod maps the Secret there)."""
    env = os.environ if env is None else env
    if config.backend == "sqlite":
        return SqliteDatabase(config.path or ".specops/review/review.db")
    dsn = env.get(config.dsn_env or "")
    if not dsn:
        raise DatabaseError(f"the postgres review store needs its DSN in ${config.dsn_env} "
                            f"(from Secret {config.dsn_secret or '?'}); set it or use the sqlite store")
    return PostgresDatabase(dsn, config.schema_name)
