"""The compiled review configs: the local review.json (SQLite) that
`specops review` reads, the ServeConfig's review section (PostgreSQL, DSN
from the System's Secret) and the predictor's env var that carries it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from compiler.emit.backends import kserve, runtime_configs
from compiler.lint import lint_paths
from compiler.plan import SystemPlan, build_plan
from compiler.plan.review import REVIEW_DSN_ENV
from runtime.contracts.steps import ReviewConfig, ServeConfig


def test_local_review_config_carries_the_model_policy_and_a_sqlite_store(plan: SystemPlan) -> None:
    (review,) = plan.reviews
    cfg = review.config
    assert review.config_path == "generated/runtime/pump-failure/review.json"
    assert (cfg.policy.timeout_s, cfg.policy.escalation, cfg.policy.conservative_action) == (1800.0, "second_reviewer",
                                                                                               "hold")
    assert cfg.policy.notify == ("oncall",) and cfg.policy.lease_s == 600.0
    assert cfg.store.backend == "sqlite" and cfg.store.path == ".specops/review/review.db"
    assert (cfg.labels.source, cfg.labels.outcome, cfg.labels.output) == (
        "failure-labels", "failed", "data/labels/review-pump-failure.parquet")
    emitted = {a.path: a for a in runtime_configs.emit(plan)}
    assert ReviewConfig.model_validate_json(emitted[review.config_path].content) == cfg


def test_the_predictor_gets_the_postgres_store_and_its_dsn_from_the_secret(plan: SystemPlan) -> None:
    for serving in plan.servings:
        assert isinstance(serving.config, ServeConfig) and serving.config.review is not None
        store = serving.config.review.store
        assert (store.backend, store.dsn_env, store.dsn_secret) == ("postgres", REVIEW_DSN_ENV, "review-db/dsn")
        assert serving.config.review.labels.output.startswith("s3://acme-ml-artifacts/predictive-maintenance/data/labels/")
    docs = [yaml.safe_load(a.content) for a in kserve.emit(plan)]
    for doc in docs:
        env = doc["spec"]["predictor"]["containers"][0]["env"]
        (dsn,) = [e for e in env if e["name"] == REVIEW_DSN_ENV]
        assert dsn["valueFrom"] == {"secretKeyRef": {"name": "review-db", "key": "dsn"}}
    assert ("review-db", "dsn") in {(s.name, s.key) for s in plan.secret_refs}  # Terraform creates it


def _plan_without_review(repo: Path, tmp_path: Path) -> SystemPlan:
    for folder in ("specs", "policies"):
        shutil.copytree(repo / folder, tmp_path / folder)
    model = tmp_path / "specs/models/pump-failure.yaml"
    text = model.read_text()
    start = text.index("  review:\n")
    end = text.index("  retrain:\n")
    model.write_text(text[:start] + text[end:])
    result = lint_paths([tmp_path / "specs", tmp_path / "policies"], base=str(tmp_path))
    assert not [d for d in result.diagnostics if d.severity.name == "error"], result.diagnostics
    return build_plan(result.spec)


def test_a_model_without_review_gets_no_review_config(repo: Path, tmp_path: Path) -> None:
    plan = _plan_without_review(repo, tmp_path)
    assert plan.reviews == ()
    assert all(s.config.review is None for s in plan.servings)  # type: ignore[attr-defined]
    for artifact in kserve.emit(plan):
        assert REVIEW_DSN_ENV.encode() not in artifact.content


def test_specops_review_without_a_review_config_says_what_to_do(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "compiler", "review", "list"], cwd=tmp_path, capture_output=True,
                          text=True)
    assert done.returncode == 2 and "no review config under generated/runtime/" in done.stderr
    assert "Traceback" not in done.stderr


def test_specops_review_and_audit_work_a_local_store(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "generated/runtime/pump-failure").mkdir(parents=True)
    shutil.copy2(repo / "generated/runtime/pump-failure/review.json", tmp_path / "generated/runtime/pump-failure")
    item = {"prediction_id": "req-1/0", "request_id": "req-1", "model": "pump-failure", "version": "1.4.0",
            "release": "pump-failure-1-4-0", "environment": "prod", "entity": "pump-0007", "score": 0.91,
            "threshold": 0.42, "rule": "HR-010", "reason": "critical asset", "feature_vector_sha256": "a" * 64,
            "at": "2026-11-27T08:00:00Z"}
    (tmp_path / "item.json").write_text(json.dumps(item))

    def specops(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "compiler", *args], cwd=tmp_path, capture_output=True, text=True)

    assert specops("review", "enqueue", "item.json").returncode == 0
    claim = specops("review", "claim", "--reviewer", "alice")
    token = json.loads(claim.stdout)["token"]
    both = specops("review", "decide", "req-1/0", "--token", token, "--reviewer", "alice", "--approve", "--override",
                   "--reason", "x")
    assert both.returncode == 2 and "exactly one of --approve and --override" in both.stderr
    done = specops("review", "decide", "req-1/0", "--token", token, "--reviewer", "alice", "--approve",
                   "--reason", "confirmed on site")
    assert done.returncode == 0 and json.loads(done.stdout)["verdict"] == "approve"
    again = specops("review", "decide", "req-1/0", "--token", token, "--reviewer", "alice", "--approve",
                    "--reason", "x")
    assert again.returncode == 1 and "already decided" in again.stderr
    verify = specops("audit", "verify")
    assert verify.returncode == 0 and "audit chain OK: 3 record(s)" in verify.stdout
    assert (tmp_path / ".specops/review/review.db").exists()


def test_a_release_approval_is_recorded_in_the_audit_log(repo: Path, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from compiler.cli import app

    for folder in ("specs", "policies", "generated"):
        shutil.copytree(repo / folder, tmp_path / folder)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["release", "approve", "pump-failure-1-4-0", "--approver", "lee@acme.example",
                                      "--role", "ml-lead", "--reason", "canary numbers", "--date", "2026-11-27"])
    assert result.exit_code == 0, result.output
    assert "audit: recorded release.approved for pump-failure-1-4-0 (audit seq 1)" in result.output
    exported = subprocess.run([sys.executable, "-m", "runtime", "audit", "export", "--config",
                               "generated/runtime/pump-failure/review.json"], capture_output=True, text=True)
    (rec,) = [json.loads(line) for line in exported.stdout.splitlines()]
    assert (rec["actor"], rec["action"], rec["subject"]) == ("approver:lee@acme.example", "release.approved",
                                                              "pump-failure-1-4-0")
    assert rec["payload"]["role"] == "ml-lead" and rec["payload"]["record"] == "specs/releases/pump-failure.yaml"
