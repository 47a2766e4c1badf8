"""The predictor and the durable queue, end to end in-process: the compiled
local serve config names the review store; every human_review prediction is
committed there with its audit record before ``predict`` returns; a store
that fails makes the request fail instead of answering unreviewed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from runtime.audit.database import DatabaseError
from runtime.review.config import open_queue
from runtime.serving.predictor import SpecOpsPredictor
from tests.runtime.serving.served import T0, iso, make_repo

AT = iso(T0 + timedelta(minutes=1))


def test_escalations_are_durable_before_the_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert repo.config.review is not None and repo.config.review.store.backend == "sqlite"
    queue = open_queue(repo.config.review)
    predictor = SpecOpsPredictor(repo.config, review=queue)
    assert predictor.load()
    out = predictor.predict({"instances": [{"entity": "P-CRIT", "at": AT}, {"entity": "T-LOW", "at": AT},
                                           {"entity": "C-NEAR", "at": AT}]}, {"x-request-id": "batch"})["predictions"]
    assert [p["action"] for p in out] == ["human_review", "auto", "human_review"]
    # A second process (a reviewer's CLI) sees them at once: committed, not buffered.
    reader = open_queue(repo.config.review)
    items = {i.id: i for i in reader.items()}
    assert set(items) == {"batch/0", "batch/2"}
    assert (items["batch/0"].prediction.rule, items["batch/0"].prediction.score) == ("HR-010", out[0]["score"])
    assert items["batch/2"].prediction.feature_vector_sha256 == out[2]["feature_vector_sha256"]
    records = [(r.actor, r.action, r.subject) for r in reader.audit.records()]
    assert records == [("predictor:pump-failure", "review.enqueued", "batch/0"),
                       ("predictor:pump-failure", "review.enqueued", "batch/2")]
    assert reader.audit.verify().ok
    assert (tmp_path / ".specops/review/review.db").is_file()


def test_a_failing_store_fails_the_request_not_the_review(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert repo.config.review is not None
    queue = open_queue(repo.config.review)
    predictor = SpecOpsPredictor(repo.config, review=queue)
    assert predictor.load()
    with queue.db.transaction() as tx:
        tx.execute("DROP TABLE review_items")  # the store breaks under the running predictor
    with pytest.raises(DatabaseError, match="no such table: review_items"):
        predictor.predict({"instances": [{"entity": "P-CRIT", "at": AT}]}, {"x-request-id": "r"})
    auto = predictor.predict({"instances": [{"entity": "T-LOW", "at": AT}]}, {"x-request-id": "r2"})
    assert auto["predictions"][0]["action"] == "auto"  # predictions nobody must review still flow


def test_the_served_predictor_queues_escalations_and_exports_the_backlog(tmp_path: Path) -> None:
    """`python -m runtime serve` on the compiled local config, over HTTP."""
    import httpx

    from tests.runtime.serving.served import start_server, stop_server

    repo = make_repo(tmp_path)
    server = start_server(repo)
    try:
        answer = httpx.post(f"{server.url}/v1/models/pump-failure:predict", headers={"x-request-id": "h-1"},
                            json={"instances": [{"entity": "P-CRIT", "at": AT}]}, timeout=30)
        assert answer.status_code == 200 and answer.json()["predictions"][0]["action"] == "human_review"
        metrics = httpx.get(f"{server.url}/metrics", timeout=30).text
        assert 'specops_review_backlog{environment="local",model="pump-failure"} 1.0' in metrics
    finally:
        assert stop_server(server) == 0
    assert repo.config.review is not None
    queue = open_queue(repo.config.review.model_copy(
        update={"store": repo.config.review.store.model_copy(update={"path": str(tmp_path / ".specops/review/review.db")})}))
    assert [i.id for i in queue.items()] == ["h-1/0"] and queue.audit.verify().records == 1
