"""Prediction log fixtures: a fresh log file, and the serving scratch repository (tests/runtime/serving/served.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.predlog.store import PredictionLog
from tests.runtime.serving.served import ServedRepo, make_repo

TYPES = {"vibration_max_1h": "float64", "asset_type": "string"}  # the features struct of the test rows


@pytest.fixture
def served_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ServedRepo:
    repo = make_repo(tmp_path)
    monkeypatch.chdir(tmp_path)
    return repo


@pytest.fixture
def log(tmp_path: Path) -> PredictionLog:
    store = PredictionLog(tmp_path / "wal" / "log.db")
    store.set_feature_types("pump-failure", TYPES)
    yield store
    store.close()
