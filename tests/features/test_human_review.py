"""Acceptance: human review of high-risk predictions (tests/features/human_review.feature).

The review server is the real standalone one (``python -m runtime review
serve`` on the copy's compiled review config, SQLite store); a prediction
reaches it the way the predictor hands it off (``ReviewQueue.submit``
behind the enqueue endpoint).  Which predictions go to a human is decided by
the compiled policy bundle's prediction rules, evaluated with the contracts'
CEL engine -- the predictor's own policy step stands in here until the
predictor is wired to the queue.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
from pytest_bdd import given, parsers, scenarios, then, when
from typer.testing import CliRunner

from compiler.cli import app

from runtime.audit.database import SqliteDatabase
from runtime.contracts import PolicyBundle, PredictionContext, compile_cel, prepare_context
from runtime.contracts.policy import EntityInfo
from runtime.events import ARRIVAL_TIME

scenarios("human_review.feature")

CONFIG = "generated/runtime/pump-failure/review.json"


class Review:
    def __init__(self, root: Path, base: str) -> None:
        self.root = root
        self.base = base
        self.sent: dict[str, str] = {}  # entity -> prediction id
        self.hashes: list[str] = []
        self.n = 0

    @property
    def config(self) -> dict[str, Any]:
        return json.loads((self.root / CONFIG).read_text())

    def db(self) -> SqliteDatabase:
        return SqliteDatabase(self.root / self.config["store"]["path"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def review_server(lint_ci) -> Iterator[Review]:  # type: ignore[no-untyped-def]
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "runtime", "review", "serve", "--config", CONFIG,
                             "--port", str(port), "--sweep-every", "3600"], cwd=lint_ci.root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "review server did not start"
            time.sleep(0.1)
        yield Review(lint_ci.root, base)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


@given("the review server of the example system is running", target_fixture="review")
def server_running(review_server: Review) -> Review:
    return review_server


def _action(root: Path, score: float, criticality: str) -> tuple[str, str | None]:
    """The compiled prediction rules' verdict, most severe action first (abstain > human_review > auto)."""
    bundle = PolicyBundle.model_validate_json((root / "generated/runtime/pump-failure/policy-bundle.json").read_text())
    threshold = 0.42
    example = PredictionContext.example()
    context = example.model_copy(update={
        "score": score, "threshold": threshold, "decision": score >= threshold,
        "confidence": min(1.0, abs(score - threshold) / max(threshold, 1 - threshold)),
        "entity": EntityInfo(id="x", type="pump", criticality=criticality)})  # type: ignore[arg-type]
    ctx = prepare_context(context.variables())
    hits = [r for r in bundle.rules if "pump-failure" in r.models and compile_cel(r.expression).evaluate_bool(ctx)]
    for action in ("abstain", "human_review"):
        rule = next((r for r in hits if r.action == action), None)
        if rule is not None:
            return action, rule.id
    return "auto", None


@when(parsers.re(r'the model scores (?P<score>[0-9.]+) for the (?P<crit>critical|low-criticality) asset "(?P<entity>[^"]+)"'))
def model_scores(review: Review, score: str, crit: str, entity: str) -> None:
    action, rule = _action(review.root, float(score), "critical" if crit == "critical" else "low")
    if action != "human_review":
        return
    review.n += 1
    body = {"prediction_id": f"req-{review.n:04d}/0", "request_id": f"req-{review.n:04d}", "model": "pump-failure",
            "version": "1.4.0", "release": "pump-failure-1-4-0", "environment": "prod", "entity": entity,
            "score": float(score), "threshold": 0.42, "rule": rule, "reason": "policy", "feature_vector_sha256": "0" * 64,
            "at": "2026-11-27T08:00:00Z"}
    response = httpx.post(f"{review.base}/v1/review/items", json=body, timeout=10)
    assert response.status_code == 201, response.text  # the response returns only after the commit
    review.sent[entity] = body["prediction_id"]


def _items(review: Review) -> list[dict[str, Any]]:
    return httpx.get(f"{review.base}/v1/review/items", params={"status": "open"}, timeout=10).json()


