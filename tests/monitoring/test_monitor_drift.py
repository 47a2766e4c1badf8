"""Drift in the monitor: the logged features against a real training
reference profile; a recalibrated sensor that stays drifted for the whole
6h objective window breaches `drift` (retrain), a stationary log does not."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
from monitoring_log import MODEL, T0_US

from runtime.contracts.monitoring import PredictionRecord
from runtime.contracts.steps import MonitorConfig
from runtime.monitoring.reference import build_profile, profile_to_json
from runtime.steps.monitor import build_report

REPO = Path(__file__).resolve().parents[2]
FEATURES = ("vibration", "temperature", "pressure")
HOUR_US = 3_600_000_000


def reference(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    table = pa.table({f: rng.normal(0, 1, 5000) for f in FEATURES})
    path = tmp_path / "reference.json"
    path.write_text(profile_to_json(build_profile(table, FEATURES, rng.uniform(0, 1, 5000), source="test")))
    return path


def log(hours: int, drift_from_h: float | None) -> list[PredictionRecord]:
    """60 predictions a minute; from ``drift_from_h`` two of three features read +1.5 (recalibration)."""
    rng = np.random.default_rng(2)
    out = []
    for i in range(hours * 3600):
        if i % 60:
            continue
        for k in range(60):
            served = T0_US + i * 1_000_000 + k * 10_000
            shift = 1.5 if drift_from_h is not None and served >= T0_US + drift_from_h * HOUR_US else 0.0
            values = rng.normal(0, 1, 3)
            seq = len(out) + 1
            out.append(PredictionRecord(
                seq=seq, prediction_id=f"r{seq}/0", request_id=f"r{seq}", served_at_us=served, at_us=served,
                entity=f"pump-{seq % 9}", model=MODEL, version="1.4.0", release="r", role="champion",
                environment="local", spec_hash="h", score=float(rng.uniform()), threshold=0.5, decision=False,
                confidence=0.9, action="auto", rule=None, feature_vector_sha256=None, feature_age_s=10.0,
                latency_s=0.01, status=200, error=None, fallback=None,
                features={"vibration": values[0] + shift, "temperature": values[1] + shift, "pressure": values[2]}))
    return out


def config(tmp_path: Path) -> MonitorConfig:
    raw = json.loads((REPO / "generated/runtime/pump-failure/monitor.json").read_text())
    raw.update(review=None, reference=str(reference(tmp_path)), work_dir=str(tmp_path / "work"))
    return MonitorConfig.model_validate(raw)


def drift_result(report: dict) -> dict:
    (r,) = [r for r in report["objectives"] if r["objective"] == "drift"]
    return r


def test_sustained_drift_breaches_and_a_stationary_log_does_not(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    at_ms = (T0_US + 10 * HOUR_US) // 1000
    drifted = build_report(cfg, log(10, drift_from_h=2), None, at_ms).to_json()
    section = drifted["sections"]["drift"]
    assert section["available"] is True
    assert sorted(section["data"]["drifted_features"]) == ["temperature", "vibration"]
    assert section["data"]["drifted_share"] > 0.3
    result = drift_result(drifted)
    assert result["status"] == "breach" and result["value"] > 0.3 and result["actions"] == ["retrain"]

    stationary = build_report(cfg, log(10, drift_from_h=None), None, at_ms).to_json()
    assert stationary["sections"]["drift"]["data"]["drifted_features"] == []
    assert drift_result(stationary)["status"] == "ok"


def test_without_a_reference_the_section_says_what_to_do(tmp_path: Path) -> None:
    raw = config(tmp_path).model_copy(update={"reference": None, "artifacts": config(tmp_path).artifacts.model_copy(
        update={"uri": str(tmp_path / "empty-registry")})})
    report = build_report(raw, log(1, None), None, (T0_US + HOUR_US) // 1000).to_json()
    assert report["sections"]["drift"]["available"] is False
    assert "specops run" in report["sections"]["drift"]["note"]
    assert drift_result(report)["status"] == "no_data"
