"""The embedded sample-data generator: deterministic, rare learnable
failures, late labels, drift switched on by time, faults at their rates."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from sklearn.metrics import roc_auc_score

from runtime.contracts.steps import DataSourceConfig, FieldConfig, GenerateDataConfig, ArtifactStoreConfig
from runtime.data.generator import GeneratorConfig, generate, iter_events, iter_labels
from runtime.events import ARRIVAL_TIME, EVENT_ID
from runtime.steps import generate_data

DAY_US = 86_400 * 1_000_000


def _us(column: pa.ChunkedArray) -> np.ndarray:
    return pc.cast(column, pa.int64()).to_numpy()


@pytest.fixture(scope="module")
def big() -> tuple[GeneratorConfig, object]:
    cfg = GeneratorConfig(seed=11, assets=60, days=90, mean_interval_s=900, positive_rate=0.04)
    return cfg, generate(cfg)


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    cfg = GeneratorConfig(assets=5, days=3, null_rate=0.05, duplicate_rate=0.02, late_rate=0.01, out_of_order_rate=0.05)
    a, b = generate(cfg), generate(cfg)
    assert a.events.equals(b.events) and a.labels.equals(b.labels)
    c = generate(cfg.model_copy(update={"seed": 8}))
    assert not c.events.equals(a.events)


def _files(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _sources() -> tuple[DataSourceConfig, DataSourceConfig]:
    common = dict(max_null_fraction=0.05, max_duplicate_fraction=0.02, max_out_of_range_fraction=0.01, min_rows=1,
                  quarantine_action="quarantine", max_bad_fraction=0.05)
    events = DataSourceConfig(name="sensor-events", type="file", path="data/events/*.parquet", format="parquet",
                              entity="asset_id", timestamp="event_time", fields=(
                                  FieldConfig(name="asset_id", type="string"),
                                  FieldConfig(name="event_time", type="timestamp"),
                                  FieldConfig(name="asset_type", type="category", values=("pump", "turbine", "compressor")),
                                  FieldConfig(name="vibration", type="float", nullable=True, min=0, max=50)), **common)
    labels = DataSourceConfig(name="failure-labels", type="labels", path="data/labels/date=*/*.csv", format="csv",
                              entity="asset_id", timestamp="failure_time", availability_delay_s=172800.0, fields=(
                                  FieldConfig(name="asset_id", type="string"),
                                  FieldConfig(name="failure_time", type="timestamp"),
                                  FieldConfig(name="failed", type="bool")), **common)
    return events, labels


def test_same_config_same_bytes_on_disk(tmp_path: Path) -> None:
    events, labels = _sources()
    config = GenerateDataConfig(model="sample-data", spec_hash="x", artifacts=ArtifactStoreConfig(uri="a"), work_dir=".",
                                generator=GeneratorConfig(assets=8, days=4, null_rate=0.02, duplicate_rate=0.01),
                                events=events, labels=labels)
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        assert generate_data.run(config, tmp_path / run) == 0
    first, second = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert first == second
    # The files are named so that each source's own glob reads them back.
    assert any(p.startswith("data/events/sensor-events-2026-01-0") and p.endswith(".parquet") for p in first)
    assert any(p.startswith("data/labels/date=2026-01-0") and p.endswith("/part-0.csv") for p in first)


def test_rewrite_replaces_its_own_files_but_never_real_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events, labels = _sources()
    config = GenerateDataConfig(model="sample-data", spec_hash="x", artifacts=ArtifactStoreConfig(uri="a"), work_dir=".",
                                generator=GeneratorConfig(assets=4, days=3), events=events, labels=labels)
    assert generate_data.run(config, tmp_path) == 0
    shorter = config.model_copy(update={"generator": GeneratorConfig(assets=4, days=1)})
    assert generate_data.run(shorter, tmp_path) == 0
    # Old days' files are gone: a smaller sample leaves no stale files behind.
    assert len(list((tmp_path / "data/events").glob("*.parquet"))) <= 2
    real = tmp_path / "data/events/landed-by-the-plant.parquet"
    real.write_bytes(b"real data")
    assert generate_data.run(config, tmp_path) == 2
    assert real.read_bytes() == b"real data"
    assert "refusing to overwrite real data" in capsys.readouterr().err


def test_a_declared_field_the_generator_cannot_fill_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events, labels = _sources()
    events = events.model_copy(update={"fields": (*events.fields, FieldConfig(name="humidity", type="float"))})
    config = GenerateDataConfig(model="sample-data", spec_hash="x", artifacts=ArtifactStoreConfig(uri="a"), work_dir=".",
                                generator=GeneratorConfig(assets=2, days=1), events=events, labels=labels)
    assert generate_data.run(config, tmp_path) == 2
    assert "humidity" in capsys.readouterr().err


def test_failures_are_rare_at_the_configured_rate(big) -> None:
    cfg, data = big
    windows = cfg.assets * cfg.days  # asset-days: 24 h prediction windows
    failures = data.labels.filter(pc.equal(data.labels["failed"], True))
    assert failures.num_rows == data.failures
    per_window = set(zip(failures["asset_id"].to_pylist(), (_us(failures["failure_time"]) // DAY_US).tolist()))
    rate = len(per_window) / windows
    assert 0.025 < rate < 0.055, rate  # configured 0.04; 5,400 windows


def test_degradation_before_a_failure_is_learnable(big) -> None:
    _, data = big
    ev, failures = data.events, data.labels.filter(pc.equal(data.labels["failed"], True))
    t, asset = _us(ev["event_time"]), np.asarray(ev["asset_id"].to_pylist())
    fail_by_asset: dict[str, list[int]] = {}
    for a, ft in zip(failures["asset_id"].to_pylist(), _us(failures["failure_time"]).tolist()):
        fail_by_asset.setdefault(a, []).append(ft)
    label = np.zeros(len(t), dtype=bool)
    for a, times in fail_by_asset.items():
        rows = asset == a
        for ft in times:
            label[rows] |= (t[rows] <= ft) & (t[rows] > ft - DAY_US)
    vib = ev["vibration"].to_numpy(zero_copy_only=False)
    kind = np.asarray(ev["asset_type"].to_pylist())
    z = np.empty_like(vib)
    for k in np.unique(kind):  # per-type z-score: types run at different levels
        m = kind == k
        z[m] = (vib[m] - np.nanmean(vib[m])) / np.nanstd(vib[m])
    auc = roc_auc_score(label, z)
    assert 0.005 < label.mean() < 0.1  # a rare positive class, event-level
    assert auc > 0.75, auc  # one raw signal already separates: the task is learnable


def test_labels_arrive_late_but_within_the_availability_delay(big) -> None:
    cfg, data = big
    lag = (_us(data.labels[ARRIVAL_TIME]) - _us(data.labels["failure_time"])) / 1e6
    assert lag.min() > 0 and lag.max() <= cfg.label_delay_s
    assert np.median(lag) > 3600  # hours to days, not immediate
    assert data.labels[EVENT_ID].to_pylist() == data.labels["ticket_id"].to_pylist()
    assert set(data.labels["failed"].to_pylist()) == {True, False}  # failures and routine inspections


def test_iterators_yield_arrival_order_with_system_columns() -> None:
    cfg = GeneratorConfig(assets=6, days=3, out_of_order_rate=0.2, late_rate=0.05)
    events = list(iter_events(cfg))
    assert len(events) == generate(cfg).events.num_rows
    arrivals = [e[ARRIVAL_TIME] for e in events]
    assert arrivals == sorted(arrivals)
    assert any(a["event_time"] > b["event_time"] for a, b in zip(events, events[1:])), "out-of-order events exist"
    assert set(events[0]) >= {"asset_id", "event_time", "vibration", EVENT_ID, ARRIVAL_TIME}
    assert events[0]["event_time"].tzinfo is not None
    labels = list(iter_labels(cfg))
    assert [r[ARRIVAL_TIME] for r in labels] == sorted(r[ARRIVAL_TIME] for r in labels)


def test_faults_at_their_rates() -> None:
    cfg = GeneratorConfig(assets=40, days=20, null_rate=0.02, duplicate_rate=0.01, late_rate=0.005,
                          out_of_range_rate=0.004, late_delay_s=6 * 3600)
    ev = generate(cfg).events
    n = ev.num_rows
    assert n > 70_000
    nulls = pc.sum(pc.is_null(ev["temperature"])).as_py() / n
    assert 0.015 < nulls < 0.025
    ids = ev[EVENT_ID].to_pylist()
    dup_rate = (len(ids) - len(set(ids))) / len(set(ids))
    assert 0.007 < dup_rate < 0.013
    lag = (_us(ev[ARRIVAL_TIME]) - _us(ev["event_time"])) / 1e6
    assert 0.003 < (lag >= 6 * 3600).mean() < 0.008  # late beyond the configured delay
    out = sum(pc.sum(pc.or_(pc.less(ev[c], lo), pc.greater(ev[c], hi))).as_py() or 0
              for c, lo, hi in (("temperature", -40, 200), ("vibration", 0, 50), ("pressure", 0, 400), ("rpm", 0, 20000)))
    assert 0.002 < out / n < 0.006
    clean = generate(GeneratorConfig(assets=40, days=20)).events
    assert pc.sum(pc.is_null(clean["temperature"])).as_py() == 0
    assert len(set(clean[EVENT_ID].to_pylist())) == clean.num_rows


def test_drift_switches_on_at_its_time() -> None:
    cfg = GeneratorConfig(assets=30, days=40, recalibration_at_day=20, recalibration_fraction=0.5,
                          recalibration_offset=10.0, new_asset_type="compressor", new_asset_type_at_day=30, new_assets=5,
                          seasonal_amplitude=0.0)
    ev = generate(cfg).events
    day = _us(ev["event_time"]) / DAY_US - (_us(ev["event_time"]).min() // DAY_US)
    kinds = np.asarray(ev["asset_type"].to_pylist())
    assert not (kinds[day < 29.99] == "compressor").any() and (kinds[day >= 30] == "compressor").any()
    base = generate(cfg.model_copy(update={"recalibration_at_day": None})).events
    shift = (ev["temperature"].to_numpy(zero_copy_only=False) - base["temperature"].to_numpy(zero_copy_only=False))
    after, before = shift[day >= 20], shift[day < 20]
    assert np.all(before == 0)
    moved = np.isclose(after, 10.0).mean()
    assert 0.3 < moved < 0.7  # about half of the assets were recalibrated
    seasonal = generate(cfg.model_copy(update={"seasonal_amplitude": 5.0, "recalibration_at_day": None,
                                               "start": cfg.start + timedelta(days=60)})).events
    assert not seasonal["temperature"].equals(base["temperature"])


def test_generated_csv_reads_back_as_the_same_rows(tmp_path: Path) -> None:
    from runtime.data.sources import read_source

    events, labels = _sources()
    events = events.model_copy(update={"path": "data/events/*.csv", "format": "csv"})
    gen = GeneratorConfig(assets=5, days=6, null_rate=0.05)
    config = GenerateDataConfig(model="sample-data", spec_hash="x", artifacts=ArtifactStoreConfig(uri="a"), work_dir=".",
                                generator=gen, events=events, labels=labels)
    assert generate_data.run(config, tmp_path) == 0
    back = read_source(events, tmp_path).table
    expected = generate(gen).events.select(back.column_names)
    key = [("_event_id", "ascending"), ("_arrival_time", "ascending")]
    assert back.sort_by(key).equals(expected.cast(back.schema).sort_by(key))


@pytest.mark.parametrize("knobs", [dict(assets=1, days=0.01), dict(assets=1, days=0.01, mean_interval_s=1e7),
                                   dict(assets=2, days=1, new_asset_type="blower", new_asset_type_at_day=0.5,
                                        new_assets=1, duplicate_rate=1.0, late_rate=1.0, null_rate=1.0)])
def test_edge_sizes_and_extreme_rates(knobs: dict) -> None:
    data = generate(GeneratorConfig(**knobs))
    assert data.events.schema.names[-2:] == [EVENT_ID, ARRIVAL_TIME]
    if knobs.get("duplicate_rate") == 1.0:
        ids = data.events[EVENT_ID].to_pylist()
        assert len(ids) == 2 * len(set(ids))  # every event delivered twice
        assert pc.sum(pc.is_null(data.events["vibration"])).as_py() == data.events.num_rows


def test_a_gateway_outage_holds_arrivals_back_and_changes_nothing_else() -> None:
    """The gateway-outage replay scenario: nothing arrives for the outage, then the held
    readings arrive at once; every event and value is the one without the outage."""
    cfg = GeneratorConfig(days=2.0, assets=20, seed=11)
    plain = generate(cfg).events
    down = generate(cfg.model_copy(update={"outage_at_day": 0.5, "outage_hours": 6.0})).events
    start_us = int(cfg.start.timestamp() * 1_000_000)
    lo, hi = start_us + 12 * 3600 * 1_000_000, start_us + 18 * 3600 * 1_000_000

    def arrivals(t: pa.Table) -> np.ndarray:
        return t[ARRIVAL_TIME].cast(pa.int64()).to_numpy()

    held = (arrivals(plain) >= lo) & (arrivals(plain) < hi)
    assert held.sum() > 100  # six hours of twenty assets reporting every ~15 minutes
    a = arrivals(down)
    assert not ((a >= lo) & (a < hi)).any()  # silence while the gateways are down
    assert int((a == hi).sum()) == int(held.sum())  # then the backlog at once
    key = [EVENT_ID, "event_time", "vibration", "temperature"]
    assert down.select(key).sort_by(EVENT_ID).equals(plain.select(key).sort_by(EVENT_ID))
