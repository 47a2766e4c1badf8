"""Small, hand-built feature sets and events for the feature engine tests
(imported by the test modules of this folder)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from runtime.contracts.steps import AggregationConfig, FeatureSetConfig, LabelConfig, TransformConfig
from runtime.features.batch import ENTITY, TIME, sample_features
from runtime.features.definition import define
from runtime.features.online import OnlineEngine
from runtime.features.store import OnlineStore, open_store
from runtime.features.timestamps import to_us


def _shared_conftest():  # type: ignore[no-untyped-def]
    # `from conftest import ...` is ambiguous without packages (several folders have one):
    # load the top-level one by path for its require_service (skip locally, fail in CI).
    path = Path(__file__).resolve().parents[2] / "conftest.py"
    spec = importlib.util.spec_from_file_location("specops_tests_conftest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


require_service = _shared_conftest().require_service

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
HOUR = 3600.0

EVENT_SCHEMA = pa.schema([
    ("asset_id", pa.string()),
    ("event_time", pa.timestamp("us", tz="UTC")),
    ("asset_type", pa.string()),
    ("temperature", pa.float64()),
    ("vibration", pa.float64()),
    ("pressure", pa.float64()),
    ("_event_id", pa.string()),
    ("_arrival_time", pa.timestamp("us", tz="UTC")),
])


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def feature_set(name: str = "health", *, lateness_s: float | None = None, policy: str | None = None,
                aggregations: Sequence[tuple[str | None, str, float]] | None = None,
                transforms: Iterable[TransformConfig] = (), attributes: tuple[str, ...] = ("asset_type",),
                source: str = "events", ttl_s: float | None = 2 * 86400.0) -> FeatureSetConfig:
    aggs = aggregations if aggregations is not None else [
        (col, fn, w) for w in (HOUR, 24 * HOUR)
        for col, fn in (("vibration", "mean"), ("vibration", "sum"), ("vibration", "std"), ("vibration", "max"),
                        ("vibration", "min"), ("vibration", "last"), ("vibration", "count"),
                        (None, "count"), (None, "time_since_last"), ("vibration", "time_since_last"))]
    return FeatureSetConfig(
        name=name, source=source, entity="asset_id", timestamp="event_time", attributes=attributes,
        transforms=tuple(transforms),
        aggregations=tuple(AggregationConfig(name=f"{col or 'events'}_{fn}_{int(w)}", column=col, function=fn, window_s=w)
                           for col, fn, w in aggs),
        online_ttl_s=ttl_s, allowed_lateness_s=lateness_s, late_policy=policy,  # type: ignore[arg-type]
    )


RATIO = TransformConfig(name="temp_pressure_ratio", expression="temperature / nullif(pressure, 0)",
                        inputs=("temperature", "pressure"), type="float")

LABEL = LabelConfig(source="labels", outcome="failed", positive_value=True, horizon_s=24 * HOUR,
                    availability_delay_s=48 * HOUR, timestamp="failure_time")


def event(n: int, asset: str, minutes: float, vibration: float | None = 1.0, *, arrival_minutes: float | None = None,
          temperature: float | None = 60.0, pressure: float | None = 100.0, asset_type: str = "pump") -> dict[str, Any]:
    return {"asset_id": asset, "event_time": at(minutes), "asset_type": asset_type, "temperature": temperature,
            "vibration": vibration, "pressure": pressure, "_event_id": f"e{n}",
            "_arrival_time": at(arrival_minutes if arrival_minutes is not None else minutes)}


def events_table(rows: Sequence[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=EVENT_SCHEMA)


def us(minutes: float) -> int:
    return to_us(at(minutes))


def batch_at(cfgs: Sequence[FeatureSetConfig], table: pa.Table, points: Sequence[tuple[str, int]],
             source: str = "events") -> dict[tuple[str, int], dict[str, Any]]:
    """Batch-engine features at (entity, t µs) points."""
    con = duckdb.connect()
    con.register("ev", table)
    con.register("pts", pa.table({ENTITY: pa.array([p[0] for p in points], pa.string()),
                                  TIME: pa.array([p[1] for p in points], pa.int64())}))
    out = sample_features(con, define(cfgs), {source: "ev"}, "pts").to_pylist()
    con.close()
    return {(r.pop(ENTITY), r.pop(TIME)): r for r in out}


def online_at(cfgs: Sequence[FeatureSetConfig], table: pa.Table, points: Sequence[tuple[str, int]],
              store: OnlineStore | None = None) -> dict[tuple[str, int], dict[str, Any]]:
    """Online-engine features at the points, the events applied in arrival order."""
    engine = OnlineEngine(cfgs, store or open_store("memory://"))
    rows = sorted(table.to_pylist(), key=lambda r: (to_us(r["_arrival_time"]), to_us(r["event_time"]), r["_event_id"]))
    out: dict[tuple[str, int], dict[str, Any]] = {}
    k = 0
    for entity, t in sorted(points, key=lambda p: p[1]):
        while k < len(rows) and to_us(rows[k]["_arrival_time"]) <= t:
            engine.apply(rows[k])
            k += 1
        out[(entity, t)] = engine.read(entity, t)
    return out
