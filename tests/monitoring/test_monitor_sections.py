"""The monitor's log, skew and performance sections on real inputs: a real
predictor's write-ahead log (never compacted), the batch engine over the
validated events, and labels joined as of the report's time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from monitoring_log import MODEL, make_log, serve_log
from runtime.contracts.monitoring import PredictionRecord
from runtime.contracts.steps import MonitorConfig
from runtime.events import ARRIVAL_TIME, EVENT_ID, event_id
from runtime.monitoring import skew_section
from runtime.monitoring.render import render_html, render_json, render_text
from runtime.predlog.parquet import compact
from runtime.predlog.store import PredictionLog
from runtime.steps.monitor import build_report, read_log
from tests.runtime.serving.served import ASSETS, STORE, T0, asset_events, iso, make_repo

REPO = Path(__file__).resolve().parents[2]
DAY_US = 86_400 * 1_000_000


def monitor_config(tmp_path: Path, **fields: object) -> MonitorConfig:
    raw = json.loads((REPO / "generated/runtime/pump-failure/monitor.json").read_text())
    raw.update(review=None, output=str(tmp_path / "out"), work_dir=str(tmp_path / "work"),
               artifacts={"uri": str(tmp_path / "artifacts")}, validated=None, label_path=None,
               predictions={"path": str(tmp_path / "wal.db"), "root": str(tmp_path / "parquet")},
               prediction_log=str(tmp_path / "parquet"))
    raw.update(fields)
    return MonitorConfig.model_validate(raw)


def by_name(report: dict, objective: str) -> list[dict]:
    return [r for r in report["objectives"] if r["objective"] == objective]


# ------------------------------------------------------------------ log


def test_rows_still_in_the_write_ahead_store_are_seen_and_none_twice(tmp_path: Path) -> None:
    config = monitor_config(tmp_path)
    records = make_log(minutes=2)
    serve_log(records[:200], tmp_path / "wal.db")
    assert sorted(r.prediction_id for r in read_log(config)) == sorted(r.prediction_id for r in records[:200])
    log = PredictionLog(tmp_path / "wal.db")
    compact(log, str(tmp_path / "parquet"))  # the first 200 move to Parquet...
    log.append(records[200:])  # ...and the rest are served after
    log.close()
    seen = read_log(config)
    assert len(seen) == len(records) == len({r.prediction_id for r in seen})
    report = build_report(config, seen, None, seen[-1].served_at_us // 1000 + 1).to_json()
    assert report["sections"]["log"]["data"]["records"] == len(records)


# ------------------------------------------------------------------ skew


def _events() -> pa.Table:
    """The events the online store was filled from, as validate-data writes them."""
    rows = [{**e, EVENT_ID: event_id(e)} for asset, (kind, crit, vib) in ASSETS.items()
            for e in asset_events(asset, kind, crit, vib)]
    return pa.Table.from_pylist(rows, schema=pa.schema([(EVENT_ID, pa.string()),
        ("asset_id", pa.string()), ("event_time", pa.timestamp("us", tz="UTC")), ("asset_type", pa.string()),
        ("criticality", pa.string()), ("temperature", pa.float64()), ("vibration", pa.float64()),
        ("pressure", pa.float64()), ("rpm", pa.float64()), ("technician_email", pa.string())]))


def _served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, ghost: bool) -> tuple[MonitorConfig, list]:
    """A real predictor answers 21 predictions (never compacted); the monitor config reads its log."""
    from runtime.features.online import OnlineEngine
    from runtime.features.store import open_store
    from runtime.serving.predictor import SpecOpsPredictor

    repo = make_repo(tmp_path)
    monkeypatch.chdir(tmp_path)
    if ghost:  # the online path diverges: one entity's state gets a reading the events never held
        store = open_store(STORE)
        engine = OnlineEngine(repo.config.feature_sets, store)
        kind, crit, _ = ASSETS["P-CRIT"]
        [event] = asset_events("P-CRIT", kind, crit, 20.0, n=1, end=T0)
        engine.apply({**event, ARRIVAL_TIME: T0})
        store.close()
    predictor = SpecOpsPredictor(repo.config)
    assert predictor.load()
    for n, minutes in enumerate((1, 7, 55, 60, 65, 61 * 5, 60 * 25)):
        at = iso(T0 + timedelta(minutes=minutes))
        predictor.predict({"instances": [{"entity": e, "at": at} for e in ASSETS]}, {"x-request-id": f"s-{n}"})
    predictor.unload()
    validated = tmp_path / "validated"
    validated.mkdir()
    for source in {fs.source for fs in repo.config.feature_sets}:
        pq.write_table(_events(), validated / f"{source}.parquet")
    assert repo.config.prediction_log is not None
    config = monitor_config(tmp_path, predictions=repo.config.prediction_log.model_dump(),
                            feature_sets=[fs.model_dump() for fs in repo.config.feature_sets],
                            validated=str(validated), skew_sample_rate=1.0)
    records = read_log(config)
    assert len(records) == 21 and not any(Path(repo.config.prediction_log.root).rglob("*.parquet"))
    return config, records


def test_skew_section_clean_log_is_fully_consistent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config, records = _served(tmp_path, monkeypatch, ghost=False)
    report = build_report(config, records, None, records[-1].served_at_us // 1000 + 60_000).to_json()  # scraped after
    skew = report["sections"]["skew"]
    assert skew["available"], skew["note"]
    assert (skew["data"]["checked"], skew["data"]["consistent"], skew["data"]["consistency_rate"]) == (21, 21, 1.0)
    assert skew["data"]["mismatch_count"] == 0 and skew["data"]["mismatches"] == []
    [result] = by_name(report, "skew")
    assert (result["status"], result["value"]) == ("ok", 0.0)


def test_skew_section_names_an_injected_mismatch_and_breaches(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    config, records = _served(tmp_path, monkeypatch, ghost=True)
    monkeypatch.setattr(skew_section, "MAX_LISTED", 3)
    report = build_report(config, records, None, records[-1].served_at_us // 1000 + 60_000).to_json()  # scraped after
    data = report["sections"]["skew"]["data"]
    assert data["checked"] == 21 and data["consistent"] < 21
    assert data["mismatch_count"] > 3 and data["mismatches_listed"] == len(data["mismatches"]) == 3
    assert {m["entity"] for m in data["mismatches"]} == {"P-CRIT"}
    assert render_text(build_report(config, records, None, records[-1].served_at_us // 1000 + 60_000)).count(
        "  mismatch ") == 3
    [result] = by_name(report, "skew")
    bad = data["mismatching_predictions"]
    assert result["status"] == "breach" and result["value"] == pytest.approx(bad / 21, rel=1e-6)


def test_skew_section_says_why_without_a_validated_snapshot(tmp_path: Path) -> None:
    config = monitor_config(tmp_path, validated=str(tmp_path / "nowhere"))
    records = make_log(minutes=1)
    section = build_report(config, records, None, records[-1].served_at_us // 1000).to_json()["sections"]["skew"]
    assert not section["available"] and "run the pipeline's validate-data step" in section["note"]


# ------------------------------------------------------------------ performance


def _scored_log(days: int = 10, entities: int = 40, seed: int = 5) -> tuple[list[PredictionRecord], pa.Table]:
    """Hourly predictions per pump with calibrated scores, and the failure tickets they predict."""
    rng = np.random.default_rng(seed)
    risk = rng.uniform(0.02, 0.6, entities)
    t0 = 1_780_000_000_000_000 - 1_780_000_000_000_000 % DAY_US
    records, tickets, seq = [], [], 0
    for h in range(days * 24):
        for e in range(entities):
            seq += 1
            t = t0 + h * 3_600_000_000
            p = float(np.clip(risk[e] + rng.normal(0, 0.05), 0.01, 0.99))
            records.append(PredictionRecord(
                seq=seq, prediction_id=f"r{seq}/0", request_id=f"r{seq}", served_at_us=t, at_us=t, entity=f"pump-{e}",
                model=MODEL, version="1.0.0", release=f"{MODEL}-1.0.0", role="champion", environment="local", spec_hash="h",
                score=p, threshold=0.5, decision=p >= 0.5, confidence=0.9, action="auto", rule=None,
                feature_vector_sha256=None, feature_age_s=1.0, latency_s=0.01, status=200, error=None, fallback=None))
        if h % 24 == 0:
            for e in range(entities):
                if rng.uniform() < risk[e]:
                    when = t0 + h * 3_600_000_000 + int(rng.uniform(1, 23) * 3_600_000_000)
                    tickets.append({"asset_id": f"pump-{e}", "failure_time": when, "failed": True,
                                    "ticket_id": f"T{len(tickets)}", ARRIVAL_TIME: when + 3_600_000_000})
    table = pa.Table.from_pylist(tickets, schema=pa.schema([
        ("asset_id", pa.string()), ("failure_time", pa.timestamp("us", tz="UTC")), ("failed", pa.bool_()),
        ("ticket_id", pa.string()), (ARRIVAL_TIME, pa.timestamp("us", tz="UTC"))]))
    return records, table


def test_performance_has_realized_and_estimated_windows_and_feeds_the_quality_objectives(tmp_path: Path) -> None:
    records, tickets = _scored_log(days=14)  # the realized gauge must have lasted the 7-day window to be judged
    pq.write_table(tickets, tmp_path / "labels.parquet")
    config = monitor_config(tmp_path)
    at_ms = records[-1].served_at_us // 1000 + 3_600_000
    built = build_report(config, records, None, at_ms, (str(tmp_path / "*.parquet"),))
    report = built.to_json()
    perf = report["sections"]["performance"]
    assert perf["available"], perf["note"]
    windows = perf["data"]["windows"]
    # 14 daily windows: those whose labels matured (end + 1 d horizon + 2 d delay <= as of) are realized.
    assert len(windows) == 14 and [w["basis"] for w in windows] == ["realized"] * 11 + ["estimated"] * 3
    assert (perf["data"]["realized"], perf["data"]["estimated"]) == (11, 3)
    for w in windows:
        assert w["matures_at_us"] == w["end_us"] + 3 * DAY_US
        if w["basis"] == "realized":
            assert w["labeled"] == w["rows"] and w["positives"] > 0 and w["ece"] is not None
            assert 0 < w["pr_auc"] <= 1 and w["recall_at_precision"] is not None
        else:
            assert w["positives"] is None and w["ece"] is None
            assert w["pr_auc_low"] <= w["pr_auc"] <= w["pr_auc_high"]
            assert w["recall_low"] <= w["recall_at_precision"] <= w["recall_high"]
    assert perf["data"]["precision_at"] == 0.5 and "concept drift" in perf["data"]["method"]
    for name in ("estimated-quality", "realized-quality", "realized-recall"):
        [result] = by_name(report, name)
        assert result["status"] in ("ok", "breach") and result["value"] is not None, result
    # A min objective breaches only when every sample of its window is below: its value is the window's best.
    [realized] = by_name(report, "realized-quality")
    assert realized["value"] in {w["pr_auc"] for w in windows[3:11]}
    assert realized["value"] >= max(w["pr_auc"] for w in windows[4:11])
    [estimated] = by_name(report, "estimated-quality")
    assert estimated["value"] == pytest.approx(max(w["pr_auc"] for w in windows[-2:]))
    # Deterministic: the same inputs, the same bytes; the chart shows both lines.
    again = build_report(config, records, None, at_ms, (str(tmp_path / "*.parquet"),))
    assert render_json(again) == render_json(built)
    html = render_html(built)
    assert "realized vs estimated" in html and ">realized</text>" in html and ">estimated</text>" in html
    text = render_text(built)
    assert text.count(" realized: pr_auc=") == 11 and text.count(" estimated: pr_auc=") == 3


def test_performance_says_why_without_labels(tmp_path: Path) -> None:
    records, _ = _scored_log(days=2, entities=3)
    report = build_report(monitor_config(tmp_path, label_path=str(tmp_path / "none/*.parquet")), records, None,
                          records[-1].served_at_us // 1000).to_json()
    perf = report["sections"]["performance"]
    assert not perf["available"] and "no labels at" in perf["note"] and "--labels" in perf["note"]
    assert {r["status"] for r in by_name(report, "estimated-quality")} == {"no_data"}


def test_the_step_takes_extra_label_files(tmp_path: Path) -> None:
    """``python -m runtime monitor --config FILE --labels GLOB`` (what `specops monitor --labels` runs)."""
    records, tickets = _scored_log(days=5, entities=10)
    (tmp_path / "replay/run-1").mkdir(parents=True)
    pq.write_table(tickets, tmp_path / "replay/run-1/labels.parquet")
    serve_log(records, tmp_path / "wal.db")
    config = monitor_config(tmp_path)
    (tmp_path / "monitor.json").write_text(config.model_dump_json())
    env = {**os.environ, "SPECOPS_MONITOR_FORMAT": "json", "SPECOPS_MONITOR_ACT": "0", "SPECOPS_MONITOR_AT": "last"}
    run = subprocess.run([sys.executable, "-m", "runtime", "monitor", "--config", str(tmp_path / "monitor.json"),
                          "--labels", str(tmp_path / "replay/*/labels.parquet")], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    perf = json.loads(run.stdout)["sections"]["performance"]
    assert perf["available"] and perf["data"]["label_files"] == [str((tmp_path / "replay/run-1/labels.parquet"))]
    run = subprocess.run([sys.executable, "-m", "runtime", "monitor", "--config", str(tmp_path / "monitor.json"),
                          "--bogus"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 2 and "unexpected arguments: --bogus" in run.stderr
