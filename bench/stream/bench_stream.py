"""Stream ingestion throughput against the real NATS JetStream, into the
SQLite and Redis online stores.

For each store: publish N events with the runtime's publisher (JetStream
acks every message), then start a real ingester (``python -m runtime
ingest``) and time from its first consumed event until the durable consumer
has acknowledged everything (applied = N is checked, never assumed).
Figures: events/s for publishing and for ingestion (median of the repeats),
written to ``bench/results/stream.json``.  Needs NATS on 127.0.0.1:4222 and,
for the Redis row, Redis on 127.0.0.1:6379.

    .venv/bin/python bench/stream/bench_stream.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RESULTS_PATH = REPO / "bench" / "results" / "stream.json"


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# One way to drive a real ingester (shared with the integration tests) and one results format (bench/lint).
harness = _load("stream_harness", REPO / "tests" / "integration" / "stream_harness.py")
bench_lint = _load("bench_lint", REPO / "bench" / "lint" / "bench_lint.py")


def consumer_done(names: Any) -> bool:
    import nats

    async def go() -> bool:
        nc = await nats.connect(harness.NATS_URL)
        try:
            info = await nc.jetstream().consumer_info(names.stream, names.durable)
            return info.num_pending == 0 and info.num_ack_pending == 0
        finally:
            await nc.close()
    return asyncio.run(go())


def one_run(store: str, n: int, workdir: Path) -> dict[str, float]:
    names = harness.StreamNames.new()
    url = (f"redis://127.0.0.1:6379/0?prefix={names.redis_prefix}" if store == "redis"
           else f"sqlite:///{workdir}/{names.token}.sqlite")
    config = harness.ingest_config(names, store_url=url, port=harness.free_port(), batch=100, ack_wait_s=30.0)
    evs = harness.events(n, assets=50)
    try:
        t0 = time.perf_counter()
        result = harness.publish(config, evs)
        publish_s = time.perf_counter() - t0
        assert result.published == n, result
        ingester = harness.IngesterProcess(config, workdir)
        try:
            ingester.wait_metric("consumed", 1, timeout=60)
            t1 = time.perf_counter()
            harness.wait_until(lambda: consumer_done(names), 600, "the consumer to ack everything")
            ingest_s = time.perf_counter() - t1
            applied = ingester.metrics()["applied"]
            assert applied == n, f"applied {applied} of {n}"
        finally:
            ingester.terminate()
    finally:
        harness.delete_streams(names.stream, names.dead_letter_stream)
        if store == "redis":
            harness.delete_redis_prefix(names.redis_prefix)
    return {"publish_s": publish_s, "ingest_s": ingest_s}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer events and repeats")
    args = parser.parse_args(argv)
    n, repeats = (1000, 1) if args.quick else (5000, 3)
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for store in ("sqlite", "redis"):
            runs = [one_run(store, n, Path(tmp)) for _ in range(repeats)]
            publish = statistics.median(r["publish_s"] for r in runs)
            ingest = statistics.median(r["ingest_s"] for r in runs)
            rows.append({"store": store, "events": n, "repeats": repeats, "publish_s": round(publish, 3),
                         "ingest_s": round(ingest, 3), "publish_events_per_s": round(n / publish),
                         "ingest_events_per_s": round(n / ingest)})
    print(f"{'store':<8}{'events':>8}{'publish ev/s':>14}{'ingest ev/s':>13}")
    for r in rows:
        print(f"{r['store']:<8}{r['events']:>8}{r['publish_events_per_s']:>14}{r['ingest_events_per_s']:>13}")
    result = {**bench_lint.run_header("quick" if args.quick else "full", ("nats-py", "redis"), load_before), "rows": rows}
    bench_lint.write_results(RESULTS_PATH, result)
    print(f"wrote {RESULTS_PATH.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
