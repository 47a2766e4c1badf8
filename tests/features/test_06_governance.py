"""Stage 6, governance (06_governance.feature): approvals enforced by lint,
compile and the cluster's admission policy; human review; the audit log.

Lint, compile and plan steps are shared (conftest.py).  The cluster steps
evaluate the *committed* ValidatingAdmissionPolicies and bindings of the
environment's folder (what Argo CD applied) against a manifest, with the
same evaluator as the compile's offline dry run.  The review server is the
real standalone one (``python -m runtime review serve`` on the copy's
compiled review config, SQLite store); a prediction reaches it the way the
predictor hands it off (``ReviewQueue.submit`` behind the enqueue
endpoint).  Which predictions go to a human is decided by the compiled
policy bundle's prediction rules, evaluated with the contracts' CEL engine
-- the predictor's own policy step stands in here until the predictor is
wired to the queue.
"""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
import yaml
from pytest_bdd import given, parsers, scenarios, then, when
from typer.testing import CliRunner

from compiler.cli import app
from compiler.emit.admission_dry_run import NAMESPACE_NAME_LABEL, Admission, evaluate_admission
from runtime.audit.database import SqliteDatabase
from runtime.contracts import PolicyBundle, PredictionContext, compile_cel, prepare_context
from runtime.contracts.policy import EntityInfo
from runtime.events import ARRIVAL_TIME

Q = r'"(?P<{}>[^"]*)"'  # a quoted step argument, as in conftest.py


def q(name: str) -> str:
    return Q.format(name)


scenarios("06_governance.feature")

# ------------------------------------------------------------------ the admission policy in the cluster


@dataclass
class Applied:
    path: str = ""
    doc: dict[str, Any] = field(default_factory=dict)


@pytest.fixture()
def applied() -> Applied:
    return Applied()


def _load(root: Path, path: str) -> dict[str, Any]:
    return yaml.safe_load((root / path).read_text(encoding="utf-8"))


def _folder_objects(root: Path, folder: str, kind: str) -> dict[str, dict[str, Any]]:
    out = {}
    for p in sorted((root / folder).glob("*.yaml")):
        doc = _load(root, p.relative_to(root).as_posix())
        if doc.get("kind") == kind:
            out[doc["metadata"]["name"]] = doc
    return out


def _judge(root: Path, applied: Applied) -> list[tuple[str, Admission]]:
    """Every committed policy of the object's folder, through its binding, on the object."""
    folder = applied.path.rpartition("/")[0]
    policies = _folder_objects(root, folder, "ValidatingAdmissionPolicy")
    bindings = _folder_objects(root, folder, "ValidatingAdmissionPolicyBinding")
    assert policies and set(policies) == set(bindings), (sorted(policies), sorted(bindings))
    ns = applied.doc["metadata"]["namespace"]
    [namespace] = [d for d in _folder_objects(root, folder, "Namespace").values() if d["metadata"]["name"] == ns]
    namespace = copy.deepcopy(namespace)
    namespace["metadata"]["labels"][NAMESPACE_NAME_LABEL] = ns  # set by the API server
    return [(name, evaluate_admission(policies[name], bindings[name], applied.doc, namespace)) for name in sorted(policies)]


@when(parsers.re(rf"{q('file')} is applied by hand with annotation {q('key')} set to {q('value')}"))
def apply_with_annotation(lint_ci: Any, applied: Applied, file: str, key: str, value: str) -> None:
    applied.path, applied.doc = file, _load(lint_ci.root, file)
    applied.doc["metadata"]["annotations"][key] = value


@when(parsers.re(rf"{q('file')} is applied by hand without annotation {q('key')}"))
def apply_without_annotation(lint_ci: Any, applied: Applied, file: str, key: str) -> None:
    applied.path, applied.doc = file, _load(lint_ci.root, file)
    del applied.doc["metadata"]["annotations"][key]


@when(parsers.re(rf"{q('file')} is applied by hand as committed"))
def apply_as_committed(lint_ci: Any, applied: Applied, file: str) -> None:
    applied.path, applied.doc = file, _load(lint_ci.root, file)


@then(parsers.re(rf"the cluster denies it with rule {q('rule')} naming {q('file')}"))
def denied(lint_ci: Any, applied: Applied, rule: str, file: str) -> None:
    denials = [(name, r) for name, r in _judge(lint_ci.root, applied) if not r.allowed]
    assert len(denials) == 1, denials
    [(name, result)] = denials
    assert name.endswith(rule.lower()) and not result.error, (name, result)
    assert result.message.startswith(f"[{rule}] ") and re.search(rf"{re.escape(file)}:\d+\)$", result.message), result


@then(parsers.re(rf"the cluster admits it, checked by {q('rules')}"))
def admitted(lint_ci: Any, applied: Applied, rules: str) -> None:
    results = _judge(lint_ci.root, applied)
    assert all(r.allowed for _, r in results), [(n, r) for n, r in results if not r.allowed]
    checked = sorted(n.rsplit("-", 2)[-2].upper() + "-" + n.rsplit("-", 1)[-1] for n, r in results if r.matched)
    assert checked == sorted(r.strip() for r in rules.split(",")), checked


@then(parsers.re(rf"the committed admission policy {q('name')} requires (?P<count>\d+) approvals for {q('model')}"))
def policy_requires(lint_ci: Any, name: str, count: str, model: str) -> None:
    [path] = list((lint_ci.root / "generated").glob(f"*/validatingadmissionpolicy-{name}.yaml"))
    variables = {v["name"]: v["expression"] for v in yaml.safe_load(path.read_text())["spec"]["variables"]}
    assert f"'{model}': {count}" in variables["approvalsByModel"], variables


# ------------------------------------------------------------------ human review

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


# ------------------------------------------------------------------ the plan's reasons


@then(parsers.re(rf"every approval the plan asks for gives {q('reason')} as its reason"))
def plan_reason(lint_ci: Any, reason: str) -> None:
    approvals = json.loads(lint_ci.run.stdout)["approvals"]
    assert approvals and all(a["reasons"] == [reason] for a in approvals), approvals
