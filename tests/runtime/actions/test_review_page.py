"""Issue 8's leftover: a review item that times out with escalation `page`
reaches the System's notifiers (a real webhook receiver), after its
escalation is committed; and `python -m runtime act` end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from actions_support import T0, monitor_config, result
from http_receiver import Receiver

from runtime.contracts.steps import (
    NotifierConfig,
    ReviewConfig,
    ReviewLabelsConfig,
    ReviewPolicyConfig,
    ReviewStoreConfig,
)
from runtime.review.config import open_queue
from runtime.review.item import EscalatedPrediction

REPO = Path(__file__).resolve().parents[3]


def test_a_timed_out_review_with_escalation_page_reaches_the_webhook(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    notifier = NotifierConfig(name="oncall", type="webhook", url_env="SPECOPS_NOTIFIER_ONCALL_URL",
                              url_ref="oncall-webhook/url")
    config = ReviewConfig(
        model="pump-failure", spec_hash="0" * 64,
        store=ReviewStoreConfig(backend="sqlite", path=str(tmp_path / "review.db")),
        policy=ReviewPolicyConfig(timeout_s=60, escalation="page", conservative_action="hold", notify=("oncall",),
                                  lease_s=30, notifier_configs=(notifier,)),
        labels=ReviewLabelsConfig(source="failure-labels", entity="asset_id", timestamp="failure_time",
                                  outcome="failed", positive_value=True, fields=(), output=str(tmp_path / "l.parquet")))
    with Receiver() as rx:
        monkeypatch.setenv("SPECOPS_NOTIFIER_ONCALL_URL", rx.url + "/page")
        queue = open_queue(config)
        now = [T0]
        queue.clock_us = lambda: now[0]
        queue.enqueue(EscalatedPrediction(
            prediction_id="r1/0", request_id="r1", model="pump-failure", version="1.4.0", release="pump-failure-1-4-0",
            environment="prod", entity="P-001", score=0.9, threshold=0.5, rule="critical-asset", reason="critical",
            feature_vector_sha256="f" * 64, at="2026-11-20T10:00:00Z"))
        now[0] = T0 + 61 * 1_000_000
        (escalated,) = queue.sweep()
    assert escalated.level == 2
    (req,) = rx.requests
    assert req.path == "/page" and req.body["kind"] == "review.page" and req.body["item"] == "r1/0"
    assert req.body["notify"] == ["oncall"] and "overdue by 1s" in req.body["reason"]
    audit = [r.action for r in queue.audit.records()]
    assert audit == ["review.enqueued", "review.escalated.page"]


def test_act_cli_enforces_results_from_a_file_and_reports(tmp_path: Path) -> None:
    cfg = monitor_config(tmp_path, retrain_command=(sys.executable, "-c", "pass"),
                         notifiers=(NotifierConfig(name="console", type="stdout"),))
    config_file = tmp_path / "monitor.json"
    config_file.write_text(cfg.model_dump_json())
    from dataclasses import asdict

    results = tmp_path / "results.json"
    results.write_text(json.dumps([asdict(result("drift", actions=("retrain", "page")))]))
    cmd = [sys.executable, "-m", "runtime", "act", "--config", str(config_file), "--results", str(results),
           "--now-us", str(T0)]
    first = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, env={"PYTHONPATH": str(REPO)})
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert sorted(f["action"] for f in report["fired"]) == ["page", "retrain"]
    page_line = json.loads(first.stderr.strip().splitlines()[-1])  # the stdout notifier (on stderr here)
    assert page_line["kind"] == "incident.opened" and page_line["notifier"] == "console"
    again = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, env={"PYTHONPATH": str(REPO)})
    assert again.returncode == 0 and json.loads(again.stdout)["fired"] == []  # a second process: no re-fire


def test_act_cli_rejects_bad_results_with_a_clear_message(tmp_path: Path) -> None:
    cfg = monitor_config(tmp_path)
    (tmp_path / "monitor.json").write_text(cfg.model_dump_json())
    (tmp_path / "results.json").write_text(json.dumps([{"objective": "x", "status": "broken"}]))
    run = subprocess.run([sys.executable, "-m", "runtime", "act", "--config", str(tmp_path / "monitor.json"),
                          "--results", str(tmp_path / "results.json")], cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(REPO)})
    assert run.returncode == 2 and "not a list of objective results" in run.stderr and "Traceback" not in run.stderr
