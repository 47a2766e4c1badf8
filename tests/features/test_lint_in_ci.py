"""Acceptance: spec linting in CI (tests/features/lint_in_ci.feature).

The steps are shared and live in tests/features/conftest.py."""

from pytest_bdd import scenarios

scenarios("lint_in_ci.feature")
