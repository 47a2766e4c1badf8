"""Which logged predictions have a known outcome, as of a point in time.

The label of a prediction made at ``t`` for an entity is the label training
uses (``runtime.features.training``): positive when the entity fails in
``(t, t + horizon]``, negative otherwise.  What is *known* at ``as_of``:

* a positive, from the moment the first of those failures' tickets is
  available (its ``_arrival_time``);
* a negative, only once ``t + horizon + availability_delay <= as_of`` (every
  failure in the horizon would have been reported by then);
* before either, a reviewer's decision on that very prediction (matched on
  entity and prediction time), from the moment it was made: an early label.
  A ticket-based label, once known, wins over a reviewer's verdict.

A label row whose availability is after ``as_of`` does not exist yet: it is
never used, not even to hold back a negative.  Pure numpy; the loader of the
labels source and the review export is ``label_events``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from runtime.events import ARRIVAL_TIME, EVENT_ID

__all__ = [
    "REVIEW_PREFIX",
    "SOURCES",
    "JoinedLabels",
    "LabelError",
    "LabelEvents",
    "ReviewLabels",
    "join_labels",
    "label_events",
]

REVIEW_PREFIX = "review:"  # _event_id of rows exported from reviewer decisions (runtime.review.labels)
SOURCES = ("none", "failure", "horizon", "review")  # JoinedLabels.source codes: why the label is what it is
_US = 1_000_000


class LabelError(Exception):
    """The labels cannot be joined; the message names the column or value."""


@dataclass(frozen=True)
class LabelEvents:
    """Failures (positive outcomes) and when each became known."""

    entity: pa.Array      # string
    event_us: np.ndarray  # int64, the failure time
    available_us: np.ndarray  # int64


@dataclass(frozen=True)
class ReviewLabels:
    """Reviewer verdicts on individual predictions."""

    entity: pa.Array      # string
    at_us: np.ndarray     # int64, the prediction time the verdict is about
    positive: np.ndarray  # bool
    available_us: np.ndarray  # int64, the decision time


@dataclass(frozen=True)
class JoinedLabels:
    label: np.ndarray     # int8: 1, 0, or -1 (not known as of as_of)
    known_us: np.ndarray  # int64: when the label became known (-1 when unknown)
    source: np.ndarray    # int8 index into SOURCES
    as_of_us: int

    @property
    def known(self) -> np.ndarray:
        return self.label >= 0


def _codes(values: pa.Array | pa.ChunkedArray, vocabulary: pa.Array) -> np.ndarray:
    idx = pc.index_in(pc.cast(values, pa.string()), value_set=vocabulary)
    return pc.fill_null(idx, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def join_labels(pred_entity: pa.Array | pa.ChunkedArray, pred_at_us: np.ndarray, failures: LabelEvents,
                reviews: ReviewLabels | None, *, horizon_s: float, availability_delay_s: float,
                as_of_us: int) -> JoinedLabels:
    t = np.asarray(pred_at_us, dtype=np.int64)
    n = t.size
    horizon, delay = int(round(horizon_s * _US)), int(round(availability_delay_s * _US))
    label = np.full(n, -1, dtype=np.int8)
    known = np.full(n, -1, dtype=np.int64)
    source = np.zeros(n, dtype=np.int8)

    # Positives: failures available by as_of in (t, t + horizon] of the same entity.
    visible = failures.available_us <= as_of_us
    f_entity = pc.filter(pc.cast(failures.entity, pa.string()), pa.array(visible))
    vocab = pc.unique(f_entity)
    if len(vocab) and n:
        f_code = _codes(f_entity, vocab)
        f_t, f_av = failures.event_us[visible].astype(np.int64), failures.available_us[visible].astype(np.int64)
        p_code = _codes(pred_entity, vocab)
        base = int(min(f_t.min(), t.min()))
        stride = int(max(f_t.max(), t.max() + horizon)) - base + 2
        if stride * (len(vocab) + 1) >= 2**62:
            raise LabelError(f"{len(vocab)} entities over {stride / _US / 86400:.0f} days do not fit one int64 "
                             "join key; monitor a shorter period")
        f_key = f_code * stride + (f_t - base)
        order = np.argsort(f_key, kind="stable")
        f_key, f_av = f_key[order], f_av[order]
        has = p_code >= 0
        p_key = np.where(has, p_code, 0) * stride + (t - base)
        lo = np.searchsorted(f_key, p_key, side="right")              # first failure after t
        hi = np.searchsorted(f_key, p_key + horizon, side="right")    # past t + horizon
        hi = np.where(has, hi, lo)
        first = np.full(n, np.iinfo(np.int64).max)
        width = hi - lo
        for k in range(int(width.max()) if width.size else 0):  # a handful: failures per entity per horizon
            m = width > k
            first[m] = np.minimum(first[m], f_av[lo[m] + k])
        pos = width > 0
        label[pos], known[pos], source[pos] = 1, first[pos], 1

    # Negatives: the horizon and the reporting delay have passed without a visible failure.
    neg = (label < 0) & (t + horizon + delay <= as_of_us)
    label[neg], known[neg], source[neg] = 0, t[neg] + horizon + delay, 2

    # Reviewer verdicts on still-unlabelled predictions.
    if reviews is not None and len(reviews.entity) and (label < 0).any():
        seen = reviews.available_us <= as_of_us
        r_entity = pc.filter(pc.cast(reviews.entity, pa.string()), pa.array(seen))
        rvocab = pc.unique(r_entity)
        if len(rvocab):
            r_code = _codes(r_entity, rvocab)
            r_t, r_av = reviews.at_us[seen].astype(np.int64), reviews.available_us[seen].astype(np.int64)
            r_pos = reviews.positive[seen].astype(bool)
            p_code = _codes(pred_entity, rvocab)
            base = int(min(r_t.min(), t.min()))
            stride = int(max(r_t.max(), t.max())) - base + 2
            r_key = r_code * stride + (r_t - base)
            order = np.lexsort((r_av, r_key))  # per prediction, the earliest decision first
            r_key, r_av, r_pos = r_key[order], r_av[order], r_pos[order]
            p_key = np.where(p_code >= 0, p_code, 0) * stride + (t - base)
            i = np.searchsorted(r_key, p_key, side="left")
            ic = np.minimum(i, r_key.size - 1)
            hit = (label < 0) & (p_code >= 0) & (r_key[ic] == p_key)
            label[hit], known[hit], source[hit] = r_pos[ic[hit]].astype(np.int8), r_av[ic[hit]], 3
    return JoinedLabels(label=label, known_us=known, source=source, as_of_us=int(as_of_us))


def _us(col: pa.ChunkedArray | pa.Array, what: str) -> np.ndarray:
    if pa.types.is_timestamp(col.type):
        return pc.cast(pc.cast(col, pa.timestamp("us", tz=col.type.tz)), pa.int64()).to_numpy(zero_copy_only=False)
    if pa.types.is_integer(col.type):
        return pc.cast(col, pa.int64()).to_numpy(zero_copy_only=False)
    raise LabelError(f"column {what!r} has type {col.type}; expected a timestamp")


def _is_positive(col: pa.ChunkedArray, positive_value: object) -> np.ndarray:
    if isinstance(positive_value, bool):
        if not pa.types.is_boolean(col.type):
            raise LabelError(f"the outcome column has type {col.type}; the positive value {positive_value!r} "
                             "needs a boolean column")
        values = pc.fill_null(col, not positive_value).to_numpy(zero_copy_only=False)
        return values if positive_value else ~values
    return pc.fill_null(pc.equal(col, pa.scalar(positive_value).cast(col.type)), False).to_numpy(zero_copy_only=False)


def label_events(table: pa.Table, *, entity: str, timestamp: str, outcome: str, positive_value: object,
                 availability_delay_s: float) -> tuple[LabelEvents, ReviewLabels]:
    """Split a labels source table (tickets and the review export, same
    format) into failures and reviewer verdicts.

    Availability is ``_arrival_time`` when the row has one, else its
    timestamp plus the declared availability delay (as training does)."""
    for c in (entity, timestamp, outcome):
        if c not in table.column_names:
            raise LabelError(f"the labels table has no column {c!r} (columns: {', '.join(table.column_names)})")
    ts = _us(table.column(timestamp), timestamp)
    if (ts < 0).any() or table.column(timestamp).null_count:
        raise LabelError(f"column {timestamp!r} has null or negative times; fix the labels source")
    delay = int(round(availability_delay_s * _US))
    if ARRIVAL_TIME in table.column_names:
        arr = table.column(ARRIVAL_TIME)
        valid = pc.is_valid(arr).to_numpy(zero_copy_only=False)
        raw = pc.cast(pc.cast(arr, pa.timestamp("us", tz="UTC")) if pa.types.is_timestamp(arr.type) else arr, pa.int64())
        av = np.where(valid, pc.fill_null(raw, 0).to_numpy(zero_copy_only=False), ts + delay)
    else:
        av = ts + delay
    positive = _is_positive(table.column(outcome), positive_value)
    if EVENT_ID in table.column_names:
        review = pc.fill_null(pc.starts_with(pc.cast(table.column(EVENT_ID), pa.string()), REVIEW_PREFIX), False) \
            .to_numpy(zero_copy_only=False)
    else:
        review = np.zeros(table.num_rows, dtype=bool)
    ent = pc.cast(table.column(entity), pa.string()).combine_chunks()
    fail = ~review & positive
    failures = LabelEvents(entity=ent.filter(pa.array(fail)), event_us=ts[fail], available_us=av[fail])
    reviews = ReviewLabels(entity=ent.filter(pa.array(review)), at_us=ts[review], positive=positive[review],
                           available_us=av[review])
    return failures, reviews
