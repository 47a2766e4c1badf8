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
both the KS statistic and the PSI bins (the bin edges are sample values).
The KS statistic is exact for values without ties at sample points; its
p-value is scipy's asymptotic two-sample one (``ks_2samp(method="asymp")``).
KS ignores nulls, so when either side has nulls a chi-square test of the
null rate joins it (the feature's p-value is the smaller, doubled).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import stats

from runtime.contracts.steps import MonitorConfig
from runtime.monitoring.reference import CategoricalReference, NumericReference, ReferenceProfile

__all__ = [
    "MIN_WINDOW_ROWS",
    "PSI_EPSILON",
    "DriftError",
    "DriftReport",
    "DriftThresholds",
    "FeatureDrift",
    "WindowCounts",
    "WindowDrift",
    "adjust_p_values",
    "count_window",
    "drift_by_window",
    "evaluate_windows",
    "merge_counts",
    "psi",
]

# Bins empty on one side get this share, so PSI stays finite (the usual convention).
PSI_EPSILON = 1e-4
# Below this many rows a window's tests are not run (the feature is "no_data", never "ok").
MIN_WINDOW_ROWS = 50
_US = 1_000_000

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
    """Population stability index of two distributions over the same bins."""
    a = np.maximum(np.asarray(actual, dtype=np.float64), PSI_EPSILON)
    e = np.maximum(np.asarray(expected, dtype=np.float64), PSI_EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


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

def _rank_counts(ref: NumericReference, sample: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, int]:
    nan = np.isnan(values)
    nulls = int(nan.sum())
    ranks = np.searchsorted(sample, values[~nan] if nulls else values, side="right")
    return np.bincount(ranks, minlength=len(ref.sample) + 1), nulls


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


@dataclass(frozen=True)
class _Prepared:
    """Reference arrays as numpy, computed once per profile."""

    samples: Mapping[str, np.ndarray]
    score_sample: np.ndarray | None


def _prepare(profile: ReferenceProfile) -> _Prepared:
    samples = {f.name: np.asarray(f.sample) for f in profile.features if isinstance(f, NumericReference)}
    score = np.asarray(profile.score.sample) if profile.score is not None else None
    return _Prepared(samples, score)


def count_window(profile: ReferenceProfile, batch: pa.RecordBatch | pa.Table, start_us: int,
                 *, prepared: _Prepared | None = None) -> WindowCounts:
    """Counts of one chunk of answered predictions that all fall in the window starting at ``start_us``."""
    prep = prepared or _prepare(profile)
    ranks: dict[str, np.ndarray] = {}
    cats: dict[str, dict[str, int]] = {}
    nulls: dict[str, int] = {}
    for ref in profile.features:
        col = _feature_column(batch, ref.name)
        if isinstance(ref, NumericReference):
            if not (pa.types.is_floating(col.type) or pa.types.is_integer(col.type) or pa.types.is_boolean(col.type)):
                raise DriftError(f"feature {ref.name!r} is {col.type} in the log but numeric in the reference")
            values = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False) if not pa.types.is_float64(col.type) \
                else col.to_numpy(zero_copy_only=False)
            ranks[ref.name], nulls[ref.name] = _rank_counts(ref, prep.samples[ref.name], values)
        else:
            vc = pc.value_counts(pc.cast(col, pa.string()))
            counts: dict[str, int] = {}
            n_null = 0
            for v, c in zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True):
                if v is None:
                    n_null = int(c)
                else:
                    counts[v] = int(c)
            cats[ref.name], nulls[ref.name] = counts, n_null
    score_ranks = None
    if profile.score is not None and prep.score_sample is not None and "score" in batch.schema.names:
        s = pc.cast(batch.column("score"), pa.float64()).to_numpy(zero_copy_only=False)
        score_ranks, _ = _rank_counts(profile.score, prep.score_sample, s)
    return WindowCounts(start_us=start_us, rows=batch.num_rows, ranks=ranks, categories=cats, nulls=nulls,
                        score_ranks=score_ranks)


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


def _numeric_psi(ref: NumericReference, counts: np.ndarray, nulls: int) -> float:
    m = int(counts.sum())
    binned = np.bincount(_bins_of_rank(ref), weights=counts, minlength=len(ref.fractions))
    win_null = nulls / (m + nulls)
    actual = binned / m * (1 - win_null)
    expected = np.asarray(ref.fractions) * (1 - ref.null_fraction)
    if win_null or ref.null_fraction:
        actual, expected = np.append(actual, win_null), np.append(expected, ref.null_fraction)
    return psi(actual, expected)


