"""The point-in-time training table, as build-features writes it.

Shape (agreed with the features step): one row per (entity, cut time); the
model's features in order; the attributes (the slice column among them); the
label.  System columns (``_event_id``, ``_arrival_time``) are ignored.  The
column names live here only, so adapting to the writer is one edit.

String columns (attributes used as features, e.g. ``asset_type``) are encoded
to integer codes with a sorted vocabulary recorded in the model directory;
an unseen category becomes NaN (LightGBM and ONNX both route it down the
missing-value branch), never an error at serving time.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

__all__ = [
    "LABEL_COLUMN",
    "TIME_COLUMN",
    "FeatureEncoding",
    "TableError",
    "TrainingTable",
    "data_files",
    "encode",
    "fit_encoding",
    "read_table",
    "training_data_hash",
]

TIME_COLUMN = "cut_time"  # the prediction time of the row (point-in-time cut)
LABEL_COLUMN = "label"  # 1 when the outcome happened within the horizon after the cut


class TableError(Exception):
    """The training table is missing, unreadable or not in the agreed shape."""


@dataclass(frozen=True)
class FeatureEncoding:
    """How each feature becomes a float: numeric as is, categories to codes."""

    features: tuple[str, ...]
    # feature name -> sorted vocabulary; absent for numeric features.
    vocabularies: tuple[tuple[str, tuple[str, ...]], ...]

    def vocabulary(self, feature: str) -> tuple[str, ...] | None:
        return dict(self.vocabularies).get(feature)

    def to_json(self) -> dict[str, object]:
        return {"features": [{"name": f, "type": "category", "vocabulary": list(v)} if (v := self.vocabulary(f)) is not None
                             else {"name": f, "type": "float"} for f in self.features]}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> FeatureEncoding:
        items = data["features"]
        assert isinstance(items, list)
        return cls(features=tuple(i["name"] for i in items),
                   vocabularies=tuple((i["name"], tuple(i["vocabulary"])) for i in items if i["type"] == "category"))


@dataclass(frozen=True)
class TrainingTable:
    """The table as arrays, sorted by cut time (stable, so ties keep file order)."""

    times: np.ndarray  # float64 epoch seconds
    columns: pa.Table  # the feature and slice columns, raw
    y: np.ndarray  # int8 0/1
    source_hash: str

    def __len__(self) -> int:
        return len(self.y)


def data_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise TableError(f"{path}: training table not found (run the build-features step first)")
    files = sorted(p for p in path.rglob("*.parquet") if p.is_file())
    if not files:
        raise TableError(f"{path}: no .parquet files in the training table directory")
    return files


def training_data_hash(files: list[Path], root: Path) -> str:
    """sha256 over each file's relative name and sha256, in name order."""
    outer = hashlib.sha256()
    for f in files:
        inner = hashlib.sha256()
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                inner.update(chunk)
        rel = f.name if root.is_file() else f.relative_to(root).as_posix()
        outer.update(f"{rel}\0{inner.hexdigest()}\n".encode())
    return outer.hexdigest()


def _epoch_seconds(col: pa.ChunkedArray, path: Path) -> np.ndarray:
    if pa.types.is_timestamp(col.type):
        return pc.cast(pc.cast(col, pa.timestamp("us", tz=col.type.tz)), pa.int64()).to_numpy(zero_copy_only=False) / 1e6
    if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
        return col.to_numpy(zero_copy_only=False).astype(np.float64)
    raise TableError(f"{path}: column {TIME_COLUMN!r} has type {col.type}; expected a timestamp or epoch seconds")


def _labels(col: pa.ChunkedArray, path: Path) -> np.ndarray:
    if col.null_count:
        raise TableError(f"{path}: column {LABEL_COLUMN!r} has {col.null_count} null labels; "
                         "build-features must drop rows whose label has not matured")
    values = col.to_numpy(zero_copy_only=False)
    if values.dtype == bool:
        return values.astype(np.int8)
    if not np.isin(values, (0, 1)).all():
        raise TableError(f"{path}: column {LABEL_COLUMN!r} must be 0/1 or boolean")
    return values.astype(np.int8)


def read_table(path: Path, features: tuple[str, ...], extra: tuple[str, ...] = ()) -> TrainingTable:
    """Read ``features`` (+ ``extra`` columns such as the slice) with time and label."""
    files = data_files(path)
    wanted = list(dict.fromkeys((TIME_COLUMN, LABEL_COLUMN, *features, *extra)))
    parts = []
    for f in files:
        try:
            schema = pq.read_schema(f)
        except (OSError, pa.ArrowException) as exc:
            raise TableError(f"{f}: not a readable Parquet file: {exc}") from None
        missing = [c for c in wanted if c not in schema.names]
        if missing:
            raise TableError(f"{f}: training table lacks column(s) {', '.join(missing)} "
                             "(the step config and the build-features output disagree; recompile and rebuild features)")
        parts.append(pq.read_table(f, columns=wanted))
    table = pa.concat_tables(parts, promote_options="permissive") if len(parts) > 1 else parts[0]
    if table.num_rows == 0:
        raise TableError(f"{path}: the training table has no rows")
    times = _epoch_seconds(table.column(TIME_COLUMN), path)
    if not np.isfinite(times).all():
        raise TableError(f"{path}: column {TIME_COLUMN!r} has null or non-finite times")
    order = np.argsort(times, kind="stable")
    table = table.take(pa.array(order))
    return TrainingTable(times=times[order], columns=table.select([c for c in wanted if c not in (TIME_COLUMN, LABEL_COLUMN)]),
                         y=_labels(table.column(LABEL_COLUMN), path), source_hash=training_data_hash(files, path))


def fit_encoding(columns: pa.Table, features: tuple[str, ...]) -> FeatureEncoding:
    vocab = []
    for f in features:
        col = columns.column(f)
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type) or pa.types.is_dictionary(col.type):
            values = pc.unique(pc.cast(col, pa.string())).drop_null().to_pylist()
            vocab.append((f, tuple(sorted(values))))
        elif not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_boolean(col.type)):
            raise TableError(f"feature {f!r} has type {col.type}; expected a number, boolean or category string")
    return FeatureEncoding(features=features, vocabularies=tuple(vocab))


def encode(columns: pa.Table, encoding: FeatureEncoding) -> np.ndarray:
    """The float32-exact feature matrix (float64 dtype holding float32 values).

    Values are rounded to float32 first because ONNX tree ensembles compare in
    float32: training on the same values keeps native and ONNX routing equal.
    """
    out = np.empty((columns.num_rows, len(encoding.features)), dtype=np.float64)
    for j, f in enumerate(encoding.features):
        col = columns.column(f)
        vocab = encoding.vocabulary(f)
        if vocab is not None:
            codes = {v: float(i) for i, v in enumerate(vocab)}
            out[:, j] = [codes.get(v, math.nan) if v is not None else math.nan
                         for v in pc.cast(col, pa.string()).to_pylist()]
        else:
            out[:, j] = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
    return out.astype(np.float32).astype(np.float64)
