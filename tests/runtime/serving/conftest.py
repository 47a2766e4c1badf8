"""Serving fixtures (helpers in served.py): a scratch repository with a
registered model and a filled online store; a real server subprocess."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runtime.serving.served import ServedRepo, Server, make_repo, start_server, stop_server


@pytest.fixture
def served_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ServedRepo:
    repo = make_repo(tmp_path)
    monkeypatch.chdir(tmp_path)
    return repo


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    repo = make_repo(tmp_path_factory.mktemp("served"))
    srv = start_server(repo)
    yield srv
    stop_server(srv)
