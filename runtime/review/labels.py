"""Reviewer decisions as training labels, in the labels source's own format.

One row per human decision (approve or override; a conservative default is
no human judgment and is not a label): the source's entity and timestamp
(the prediction time), its outcome column (the reviewer's verdict on
failure), its other string fields naming the review item, and the system
columns ``_event_id`` (``review:<prediction id>``, so a re-export never
duplicates a label) and ``_arrival_time`` = the decision time, so a
point-in-time join sees the label only from the moment a human gave it.

The file is written with a fixed row order and no timestamps of its own,
and its sha256 is the export's content hash: an override changes it, so the
next training run's data lineage (the hashes of the files it read) shows it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from runtime.contracts.steps import ReviewLabelsConfig
from runtime.events import ARRIVAL_TIME, EVENT_ID
from runtime.review.item import QueueItem

__all__ = ["LabelExport", "LabelExportError", "export_labels", "label_table"]

_TS = pa.timestamp("us", tz="UTC")
_ARROW = {"string": pa.string(), "category": pa.string(), "int": pa.int64(), "float": pa.float64(),
          "bool": pa.bool_(), "timestamp": _TS}


class LabelExportError(Exception):
    """The decisions cannot be written in the labels source's format; the message says which field."""


@dataclass(frozen=True, slots=True)
class LabelExport:
    path: str
    rows: int
    overrides: int
    sha256: str  # of the file: the export's content hash


def _us(iso: str) -> int:
    at = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    at = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
    return int(at.timestamp() * 1_000_000)


def _outcome(cfg: ReviewLabelsConfig, failed: bool) -> object:
    positive = cfg.positive_value
    if isinstance(positive, bool):
        return failed if positive else not failed
    if failed:
        return positive
    raise LabelExportError(f"labels source {cfg.source!r}: outcome {cfg.outcome!r} has positive value {positive!r} "
                           "and no known negative value; a reviewer's 'no failure' cannot be written "
                           "(use a bool outcome)")


def label_table(cfg: ReviewLabelsConfig, items: Iterable[QueueItem]) -> pa.Table:
    rows = [i for i in items if i.verdict in ("approve", "override") and i.outcome is not None]
    columns: dict[str, pa.Array] = {}
    for f in cfg.fields:
        kind = _ARROW[f.type]
        if f.name == cfg.entity:
            values: list[object] = [i.prediction.entity for i in rows]
        elif f.name == cfg.timestamp:
            values = [_us(i.prediction.at) for i in rows]
        elif f.name == cfg.outcome:
            values = [_outcome(cfg, bool(i.outcome)) for i in rows]
            kind = pa.bool_() if f.type == "bool" else kind
        elif f.type in ("string", "category"):
            values = [f"review:{i.id}" for i in rows]  # e.g. the ticket: the review item is the evidence
        elif f.nullable:
            values = [None] * len(rows)
        else:
            raise LabelExportError(f"labels source {cfg.source!r}: field {f.name!r} ({f.type}, not nullable) has no "
                                   "value in a review decision; make it nullable or a string")
        columns[f.name] = pa.array(values, type=kind)
    columns[EVENT_ID] = pa.array([f"review:{i.id}" for i in rows], type=pa.string())
    columns[ARRIVAL_TIME] = pa.array([i.decided_us for i in rows], type=_TS)
    return pa.table(columns)


def export_labels(cfg: ReviewLabelsConfig, items: Iterable[QueueItem], out: str | None = None) -> LabelExport:
    """Write every human decision to ``out`` (default: the config's output),
    atomically (a reader never sees half a file)."""
    items = list(items)
    table = label_table(cfg, items)
    path = Path(out or cfg.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp, compression="zstd", write_statistics=False)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    overrides = sum(1 for i in items if i.verdict == "override")
    return LabelExport(str(path), table.num_rows, overrides, digest)
