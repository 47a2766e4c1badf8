"""The training reference profile: what "not drifted" means for one model.

Written by the train step next to the model (``reference.json`` in the model
directory, so the registry entry carries it as ``model/reference.json``) and
read by the drift monitor.  Per numeric feature: quantile bin edges with the
reference fraction in each bin (for PSI), the null fraction, and a bounded,
sorted sample (for the two-sample KS test).  Per categorical feature: the
category frequencies.  The score: the same numeric profile over the
calibrated scores of the holdout window (for prediction drift).

Bin edges are values *of the sample*, so one ``searchsorted`` of a window's
values into the sample gives both the KS statistic and the PSI bin counts
(``runtime.monitoring.drift``).  Pure functions over numpy / Arrow; the JSON
is written with sorted keys and floats in ``repr`` form, so the same training
table gives the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "DEFAULT_BINS",
    "DEFAULT_SAMPLE_SIZE",
    "REFERENCE_FILE",
    "CategoricalReference",
    "NumericReference",
    "ReferenceError",
    "ReferenceProfile",
    "build_profile",
    "categorical_reference",
    "numeric_reference",
    "profile_from_json",
    "profile_to_json",
]

REFERENCE_FILE = "reference.json"
DEFAULT_BINS = 10
# KS power is bounded by the reference sample: with 2000 values a shift of
# D ~ 0.05 is detectable at p = 0.01 against any window of a few thousand rows.
DEFAULT_SAMPLE_SIZE = 2000
_FORMAT = 1


class ReferenceError(Exception):
    """The reference profile cannot be built or read; the message says which feature or field."""


@dataclass(frozen=True, slots=True)
class NumericReference:
    name: str
    rows: int                       # reference rows, nulls included
    null_fraction: float
    sample: tuple[float, ...]       # sorted, non-null, at most the sample size
    edge_positions: tuple[int, ...]  # bin edge j is sample[edge_positions[j]] (first occurrence)
    fractions: tuple[float, ...]    # of non-null rows per bin; len(edge_positions) + 1

    @property
    def edges(self) -> tuple[float, ...]:
        return tuple(self.sample[i] for i in self.edge_positions)


@dataclass(frozen=True, slots=True)
class CategoricalReference:
    name: str
    rows: int
    null_fraction: float
    categories: tuple[str, ...]     # sorted
    fractions: tuple[float, ...]    # of non-null rows per category


FeatureReference = NumericReference | CategoricalReference


@dataclass(frozen=True, slots=True)
class ReferenceProfile:
    features: tuple[FeatureReference, ...]  # in the model's feature order
    score: NumericReference | None          # calibrated holdout scores
    source: str                             # which rows: e.g. "training fit window of the shipped fold"

    def feature(self, name: str) -> FeatureReference:
        for f in self.features:
            if f.name == name:
                return f
        raise ReferenceError(f"feature {name!r} is not in the reference profile "
                             f"(it has: {', '.join(f.name for f in self.features)})")


def numeric_reference(name: str, values: np.ndarray, *, bins: int = DEFAULT_BINS,
                      sample_size: int = DEFAULT_SAMPLE_SIZE, seed: int = 0) -> NumericReference:
    """Quantile bins and a sorted sample of ``values`` (float, NaN = null)."""
    values = np.asarray(values, dtype=np.float64)
    if np.isinf(values).any():
        raise ReferenceError(f"feature {name!r}: infinite values in the reference; fix the feature or the data")
    present = values[~np.isnan(values)]
    if present.size == 0:
        raise ReferenceError(f"feature {name!r}: every reference value is null; there is nothing to compare with")
    if present.size > sample_size:
        # A seeded draw without replacement: the same table gives the same sample.
        pick = np.random.default_rng(seed).choice(present.size, size=sample_size, replace=False)
        sample = np.sort(present[pick])
    else:
        sample = np.sort(present)
    cuts = np.unique(np.quantile(sample, np.arange(1, bins) / bins, method="inverted_cdf"))
    cuts = cuts[cuts > sample[0]]  # an edge at the minimum would leave the first bin empty by construction
    positions = np.searchsorted(sample, cuts, side="left")
    counts = np.bincount(np.searchsorted(cuts, present, side="right"), minlength=cuts.size + 1)
    return NumericReference(name=name, rows=int(values.size), null_fraction=float(1 - present.size / values.size),
                            sample=tuple(float(v) for v in sample), edge_positions=tuple(int(p) for p in positions),
                            fractions=tuple(float(c) for c in counts / present.size))


def categorical_reference(name: str, values: pa.Array | pa.ChunkedArray) -> CategoricalReference:
    values = pc.cast(values, pa.string())
    rows = len(values)
    if rows == 0:
        raise ReferenceError(f"feature {name!r}: the reference has no rows")
    counts = pc.value_counts(values.drop_null())
    cats = counts.field("values").to_pylist()
    n = counts.field("counts").to_numpy()
    order = np.argsort(np.array(cats, dtype=object), kind="stable") if cats else np.array([], dtype=int)
    present = int(n.sum())
    if present == 0:
        raise ReferenceError(f"feature {name!r}: every reference value is null; there is nothing to compare with")
    return CategoricalReference(name=name, rows=rows, null_fraction=float(1 - present / rows),
                                categories=tuple(cats[i] for i in order),
                                fractions=tuple(float(n[i] / present) for i in order))


def _is_categorical(col: pa.ChunkedArray | pa.Array) -> bool:
    t = col.type
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t)


def build_profile(columns: pa.Table, features: tuple[str, ...], scores: np.ndarray | None, *, source: str,
                  bins: int = DEFAULT_BINS, sample_size: int = DEFAULT_SAMPLE_SIZE, seed: int = 0) -> ReferenceProfile:
    """The profile of ``features`` in ``columns`` (strings are categorical,
    numbers and booleans numeric) and of the ``scores``."""
    out: list[FeatureReference] = []
    for j, f in enumerate(features):
        if f not in columns.column_names:
            raise ReferenceError(f"feature {f!r} is not a column of the reference table")
        col = columns.column(f)
        if _is_categorical(col):
            out.append(categorical_reference(f, col))
        elif pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_boolean(col.type):
            arr = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
            out.append(numeric_reference(f, arr, bins=bins, sample_size=sample_size, seed=seed + j))
        else:
            raise ReferenceError(f"feature {f!r} has type {col.type}; expected a number, boolean or category string")
    score = None
    if scores is not None and len(scores):
        score = numeric_reference("score", np.asarray(scores, dtype=np.float64), bins=bins, sample_size=sample_size,
                                  seed=seed + len(features))
    return ReferenceProfile(features=tuple(out), score=score, source=source)


def _numeric_json(r: NumericReference) -> dict[str, Any]:
    return {"type": "numeric", "name": r.name, "rows": r.rows, "null_fraction": r.null_fraction,
            "sample": list(r.sample), "edge_positions": list(r.edge_positions), "fractions": list(r.fractions)}


def profile_to_json(profile: ReferenceProfile) -> str:
    """Canonical JSON text (sorted keys, one trailing newline)."""
    feats = [_numeric_json(f) if isinstance(f, NumericReference) else
             {"type": "categorical", "name": f.name, "rows": f.rows, "null_fraction": f.null_fraction,
              "categories": list(f.categories), "fractions": list(f.fractions)} for f in profile.features]
    data = {"format": _FORMAT, "source": profile.source, "features": feats,
            "score": _numeric_json(profile.score) if profile.score is not None else None}
    return json.dumps(data, sort_keys=True, allow_nan=False, separators=(",", ":")) + "\n"


def _numeric(d: Mapping[str, Any]) -> NumericReference:
    r = NumericReference(name=str(d["name"]), rows=int(d["rows"]), null_fraction=float(d["null_fraction"]),
                         sample=tuple(float(v) for v in d["sample"]),
                         edge_positions=tuple(int(v) for v in d["edge_positions"]),
                         fractions=tuple(float(v) for v in d["fractions"]))
    if not r.sample or len(r.fractions) != len(r.edge_positions) + 1 or any(
            not 0 <= p < len(r.sample) for p in r.edge_positions) or list(r.sample) != sorted(r.sample):
        raise ReferenceError(f"feature {r.name!r}: inconsistent numeric profile (sample, edges and fractions disagree)")
    return r


def profile_from_json(text: str, *, where: str = "reference profile") -> ReferenceProfile:
    try:
        data = json.loads(text)
        if data.get("format") != _FORMAT:
            raise ReferenceError(f"{where}: format {data.get('format')!r} is not {_FORMAT}; retrain to rewrite it")
        feats: list[FeatureReference] = []
        for d in data["features"]:
            if d["type"] == "numeric":
                feats.append(_numeric(d))
            elif d["type"] == "categorical":
                feats.append(CategoricalReference(name=str(d["name"]), rows=int(d["rows"]),
                                                  null_fraction=float(d["null_fraction"]),
                                                  categories=tuple(str(c) for c in d["categories"]),
                                                  fractions=tuple(float(v) for v in d["fractions"])))
            else:
                raise ReferenceError(f"{where}: feature {d.get('name')!r} has unknown type {d['type']!r}")
        score = _numeric(data["score"]) if data.get("score") is not None else None
        return ReferenceProfile(features=tuple(feats), score=score, source=str(data["source"]))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ReferenceError(f"{where}: unreadable ({type(exc).__name__}: {exc}); retrain to rewrite it") from None