def _ks(ref: NumericReference, counts: np.ndarray) -> tuple[float, float]:
    sample = np.asarray(ref.sample)
    n, m = sample.size, int(counts.sum())
    # On the interval of rank k the reference ECDF is k/n and the window's runs
    # from cum[k-1]/m to cum[k]/m; ranks inside a tie group are never taken.
    valid = np.ones(n + 1, dtype=bool)
    valid[1:n] = sample[:-1] != sample[1:]
    cum = np.cumsum(counts) / m
    prev = np.concatenate(([0.0], cum[:-1]))
    f_ref = np.arange(n + 1) / n
    d = float(max(np.abs(f_ref - cum)[valid].max(), np.abs(f_ref - prev)[valid].max()))
    en = n * m / (n + m)
    return d, float(stats.kstwo.sf(d, np.round(en)))


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


def _raw(profile: ReferenceProfile, counts: WindowCounts, min_rows: int) -> list[_Raw]:
    out = []
    for ref in profile.features:
        nulls = counts.nulls[ref.name]
        if isinstance(ref, NumericReference):
            c = counts.ranks[ref.name]
            m = int(c.sum())
            null_fraction = nulls / (m + nulls) if m + nulls else 0.0
            if m < min_rows:
                out.append(_Raw(ref.name, "ks", m, null_fraction, None, None, None))
                continue
            d, p = _ks(ref, c)
            if nulls or ref.null_fraction:
                # KS sees only values; a change of the null rate is tested on its own
                # (the smaller p-value, doubled: Bonferroni over the two tests).
                p = min(1.0, 2 * min(p, _null_rate_p(ref.rows, ref.null_fraction, m, nulls)))
            out.append(_Raw(ref.name, "ks", m, null_fraction, _numeric_psi(ref, c, nulls), d, p))
        else:
            cc = counts.categories[ref.name]
            m = sum(cc.values())
            null_fraction = nulls / (m + nulls) if m + nulls else 0.0
            if m < min_rows:
                out.append(_Raw(ref.name, "chi2", m, null_fraction, None, None, None))
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
    streak: dict[str, int] = {}
    last_start: int | None = None
    results = []
    for counts in sorted(windows, key=lambda w: w.start_us):
        if last_start is not None and counts.start_us != last_start + window_us:
            streak = {}
        last_start = counts.start_us
        raw = _raw(profile, counts, min_rows)
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
        if profile.score is not None and counts.score_ranks is not None and counts.score_ranks.sum() >= min_rows:
            score_psi = _numeric_psi(profile.score, counts.score_ranks, 0)
        score_level: Level = "no_data" if score_psi is None else (
            "alert" if score_psi >= thresholds.psi_alert else "warning" if score_psi >= thresholds.psi_warning else "ok")
        results.append(WindowDrift(start_us=counts.start_us, end_us=counts.start_us + window_us, rows=counts.rows,
                                   features=tuple(feats), drifted=drifted,
                                   drifted_share=len(drifted) / len(tested) if tested else None,
                                   prediction_psi=score_psi, prediction_level=score_level))
    return DriftReport(thresholds=thresholds, window_s=window_s, windows=tuple(results))


def drift_by_window(profile: ReferenceProfile, batches: Iterable[pa.RecordBatch | pa.Table], *, window_s: float,
                    thresholds: DriftThresholds, time_column: str = "served_at_us",
                    min_rows: int = MIN_WINDOW_ROWS) -> DriftReport:
    """Drift of a prediction log read in chunks (any order of chunks).

    Windows are aligned to the epoch (``floor(time / window)``); failed
    requests (null score) are not predictions and are skipped.  Memory: the
    counts of each window seen, never the rows."""
    if not math.isfinite(window_s) or window_s <= 0:
        raise DriftError(f"window_s must be a positive number of seconds, got {window_s!r}")
    window_us = int(round(window_s * _US))
    prep = _prepare(profile)
    acc: dict[int, WindowCounts] = {}
    for batch in batches:
        if time_column not in batch.schema.names:
            raise DriftError(f"the log has no {time_column!r} column; expected the prediction log layout (LOG_COLUMNS)")
        if "score" in batch.schema.names and batch.column("score").null_count:
            batch = batch.filter(pc.is_valid(batch.column("score")))
        if batch.num_rows == 0:
            continue
        t = pc.cast(batch.column(time_column), pa.int64()).to_numpy(zero_copy_only=False)
        wid = t // window_us
        lo, hi = int(wid.min()), int(wid.max())
        parts = [(lo, batch)] if lo == hi else [(int(w), batch.filter(pa.array(wid == w)))
                                                 for w in np.unique(wid)]
        for w, part in parts:
            c = count_window(profile, part, w * window_us, prepared=prep)
            acc[w] = merge_counts(acc[w], c) if w in acc else c
    return evaluate_windows(profile, acc.values(), window_s, thresholds, min_rows=min_rows)
