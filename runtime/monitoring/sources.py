"""Where the drift and performance analyses get their inputs: the only
module of runtime.monitoring's analyses that touches the disk.

* the reference profile: ``reference.json`` in a model directory, or
  ``model/reference.json`` in a registry entry's directory;
* the compacted prediction log (``runtime.contracts.monitoring``: hive
  partitions ``model=<model>/date=<YYYY-MM-DD>``), read in record batches so
  memory stays bounded whatever the log's length;
* the labels source (tickets and the review export, same format).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds

from runtime.monitoring.reference import REFERENCE_FILE, ReferenceError, ReferenceProfile, profile_from_json

__all__ = ["DRIFT_COLUMNS", "LOG_BATCH_ROWS", "SourceError", "iter_log_batches", "read_labels", "read_profile"]

# The log columns drift and performance read (the rest stay on disk).
DRIFT_COLUMNS = ("served_at_us", "at_us", "entity", "version", "score", "features")
LOG_BATCH_ROWS = 100_000


class SourceError(Exception):
    """An input is missing or unreadable; the message says which and what to run."""


def read_profile(path: Path) -> ReferenceProfile:
    """The profile at ``path``: a reference.json, a model directory or a registry entry directory."""
    candidates = [path] if path.suffix == ".json" else [path / REFERENCE_FILE, path / "model" / REFERENCE_FILE]
    for c in candidates:
        if c.is_file():
            try:
                return profile_from_json(c.read_text(encoding="utf-8"), where=str(c))
            except (OSError, UnicodeDecodeError) as exc:
                raise SourceError(f"{c}: unreadable: {exc}") from None
            except ReferenceError as exc:
                raise SourceError(str(exc)) from None
    raise SourceError(f"{path}: no {REFERENCE_FILE} (a model trained before drift profiles existed? "
                      "retrain it, or point at the model directory the train step wrote)")


def _day(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, tz=timezone.utc).strftime("%Y-%m-%d")


def iter_log_batches(root: str | Path, model: str, *, start_us: int | None = None, end_us: int | None = None,
                     columns: tuple[str, ...] = DRIFT_COLUMNS,
                     batch_rows: int = LOG_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """Record batches of one model's compacted log with ``served_at_us`` in ``[start_us, end_us)``."""
    base = Path(root) / f"model={model}"
    if not base.is_dir():
        raise SourceError(f"{base}: no compacted prediction log for model {model!r} (has the predictor served and "
                          "the log been compacted?)")
    dataset = ds.dataset(str(base), format="parquet", partitioning=ds.partitioning(
        pa.schema([("date", pa.string())]), flavor="hive"))
    missing = [c for c in columns if c not in dataset.schema.names]
    if missing:
        raise SourceError(f"{base}: the log lacks column(s) {', '.join(missing)}; expected LOG_COLUMNS + features")
    cond = None
    if start_us is not None:
        cond = (ds.field("date") >= _day(start_us)) & (ds.field("served_at_us") >= start_us)
    if end_us is not None:
        upper = (ds.field("date") <= _day(end_us)) & (ds.field("served_at_us") < end_us)
        cond = upper if cond is None else cond & upper
    yield from dataset.to_batches(columns=list(columns), filter=cond, batch_size=batch_rows)


def read_labels(path: str | Path) -> pa.Table:
    """The labels source (a Parquet file or a folder of them, e.g. data/labels/ with the review export)."""
    p = Path(path)
    if not p.exists():
        raise SourceError(f"{p}: labels source not found (run generate-data, or point at the labels folder)")
    try:
        return ds.dataset(str(p), format="parquet").to_table()
    except (OSError, pa.ArrowException) as exc:
        raise SourceError(f"{p}: unreadable labels: {exc}") from None
