"""A small, learnable, time-ordered training table in the agreed shape.

Positives are rare (a few %) and depend on an interaction (high vibration
*and* high temperature, stronger for one asset type) that trees learn and a
linear model cannot; the signal drifts slowly (sensor recalibration) so the
future is a little harder than the past, as in production.  Seeded: the same
arguments give the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["FEATURES", "make_table", "write_table"]

FEATURES = ("asset_type", "criticality", "vibration_mean_24h", "vibration_max_24h", "temperature_mean_24h",
            "pressure_min_24h", "events_count_24h")
DAY = 86400.0
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def make_table(*, assets: int = 40, days: int = 120, step_h: float = 12.0, seed: int = 0,
               base_rate: float = -5.2) -> pa.Table:
    rng = np.random.default_rng(seed)
    steps = int(days * 24 / step_h)
    n = assets * steps
    asset = np.repeat(np.arange(assets), steps)
    t = START + np.tile(np.arange(steps), assets) * step_h * 3600 + rng.uniform(0, 3600, n)
    types = np.array(["centrifugal", "piston", "screw"])[asset % 3]
    crit = np.array(["low", "medium", "high"])[(asset // 3) % 3]
    drift = (t - START) / (days * DAY)  # 0 -> 1 over the period
    vib = rng.gamma(2.0, 1.0, n) + 0.3 * drift
    vib_max = vib + rng.exponential(1.0, n)
    temp = rng.normal(60, 8, n) + 2.0 * drift
    pres = rng.normal(5, 1, n)
    count = rng.poisson(20, n).astype(np.int64)
    hot = (vib > 3.0) & (temp > 65)
    logit = base_rate + 3.6 * hot + 1.2 * (types == "piston") * hot + 0.8 * (pres < 4) + 0.15 * rng.normal(size=n)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    vib_max[rng.uniform(size=n) < 0.02] = np.nan  # sensor gaps: missing values must survive
    order = np.argsort(t, kind="stable")
    return pa.table({
        "asset_id": pa.array([f"pump-{a:03d}" for a in asset[order]]),
        "cut_time": pa.array((t[order] * 1e6).astype("int64"), type=pa.timestamp("us", tz="UTC")),
        "asset_type": pa.array(types[order]),
        "criticality": pa.array(crit[order]),
        "vibration_mean_24h": vib[order],
        "vibration_max_24h": vib_max[order],
        "temperature_mean_24h": temp[order],
        "pressure_min_24h": pres[order],
        "events_count_24h": count[order],
        "label": pa.array(y[order].astype(bool)),
        "_event_id": pa.array([f"e{i}" for i in range(n)]),
    })


def write_table(path: Path, **kwargs: object) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    pq.write_table(make_table(**kwargs), path / "part-000.parquet")  # type: ignore[arg-type]
    return path
