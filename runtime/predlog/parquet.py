"""The prediction log's long-term form: hive-partitioned Parquet under a
root that is a local folder or an fsspec URL (an object store in production).

Layout (runtime.contracts.monitoring)::

    <root>/model=<model>/date=<YYYY-MM-DD>/part-<first_seq>-<last_seq>-<log_id>.parquet

``log_id`` (additive to the contract's name) keeps the parts of several
predictor replicas, each with its own write-ahead log and seq, apart.

Compaction moves committed rows from the write-ahead store: it writes the
parts (each to a temporary name, then renamed), then deletes the rows in one
transaction.  A crash between the two leaves rows that a part already holds;
since a read snapshot holds a prefix of the sequence, a part named
``first..last`` holds every row of its (model, date) in that range, so the
next run skips such rows and deletes them: no row is written twice.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from runtime.contracts.monitoring import LOG_COLUMNS
from runtime.predlog.store import PredictionLog

__all__ = ["Compaction", "PART", "SCALAR_TYPES", "arrow_table", "compact", "date_of", "feature_struct",
           "part_ranges", "partition_dir"]

SCALAR_TYPES: dict[str, pa.DataType] = {
    "seq": pa.int64(), "prediction_id": pa.string(), "request_id": pa.string(), "served_at_us": pa.int64(),
    "at_us": pa.int64(), "entity": pa.string(), "model": pa.string(), "version": pa.string(),
    "release": pa.string(), "role": pa.string(), "environment": pa.string(), "spec_hash": pa.string(),
    "score": pa.float64(), "threshold": pa.float64(), "decision": pa.bool_(), "confidence": pa.float64(),
    "action": pa.string(), "rule": pa.string(), "feature_vector_sha256": pa.string(), "feature_age_s": pa.float64(),
    "latency_s": pa.float64(), "status": pa.int32(), "error": pa.string(), "fallback": pa.string(),
}
assert tuple(SCALAR_TYPES) == LOG_COLUMNS, "the Parquet schema follows LOG_COLUMNS"
PART = re.compile(r"^part-(\d+)-(\d+)-([0-9a-f]+)\.parquet$")
_FEATURES = len(LOG_COLUMNS)


def date_of(served_at_us: int) -> str:
    return datetime.fromtimestamp(served_at_us / 1e6, tz=timezone.utc).strftime("%Y-%m-%d")


def partition_dir(base: str, model: str, date: str) -> str:
    return f"{base.rstrip('/')}/model={model}/date={date}"


def feature_struct(types: Mapping[str, str]) -> pa.StructType:
    return pa.struct([(name, pa.string() if kind == "string" else pa.float64()) for name, kind in types.items()])


def _infer_types(rows: Sequence[Sequence[Any]]) -> dict[str, str]:
    """Feature types when the predictor declared none: string if any value is a string."""
    types: dict[str, str] = {}
    for row in rows:
        for k, v in json.loads(row[_FEATURES]).items():
            if isinstance(v, str):
                types[k] = "string"
            else:
                types.setdefault(k, "float64")
    return types


def _cell(v: Any, kind: str) -> Any:
    if v is None:
        return None
    return str(v) if kind == "string" else (float(v) if not isinstance(v, str) else None)


def arrow_table(rows: Sequence[Sequence[Any]], types: Mapping[str, str] | None) -> pa.Table:
    """Stored rows (LOG_COLUMNS then features JSON) as the Parquet schema."""
    types = dict(types) if types is not None else _infer_types(rows)
    columns = {name: pa.array([r[i] for r in rows] if kind != pa.bool_()  # SQLite stores booleans as 0/1
                              else [None if r[i] is None else bool(r[i]) for r in rows], kind)
               for i, (name, kind) in enumerate(SCALAR_TYPES.items())}
    decoded = [json.loads(r[_FEATURES]) for r in rows]
    struct = feature_struct(types)
    columns["features"] = pa.array([{k: _cell(f.get(k), kind) for k, kind in types.items()} for f in decoded],
                                   struct) if types else pa.array([{}] * len(rows), pa.struct([]))
    return pa.table(columns)


def part_ranges(fs: Any, directory: str, log_id: str) -> list[tuple[int, int]]:
    """The seq ranges this log's parts in ``directory`` hold."""
    try:
        names = [p.rsplit("/", 1)[-1] for p in fs.ls(directory, detail=False)]
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        m = PART.match(name)
        if m and m.group(3) == log_id:
            out.append((int(m.group(1)), int(m.group(2))))
    return out


@dataclass(frozen=True, slots=True)
class Compaction:
    rows_moved: int          # rows written to new parts
    rows_skipped: int        # rows a part already held (a previous run crashed before deleting them)
    rows_deleted: int
    parts: tuple[str, ...]   # the parts written

    def as_json(self) -> dict[str, Any]:
        return {"rows_moved": self.rows_moved, "rows_skipped": self.rows_skipped, "rows_deleted": self.rows_deleted,
                "parts": list(self.parts)}


def _write_part(fs: Any, directory: str, name: str, table: pa.Table) -> str:
    fs.makedirs(directory, exist_ok=True)
    final = f"{directory}/{name}"
    tmp = f"{directory}/.{name}.tmp"  # readers list part-*.parquet only
    with fs.open(tmp, "wb") as fh:
        pq.write_table(table, fh, compression="zstd")
    fs.mv(tmp, final)
    return final


def compact(log: PredictionLog, root: str, *, batch_rows: int = 100_000,
            crash_after_write: bool = False) -> Compaction:
    """Move every committed row of ``log`` to Parquet under ``root``.

    ``crash_after_write`` stops after the first batch's parts are written and
    before its rows are deleted: what a crash there leaves (tests only)."""
    fs, base = fsspec.core.url_to_fs(root)
    moved = skipped = deleted = 0
    parts: list[str] = []
    while True:
        rows = log.rows(limit=batch_rows)
        if not rows:
            break
        groups: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
        for row in rows:
            groups.setdefault((row[LOG_COLUMNS.index("model")], date_of(row[3])), []).append(row)
        for (model, date), group in sorted(groups.items()):
            directory = partition_dir(base, model, date)
            held = part_ranges(fs, directory, log.log_id)
            fresh = [r for r in group if not any(lo <= r[0] <= hi for lo, hi in held)]
            skipped += len(group) - len(fresh)
            if fresh:
                name = f"part-{fresh[0][0]}-{fresh[-1][0]}-{log.log_id}.parquet"
                parts.append(_write_part(fs, directory, name, arrow_table(fresh, log.feature_types(model))))
                moved += len(fresh)
        if crash_after_write:
            break
        deleted += log.delete_through(rows[-1][0])
        if len(rows) < batch_rows:
            break
    return Compaction(moved, skipped, deleted, tuple(parts))
