"""PostgreSQL least privilege: the store's owner sets it up; the predictor's
role may insert and read the audit log but neither change nor delete it --
even the triggers are out of its reach -- and works the queue normally."""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path

import psycopg
import pytest

from runtime.audit.database import DatabaseError, PostgresDatabase
from runtime.contracts.steps import ReviewPolicyConfig
from runtime.review import EscalatedPrediction, ReviewQueue

REPO = Path(__file__).resolve().parents[2]
OWNER_DSN = "host=127.0.0.1 port=5432 dbname=test user=postgres"
POLICY = ReviewPolicyConfig(timeout_s=1800, escalation="second_reviewer", conservative_action="hold", lease_s=300)


def _require_postgres() -> None:
    spec = importlib.util.spec_from_file_location("specops_tests_conftest", REPO / "tests" / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.require_service("PostgreSQL", "127.0.0.1", 5432)


@pytest.mark.services
def test_the_application_role_cannot_rewrite_history() -> None:
    _require_postgres()
    schema, role = f"t_roles_{uuid.uuid4().hex[:10]}", f"t_app_{uuid.uuid4().hex[:10]}"
    owner = PostgresDatabase(OWNER_DSN, schema)
    admin = psycopg.connect(OWNER_DSN, autocommit=True)
    app = PostgresDatabase(f"host=127.0.0.1 port=5432 dbname=test user={role}", schema)
    try:
        ReviewQueue(owner, "pump-failure", POLICY).setup()
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
        admin.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
        admin.execute(f'GRANT SELECT, INSERT, UPDATE ON "{schema}".review_items TO "{role}"')
        admin.execute(f'GRANT SELECT, INSERT ON "{schema}".audit_log TO "{role}"')
        queue = ReviewQueue(app, "pump-failure", POLICY).setup()  # no DDL needed: the owner did it
        queue.submit(EscalatedPrediction("r-1/0", "r-1", "pump-failure", "1.4.0", "pump-failure-1-4-0", "prod",
                                         "pump-0007", 0.91, 0.42, "HR-010", "critical", "a" * 64,
                                         "2026-11-27T08:00:00Z"))
        claim = queue.claim("alice")
        assert claim is not None
        queue.decide(claim.item.id, claim.token, "alice", "override", "sensor recalibration")
        for statement in ("DROP TRIGGER audit_log_no_change ON audit_log",
                          "ALTER TABLE audit_log DISABLE TRIGGER ALL",
                          "UPDATE audit_log SET actor = 'reviewer:bob' WHERE seq = 3",
                          "DELETE FROM audit_log WHERE seq = 2"):
            with pytest.raises(DatabaseError, match="must be owner|permission denied|append-only"):
                with app.transaction() as tx:
                    tx.execute(statement)
        assert queue.audit.verify().ok and queue.audit.verify().records == 3
    finally:
        app.close()
        owner.drop_schema()
        owner.close()
        if _role_exists(admin, role):
            admin.execute(f'DROP OWNED BY "{role}"')
        admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        admin.close()


def _role_exists(conn: psycopg.Connection, role: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is not None
