"""Builders for small, exact data sets: a contract and rows written as real
Parquet/CSV files in a scratch working directory.  (A uniquely named module:
`from conftest import ...` is ambiguous, tests/ has several conftest.py.)"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from runtime.contracts.steps import DataSourceConfig, FieldConfig

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
TS = pa.timestamp("us", tz="UTC")


def events_source(**overrides: object) -> DataSourceConfig:
    base: dict[str, object] = dict(
        name="sensor-events", type="file", path="data/events/*.parquet", format="parquet", entity="asset_id",
        timestamp="event_time",
        fields=(FieldConfig(name="asset_id", type="string"),
                FieldConfig(name="event_time", type="timestamp"),
                FieldConfig(name="asset_type", type="category", values=("pump", "turbine", "compressor")),
                FieldConfig(name="temperature", type="float", nullable=True, min=-40, max=200),
                FieldConfig(name="vibration", type="float", nullable=True, min=0, max=50)),
        max_null_fraction=0.2, max_duplicate_fraction=0.2, max_out_of_range_fraction=0.2, min_rows=1,
        allowed_lateness_s=7200.0, late_policy="quarantine", quarantine_action="quarantine", max_bad_fraction=0.5)
    base.update(overrides)
    return DataSourceConfig(**base)  # type: ignore[arg-type]


def event_rows(n: int, *, start: datetime = T0, step_s: float = 60.0) -> list[dict[str, object]]:
    rows = []
    for i in range(n):
        t = start + timedelta(seconds=i * step_s)
        rows.append({"asset_id": f"A{i % 3}", "event_time": t, "asset_type": ("pump", "turbine")[i % 2],
                     "temperature": 60.0 + i % 7, "vibration": 3.0 + (i % 5) / 10,
                     "_event_id": f"e{i}", "_arrival_time": t + timedelta(seconds=5)})
    return rows


def table(rows: list[dict[str, object]], schema: dict[str, pa.DataType] | None = None) -> pa.Table:
    schema = schema or {"asset_id": pa.string(), "event_time": TS, "asset_type": pa.string(),
                        "temperature": pa.float64(), "vibration": pa.float64(), "_event_id": pa.string(),
                        "_arrival_time": TS}
    cols = {name: pa.array([r.get(name) for r in rows], type_) for name, type_ in schema.items()
            if any(name in r for r in rows) or not rows}
    return pa.table(cols)


def write_parquet(root: Path, relative: str, rows_or_table: list[dict[str, object]] | pa.Table) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    data = rows_or_table if isinstance(rows_or_table, pa.Table) else table(rows_or_table)
    pq.write_table(data, path)
    return path
