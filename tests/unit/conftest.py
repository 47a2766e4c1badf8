"""Fixtures shared by the unit tests of the compile backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.lint import lint_paths
from compiler.plan import SystemPlan, build_plan


@pytest.fixture(scope="session")
def plan(repo: Path) -> SystemPlan:
    """The plan of the example system (which lints clean)."""
    result = lint_paths([repo / "specs", repo / "policies"], base=str(repo))
    assert result.diagnostics == (), result.diagnostics
    return build_plan(result.spec)
