#!/usr/bin/env python
"""Benchmark: the runtime data layer at the size the features benchmark uses.

Measured (medians of several rounds, wall clock, from the repository root):

* ``generate``  -- ``runtime.data.generator.generate`` of about 1,000,000 sensor
  events (200 assets, 60 days, one event per ~17 min per asset, every fault
  and drift knob on);
* ``write``     -- the generate-data step's daily Parquet files of that set;
* ``validate``  -- ``read_source`` + ``apply_contract`` of those files (the
  validate-data step without the snapshot write);
* ``iter``      -- ``iter_events`` records per second (what the stream
  publisher replays), over the first 200,000 records.

Results are printed and written to ``bench/results/data.json``; nothing is
asserted on timings.

Usage: ``python bench/data/bench_data.py [--quick]``
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from runtime.contracts.steps import DataSourceConfig, FieldConfig  # noqa: E402
from runtime.data.contract import apply_contract  # noqa: E402
from runtime.data.generator import GeneratorConfig, generate, iter_events  # noqa: E402
from runtime.data.partitions import write_partitioned  # noqa: E402
from runtime.data.sources import read_source  # noqa: E402
from runtime.events import ARRIVAL_TIME  # noqa: E402
from runtime.data.generator import EVENT_COLUMNS  # noqa: E402
from runtime.steps.generate_data import shape  # noqa: E402

DATA_DISTS = ("numpy", "pyarrow", "pydantic")
CONFIG = GeneratorConfig(seed=7, assets=200, days=60, mean_interval_s=1036.8, null_rate=0.01, duplicate_rate=0.005,
                         out_of_order_rate=0.02, late_rate=0.002, out_of_range_rate=0.002, recalibration_at_day=40,
                         new_asset_type="compressor", new_asset_type_at_day=45, new_assets=10, seasonal_amplitude=4.0)
SOURCE = DataSourceConfig(
    name="sensor-events", type="file", path="data/events/*.parquet", format="parquet", entity="asset_id",
    timestamp="event_time", fields=tuple(FieldConfig(name=n, type=t, nullable=n not in ("asset_id", "event_time", "asset_type", "criticality"),
                                                     values=("pump", "turbine", "compressor") if n == "asset_type" else
                                                     ("low", "medium", "high", "critical") if n == "criticality" else ())
                                         for n, t in (("asset_id", "string"), ("event_time", "timestamp"),
                                                      ("asset_type", "category"), ("criticality", "category"),
                                                      ("temperature", "float"), ("vibration", "float"),
                                                      ("pressure", "float"), ("rpm", "float"))),
    max_null_fraction=0.05, max_duplicate_fraction=0.02, max_out_of_range_fraction=0.01, min_rows=1000,
    allowed_lateness_s=7200.0, late_policy="quarantine", quarantine_action="quarantine", max_bad_fraction=0.05)


def _bench_lint():
    spec = importlib.util.spec_from_file_location("bench_lint", REPO / "bench" / "lint" / "bench_lint.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _median(fn, rounds: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round each")
    args = parser.parse_args(argv)
    rounds = 1 if args.quick else 3
    bl = _bench_lint()
    load_before = os.getloadavg()

    t_generate, data = _median(lambda: generate(CONFIG), rounds)
    events = data.events  # type: ignore[attr-defined]
    table = shape(events, SOURCE, EVENT_COLUMNS)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t_write, files = _median(lambda: write_partitioned(table, SOURCE, root, ARRIVAL_TIME), rounds)

        def validate():
            return apply_contract(read_source(SOURCE, root), as_of=CONFIG.start + timedelta(days=CONFIG.days))

        t_validate, outcome = _median(validate, rounds)
    n_iter = 200_000
    start = time.perf_counter()
    for _ in itertools.islice(iter_events(CONFIG), n_iter):
        pass
    t_iter = time.perf_counter() - start  # includes one generate()

    rows = events.num_rows
    figures = {
        "events": rows,
        "files": len(files),  # type: ignore[arg-type]
        "generate_s": round(t_generate, 3),
        "generate_events_per_s": round(rows / t_generate),
        "write_s": round(t_write, 3),
        "validate_s": round(t_validate, 3),
        "validate_rows_per_s": round(rows / t_validate),
        "validate_quarantined": outcome.rows_quarantined,  # type: ignore[attr-defined]
        "iter_first_200k_s": round(t_iter, 3),
    }
    print(f"{'measure':<28}{'value':>14}")
    for key, value in figures.items():
        print(f"{key:<28}{value:>14}")
    result = {**bl.run_header("quick" if args.quick else "full", DATA_DISTS, load_before), "rounds": rounds,
              "config": CONFIG.model_dump(mode="json"), "figures": figures}
    bl.write_results(REPO / "bench" / "results" / "data.json", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
