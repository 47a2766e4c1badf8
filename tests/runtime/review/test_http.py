"""The review endpoints, through FastAPI's test client: enqueue (the
predictor's hand-off), claim, decide, conflicts as 409, verify."""

from __future__ import annotations

from dataclasses import asdict

from fastapi.testclient import TestClient
from review_support import prediction

from runtime.review.http import review_app


def test_review_endpoints_work_the_queue(make_queue, clock) -> None:
    queue = make_queue()
    with TestClient(review_app(queue, sweep_every_s=3600)) as client:
        body = asdict(prediction(1))
        created = client.post("/v1/review/items", json=body)
        assert created.status_code == 201 and created.json()["status"] == "pending"
        assert client.post("/v1/review/items", json={**body, "model": "other"}).status_code == 409
        assert client.post("/v1/review/items", json={**body, "score": "high"}).status_code == 422
        listed = client.get("/v1/review/items", params={"status": "open"}).json()
        assert [i["id"] for i in listed] == ["req-00001/0"]
        claim = client.post("/v1/review/claim", json={"reviewer": "alice"})
        assert claim.status_code == 200
        token = claim.json()["token"]
        assert client.post("/v1/review/claim", json={"reviewer": "bob"}).status_code == 404
        stolen = client.post("/v1/review/decisions", json={"item": "req-00001/0", "token": token, "reviewer": "bob",
                                                           "verdict": "approve", "reason": "x"})
        assert stolen.status_code == 409 and "claimed by alice, not bob" in stolen.json()["error"]
        clock.advance(90)
        done = client.post("/v1/review/decisions", json={"item": "req-00001/0", "token": token, "reviewer": "alice",
                                                         "verdict": "override", "reason": "sensor recalibrated"})
        assert done.status_code == 200 and done.json()["outcome"] is False
        assert done.json()["time_to_decision_s"] == 90.0
        again = client.post("/v1/review/decisions", json={"item": "req-00001/0", "token": token,
                                                          "reviewer": "alice", "verdict": "approve", "reason": "x"})
        assert again.status_code == 409 and "already decided" in again.json()["error"]
        assert client.get("/v1/review/stats").json()["decided"] == 1
        scraped = client.get("/metrics").text
        assert 'specops_review_backlog{environment="prod",model="pump-failure"} 0.0' in scraped
        assert 'specops_review_decision_seconds_count{environment="prod",model="pump-failure"} 1.0' in scraped
        verify = client.get("/v1/audit/verify")
        assert verify.status_code == 200 and verify.json()["records"] == 3
