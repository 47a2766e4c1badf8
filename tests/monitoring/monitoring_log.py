"""A small prediction log written in the contract's Parquet layout (helpers for the monitoring tests)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from runtime.contracts.monitoring import LOG_COLUMNS, PredictionRecord
from runtime.predlog.store import PredictionLog

T0_US = 1_780_000_000_000_000  # 2026-05-28T20:26:40Z, a fixed start
MODEL = "pump-failure"


def make_log(minutes: int = 30, slow_version_from_min: int = 15, errors_from_min: int = 20,
             environment: str = "local") -> list[PredictionRecord]:
    """Two requests a second of version 1.4.0 (fast) and one of 1.5.0; 1.5.0 turns
    slow (0.4 s) from ``slow_version_from_min``; from ``errors_from_min`` one 1.4.0
    request in ten fails with a model error."""
    out, seq = [], 0
    for s in range(minutes * 60):
        for version, k in (("1.4.0", 0), ("1.4.0", 1), ("1.5.0", 0)):
            seq += 1
            served = T0_US + s * 1_000_000 + k * 300_000
            failed = version == "1.4.0" and s >= errors_from_min * 60 and (s % 10 == 0) and k == 0
            slow = version == "1.5.0" and s >= slow_version_from_min * 60
            out.append(PredictionRecord(
                seq=seq, prediction_id=f"r{seq}/0", request_id=f"r{seq}", served_at_us=served, at_us=served,
                entity=f"pump-{seq % 7}", model=MODEL, version=version, release=f"{MODEL}-{version}",
                role="champion" if version == "1.4.0" else "canary", environment=environment, spec_hash="h",
                score=None if failed else (seq % 100) / 100, threshold=0.5, decision=None if failed else seq % 3 == 0,
                confidence=None if failed else 0.8, action=None if failed else ("human_review" if seq % 50 == 0 else "auto"),
                rule=None, feature_vector_sha256=None if failed else f"{seq:064x}", feature_age_s=None if failed else 30.0,
                latency_s=0.4 if slow else 0.02, status=500 if failed else 200, error="model_error" if failed else None,
                fallback=None, features={"vibration_mean_1h": float(seq % 13), "asset_type": "centrifugal"}))
    return out


def write_log(records: list[PredictionRecord], root: Path) -> Path:
    """Hive-partitioned Parquet, as the compactor writes it: model=<m>/date=<d>/part-<first>-<last>.parquet."""
    rows = [asdict(r) for r in records]
    table = pa.Table.from_pylist([{c: row[c] for c in (*LOG_COLUMNS, "features")} for row in rows])
    path = root / f"model={MODEL}" / "date=2026-05-28"
    path.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.drop_columns(["model"]), path / f"part-{records[0].seq}-{records[-1].seq}.parquet")
    return root


def serve_log(records: list[PredictionRecord], path: Path) -> Path:
    """The records committed to the predictor's write-ahead store at ``path``, not compacted: what a
    predictor leaves between compactions (``runtime.predlog``)."""
    log = PredictionLog(path)
    try:
        log.set_feature_types(MODEL, {"vibration_mean_1h": "float64", "asset_type": "string"})
        log.append(records)
    finally:
        log.close()
    return path
