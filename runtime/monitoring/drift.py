"""Per-feature and prediction drift against the training reference, by window.

Numeric features: PSI over the reference's quantile bins and the two-sample
Kolmogorov-Smirnov test against the reference sample.  Categorical
features: PSI over the categories and a chi-square test of homogeneity
(reference counts vs window counts).  The score: PSI (prediction drift).

Many features tested every window would raise false alarms, so a feature
counts as *drifted* only when (1) its p-value survives the multiple-testing
correction across the window's features, (2) its PSI reaches ``psi_warning``
(with large windows every tiny shift is "significant"; PSI is the effect
size), and (3) both held in ``persistence`` consecutive windows.

Streaming and bounded: a window is summarised by counts (per numeric
feature one integer per reference-sample rank, per categorical feature one
per category), so a log of any length is read in chunks and only the counts
of open windows are held.  One ``searchsorted`` per feature and chunk gives
both the KS statistic and the PSI bins (the bin edges are sample values);
an equal-width cell index answers most ranks without the binary search.
The KS statistic is exact for values without ties at sample points; its
p-value is the limiting Kolmogorov distribution at ``D * sqrt(n m / (n + m))``.
KS ignores nulls, so when either side has nulls a chi-square test of the
null rate joins it (the feature's p-value is the smaller, doubled).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import special, stats

from runtime.contracts.steps import MonitorConfig
from runtime.monitoring.psi import EPSILON, psi_of_shares
from runtime.monitoring.reference import CategoricalReference, NumericReference, ReferenceProfile

__all__ = [
    "DEFAULT_WORKERS",
    "MIN_WINDOW_ROWS",
    "PSI_EPSILON",
    "DriftError",
    "DriftReport",
    "DriftThresholds",
    "FeatureDrift",
    "WindowCounts",
    "WindowDrift",
    "adjust_p_values",
    "count_chunk",
    "drift_by_window",
    "evaluate_windows",
    "merge_counts",
    "psi",
]

# Bins empty on one side get this share, so PSI stays finite (the usual convention).
PSI_EPSILON = EPSILON
# Below this many rows a window's tests are not run (the feature is "no_data", never "ok").
MIN_WINDOW_ROWS = 50
_US = 1_000_000
# Threads counting features of a chunk (the counts, hence the report, do not depend on it).
DEFAULT_WORKERS = min(4, os.cpu_count() or 1)

Level = Literal["ok", "warning", "alert", "no_data"]


class DriftError(Exception):
    """The log and the reference profile do not fit together; the message says which column."""


@dataclass(frozen=True, slots=True)
class DriftThresholds:
    psi_warning: float
    psi_alert: float
    p_value: float
    correction: Literal["bonferroni", "benjamini_hochberg", "none"]
    persistence: int

    @classmethod
    def from_config(cls, cfg: MonitorConfig) -> DriftThresholds:
        return cls(cfg.psi_warning, cfg.psi_alert, cfg.p_value, cfg.correction, cfg.persistence)


@dataclass(frozen=True)
class WindowCounts:
    """What one window of the log looks like, as counts (mergeable across chunks)."""

    start_us: int
    rows: int
    # numeric feature -> counts per reference-sample rank (len(sample) + 1), nulls excluded
    ranks: Mapping[str, np.ndarray]
    # categorical feature -> category -> count
    categories: Mapping[str, Mapping[str, int]]
    nulls: Mapping[str, int]
    score_ranks: np.ndarray | None = None


@dataclass(frozen=True, slots=True)
class FeatureDrift:
    feature: str
    test: Literal["ks", "chi2"]
    rows: int                  # non-null values in the window
    null_fraction: float
    psi: float | None
    statistic: float | None    # KS D or chi-square
    p_value: float | None
    p_adjusted: float | None   # after the correction across the window's features
    flagged: bool              # significant after correction and PSI >= psi_warning, in this window
    level: Level
    streak: int                # consecutive windows flagged, this one included
    drifted: bool              # streak >= persistence


@dataclass(frozen=True, slots=True)
class WindowDrift:
    start_us: int
    end_us: int
    rows: int
    features: tuple[FeatureDrift, ...]
    drifted: tuple[str, ...]
    drifted_share: float | None          # the feature_drift_share objective; None: no feature had data
    prediction_psi: float | None         # the prediction_drift_psi objective
    prediction_level: Level


@dataclass(frozen=True, slots=True)
class DriftReport:
    thresholds: DriftThresholds
    window_s: float
    windows: tuple[WindowDrift, ...] = field(default_factory=tuple)


def psi(actual: np.ndarray, expected: np.ndarray) -> float:
    """Population stability index of two distributions over the same bins
    (``runtime.monitoring.psi``'s formula, shared with canary analysis)."""
    return psi_of_shares(expected, actual)


def adjust_p_values(p: np.ndarray, correction: str) -> np.ndarray:
    """Bonferroni, Benjamini-Hochberg (step-up adjusted p-values) or none."""
    p = np.asarray(p, dtype=np.float64)
    m = p.size
    if m == 0 or correction == "none":
        return p.copy()
    if correction == "bonferroni":
        return np.minimum(p * m, 1.0)
    if correction == "benjamini_hochberg":
        order = np.argsort(p, kind="stable")
        scaled = p[order] * m / np.arange(1, m + 1)
        adjusted = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
        out = np.empty(m)
        out[order] = adjusted
        return out
    raise DriftError(f"unknown correction {correction!r}; use bonferroni, benjamini_hochberg or none")


# ---- counting (the streaming part)

def _feature_column(batch: pa.RecordBatch | pa.Table, name: str) -> pa.Array | pa.ChunkedArray:
    if "features" in batch.schema.names:
        col = batch.column("features")
        struct_type = col.type
        if struct_type.get_field_index(name) < 0:
            raise DriftError(f"the log's features struct has no field {name!r} (the reference has it); "
                             "was this log written by a different model version?")
        return pc.struct_field(col, name)
    if name not in batch.schema.names:
        raise DriftError(f"the log has no column {name!r} and no features struct; expected the prediction log layout")
    return batch.column(name)


# Cells of the rank lookup per reference-sample value (see _RankIndex).
_CELLS_PER_SAMPLE = 16
# The served score comes from the ONNX graph, the reference's from LightGBM: they agree to
# the export's parity (~1e-9 absolute, a few float32 steps of the margin: 2.4e-6 relative
# measured).  A calibrated model's scores tie on plateaus, so a bin edge can sit on a value
# that holds most of the reference (92 % of one profile's sample); a served score a hair
# below it must land in the edge's bin, not the one below (it moved the PSI from ~0 to 8).
SCORE_TIE_RELATIVE = 1e-5


@dataclass(frozen=True)
class _RankIndex:
    """``rank(x) = #{sample <= x}`` without a binary search for most ``x``.

    The sample's range is cut into equal cells; ``cell(v) = floor((v - lo) *
    scale)`` is monotone in ``v`` (IEEE subtraction and multiplication by a
    positive constant are), so for an ``x`` whose cell holds no sample value
    the rank is exactly the number of sample values in lower cells.  Only
    values landing in an occupied cell (a few percent with 16 cells per
    sample value) fall back to ``searchsorted``: ~4x less CPU than a binary
    search of every value, same result.
    """

    sample: np.ndarray
    lo: float
    scale: float
    top: int                 # cells are clipped to [-1, top]; no sample value is in cell -1 or top
    base: np.ndarray         # base[c + 1]: sample values in cells < c
    occupied: np.ndarray     # occupied[c + 1]

    @classmethod
    def build(cls, sample: np.ndarray) -> _RankIndex:
        lo, hi = float(sample[0]), float(sample[-1])
        cells = max(1, _CELLS_PER_SAMPLE * sample.size)
        scale = cells / (hi - lo) if hi > lo else 1.0
        s_cell = np.floor((sample - lo) * scale).astype(np.int64)
        top = int(s_cell.max()) + 1
        counts = np.bincount(s_cell + 1, minlength=top + 2)
        base = np.concatenate(([0], np.cumsum(counts)[:-1]))
        return cls(sample, lo, scale, top, base, counts > 0)

    def ranks(self, values: np.ndarray) -> np.ndarray:
        cell = np.clip(np.floor((values - self.lo) * self.scale), -1, self.top).astype(np.int64) + 1
        out = self.base[cell]
        slow = self.occupied[cell]
        if slow.any():
            out[slow] = np.searchsorted(self.sample, values[slow], side="right")
        return out


@dataclass(frozen=True)
class _Prepared:
    """Reference arrays as numpy, computed once per profile."""

    samples: Mapping[str, _RankIndex]
    score_sample: _RankIndex | None


def _prepare(profile: ReferenceProfile) -> _Prepared:
    samples = {f.name: _RankIndex.build(np.asarray(f.sample)) for f in profile.features
               if isinstance(f, NumericReference)}
    score = _RankIndex.build(np.asarray(profile.score.sample)) if profile.score is not None else None
    return _Prepared(samples, score)


@dataclass(frozen=True)
class _NumericArrays:
    sample: np.ndarray
    bins_of_rank: np.ndarray
    fractions: np.ndarray
    valid_rank: np.ndarray  # ranks a value can take (not inside a tie group of the sample)


def _numeric_arrays(ref: NumericReference) -> _NumericArrays:
    sample = np.asarray(ref.sample)
    n = sample.size
    valid = np.ones(n + 1, dtype=bool)
    valid[1:n] = sample[:-1] != sample[1:]
    return _NumericArrays(sample, _bins_of_rank(ref), np.asarray(ref.fractions), valid)


def _numeric_values(col: pa.Array | pa.ChunkedArray, name: str) -> np.ndarray:
    if not (pa.types.is_floating(col.type) or pa.types.is_integer(col.type) or pa.types.is_boolean(col.type)):
        raise DriftError(f"feature {name!r} is {col.type} in the log but numeric in the reference")
    if not pa.types.is_float64(col.type):
        col = pc.cast(col, pa.float64())
    return col.to_numpy(zero_copy_only=False)  # nulls become NaN


def _ranks_by_window(index: _RankIndex, values: np.ndarray, local: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(k x len(sample)+1 rank counts, k null counts) of one chunk in one pass."""
    n1 = index.sample.size + 1
    nan = np.isnan(values)
    if nan.any():
        keep = ~nan
        ranks = index.ranks(values[keep])
        counts = np.bincount(local[keep] * n1 + ranks, minlength=k * n1)
        return counts.reshape(k, n1), np.bincount(local[nan], minlength=k)
    ranks = index.ranks(values)
    return np.bincount(local * n1 + ranks, minlength=k * n1).reshape(k, n1), np.zeros(k, dtype=np.int64)


def _categories_by_window(col: pa.Array | pa.ChunkedArray, local: np.ndarray,
                          k: int) -> tuple[list[dict[str, int]], np.ndarray]:
    enc = pc.dictionary_encode(pc.cast(col, pa.string()))
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    vocab = enc.dictionary.to_pylist()
    d1 = len(vocab) + 1
    idx = pc.fill_null(enc.indices, len(vocab)).to_numpy(zero_copy_only=False).astype(np.int64)
    counts = np.bincount(local * d1 + idx, minlength=k * d1).reshape(k, d1)
    per = [{v: int(c) for v, c in zip(vocab, row[:-1].tolist(), strict=True) if c} for row in counts]
    return per, counts[:, -1]


def count_chunk(profile: ReferenceProfile, batch: pa.RecordBatch | pa.Table, window: np.ndarray, window_us: int,
                *, prepared: _Prepared | None = None, pool: ThreadPoolExecutor | None = None) -> list[WindowCounts]:
    """Counts of one chunk of answered predictions, per window; ``window``
    is each row's window index (non-decreasing)."""
    prep = prepared or _prepare(profile)
    cuts = np.flatnonzero(window[1:] != window[:-1]) + 1
    firsts = window[np.concatenate(([0], cuts))]
    k = int(firsts.size)
    local = np.zeros(window.size, dtype=np.int64)
    local[cuts] = 1
    local = np.cumsum(local)
    rows = np.bincount(local, minlength=k)
    numeric = [f for f in profile.features if isinstance(f, NumericReference)]
    columns = {f.name: _feature_column(batch, f.name) for f in profile.features}

    def one(ref: NumericReference) -> tuple[np.ndarray, np.ndarray]:
        return _ranks_by_window(prep.samples[ref.name], _numeric_values(columns[ref.name], ref.name), local, k)

    # numpy releases the GIL in these loops: features are counted in parallel when a pool is given.
    done = dict(zip((f.name for f in numeric), pool.map(one, numeric) if pool else map(one, numeric), strict=True))
    cats = {f.name: _categories_by_window(columns[f.name], local, k) for f in profile.features
            if isinstance(f, CategoricalReference)}
    score = None
    if profile.score is not None and prep.score_sample is not None and "score" in batch.schema.names:
        served = _numeric_values(batch.column("score"), "score")
        score = _ranks_by_window(prep.score_sample, served + np.abs(served) * SCORE_TIE_RELATIVE, local, k)[0]
    out = []
    for j in range(k):
        out.append(WindowCounts(
            start_us=int(firsts[j]) * window_us, rows=int(rows[j]),
            ranks={name: r[j] for name, (r, _) in done.items()},
            categories={name: c[j] for name, (c, _) in cats.items()},
            nulls={**{name: int(nl[j]) for name, (_, nl) in done.items()},
                   **{name: int(nl[j]) for name, (_, nl) in cats.items()}},
            score_ranks=None if score is None else score[j]))
    return out


def merge_counts(a: WindowCounts, b: WindowCounts) -> WindowCounts:
    if a.start_us != b.start_us:
        raise DriftError(f"cannot merge counts of different windows ({a.start_us} and {b.start_us})")
    cats = {k: {c: a.categories[k].get(c, 0) + b.categories[k].get(c, 0)
                for c in sorted(set(a.categories[k]) | set(b.categories[k]))} for k in a.categories}
    score = None if a.score_ranks is None or b.score_ranks is None else a.score_ranks + b.score_ranks
    return WindowCounts(start_us=a.start_us, rows=a.rows + b.rows, ranks={k: v + b.ranks[k] for k, v in a.ranks.items()},
                        categories=cats, nulls={k: v + b.nulls[k] for k, v in a.nulls.items()}, score_ranks=score)


# ---- statistics (pure, over counts)

def _bins_of_rank(ref: NumericReference) -> np.ndarray:
    # Rank k (k sample values <= x) falls in bin #{edges <= x} = #{j : position_j < k}.
    return np.searchsorted(np.asarray(ref.edge_positions), np.arange(len(ref.sample) + 1), side="left")


def _numeric_psi(ref: NumericReference, arrays: _NumericArrays, counts: np.ndarray, nulls: int) -> float:
    m = int(counts.sum())
    binned = np.bincount(arrays.bins_of_rank, weights=counts, minlength=arrays.fractions.size)
    win_null = nulls / (m + nulls)
    actual = binned / m * (1 - win_null)
    expected = arrays.fractions * (1 - ref.null_fraction)
    if win_null or ref.null_fraction:
        actual, expected = np.append(actual, win_null), np.append(expected, ref.null_fraction)
    return psi(actual, expected)


def _ks(arrays: _NumericArrays, counts: np.ndarray) -> tuple[float, float]:
    n, m = arrays.sample.size, int(counts.sum())
    # On the interval of rank k the reference ECDF is k/n and the window's runs
    # from cum[k-1]/m to cum[k]/m; ranks inside a tie group are never taken.
    valid = arrays.valid_rank
    cum = np.cumsum(counts) / m
    prev = np.concatenate(([0.0], cum[:-1]))
    f_ref = np.arange(n + 1) / n
    d = float(max(np.abs(f_ref - cum)[valid].max(), np.abs(f_ref - prev)[valid].max()))
    # The limiting Kolmogorov distribution (scipy's kstwo.sf costs ~1 ms a call;
    # with n = 2000 reference values and windows of hundreds of rows the two agree
    # to a few percent, and the decision threshold is far out in the tail).
    return d, float(special.kolmogorov(d * math.sqrt(n * m / (n + m))))


def _categorical(ref: CategoricalReference, counts: Mapping[str, int], nulls: int) -> tuple[float, float, float]:
    cats = sorted(set(ref.categories) | set(counts))
    ref_frac = dict(zip(ref.categories, ref.fractions, strict=True))
    ref_n = ref.rows * (1 - ref.null_fraction)
    e_counts = np.array([ref_frac.get(c, 0.0) * ref_n for c in cats])
    w_counts = np.array([counts.get(c, 0) for c in cats], dtype=np.float64)
    m = w_counts.sum()
    win_null = nulls / (m + nulls)
    actual, expected = w_counts / m * (1 - win_null), e_counts / ref_n * (1 - ref.null_fraction)
    if win_null or ref.null_fraction:
        actual, expected = np.append(actual, win_null), np.append(expected, ref.null_fraction)
    value = psi(actual, expected)
    table = np.vstack([e_counts, w_counts])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return value, 0.0, 1.0
    expect = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    chi2 = float(((table - expect) ** 2 / expect).sum())
    return value, chi2, float(stats.chi2.sf(chi2, table.shape[1] - 1))


def _null_rate_p(ref_rows: int, ref_null_fraction: float, present: int, nulls: int) -> float:
    ref_null = ref_rows * ref_null_fraction
    table = np.array([[ref_rows - ref_null, ref_null], [present, nulls]], dtype=np.float64)
    expect = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    if (expect == 0).any():
        return 1.0
    return float(stats.chi2.sf(((table - expect) ** 2 / expect).sum(), 1))


@dataclass(frozen=True, slots=True)
class _Raw:
    feature: str
    test: Literal["ks", "chi2"]
    rows: int
    null_fraction: float
    psi: float | None
    statistic: float | None
    p_value: float | None


def _null_only(name: str, test: Literal["ks", "chi2"], ref: NumericReference | CategoricalReference, m: int,
               nulls: int, min_rows: int) -> _Raw:
    """Too few values to compare: still enough rows to see a feature gone missing?"""
    rows = m + nulls
    null_fraction = nulls / rows if rows else 0.0
    if rows < min_rows:
        return _Raw(name, test, m, null_fraction, None, None, None)
    value = psi(np.array([1 - null_fraction, null_fraction]), np.array([1 - ref.null_fraction, ref.null_fraction]))
    return _Raw(name, test, m, null_fraction, value, None, _null_rate_p(ref.rows, ref.null_fraction, m, nulls))


def _raw(profile: ReferenceProfile, arrays: Mapping[str, _NumericArrays], counts: WindowCounts,
         min_rows: int) -> list[_Raw]:
    out = []
    for ref in profile.features:
        nulls = counts.nulls[ref.name]
        if isinstance(ref, NumericReference):
            c = counts.ranks[ref.name]
            m = int(c.sum())
            null_fraction = nulls / (m + nulls) if m + nulls else 0.0
            if m < min_rows:
                out.append(_null_only(ref.name, "ks", ref, m, nulls, min_rows))
                continue
            d, p = _ks(arrays[ref.name], c)
            if nulls or ref.null_fraction:
                # KS sees only values; a change of the null rate is tested on its own
                # (the smaller p-value, doubled: Bonferroni over the two tests).
                p = min(1.0, 2 * min(p, _null_rate_p(ref.rows, ref.null_fraction, m, nulls)))
            out.append(_Raw(ref.name, "ks", m, null_fraction, _numeric_psi(ref, arrays[ref.name], c, nulls), d, p))
        else:
            cc = counts.categories[ref.name]
            m = sum(cc.values())
            null_fraction = nulls / (m + nulls) if m + nulls else 0.0
            if m < min_rows:
                out.append(_null_only(ref.name, "chi2", ref, m, nulls, min_rows))
                continue
            value, chi2, p = _categorical(ref, cc, nulls)
            out.append(_Raw(ref.name, "chi2", m, null_fraction, value, chi2, p))
    return out


def _level(value: float | None, flagged: bool, th: DriftThresholds) -> Level:
    if value is None:
        return "no_data"
    if not flagged:
        return "ok"
    return "alert" if value >= th.psi_alert else "warning"


def evaluate_windows(profile: ReferenceProfile, windows: Iterable[WindowCounts], window_s: float,
                     thresholds: DriftThresholds, *, min_rows: int = MIN_WINDOW_ROWS) -> DriftReport:
    """Statistics, correction and persistence over windows (in time order;
    a window with no rows between two others breaks every streak)."""
    window_us = int(round(window_s * _US))
    arrays = {f.name: _numeric_arrays(f) for f in profile.features if isinstance(f, NumericReference)}
    score_arrays = _numeric_arrays(profile.score) if profile.score is not None else None
    streak: dict[str, int] = {}
    last_start: int | None = None
    results = []
    for counts in sorted(windows, key=lambda w: w.start_us):
        if last_start is not None and counts.start_us != last_start + window_us:
            streak = {}
        last_start = counts.start_us
        raw = _raw(profile, arrays, counts, min_rows)
        tested = [i for i, r in enumerate(raw) if r.p_value is not None]
        adjusted = dict(zip(tested, adjust_p_values(np.array([raw[i].p_value for i in tested]), thresholds.correction)
                            .tolist(), strict=True))
        feats = []
        for i, r in enumerate(raw):
            p_adj = adjusted.get(i)
            flagged = p_adj is not None and r.psi is not None and p_adj < thresholds.p_value \
                and r.psi >= thresholds.psi_warning
            streak[r.feature] = streak.get(r.feature, 0) + 1 if flagged else 0
            feats.append(FeatureDrift(feature=r.feature, test=r.test, rows=r.rows, null_fraction=r.null_fraction,
                                      psi=r.psi, statistic=r.statistic, p_value=r.p_value, p_adjusted=p_adj,
                                      flagged=flagged, level=_level(r.psi, flagged, thresholds),
                                      streak=streak[r.feature], drifted=streak[r.feature] >= thresholds.persistence))
        drifted = tuple(f.feature for f in feats if f.drifted)
        score_psi = None
        if profile.score is not None and score_arrays is not None and counts.score_ranks is not None \
                and counts.score_ranks.sum() >= min_rows:
            score_psi = _numeric_psi(profile.score, score_arrays, counts.score_ranks, 0)
        score_level: Level = "no_data" if score_psi is None else (
            "alert" if score_psi >= thresholds.psi_alert else "warning" if score_psi >= thresholds.psi_warning else "ok")
        results.append(WindowDrift(start_us=counts.start_us, end_us=counts.start_us + window_us, rows=counts.rows,
                                   features=tuple(feats), drifted=drifted,
                                   drifted_share=len(drifted) / len(tested) if tested else None,
                                   prediction_psi=score_psi, prediction_level=score_level))
    return DriftReport(thresholds=thresholds, window_s=window_s, windows=tuple(results))


def drift_by_window(profile: ReferenceProfile, batches: Iterable[pa.RecordBatch | pa.Table], *, window_s: float,
                    thresholds: DriftThresholds, time_column: str = "served_at_us",
                    min_rows: int = MIN_WINDOW_ROWS, workers: int = DEFAULT_WORKERS) -> DriftReport:
    """Drift of a prediction log read in chunks (any order of chunks).

    Windows are aligned to the epoch (``floor(time / window)``); failed
    requests (null score) are not predictions and are skipped.  Memory: the
    counts of each window seen, never the rows."""
    if not math.isfinite(window_s) or window_s <= 0:
        raise DriftError(f"window_s must be a positive number of seconds, got {window_s!r}")
    window_us = int(round(window_s * _US))
    prep = _prepare(profile)
    acc: dict[int, WindowCounts] = {}
    with ThreadPoolExecutor(max_workers=workers) if workers > 1 else nullcontext() as pool:
        _count_all(profile, batches, time_column, window_us, prep, pool, acc)
    return evaluate_windows(profile, acc.values(), window_s, thresholds, min_rows=min_rows)


def _count_all(profile: ReferenceProfile, batches: Iterable[pa.RecordBatch | pa.Table], time_column: str,
               window_us: int, prep: _Prepared, pool: ThreadPoolExecutor | None, acc: dict[int, WindowCounts]) -> None:
    for batch in batches:
        if time_column not in batch.schema.names:
            raise DriftError(f"the log has no {time_column!r} column; expected the prediction log layout (LOG_COLUMNS)")
        if "score" in batch.schema.names and batch.column("score").null_count:
            batch = batch.filter(pc.is_valid(batch.column("score")))
        if batch.num_rows == 0:
            continue
        t = pc.cast(batch.column(time_column), pa.int64()).to_numpy(zero_copy_only=False)
        wid = t // window_us
        if wid.size > 1 and (wid[1:] < wid[:-1]).any():  # out of time order: sort once
            order = np.argsort(wid, kind="stable")
            batch, wid = batch.take(pa.array(order)), wid[order]
        for c in count_chunk(profile, batch, wid, window_us, prepared=prep, pool=pool):
            w = c.start_us
            acc[w] = merge_counts(acc[w], c) if w in acc else c
