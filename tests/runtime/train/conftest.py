"""Fixtures for the training, evaluation and export steps: one trained model
on the synthetic table, shared read-only, and private copies of it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from train_steps import run_step, train_config
from train_synthetic import write_table


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A work dir with features/ and a trained model/ (do not modify; copy it)."""
    root = tmp_path_factory.mktemp("trained")
    write_table(root / "features")
    assert run_step(root, "train", train_config(root)) == 0
    return root


@pytest.fixture
def work(trained: Path, tmp_path: Path) -> Path:
    """A private copy of the trained work dir."""
    root = tmp_path / "work"
    shutil.copytree(trained, root)
    return root
