"""The embedded sample data set: a seeded, vectorised generator of
predictive-maintenance events and failure labels.

Assets (pumps, turbines, later compressors) emit sensor events at irregular
times (a Poisson process per asset).  Failures are rare (``positive_rate`` of
24 h prediction windows) and preceded by a learnable degradation: vibration,
temperature and rpm rise and pressure falls over ``degradation_s`` before the
failure.  Maintenance tickets (the labels) arrive up to ``label_delay_s``
after the failure.  Drift (sensor recalibration, a new asset type, seasons)
switches on at configured times; faults (nulls, duplicates, out-of-order and
late arrivals, out-of-range values) are injected at configured rates.

Everything is drawn from one ``numpy`` generator seeded by ``cfg.seed`` in a
fixed order, so the same config gives the same rows and, written by the same
pyarrow, the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timezone

import numpy as np
import pyarrow as pa

from runtime.contracts.steps import (
    SAMPLE_ASSET_TYPES,
    SAMPLE_CRITICALITY,
    SAMPLE_EVENT_FIELDS,
    SAMPLE_LABEL_FIELDS,
    GeneratorConfig,
)
from runtime.data.sources import ARROW_TYPES, TS
from runtime.events import ARRIVAL_TIME, EVENT_ID

__all__ = [
    "ASSET_TYPES",
    "EVENT_COLUMNS",
    "LABEL_COLUMNS",
    "GeneratedData",
    "GeneratorConfig",
    "generate",
    "iter_events",
    "iter_labels",
]

# The generator's fixed domain (declared in the contracts so the compiler can
# check a sampleData section against it): the columns it produces, typed.
EVENT_COLUMNS: dict[str, pa.DataType] = {k: ARROW_TYPES[v] for k, v in SAMPLE_EVENT_FIELDS.items()}
LABEL_COLUMNS: dict[str, pa.DataType] = {k: ARROW_TYPES[v] for k, v in SAMPLE_LABEL_FIELDS.items()}
# Healthy-fleet types first; a drift scenario may add a third.
ASSET_TYPES = (*SAMPLE_ASSET_TYPES, "compressor")
CRITICALITY = SAMPLE_CRITICALITY
_CRITICALITY_P = (0.3, 0.4, 0.2, 0.1)
# Healthy operating point per asset type: temperature C, vibration mm/s, pressure bar, rpm.
_BASE = np.array([
    [60.0, 3.0, 150.0, 1800.0],   # pump
    [90.0, 6.0, 40.0, 3600.0],    # turbine
    [75.0, 4.5, 250.0, 3000.0],   # compressor
])
_NOISE = np.array([2.0, 0.5, 5.0, 30.0])
# Effect of full degradation (1.0 just before a failure).
_DEGRADE = np.array([25.0, 12.0, -20.0, 200.0])
_SIGNALS = ("temperature", "vibration", "pressure", "rpm")
# An out-of-range fault writes one of these (outside every declared range).
_IMPOSSIBLE = np.array([999.0, -1.0, -5.0, 99_999.0])
_TECHNICIANS = tuple(f"tech{i:02d}@acme.example" for i in range(12))
_US = 1_000_000
_DAY_US = 86_400 * _US


@dataclass(frozen=True, slots=True)
class GeneratedData:
    events: pa.Table  # EVENT_COLUMNS + _event_id + _arrival_time, in arrival order
    labels: pa.Table  # LABEL_COLUMNS + _event_id + _arrival_time, in arrival order
    failures: int  # failures drawn (each has a ticket with failed = true)


def _strings(values: tuple[str, ...] | list[str], index: np.ndarray) -> pa.Array:
    """A string column from a small vocabulary, without a Python loop per row."""
    return pa.DictionaryArray.from_arrays(pa.array(index, pa.int32()), pa.array(list(values), pa.string())).cast(pa.string())


def _ids(prefix: str, n: int, offset: int = 0) -> pa.Array:
    import pyarrow.compute as pc

    numbers = pc.cast(pa.array(np.arange(offset, offset + n, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise(pa.scalar(prefix), numbers, "")


def _timestamps(us: np.ndarray) -> pa.Array:
    return pa.array(us.astype(np.int64), pa.int64()).cast(TS)


def generate(cfg: GeneratorConfig) -> GeneratedData:
    rng = np.random.default_rng(cfg.seed)
    start_us = int(cfg.start.astimezone(timezone.utc).timestamp()) * _US
    span_us = int(cfg.days * _DAY_US)

    # ---- assets: the base fleet, plus the new type that appears later
    types = list(ASSET_TYPES)
    n_base = cfg.assets
    n_new = cfg.new_assets if cfg.new_asset_type and cfg.new_asset_type_at_day is not None else 0
    if n_new and cfg.new_asset_type not in types:
        types.append(cfg.new_asset_type)  # type: ignore[arg-type]
    n_assets = n_base + n_new
    base_type = np.where(rng.random(n_base) < 0.6, 0, 1)  # the original fleet: pumps and turbines
    asset_type = np.concatenate([base_type, np.full(n_new, types.index(cfg.new_asset_type) if n_new else 0)])
    criticality = rng.choice(len(CRITICALITY), size=n_assets, p=_CRITICALITY_P)
    first_us = np.zeros(n_assets, dtype=np.int64)
    if n_new:
        first_us[n_base:] = min(int(cfg.new_asset_type_at_day * _DAY_US), span_us - 1)  # type: ignore[operator]
    active_us = span_us - first_us
    params = np.vstack([_BASE, _BASE[2:3] * 1.1])[np.minimum(asset_type, 3)]  # an unknown type runs like a compressor
    asset_offset = rng.normal(0.0, 1.0, size=(n_assets, 4)) * _NOISE
    recalibrated = rng.random(n_assets) < cfg.recalibration_fraction

    # ---- events: a Poisson process per asset (uniform order statistics)
    counts = rng.poisson(active_us / (cfg.mean_interval_s * _US))
    asset = np.repeat(np.arange(n_assets), counts)
    n = int(asset.size)
    t = first_us[asset] + (rng.random(n) * active_us[asset]).astype(np.int64)
    order = np.lexsort((t, asset))
    asset, t = asset[order], t[order]

    # ---- failures: rate such that P(failure in a 24 h window) = positive_rate
    rate_per_us = -np.log1p(-cfg.positive_rate) / _DAY_US
    fail_counts = rng.poisson(active_us * rate_per_us)
    f_asset = np.repeat(np.arange(n_assets), fail_counts)
    f_t = first_us[f_asset] + (rng.random(f_asset.size) * active_us[f_asset]).astype(np.int64)
    f_order = np.lexsort((f_t, f_asset))
    f_asset, f_t = f_asset[f_order], f_t[f_order]

    # Degradation: how close each event is to its asset's next failure.
    # Keys in milliseconds keep asset * span inside int64 for any allowed size.
    stride = span_us // 1000 + 1
    f_key = f_asset.astype(np.int64) * stride + f_t // 1000
    e_key = asset.astype(np.int64) * stride + t // 1000
    nxt = np.searchsorted(f_key, e_key, side="left")
    has_next = nxt < f_key.size
    nxt_c = np.minimum(nxt, max(f_key.size - 1, 0))
    same = has_next & (f_asset[nxt_c] == asset) if f_key.size else np.zeros(n, dtype=bool)
    to_failure_s = np.where(same, (f_t[nxt_c] - t) / _US if f_key.size else 0.0, np.inf)
    degradation = np.where(to_failure_s < cfg.degradation_s, (1.0 - to_failure_s / cfg.degradation_s) ** 2, 0.0)

    # ---- signals
    noise = rng.normal(0.0, 1.0, size=(n, 4)) * _NOISE
    signals = params[asset] + asset_offset[asset] + noise + degradation[:, None] * _DEGRADE
    day = t / _DAY_US
    if cfg.seasonal_amplitude:
        start_doy = cfg.start.timetuple().tm_yday
        signals[:, 0] += cfg.seasonal_amplitude * np.sin(2 * np.pi * (start_doy + day) / 365.25)
    if cfg.recalibration_at_day is not None:
        shifted = recalibrated[asset] & (day >= cfg.recalibration_at_day)
        signals[shifted, 0] += cfg.recalibration_offset
    signals[:, 1] = np.abs(signals[:, 1])  # vibration is a magnitude
    signals[:, 2:] = np.maximum(signals[:, 2:], 0.0)
    technician = (asset * 7 + day.astype(np.int64)) % len(_TECHNICIANS)

    # ---- faults
    bad_range = rng.random(n) < cfg.out_of_range_rate
    bad_col = rng.integers(0, 4, size=n)
    signals[bad_range, bad_col[bad_range]] = _IMPOSSIBLE[bad_col[bad_range]]
    nulls = rng.random((n, 5)) < cfg.null_rate
    lag = rng.exponential(5.0, size=n) * _US  # normal ingestion lag
    ooo = rng.random(n) < cfg.out_of_order_rate
    lag[ooo] = rng.uniform(60.0, max(cfg.late_delay_s / 4, 61.0), size=int(ooo.sum())) * _US
    late = rng.random(n) < cfg.late_rate
    lag[late] = cfg.late_delay_s * rng.uniform(1.0, 2.0, size=int(late.sum())) * _US
    arrival = t + lag.astype(np.int64)
    if cfg.outage_at_day is not None:  # after every draw: the outage changes no other value
        down_us = int(cfg.outage_at_day * _DAY_US)
        up_us = down_us + int(cfg.outage_hours * 3600 * _US)
        arrival[(arrival >= down_us) & (arrival < up_us)] = up_us

    columns: dict[str, pa.Array] = {
        "asset_id": _strings([f"A{i:05d}" for i in range(n_assets)], asset),
        "event_time": _timestamps(start_us + t),
        "asset_type": _strings(types, asset_type[asset]),
        "criticality": _strings(list(CRITICALITY), criticality[asset]),
    }
    for j, name in enumerate(_SIGNALS):
        columns[name] = pa.array(signals[:, j], pa.float64(), mask=nulls[:, j])
    columns["technician_email"] = pa.DictionaryArray.from_arrays(
        pa.array(technician, pa.int32(), mask=nulls[:, 4]), pa.array(_TECHNICIANS)).cast(pa.string())
    columns[EVENT_ID] = _ids(f"e{cfg.seed}-", n)
    columns[ARRIVAL_TIME] = _timestamps(start_us + arrival)
    events = pa.table(columns)

    # Duplicates: the same event delivered again a little later (same _event_id).
    dup = np.flatnonzero(rng.random(n) < cfg.duplicate_rate)
    if dup.size:
        again = events.take(pa.array(dup))
        redelivered = arrival[dup] + (rng.uniform(1.0, 600.0, size=dup.size) * _US).astype(np.int64)
        again = again.set_column(again.schema.get_field_index(ARRIVAL_TIME), ARRIVAL_TIME, _timestamps(start_us + redelivered))
        events = pa.concat_tables([events, again])
        arrival = np.concatenate([arrival, redelivered])
    events = events.take(pa.array(np.argsort(arrival, kind="stable")))

    # ---- labels: failure tickets and routine inspections, known only after a delay
    insp_counts = rng.poisson(active_us / (cfg.inspection_interval_s * _US))
    i_asset = np.repeat(np.arange(n_assets), insp_counts)
    i_t = first_us[i_asset] + (rng.random(i_asset.size) * active_us[i_asset]).astype(np.int64)
    l_asset = np.concatenate([f_asset, i_asset])
    l_t = np.concatenate([f_t, i_t])
    failed = np.concatenate([np.ones(f_asset.size, dtype=bool), np.zeros(i_asset.size, dtype=bool)])
    delay = np.concatenate([rng.uniform(0.25, 1.0, size=f_asset.size), rng.uniform(0.05, 0.5, size=i_asset.size)])
    l_arrival = l_t + (delay * cfg.label_delay_s * _US).astype(np.int64)
    l_order = np.lexsort((l_asset, l_t))
    l_asset, l_t, failed, l_arrival = l_asset[l_order], l_t[l_order], failed[l_order], l_arrival[l_order]
    tickets = _ids(f"T{cfg.seed}-", int(l_asset.size))
    labels = pa.table({
        "asset_id": _strings([f"A{i:05d}" for i in range(n_assets)], l_asset),
        "failure_time": _timestamps(start_us + l_t),
        "failed": pa.array(failed, pa.bool_()),
        "ticket_id": tickets,
        EVENT_ID: tickets,
        ARRIVAL_TIME: _timestamps(start_us + l_arrival),
    })
    labels = labels.take(pa.array(np.argsort(l_arrival, kind="stable")))
    return GeneratedData(events=events, labels=labels, failures=int(f_asset.size))


def _rows(table: pa.Table) -> Iterator[dict[str, object]]:
    for batch in table.to_batches(max_chunksize=10_000):
        yield from batch.to_pylist()


def iter_events(cfg: GeneratorConfig) -> Iterator[dict[str, object]]:
    """Event records (domain fields + ``_event_id`` + ``_arrival_time``) in
    arrival order, as a stream publisher replays them."""
    return _rows(generate(cfg).events)


def iter_labels(cfg: GeneratorConfig) -> Iterator[dict[str, object]]:
    """Label records (tickets) in arrival order."""
    return _rows(generate(cfg).labels)
