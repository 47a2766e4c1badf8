"""Training–serving parity: the online engine, fed the same events in
arrival order, must give the batch engine's values at sampled (entity, t).

Sample points are drawn (seeded) from the events themselves, half at the
moment an event becomes visible (its arrival) and half exactly one window
after its event time (the instant it leaves that window), because window
boundaries and late arrivals are where two implementations drift apart;
none lies after the snapshot's last arrival.  The online side keeps its
``online.ttl``, so a TTL shorter than a window (an idle entity whose state
expired while training still sees its window) is reported as skew.
``count``, ``min``, ``max``, ``last``, ``time_since_last``, attributes and
transforms must be equal; ``sum``, ``mean`` and ``std`` within a relative
tolerance (1e-9 by default).  Every mismatch is reported with the entity,
time, feature and both values.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from runtime.contracts.steps import FeatureSetConfig
from runtime.events import ARRIVAL_TIME, EVENT_ID
from runtime.features.batch import ENTITY, TIME, sample_features
from runtime.features.definition import FeatureSetDef, define
from runtime.features.online import OnlineEngine
from runtime.features.store import open_store
from runtime.features.timestamps import from_us, to_us

__all__ = ["Mismatch", "ParityReport", "check_parity", "equal_values", "sample_points"]


@dataclass(frozen=True, slots=True)
class Mismatch:
    feature_set: str
    entity: str
    time: str  # ISO-8601 UTC
    feature: str
    batch: object
    online: object

    def as_json(self) -> dict[str, object]:
        return {"feature_set": self.feature_set, "entity": self.entity, "time": self.time, "feature": self.feature,
                "batch": self.batch, "online": self.online}


@dataclass(frozen=True)
class ParityReport:
    samples: int
    values_compared: int
    events_replayed: int
    rel_tolerance: float
    max_rel_error: float  # over the tolerance-compared features
    mismatches: tuple[Mismatch, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def as_json(self) -> dict[str, object]:
        return {"ok": self.ok, "samples": self.samples, "values_compared": self.values_compared,
                "events_replayed": self.events_replayed, "rel_tolerance": self.rel_tolerance,
                "max_rel_error": self.max_rel_error, "mismatch_count": len(self.mismatches),
                "mismatches": [m.as_json() for m in self.mismatches]}


def _times(fs: FeatureSetDef, events: pa.Table) -> tuple[list[str | None], list[int], list[int]]:
    entities = [None if e is None else str(e) for e in events.column(fs.entity).to_pylist()]
    et = pc.cast(pc.cast(events.column(fs.timestamp), pa.timestamp("us", tz="UTC")), pa.int64()).to_pylist()
    if ARRIVAL_TIME in events.column_names:
        arr = pc.cast(pc.cast(events.column(ARRIVAL_TIME), pa.timestamp("us", tz="UTC")), pa.int64()).to_pylist()
        arr = [a if a is not None else t for a, t in zip(arr, et)]
    else:
        arr = list(et)
    return entities, et, arr


def sample_points(fs: FeatureSetDef, events: pa.Table, samples: int, seed: int) -> list[tuple[str, int]]:
    """Seeded (entity, t) points: event arrivals and exact window exits."""
    entities, et, arr = _times(fs, events)
    valid = [i for i in range(len(et)) if et[i] is not None and entities[i] is not None]
    if not valid:
        return []
    rng = random.Random(seed)
    windows = sorted({a.window_us for a in fs.aggregations}) or [fs.max_window_us]
    # Nothing is known after the snapshot's last arrival (more events would have come), so no
    # point lies beyond it.
    now = max(max(et[i], arr[i]) for i in valid)
    points: set[tuple[str, int]] = set()
    picks = [valid[rng.randrange(len(valid))] for _ in range(samples)]
    for n, i in enumerate(picks):
        if n % 2 == 0:
            t = max(et[i], arr[i])
        else:
            t = max(et[i] + windows[rng.randrange(len(windows))], arr[i])
        if t <= now:
            points.add((str(entities[i]), t))
    return sorted(points, key=lambda p: (p[1], p[0]))


def _equal(a: object, b: object, exact: bool, rel_tol: float) -> tuple[bool, float]:
    if a is None or b is None:
        return a is None and b is None, 0.0
    if isinstance(a, str) or isinstance(b, str) or isinstance(a, bool) or isinstance(b, bool):
        return a == b, 0.0
    x, y = float(a), float(b)  # type: ignore[arg-type]
    if x == y:
        return True, 0.0
    if exact or not (math.isfinite(x) and math.isfinite(y)):
        return False, math.inf
    rel = abs(x - y) / max(abs(x), abs(y))
    return rel <= rel_tol, rel


def equal_values(a: object, b: object, exact: bool, rel_tol: float) -> tuple[bool, float]:
    """Parity's comparison rule (also the live skew monitor's): equal, or within
    ``rel_tol`` for a non-exact feature; and the relative error."""
    return _equal(a, b, exact, rel_tol)


def check_parity(feature_sets: Sequence[FeatureSetConfig], events: dict[str, pa.Table], samples: int = 2000,
                 seed: int = 0, rel_tolerance: float = 1e-9, store_url: str = "memory://",
                 engine: Callable[[Sequence[FeatureSetConfig], object], OnlineEngine] = OnlineEngine) -> ParityReport:
    """Compare the batch and online engines on the events of each feature set's source."""
    mismatches: list[Mismatch] = []
    compared = 0
    replayed = 0
    max_rel = 0.0
    n_samples = 0
    for cfg, fs in zip(feature_sets, define(feature_sets)):
        table = events[fs.source]
        points = sample_points(fs, table, samples, seed)
        n_samples += len(points)
        con = duckdb.connect()
        try:
            con.register("__events", table)
            con.register("__samples", pa.table({ENTITY: pa.array([p[0] for p in points], pa.string()),
                                                TIME: pa.array([p[1] for p in points], pa.int64())}))
            batch = sample_features(con, [fs], {fs.source: "__events"}, "__samples")
        finally:
            con.close()
        expected = {(r[ENTITY], r[TIME]): r for r in batch.to_pylist()}
        exact = {a.name: a.exact for a in fs.aggregations}
        store = open_store(store_url)
        try:
            online = engine([cfg], store)
            rows = table.to_pylist()
            # Rows without entity or time never reach the online store (the ingester rejects them)
            # and the batch engine skips them: both engines see the same events.
            rows = [r for r in rows if r.get(fs.timestamp) is not None and r.get(fs.entity) is not None]
            order = sorted(range(len(rows)), key=lambda i: (
                to_us(rows[i][ARRIVAL_TIME]) if rows[i].get(ARRIVAL_TIME) is not None else to_us(rows[i][fs.timestamp]),
                to_us(rows[i][fs.timestamp]), str(rows[i].get(EVENT_ID))))
            arrivals = [to_us(rows[i][ARRIVAL_TIME]) if rows[i].get(ARRIVAL_TIME) is not None
                        else to_us(rows[i][fs.timestamp]) for i in order]
            k = 0
            for entity, t in points:
                while k < len(order) and arrivals[k] <= t:
                    online.apply(rows[order[k]])
                    k += 1
                got = online.read(entity, t)
                want = expected[(entity, t)]
                for name in fs.feature_names:
                    ok, rel = _equal(want[name], got[name], exact.get(name, True), rel_tolerance)
                    compared += 1
                    if not exact.get(name, True) and math.isfinite(rel):
                        max_rel = max(max_rel, rel)
                    if not ok:
                        mismatches.append(Mismatch(fs.name, entity, from_us(t).isoformat().replace("+00:00", "Z"),
                                                   name, want[name], got[name]))
            replayed += k
        finally:
            store.close()
    return ParityReport(samples=n_samples, values_compared=compared, events_replayed=replayed,
                        rel_tolerance=rel_tolerance, max_rel_error=max_rel, mismatches=tuple(mismatches))
