"""Fixtures of the control channel tests: `db` (a store of each backend) is
tests/conftest.py's; this file keeps control_support importable by the tests."""

from __future__ import annotations

import control_support  # noqa: F401
