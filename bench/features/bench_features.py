#!/usr/bin/env python
"""Benchmark: the feature engines on 1,000,000 events of 10,000 entities.

Workload
--------
The embedded generator (``runtime.data.generator``, seeded) draws 1,000,000
sensor events for 10,000 assets over 7 days (about 100 events per asset, a
few out of order), in arrival order, written to Parquet.  The feature set is
the example's ``asset-health`` reduced to what the issue names: ``count``,
``sum``, ``mean`` and ``max`` of ``vibration`` and ``temperature`` and the
event count, over 1 h and 24 h (18 features).

What is measured (medians of the repeats; each figure next to its baseline
measured in the same run)
-------------------------------------------------------------------------
* **batch**: ``runtime.features.batch.sample_features`` over the Parquet
  file, the features of every event as of its arrival (1,000,000
  point-in-time rows), in events/s;
  baseline ``raw-sql``: the same aggregation written by hand as one DuckDB
  query (same semantics: de-duplication, arrival filter, bucketed join,
  FILTERed aggregates); target engine >= 0.9x raw SQL.
  Reference ``window-sql``: DuckDB window functions over event time only
  (NOT point-in-time: late arrivals leak in), what ignoring arrival costs.
* **online update**: ``OnlineEngine.apply`` of every event in arrival order
  into the in-process store, in events/s;
  baseline ``naive-deque``: a per-entity deque of the last 24 h that
  recomputes the 18 features after each event (no de-duplication, no late
  policy, float sums); target engine >= 2x naive.
* **online read**: one entity's 18 features, p50/p99 over 20,000 reads of
  random entities, in-process (target p99 <= 50 us) and from Redis on
  loopback (state of 1,000 entities loaded through the Redis store; target
  p99 <= 1 ms), plus the Redis apply rate.
* **SQLite apply**: ``OnlineEngine.apply`` into a SQLite file (first 2,000
  events), with the store's default ``synchronous=NORMAL`` (WAL) and with
  ``synchronous=full`` (an fsync per apply), in events/s.
* **memory per entity**: Python heap of the in-process state (tracemalloc,
  1,000 entities) and the serialized state size (what Redis holds).

Results are printed and written to ``bench/results/features.json``.
Repeats: 5 (``--quick``: 100,000 events of 1,000 entities, 2 repeats).

Usage (from the repository root)::

    python bench/features/bench_features.py [--quick] [--no-redis]
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections import deque
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from runtime.contracts.steps import AggregationConfig, FeatureSetConfig, GeneratorConfig
from runtime.data.generator import generate
from runtime.features.batch import sample_features
from runtime.features.definition import define
from runtime.features.online import OnlineEngine
from runtime.features.store import open_store
from runtime.features.timestamps import to_us

REPO = Path(__file__).resolve().parents[2]
RESULTS_PATH = REPO / "bench" / "results" / "features.json"
LINT_BENCH = REPO / "bench" / "lint" / "bench_lint.py"
DISTS = ("duckdb", "pyarrow", "redis", "numpy")
HOUR_US, DAY_US = 3_600_000_000, 86_400_000_000
WINDOWS = (("1h", 3600.0), ("24h", 86400.0))
COLUMNS = ("vibration", "temperature")
FUNCTIONS = ("count", "sum", "mean", "max")
REDIS = ("127.0.0.1", 6379)


def _lint_bench():
    """bench/lint/bench_lint.py as a module: run header, results writer and summary are shared."""
    spec = importlib.util.spec_from_file_location("bench_lint", LINT_BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bl = _lint_bench()

FEATURE_SET = FeatureSetConfig(
    name="asset-health-bench", source="sensor-events", entity="asset_id", timestamp="event_time", attributes=(),
    transforms=(), online_ttl_s=None,
    aggregations=tuple(
        [AggregationConfig(name=f"{c}_{f}_{w}", column=c, function=f, window_s=s)  # type: ignore[arg-type]
         for w, s in WINDOWS for c in COLUMNS for f in FUNCTIONS]
        + [AggregationConfig(name=f"events_count_{w}", function="count", window_s=s) for w, s in WINDOWS]),
)


# ------------------------------------------------------------------ batch


def raw_sql() -> str:
    """The benchmark's aggregation written by hand (same semantics as the engine)."""
    aggs = []
    for w, s in WINDOWS:
        win = f"ev.et > s.t - {int(s * 1e6)}"
        for c in COLUMNS:
            aggs += [f"count(ev.{c}) FILTER (WHERE {win}) AS {c}_count_{w}",
                     f"coalesce(fsum(ev.{c}) FILTER (WHERE {win}), 0.0) AS {c}_sum_{w}",
                     f"fsum(ev.{c}) FILTER (WHERE {win}) / count(ev.{c}) FILTER (WHERE {win}) AS {c}_mean_{w}",
                     f"max(ev.{c}) FILTER (WHERE {win}) AS {c}_max_{w}"]
        aggs.append(f"count(ev.eid) FILTER (WHERE {win}) AS events_count_{w}")
    return f"""
        WITH dedup AS (
            SELECT CAST(asset_id AS VARCHAR) AS e, epoch_us(event_time) AS et,
                   coalesce(epoch_us(_arrival_time), epoch_us(event_time)) AS arr, _event_id AS eid,
                   vibration, temperature
            FROM events QUALIFY row_number() OVER (PARTITION BY _event_id ORDER BY arr, et) = 1),
        offered AS (SELECT dedup.*, et // {DAY_US} + o AS bk FROM dedup, (VALUES (0), (1)) d(o)),
        s AS (SELECT __entity AS e, __t AS t, __t // {DAY_US} AS bk FROM samples)
        SELECT s.e, s.t, {', '.join(aggs)}
        FROM s LEFT JOIN offered ev ON ev.e = s.e AND ev.bk = s.bk AND ev.et <= s.t AND ev.arr <= s.t
             AND ev.et > s.t - {DAY_US}
        GROUP BY s.e, s.t ORDER BY 1, 2"""


