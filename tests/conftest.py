"""Shared fixtures: repository paths, the shared schemas, and the rule that
service-backed tests skip locally but fail in CI (SPECOPS_REQUIRE_SERVICES=1)."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-goldens", action="store_true", default=False,
                     help="rewrite tests/golden/*/expected from the current compiler (never in CI)")


@pytest.fixture(scope="session")
def update_goldens(request: pytest.FixtureRequest) -> bool:
    wanted = bool(request.config.getoption("--update-goldens"))
    if wanted and os.environ.get("CI"):
        pytest.fail("--update-goldens is refused in CI: goldens change only in a reviewed commit")
    return wanted


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_schemas() -> Path:
    path = SHARED / "schemas"
    if not (path / "validate.py").exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing: CI must run with ../shared beside the repository")
        pytest.skip(f"{path} not present (../shared is beside the repository only in CI and dev sessions)")
    return path


def require_service(name: str, host: str, port: int) -> None:
    """Skip (locally) or fail (CI) when a service is not reachable."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return
    except OSError as exc:
        message = f"{name} at {host}:{port} is not reachable ({exc})"
        if os.environ.get("SPECOPS_REQUIRE_SERVICES") == "1":
            pytest.fail(message + "; CI requires it (SPECOPS_REQUIRE_SERVICES=1)")
        pytest.skip(message)


def require_tool(name: str, install: str) -> str:
    """The path of a command-line tool; skip (locally) or fail (CI) when it is missing."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not on PATH (install: {install})"
    if os.environ.get("SPECOPS_REQUIRE_SERVICES") == "1":
        pytest.fail(message + "; CI requires it (SPECOPS_REQUIRE_SERVICES=1)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def promtool() -> str:
    """Prometheus' rule checker and unit tester (Debian package ``prometheus``)."""
    return require_tool("promtool", "apt-get install prometheus")


PG_DSN = "host=127.0.0.1 port=5432 dbname=test user=postgres"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
def db(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A review/audit store of each backend: SQLite in tmp_path, or a fresh
    PostgreSQL schema dropped afterwards (the review queue, the audit log,
    the actions' incidents and the control channel all live in one)."""
    import uuid

    from runtime.audit.database import PostgresDatabase, SqliteDatabase

    if request.param == "sqlite":
        database = SqliteDatabase(tmp_path / "review.db")
        yield database
        database.close()
        return
    require_service("PostgreSQL", "127.0.0.1", 5432)
    pg = PostgresDatabase(PG_DSN, f"t_store_{uuid.uuid4().hex[:12]}")
    try:
        yield pg
    finally:
        pg.drop_schema()
        pg.close()


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The example project on the small sample data after one real `specops run`
    (about a minute and a half on a CI runner), shared by every test that needs a
    run project. Read-only: tests work on ``copy_project(pipeline_run.root, ...)``."""
    from pipeline_project import PipelineRun, make_project, specops

    root = make_project(tmp_path_factory.mktemp("pipeline-template"))
    code, output = specops("run", "specs/", cwd=root)
    return PipelineRun(root, code, output)
