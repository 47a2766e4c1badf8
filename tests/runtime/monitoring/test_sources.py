"""The loaders: a compacted, hive-partitioned prediction log read in bounded
batches into the drift analysis; the reference profile from a model or
registry directory; clear errors for what is missing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from runtime.monitoring.drift import DriftThresholds, drift_by_window
from runtime.monitoring.reference import REFERENCE_FILE, build_profile, profile_to_json
from runtime.monitoring.sources import SourceError, iter_log_batches, read_labels, read_profile

DAY_US = 86_400 * 1_000_000
T0 = 1_767_225_600 * 1_000_000  # 2026-01-01
TH = DriftThresholds(0.1, 0.25, 0.01, "benjamini_hochberg", 2)


def _write_log(root: Path, rng: np.random.Generator) -> pa.Table:
    n = 6000
    served = T0 + np.sort(rng.integers(0, 3 * DAY_US, n))
    x = rng.normal(0, 1, n)
    table = pa.table({"served_at_us": served, "at_us": served, "entity": [f"A{i % 50}" for i in range(n)],
                      "version": ["1"] * n, "score": rng.random(n),
                      "features": pa.StructArray.from_arrays([pa.array(x), pa.array(["p", "t"] * (n // 2))],
                                                             ["x", "kind"])})
    day = (served - T0) // DAY_US
    for d in range(3):
        part = root / "model=m" / f"date=2026-01-0{d + 1}"
        part.mkdir(parents=True)
        pq.write_table(table.filter(pa.array(day == d)), part / "part-0-1.parquet")
    return table


def test_the_compacted_log_is_read_in_bounded_batches_and_filtered_by_time(tmp_path: Path):
    rng = np.random.default_rng(0)
    table = _write_log(tmp_path, rng)
    batches = list(iter_log_batches(tmp_path, "m", start_us=T0 + DAY_US, end_us=T0 + 2 * DAY_US, batch_rows=500))
    assert max(b.num_rows for b in batches) <= 500
    got = pa.Table.from_batches(batches).column("served_at_us").to_numpy()
    served = table.column("served_at_us").to_numpy()
    assert sorted(got.tolist()) == served[(served >= T0 + DAY_US) & (served < T0 + 2 * DAY_US)].tolist()
    profile = build_profile(pa.table({"x": rng.normal(0, 1, 5000), "kind": ["p", "t"] * 2500}), ("x", "kind"),
                            rng.random(3000), source="t")
    report = drift_by_window(profile, iter_log_batches(tmp_path, "m"), window_s=86_400.0, thresholds=TH)
    assert [w.rows for w in report.windows] == np.bincount((served - T0) // DAY_US).tolist()
    assert all(not w.drifted for w in report.windows)


def test_missing_log_profile_and_labels_are_clear_errors(tmp_path: Path):
    with pytest.raises(SourceError, match="no compacted prediction log for model 'm'"):
        list(iter_log_batches(tmp_path, "m"))
    with pytest.raises(SourceError, match="no reference.json .*retrain"):
        read_profile(tmp_path)
    with pytest.raises(SourceError, match="labels source not found"):
        read_labels(tmp_path / "labels")
    (tmp_path / REFERENCE_FILE).write_text("{not json")
    with pytest.raises(SourceError, match="unreadable"):
        read_profile(tmp_path)


def test_the_profile_is_found_in_a_registry_entry(tmp_path: Path):
    profile = build_profile(pa.table({"x": [1.0, 2.0, 3.0]}), ("x",), None, source="t")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / REFERENCE_FILE).write_text(profile_to_json(profile))
    assert read_profile(tmp_path) == profile