def window_sql() -> str:
    """Reference only: window functions over event time (not point-in-time)."""
    aggs = []
    for w, s in WINDOWS:
        frame = f"w{w}"
        for c in COLUMNS:
            aggs += [f"count({c}) OVER {frame}", f"sum({c}) OVER {frame}", f"avg({c}) OVER {frame}",
                     f"max({c}) OVER {frame}"]
        aggs.append(f"count(*) OVER {frame}")
    frames = ", ".join(f"w{w} AS (PARTITION BY asset_id ORDER BY et RANGE BETWEEN {int(s * 1e6) - 1} PRECEDING "
                       "AND CURRENT ROW)" for w, s in WINDOWS)
    return (f"SELECT asset_id, et, {', '.join(aggs)} FROM (SELECT *, epoch_us(event_time) AS et FROM events) "
            f"WINDOW {frames}")


def bench_batch(path: Path, repeats: int) -> dict[str, Any]:
    con = duckdb.connect()
    con.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet('{path}')")
    con.execute("CREATE TABLE samples AS SELECT CAST(asset_id AS VARCHAR) AS __entity, "
                "greatest(epoch_us(event_time), epoch_us(_arrival_time)) AS __t FROM events")
    n = con.execute("SELECT count(*) FROM samples").fetchone()[0]  # type: ignore[index]
    defs = define([FEATURE_SET])
    runs: dict[str, list[float]] = {"engine": [], "raw-sql": [], "window-sql": []}
    check: dict[str, pa.Table] = {}
    jobs = {
        "engine": lambda: sample_features(con, defs, {"sensor-events": "events"}, "samples"),
        "raw-sql": lambda: con.sql(raw_sql()).to_arrow_table(),
        "window-sql": lambda: con.sql(window_sql()).to_arrow_table(),
    }
    for i in range(repeats):
        order = list(jobs) if i % 2 == 0 else list(reversed(jobs))  # alternate: no systematic warm-cache bias
        for name in order:
            gc.collect()
            t0 = time.perf_counter()
            table = jobs[name]()
            runs[name].append(time.perf_counter() - t0)
            if name != "window-sql":
                check[name] = table
    engine, raw = check["engine"], check["raw-sql"]
    exact = [c for c in raw.column_names if c.endswith(("count_1h", "count_24h", "max_1h", "max_24h"))]
    same = engine.num_rows == raw.num_rows == n and all(engine.column(c).equals(raw.column(c)) for c in exact)
    out: dict[str, Any] = {"events": n, "engine_equals_raw_sql_on_exact_columns": bool(same)}
    for name, times in runs.items():
        out[name] = {"seconds": bl.summary(times), "events_per_s": n / statistics.median(times)}
    out["ratio_engine_to_raw_sql"] = out["engine"]["events_per_s"] / out["raw-sql"]["events_per_s"]
    con.close()
    return out


# ----------------------------------------------------------------- online


