"""The live skew monitor: for a deterministic sample of logged predictions,
recompute the features with the batch engine (DuckDB, point-in-time at the
record's ``at_us``) over the same validated events the online store was
filled from, and compare with the values the predictor served, by the
parity step's rules (``count``, ``min``, ``max``, ``last``, attributes and
transforms equal; ``sum``, ``mean`` and ``std`` within a relative tolerance).

The sample is chosen by a hash of the prediction id, so reruns over the
same log check the same predictions whatever their order.  Only answered
predictions (status 200) are checked.  An event sent with a request that
never reached the events the batch engine reads shows up as skew: training
would not see it either.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import duckdb
import pyarrow as pa

from runtime.contracts.monitoring import PredictionRecord
from runtime.contracts.steps import FeatureSetConfig
from runtime.features.batch import ENTITY, TIME, sample_features
from runtime.features.definition import define
from runtime.features.parity import equal_values

__all__ = ["SkewMismatch", "SkewReport", "check_live_skew", "sampled"]

_SCALE = float(1 << 64)


def _key(prediction_id: str) -> float:
    return int.from_bytes(hashlib.sha256(prediction_id.encode()).digest()[:8], "big") / _SCALE


def sampled(prediction_id: str, rate: float) -> bool:
    """Whether the deterministic sample at ``rate`` (0..1] includes this prediction."""
    return _key(prediction_id) < rate


@dataclass(frozen=True, slots=True)
class SkewMismatch:
    prediction_id: str
    entity: str
    time: str  # ISO-8601 UTC of at_us: the instant the features describe
    feature: str
    online: Any  # what the predictor served
    offline: Any  # what the batch engine computes

    def as_json(self) -> dict[str, Any]:
        return {"prediction_id": self.prediction_id, "entity": self.entity, "time": self.time,
                "feature": self.feature, "online": self.online, "offline": self.offline}


@dataclass(frozen=True, slots=True)
class SkewReport:
    model: str
    answered: int           # answered predictions in the input
    checked: int            # predictions in the sample, recomputed
    consistent: int         # of those, every feature matched
    values_compared: int
    sample_rate: float
    rel_tolerance: float
    max_rel_error: float    # over the tolerance-compared features
    mismatches: tuple[SkewMismatch, ...] = field(default_factory=tuple)
    checked_ids: tuple[str, ...] = ()  # the sampled prediction ids, in check order (the monitor's counters)

    @property
    def consistency_rate(self) -> float | None:
        return self.consistent / self.checked if self.checked else None

    def as_json(self) -> dict[str, Any]:
        return {"model": self.model, "answered": self.answered, "checked": self.checked,
                "consistent": self.consistent, "consistency_rate": self.consistency_rate,
                "values_compared": self.values_compared, "sample_rate": self.sample_rate,
                "rel_tolerance": self.rel_tolerance, "max_rel_error": self.max_rel_error,
                "mismatch_count": len(self.mismatches), "mismatches": [m.as_json() for m in self.mismatches]}


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def check_live_skew(model: str, records: Iterable[PredictionRecord], feature_sets: Sequence[FeatureSetConfig],
                    events: Mapping[str, pa.Table], *, sample_rate: float = 0.1, max_samples: int = 5000,
                    rel_tolerance: float = 1e-9) -> SkewReport:
    """Compare served features with the batch engine's over ``events`` (source name -> validated events)."""
    if not 0.0 < sample_rate <= 1.0:
        raise ValueError(f"sample rate {sample_rate!r}: use a fraction in (0, 1]")
    answered = [r for r in records if r.model == model and r.status == 200 and r.features]
    chosen = sorted((r for r in answered if sampled(r.prediction_id, sample_rate)),
                    key=lambda r: _key(r.prediction_id))[:max_samples]
    chosen.sort(key=lambda r: (r.at_us, r.prediction_id))
    definitions = define(feature_sets)
    exact = {a.name: a.exact for fs in definitions for a in fs.aggregations}
    points = sorted({(r.entity, r.at_us) for r in chosen}, key=lambda p: (p[0], p[1]))
    expected: dict[tuple[str, int], dict[str, Any]] = {}
    if points:
        con = duckdb.connect()
        try:
            relations = {}
            for i, (source, table) in enumerate(sorted(events.items())):
                con.register(f"__events_{i}", table)
                relations[source] = f"__events_{i}"
            con.register("__samples", pa.table({ENTITY: pa.array([p[0] for p in points], pa.string()),
                                                TIME: pa.array([p[1] for p in points], pa.int64())}))
            batch = sample_features(con, definitions, relations, "__samples")
        finally:
            con.close()
        expected = {(row[ENTITY], row[TIME]): row for row in batch.to_pylist()}
    mismatches: list[SkewMismatch] = []
    consistent = compared = 0
    max_rel = 0.0
    for r in chosen:
        want = expected.get((r.entity, r.at_us), {})
        clean = True
        for name, served in r.features.items():
            is_exact = exact.get(name, True)
            ok, rel = equal_values(want.get(name), served, is_exact, rel_tolerance)
            compared += 1
            if not is_exact and rel != float("inf"):
                max_rel = max(max_rel, rel)
            if not ok:
                clean = False
                mismatches.append(SkewMismatch(r.prediction_id, r.entity, _iso(r.at_us), name, served, want.get(name)))
        consistent += clean
    return SkewReport(model=model, answered=len(answered), checked=len(chosen), consistent=consistent,
                      values_compared=compared, sample_rate=sample_rate, rel_tolerance=rel_tolerance,
                      max_rel_error=max_rel, mismatches=tuple(mismatches),
                      checked_ids=tuple(r.prediction_id for r in chosen))
