"""Prediction log fixtures: the serving scratch repository (tests/runtime/serving/served.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runtime.serving.served import ServedRepo, make_repo


@pytest.fixture
def served_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ServedRepo:
    repo = make_repo(tmp_path)
    monkeypatch.chdir(tmp_path)
    return repo