def naive_deque(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Baseline: per-entity deque of the last 24 h, all features recomputed after each event."""
    state: dict[str, deque] = {}
    latest: dict[str, dict[str, Any]] = {}
    for r in rows:
        entity = r["asset_id"]
        et = to_us(r["event_time"])
        dq = state.get(entity)
        if dq is None:
            dq = state[entity] = deque()
        dq.append((et, r["vibration"], r["temperature"]))
        while dq[0][0] <= et - DAY_US:
            dq.popleft()
        feats: dict[str, Any] = {}
        for w, width in (("1h", HOUR_US), ("24h", DAY_US)):
            window = [x for x in dq if x[0] > et - width]
            feats[f"events_count_{w}"] = len(window)
            for i, c in ((1, "vibration"), (2, "temperature")):
                vals = [x[i] for x in window if x[i] is not None]
                total = sum(vals)
                feats[f"{c}_count_{w}"] = len(vals)
                feats[f"{c}_sum_{w}"] = total
                feats[f"{c}_mean_{w}"] = total / len(vals) if vals else None
                feats[f"{c}_max_{w}"] = max(vals) if vals else None
        latest[entity] = feats
    return latest


def load_engine(rows: list[dict[str, Any]], url: str = "memory://") -> OnlineEngine:
    engine = OnlineEngine([FEATURE_SET], open_store(url))
    for r in rows:
        engine.apply(r)
    return engine


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    s = sorted(samples_ns)
    return {"p50_us": s[len(s) // 2] / 1e3, "p99_us": s[int(len(s) * 0.99)] / 1e3, "max_us": s[-1] / 1e3,
            "reads": len(s)}


def time_reads(engine: OnlineEngine, entities: list[str], at: int, n: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    picks = [entities[rng.randrange(len(entities))] for _ in range(n)]
    for e in picks[:200]:  # warm-up
        engine.read(e, at)
    out = []
    clock = time.perf_counter_ns
    for e in picks:
        t0 = clock()
        engine.read(e, at)
        out.append(clock() - t0)
    return percentiles(out)


def bench_online(rows: list[dict[str, Any]], repeats: int, reads: int) -> tuple[dict[str, Any], OnlineEngine]:
    runs: dict[str, list[float]] = {"engine": [], "naive-deque": []}
    engine = None
    for i in range(repeats):
        for name in (("engine", "naive-deque") if i % 2 == 0 else ("naive-deque", "engine")):
            gc.collect()
            t0 = time.perf_counter()
            if name == "engine":
                engine = load_engine(rows)
            else:
                naive_deque(rows)
            runs[name].append(time.perf_counter() - t0)
    assert engine is not None
    n = len(rows)
    out: dict[str, Any] = {"events": n}
    for name, times in runs.items():
        out[name] = {"seconds": bl.summary(times), "events_per_s": n / statistics.median(times)}
    out["ratio_engine_to_naive"] = out["engine"]["events_per_s"] / out["naive-deque"]["events_per_s"]
    entities = sorted({r["asset_id"] for r in rows})
    at = max(to_us(r["_arrival_time"]) for r in rows)
    out["read_in_process"] = time_reads(engine, entities, at, reads, seed=1)
    return out, engine


def bench_memory(rows: list[dict[str, Any]], engine: OnlineEngine, entities: int) -> dict[str, Any]:
    keep = set(sorted({r["asset_id"] for r in rows})[:entities])
    subset = [r for r in rows if r["asset_id"] in keep]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    small = load_engine(subset)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    sizes = [len(s.to_bytes()) for e in sorted(keep) if (s := engine.store.get(FEATURE_SET.name, e)) is not None]
    states = [small.store.get(FEATURE_SET.name, e) for e in keep]
    kept = [len(s.events.ets) for s in states if s is not None]
    return {"entities": len(keep), "python_heap_bytes_per_entity": (after - before) / len(keep),
            "serialized_bytes_per_entity": statistics.mean(sizes),
            "events_kept_per_entity": statistics.mean(kept)}


def bench_sqlite(rows: list[dict[str, Any]], events: int) -> dict[str, Any]:
    subset = rows[:events]
    out: dict[str, Any] = {"events": len(subset)}
    for mode in ("normal", "full"):
        with tempfile.TemporaryDirectory(dir=REPO) as tmp:  # the repository's disk, not a tmpfs
            t0 = time.perf_counter()
            engine = load_engine(subset, f"sqlite:///{tmp}/online.db?synchronous={mode}")
            out[f"apply_events_per_s_synchronous_{mode}"] = len(subset) / (time.perf_counter() - t0)
            engine.store.close()
    return out


def bench_redis(rows: list[dict[str, Any]], entities: int, reads: int) -> dict[str, Any]:
    import socket

    try:
        socket.create_connection(REDIS, timeout=1.0).close()
    except OSError as exc:
        return {"skipped": f"Redis at {REDIS[0]}:{REDIS[1]} not reachable ({exc})"}
    import redis

    keep = set(sorted({r["asset_id"] for r in rows})[:entities])
    subset = [r for r in rows if r["asset_id"] in keep]
    prefix = f"specops-bench-{uuid.uuid4().hex[:10]}"
    url = f"redis://{REDIS[0]}:{REDIS[1]}/0?prefix={prefix}"
    try:
        t0 = time.perf_counter()
        engine = load_engine(subset, url)
        apply_s = time.perf_counter() - t0
        at = max(to_us(r["_arrival_time"]) for r in subset)
        read = time_reads(engine, sorted(keep), at, reads, seed=2)
        engine.store.close()
    finally:
        client = redis.Redis(host=REDIS[0], port=REDIS[1])
        keys = list(client.scan_iter(f"{prefix}:*", count=10_000))
        for i in range(0, len(keys), 5000):
            client.delete(*keys[i:i + 5000])
        client.close()
    return {"entities": len(keep), "events": len(subset), "apply_events_per_s": len(subset) / apply_s, "read": read}


# ------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="100,000 events of 1,000 entities, 2 repeats")
    ap.add_argument("--no-redis", action="store_true", help="skip the Redis read benchmark")
    ap.add_argument("--output", type=Path, default=RESULTS_PATH)
    args = ap.parse_args(argv)
    load_before = os.getloadavg()
    events, entities, repeats = (100_000, 1_000, 2) if args.quick else (1_000_000, 10_000, 5)
    days = 7.0
    gen = GeneratorConfig(seed=11, assets=entities, days=days, mean_interval_s=days * 86400 * entities / events,
                          out_of_order_rate=0.02, duplicate_rate=0.001)
    t0 = time.perf_counter()
    data = generate(gen)
    print(f"generated {data.events.num_rows:,} events of {entities:,} entities in {time.perf_counter() - t0:.1f}s",
          flush=True)
    result: dict[str, Any] = bl.run_header("quick" if args.quick else "full", DISTS, load_before)
    result["workload"] = {"events": data.events.num_rows, "entities": entities, "days": days,
                          "features": [a.name for a in FEATURE_SET.aggregations], "repeats": repeats}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.parquet"
        pq.write_table(data.events, path)
        result["batch"] = bench_batch(path, repeats)
    b = result["batch"]
    print(f"batch: engine {b['engine']['events_per_s']:,.0f} ev/s, raw SQL {b['raw-sql']['events_per_s']:,.0f} ev/s "
          f"(ratio {b['ratio_engine_to_raw_sql']:.2f}; target >= 0.9), window SQL (not point-in-time) "
          f"{b['window-sql']['events_per_s']:,.0f} ev/s", flush=True)
    rows = data.events.to_pylist()
    online, engine = bench_online(rows, repeats, reads=20_000)
    result["online"] = online
    r = online["read_in_process"]
    print(f"online: apply {online['engine']['events_per_s']:,.0f} ev/s, naive deque "
          f"{online['naive-deque']['events_per_s']:,.0f} ev/s (ratio {online['ratio_engine_to_naive']:.2f}; "
          f"target >= 2); read in-process p50 {r['p50_us']:.1f} us, p99 {r['p99_us']:.1f} us (target <= 50)", flush=True)
    result["memory"] = bench_memory(rows, engine, entities=min(1000, entities))
    m = result["memory"]
    print(f"memory: {m['python_heap_bytes_per_entity']:,.0f} B/entity in-process, "
          f"{m['serialized_bytes_per_entity']:,.0f} B/entity serialized, {m['events_kept_per_entity']:.1f} events kept")
    result["sqlite"] = bench_sqlite(rows, 2000)
    sq = result["sqlite"]
    print(f"sqlite: apply {sq['apply_events_per_s_synchronous_normal']:,.0f} ev/s (WAL, synchronous=NORMAL), "
          f"{sq['apply_events_per_s_synchronous_full']:,.0f} ev/s (synchronous=FULL)")
    result["redis"] = {"skipped": "--no-redis"} if args.no_redis else bench_redis(rows, min(1000, entities), 20_000)
    rr = result["redis"]
    if "read" in rr:
        print(f"redis: apply {rr['apply_events_per_s']:,.0f} ev/s; read p50 {rr['read']['p50_us']:.0f} us, "
              f"p99 {rr['read']['p99_us']:.0f} us (target <= 1000)")
    else:
        print(f"redis: {rr['skipped']}")
    result["targets"] = {
        "batch_ge_0.9x_raw_sql": b["ratio_engine_to_raw_sql"] >= 0.9,
        "online_apply_ge_2x_naive": online["ratio_engine_to_naive"] >= 2.0,
        "read_in_process_p99_le_50us": r["p99_us"] <= 50.0,
        "read_redis_p99_le_1ms": rr["read"]["p99_us"] <= 1000.0 if "read" in rr else None,
    }
    result["loadavg_1_5_15"]["after"] = os.getloadavg()
    bl.write_results(args.output, result)
    print(f"targets: {result['targets']}\nwritten {args.output.relative_to(REPO) if args.output.is_relative_to(REPO) else args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