@then(parsers.parse('the prediction for "{entity}" waits in the review queue, escalated by rule "{rule}"'))
def waits(review: Review, entity: str, rule: str) -> None:
    items = [i for i in _items(review) if i["prediction"]["entity"] == entity]
    assert len(items) == 1 and items[0]["status"] == "pending" and items[0]["prediction"]["rule"] == rule


@then(parsers.parse('no prediction for "{entity}" is in the review queue'))
def not_queued(review: Review, entity: str) -> None:
    assert entity not in review.sent and all(i["prediction"]["entity"] != entity for i in _items(review))


@then(parsers.parse('the output mentions "{text}"'))
def output_mentions(lint_ci, text: str) -> None:  # type: ignore[no-untyped-def]
    assert lint_ci.run is not None and text in lint_ci.run.output, lint_ci.run.output if lint_ci.run else None


@when(parsers.parse('reviewer "{reviewer}" decides the claimed item with "{verdict}" because "{reason}"'))
def decide(lint_ci, review: Review, reviewer: str, verdict: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    claim = json.loads(lint_ci.run.stdout)  # what `specops review claim` printed
    argv = ["review", "decide", claim["item"]["id"], "--token", claim["token"], "--reviewer", reviewer, verdict,
            "--reason", reason]
    result = CliRunner().invoke(app, argv)
    # The shared steps' Run record (tests/features/conftest.py), so "the exit code is" reads it.
    lint_ci.run = type(lint_ci.run)(["specops", *argv], result.exit_code, result.stdout, result.output,
                                    result.exception)


@then(parsers.parse('the audit log records "{actions}" for the prediction'))
def audit_records(review: Review, actions: str) -> None:
    from runtime.audit import AuditLog

    db = review.db()
    try:
        got = [r.action for r in AuditLog(db).records()]
    finally:
        db.close()
    assert got == [a.strip() for a in actions.split(",")]


@when(parsers.parse("someone rewrites the actor of audit record {seq:d} in the review store"))
def tamper(review: Review, seq: int) -> None:
    db = review.db()
    try:
        with db.transaction() as tx:
            tx.execute("DROP TRIGGER audit_log_no_update")
            tx.execute("UPDATE audit_log SET actor = 'reviewer:mallory' WHERE seq = ?", (seq,))
    finally:
        db.close()


def _export(lint_ci) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return json.loads(lint_ci.run.stdout)


@then(parsers.re(r"the label export has (?P<rows>\d+) rows?$"))
def export_rows(lint_ci, review: Review, rows: str) -> None:  # type: ignore[no-untyped-def]
    out = _export(lint_ci)
    assert out["rows"] == int(rows)
    review.hashes.append(out["sha256"])


@then(parsers.parse('the label export has 1 row: "{entity}" did not fail, known from the decision time'))
def export_override(lint_ci, review: Review, entity: str) -> None:  # type: ignore[no-untyped-def]
    out = _export(lint_ci)
    review.hashes.append(out["sha256"])
    assert (out["rows"], out["overrides"]) == (1, 1)
    (row,) = pq.read_table(review.root / out["path"]).to_pylist()
    assert (row["asset_id"], row["failed"]) == (entity, False)
    decided = [i for i in httpx.get(f"{review.base}/v1/review/items", params={"status": "decided"}).json()]
    assert row[ARRIVAL_TIME].timestamp() * 1e6 == pytest.approx(decided[0]["decided_us"], abs=1)


@then("the label export's content hash changed")
def hash_changed(review: Review) -> None:
    assert len(review.hashes) == 2 and review.hashes[0] != review.hashes[1]


@then(parsers.parse('the label file is where the labels source "{source}" reads its files'))
def where_training_reads(lint_ci, review: Review, source: str) -> None:  # type: ignore[no-untyped-def]
    from fnmatch import fnmatch

    import yaml

    spec = next(d for d in yaml.safe_load_all((review.root / "specs/data/failure-labels.yaml").read_text())
                if d["metadata"]["name"] == source)
    assert fnmatch(_export(lint_ci)["path"], spec["spec"]["file"]["path"])
