"""The predictor over each online store: Redis (the production store, real
server) gives the same answer as SQLite; a store that is down is a 503 with
the reason, counted as feature_unavailable, and the server keeps serving."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from runtime.serving.errors import FeaturesUnavailable
from runtime.serving.predictor import SpecOpsPredictor
from tests.conftest import require_service
from tests.runtime.serving.served import T0, free_port, iso, make_repo

AT = iso(T0 + timedelta(minutes=1))
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def answer(repo_root: Path, config, monkeypatch: pytest.MonkeyPatch) -> dict:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(repo_root)
    predictor = SpecOpsPredictor(config)
    predictor.load()
    try:
        return predictor.predict({"instances": [{"entity": "P-CRIT", "at": AT}]}, {"x-request-id": "s"})["predictions"][0]
    finally:
        predictor.unload()


@pytest.mark.services
def test_redis_store_answers_like_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_service("Redis", REDIS_HOST, REDIS_PORT)
    import redis

    prefix = f"specops-serve-test-{uuid.uuid4().hex[:12]}"
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=0)
    try:
        on_redis = make_repo(tmp_path / "redis", store_url=f"redis://{REDIS_HOST}:{REDIS_PORT}/0?prefix={prefix}")
        assert client.keys(f"{prefix}:*"), "the fixture wrote no state to Redis"
        on_sqlite = make_repo(tmp_path / "sqlite")
        from_redis = answer(on_redis.root, on_redis.config, monkeypatch)
        from_sqlite = answer(on_sqlite.root, on_sqlite.config, monkeypatch)
        for key in ("score", "action", "feature_vector_sha256", "feature_age_seconds", "features"):
            assert from_redis[key] == from_sqlite[key], key
        assert from_redis["reason"] == {"rule": "HR-010", "message": from_sqlite["reason"]["message"]}
    finally:
        keys = client.keys(f"{prefix}:*")
        if keys:
            client.delete(*keys)
        client.close()


def test_an_unreachable_store_is_a_503_not_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path)
    dead = f"redis://127.0.0.1:{free_port()}/0?prefix=nobody-listens"  # a port nothing listens on
    config = repo.config.model_copy(update={"online_store": repo.config.online_store.model_copy(update={"url": dead})})
    monkeypatch.chdir(tmp_path)
    predictor = SpecOpsPredictor(config)
    predictor.load()
    with pytest.raises(FeaturesUnavailable, match="the online store is unavailable: ConnectionError") as exc:
        predictor.predict({"instances": [{"entity": "P-CRIT", "at": AT}]}, {})
    assert exc.value.status == 503 and exc.value.reason == "feature_unavailable"
