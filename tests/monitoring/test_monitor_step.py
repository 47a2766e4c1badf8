"""The monitor step over a small prediction log: the objectives it judges,
the three reports it writes, and what it says when inputs are missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from monitoring_log import MODEL, T0_US, make_log, write_log

from runtime.contracts.steps import MonitorConfig
from runtime.steps.monitor import build_report, load_records

REPO = Path(__file__).resolve().parents[2]
END = "2026-05-28T20:56:40Z"  # T0 + 30m: the log's end


def local_config(tmp_path: Path, log_root: Path | None) -> Path:
    raw = json.loads((REPO / "generated/runtime/pump-failure/monitor.json").read_text())
    # Parquet written by the test under ``log_root``, read without the predictor's write-ahead store.
    raw.update(prediction_log=str(log_root) if log_root else None, predictions=None, validated=None, label_path=None,
               review=None, output=str(tmp_path / "out"),
               work_dir=str(tmp_path / "work"), artifacts={"uri": str(tmp_path / "artifacts")})
    # Enforcement's incidents, control files and registry all inside the test's folder.
    raw["enforcement"]["store"] = {"backend": "sqlite", "path": str(tmp_path / "actions.db")}
    raw["enforcement"]["releases_dir"] = str(tmp_path / "releases")
    path = tmp_path / "monitor.json"
    path.write_text(json.dumps(raw))
    return path


def results(report_json: dict, objective: str) -> dict[str | None, dict]:
    return {r["version"]: r for r in report_json["objectives"] if r["objective"] == objective}


def test_the_report_judges_the_log_per_version(tmp_path: Path) -> None:
    config = MonitorConfig.model_validate_json(local_config(tmp_path, write_log(make_log(), tmp_path / "log")).read_text())
    records = load_records(config.prediction_log, MODEL)
    assert len(records) == 30 * 60 * 3
    report = build_report(config, records, None, (T0_US + 30 * 60 * 1_000_000) // 1000).to_json()
    latency = results(report, "latency")
    # 1.5.0 answers in 0.4 s for the last 15 minutes: its p99 over 5m is in the (0.25, 0.5] bucket.
    assert latency["1.5.0"]["status"] == "breach" and 0.25 < latency["1.5.0"]["value"] <= 0.5
    assert latency["1.4.0"]["status"] == "ok" and latency["1.4.0"]["value"] <= 0.025
    errors = results(report, "errors")
    # One 1.4.0 request in 20 fails (1 in 10 seconds, 2 requests a second): 5% > 1%.
    assert errors["1.4.0"]["status"] == "breach" and errors["1.4.0"]["value"] == pytest.approx(0.05, rel=0.05)
    assert errors["1.5.0"]["status"] == "ok" and errors["1.5.0"]["value"] == 0
    assert {a["alertname"] for a in report["alerts"]} >= {"SpecOpsLatencyRollback", "SpecOpsErrorsOpenCircuit",
                                                         "SpecOpsErrorsPage"}
    # Availability is judged over the environment (all versions): 3.3% errors burn the 0.5% budget 6.7x,
    # under the 14.4x fast burn; the slow burn's 6h window holds only 30m of traffic but still burns > 6x.
    (avail,) = results(report, "availability").values()
    assert avail["evidence"]["burn_rates"]["FastBurn"]["firing"] is False
    assert avail["value"] == pytest.approx(1 - 1 / 30, rel=0.05)
    # Inputs the log cannot give: no_data with a reason, never ok.
    for objective in ("estimated-quality", "realized-quality", "drift", "skew", "review-backlog"):
        (r,) = results(report, objective).values()
        assert r["status"] == "no_data" and r["evidence"]["reason"]
    assert results(report, "realized-quality")[None]["basis"] == "realized"
    assert report["sections"]["log"]["data"]["requests"] == 5400


def test_before_traffic_the_window_has_no_data(tmp_path: Path) -> None:
    config = MonitorConfig.model_validate_json(local_config(tmp_path, write_log(make_log(), tmp_path / "log")).read_text())
    records = load_records(config.prediction_log, MODEL)
    report = build_report(config, records, None, (T0_US + 90 * 60 * 1_000_000) // 1000).to_json()  # an hour after
    assert results(report, "latency")["1.4.0"]["status"] == "no_data"
    assert results(report, "errors")["1.4.0"]["status"] == "no_data"


def run_step(config: Path, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runtime", "monitor", "--config", str(config)], cwd=REPO,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=120, check=False)


def test_the_step_writes_json_html_and_text_deterministically(tmp_path: Path) -> None:
    config = local_config(tmp_path, write_log(make_log(), tmp_path / "log"))
    first = run_step(config, tmp_path, SPECOPS_MONITOR_AT=END, SPECOPS_MONITOR_FORMAT="json", SPECOPS_MONITOR_ACT="0")
    assert first.returncode == 0, first.stderr
    out = tmp_path / "out"
    body = (out / "report.json").read_bytes()
    assert json.loads(first.stdout) == json.loads(body)
    again = run_step(config, tmp_path, SPECOPS_MONITOR_AT=END, SPECOPS_MONITOR_ACT="0")
    assert again.returncode == 0 and (out / "report.json").read_bytes() == body
    assert "BREACH" in again.stdout and "latency" in again.stdout
    html = (out / "report.html").read_text()
    assert html.count("<svg") >= 4 and "<script" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    assert "breach" in html and (out / "report.txt").read_text() == again.stdout


def test_missing_inputs_are_reported_not_crashed_on(tmp_path: Path) -> None:
    config = local_config(tmp_path, tmp_path / "no-log-here")
    run = run_step(config, tmp_path, SPECOPS_MONITOR_AT=END, SPECOPS_MONITOR_FORMAT="json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["sections"]["log"]["available"] is False
    assert "serve traffic first" in report["sections"]["log"]["note"]
    assert {r["status"] for r in report["objectives"]} == {"no_data"}
    assert "no prediction log yet" in (tmp_path / "out/report.html").read_text()


@pytest.mark.parametrize(("env", "message"), [
    ({"SPECOPS_MONITOR_AT": "yesterday"}, "not an ISO time"),
    ({"SPECOPS_MONITOR_AT": "last"}, "the prediction log is empty"),
    ({"SPECOPS_MONITOR_FORMAT": "pdf"}, "choose one of text, json, html"),
])
def test_bad_options_are_one_clear_line(tmp_path: Path, env: dict[str, str], message: str) -> None:
    run = run_step(local_config(tmp_path, None), tmp_path, **env)
    assert run.returncode in (1, 2) and message in run.stderr and "Traceback" not in run.stderr


def test_a_log_with_missing_columns_is_refused_clearly(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "log").mkdir()
    pq.write_table(pa.table({"seq": [1]}), tmp_path / "log" / "part-1-1.parquet")
    run = run_step(local_config(tmp_path, tmp_path / "log"), tmp_path, SPECOPS_MONITOR_AT=END)
    assert run.returncode == 1 and "lacks columns" in run.stderr and "Traceback" not in run.stderr


def test_review_objectives_from_a_real_review_queue(tmp_path: Path) -> None:
    """100 escalations at T0; 20 decided five hours later: the backlog (80 > 50)
    has held for the whole hour and the p90 time to decision (5h) exceeds 4h."""
    from runtime.audit.database import SqliteDatabase
    from runtime.contracts.steps import ReviewConfig
    from runtime.review import EscalatedPrediction, ReviewQueue
    from runtime.steps.monitor import load_reviews

    raw = json.loads(local_config(tmp_path, None).read_text())
    review = json.loads((REPO / "generated/runtime/pump-failure/review.json").read_text())
    review["store"]["path"] = str(tmp_path / "review.db")
    raw["review"] = review
    config = MonitorConfig.model_validate(raw)
    assert isinstance(config.review, ReviewConfig)
    now = [T0_US]
    queue = ReviewQueue(SqliteDatabase(str(tmp_path / "review.db")), MODEL, config.review.policy,
                        clock_us=lambda: now[0]).setup()
    for n in range(100):
        queue.enqueue(EscalatedPrediction(
            prediction_id=f"req-{n:05d}/0", request_id=f"req-{n:05d}", model=MODEL, version="1.4.0",
            release="pump-failure-1-4-0", environment="local", entity=f"pump-{n:04d}", score=0.9, threshold=0.42,
            rule="HR-010", reason="critical asset", feature_vector_sha256=f"{n:064x}", at="2026-05-28T20:26:40Z"))
    now[0] = T0_US + 5 * 3600 * 1_000_000
    for _ in range(20):
        claim = queue.claim("alice")
        assert claim is not None
        queue.decide(claim.item.id, claim.token, "alice", "approve", "checked")
    reviews = load_reviews(config)
    assert reviews is not None and len(reviews) == 100
    report = build_report(config, [], reviews, (T0_US + 6 * 3600 * 1_000_000) // 1000).to_json()
    (backlog,) = results(report, "review-backlog").values()
    assert backlog["status"] == "breach" and backlog["value"] == 80
    (time_p90,) = results(report, "review-time").values()
    assert time_p90["status"] == "breach" and 14_400 < time_p90["value"] <= 28_800
    assert report["sections"]["review"]["data"]["backlog"] == 80
    assert report["sections"]["review"]["data"]["p90_time_to_decision_s"] == pytest.approx(5 * 3600)


def test_continuous_mode_rewrites_the_report_until_stopped(tmp_path: Path) -> None:
    import signal

    config = local_config(tmp_path, write_log(make_log(minutes=5), tmp_path / "log"))
    proc = subprocess.Popen([sys.executable, "-m", "runtime", "monitor", "--config", str(config)], cwd=REPO,
                            env={**os.environ, "SPECOPS_MONITOR_AT": END, "SPECOPS_MONITOR_EVERY": "0.2",
                                 "SPECOPS_MONITOR_FORMAT": "html"}, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        runs = [proc.stdout.readline() for _ in range(3)]  # one line (the report's path) per evaluation
        assert all(line.strip().endswith("report.html") for line in runs), runs
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0
    assert json.loads((tmp_path / "out/report.json").read_text())["model"] == MODEL
    assert not list((tmp_path / "out").glob(".*.tmp"))  # stopped between writes, or the write was atomic


def test_the_cronworkflow_command_runs_on_the_cluster_config(tmp_path: Path) -> None:
    """What generated/prod/cronworkflow-pump-failure-monitor.yaml runs, on its ConfigMap's config: no log or
    review store is mounted yet, so every objective is no_data with a reason and nothing pages for silence."""
    import yaml

    doc = yaml.safe_load((REPO / "generated/prod/configmap-pump-failure-monitor-config.yaml").read_text())
    raw = json.loads(doc["data"]["monitor-prod.json"])
    raw["output"] = str(tmp_path / "out")
    (tmp_path / "monitor-prod.json").write_text(json.dumps(raw))
    env = {k: v for k, v in os.environ.items() if k != "SPECOPS_REVIEW_DSN"}
    run = subprocess.run([sys.executable, "-m", "runtime", "monitor", "--config", str(tmp_path / "monitor-prod.json")],
                         cwd=REPO, env={**env, "SPECOPS_MONITOR_FORMAT": "json"}, capture_output=True, text=True,
                         timeout=120, check=False)
    # The incident store's DSN comes from a Secret in the pod: without it the report is still written and the
    # run fails with one line saying what to set.
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "breaches not enforced" in run.stderr and "SPECOPS_REVIEW_DSN" in run.stderr
    report = json.loads(run.stdout)
    assert report["sections"]["actions"]["available"] is False
    assert report["environment"] == "prod" and report["alerts"] == []
    assert {r["status"] for r in report["objectives"]} == {"no_data"}
    assert all(r["evidence"]["reason"] for r in report["objectives"])


def test_breaches_are_enforced_once_and_recorded(tmp_path: Path) -> None:
    """The monitor hands its results to enforcement: the error-rate breach opens an incident, forces the
    circuit open (the control file the predictor reads) and pages; a second run acts on nothing new."""
    config = local_config(tmp_path, write_log(make_log(), tmp_path / "log"))
    first = run_step(config, tmp_path, SPECOPS_MONITOR_AT=END, SPECOPS_MONITOR_FORMAT="json")
    assert "Traceback" not in first.stderr, first.stderr
    report = json.loads(first.stdout)
    actions = report["sections"]["actions"]
    assert actions["available"] is True and len(actions["data"]["opened"]) >= 2  # latency (1.5.0), errors (1.4.0)
    fired = {(f["action"], f["ok"]) for f in actions["data"]["fired"]}
    assert ("open_circuit", True) in fired and ("page", True) in fired
    control = json.loads((tmp_path / "work/control/pump-failure-local.json").read_text())
    assert control["circuit_forced_open_until_us"] > report["as_of_us"]
    assert "pump-failure" in first.stderr  # the stdout notifier's page, kept off the report's stdout
    # The latency breach is the canary's (1.5.0): its traffic goes to 0 through the same control file.
    assert ("rollback", True) in fired and control["canary_percent"] == 0.0 and first.returncode == 0
    results = json.loads((tmp_path / "out/results.json").read_text())["results"]
    assert {r["objective"] for r in results if r["status"] == "breach"} == {"latency", "errors"}

    second = run_step(config, tmp_path, SPECOPS_MONITOR_AT=END, SPECOPS_MONITOR_FORMAT="json")
    again = json.loads(second.stdout)["sections"]["actions"]["data"]
    assert second.returncode == 0 and again["opened"] == [] and again["fired"] == []
    assert len(again["open_incidents"]) == len(actions["data"]["opened"])


def test_review_items_move_onto_the_event_clock_with_their_predictions(tmp_path: Path) -> None:
    """A replay serves months of simulated time in minutes of wall time: on the event clock each
    review item moves with its prediction, so its age is what it was in wall time, never negative
    (before: the items stayed on the wall clock, ~180 days after the event-clock "now")."""
    import dataclasses

    from runtime.monitoring.log_metrics import ReviewEvent
    from runtime.steps.monitor import on_event_clock

    wall = T0_US + 180 * 86_400 * 1_000_000  # the replay ran half a year after its simulated days
    records = [dataclasses.replace(r, served_at_us=wall + r.seq * 10_000) for r in make_log(minutes=5)]
    escalated = [r for r in records if r.action == "human_review"]
    assert len(escalated) >= 10
    reviews = [ReviewEvent(environment="local", enqueued_us=r.served_at_us + 1_000, prediction_id=r.prediction_id,
                           decided_us=r.served_at_us + 60_000_000 if i % 2 else None)  # half decided a minute later
               for i, r in enumerate(escalated)]
    reviews.append(ReviewEvent(environment="local", enqueued_us=wall, decided_us=None, prediction_id="gone/0"))
    moved, placed, unplaced = on_event_clock(records, reviews)
    assert [r.served_at_us for r in moved] == [r.at_us for r in records]
    assert placed is not None and unplaced == 1 and len(placed) == len(escalated)
    for event, r in zip(placed, escalated):
        assert event.enqueued_us == r.at_us + 1_000
        assert event.decided_us is None or event.decided_us - event.enqueued_us == 60_000_000 - 1_000
    config = MonitorConfig.model_validate_json(local_config(tmp_path, None).read_text())
    at_ms = moved[-1].served_at_us // 1000 + 120_000  # two minutes after the last prediction: all decisions made
    review = build_report(config, moved, placed, at_ms).to_json()["sections"]["review"]["data"]
    assert review["backlog"] == (len(escalated) + 1) // 2  # the undecided half
    assert 0 < review["oldest_open_age_s"] <= 7 * 60
    # On the served clock the same items would be ~180 days in the future: a negative age.
    stale = build_report(config, moved, reviews, at_ms).to_json()["sections"]["review"]["data"]
    assert stale["oldest_open_age_s"] < -170 * 86_400
