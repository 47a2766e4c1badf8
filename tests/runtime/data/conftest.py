"""Fixtures of the data-layer tests (builders live in data_builders.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A scratch working directory: every configured data path is relative to it."""
    return tmp_path
