#!/usr/bin/env python
"""Benchmark: what the prediction log costs on the serving path.

Workload
--------
The serving fixture (``tests/runtime/serving/served.py: make_repo``): the
compiled local serve config, a small ONNX model registered as candidate and
an online store (SQLite) filled through the online engine; one entity per
request, three entities in turn.  The fixture model is cheaper than the
pipeline's LightGBM export, so the ratios here are an upper bound on the
relative cost.

What is measured (same run, same machine)
-----------------------------------------
* ``in_process`` -- ``SpecOpsPredictor.predict`` on a V1 body, p50/p99 over
  ``--calls`` calls: without a prediction log, with it (``synchronous=NORMAL``,
  the default: survives kill -9) and with ``synchronous=FULL`` (an fsync per
  request: survives power loss).  The variants run interleaved in rounds so
  drift in machine load hits them alike.  Ratios are to the no-log p50/p99.
* ``append`` -- ``PredictionLog.append`` of one record alone (one SQLite
  transaction: tools and tests write this way);
* ``record`` -- ``PredictionLog.record`` of one record alone (the serving
  path: one write to the process's journal), background ingest stopped;
* ``ingest`` -- moving those journal lines into SQLite, per row, and the
  decode of one ingest chunk (one orjson call: it holds the GIL that long).
* ``http`` -- requests/s through `python -m runtime serve` (4 keep-alive
  client threads, ``--seconds`` after a 1 s warm-up), without and with the
  log, alternating, twice each; ratio of the medians.
* ``compaction`` -- rows/s moved from the write-ahead file to Parquet.

Results go to ``bench/results/predlog.json``; nothing is asserted.

Usage (from the repository root)::

    .venv/bin/python bench/predlog/bench_predlog.py [--quick]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from runtime.contracts.monitoring import PredictionRecord  # noqa: E402
from runtime.contracts.steps import PredictionLogConfig  # noqa: E402
from runtime.predlog.journal import INGEST_CHUNK_BYTES  # noqa: E402
from runtime.predlog.parquet import compact  # noqa: E402
from runtime.predlog.store import PredictionLog  # noqa: E402
from runtime.serving.predictor import SpecOpsPredictor  # noqa: E402


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bl = _load("bench_lint", REPO / "bench" / "lint" / "bench_lint.py")  # run_header, write_results
bs = _load("bench_serve", REPO / "bench" / "serve" / "bench_serve.py")  # percentiles, per_call, start, load
from tests.runtime.serving import served  # noqa: E402

RESULTS_PATH = REPO / "bench" / "results" / "predlog.json"
DISTS = ("kserve", "onnxruntime", "duckdb", "pyarrow", "fsspec")
CONFIG = "generated/runtime/pump-failure/serve.json"

# The predictor behind the same server with the in-process online store, so
# the log's share of a request is not hidden behind SQLite feature reads.
MEMORY_SERVER = '''
import gc, sys
from pathlib import Path
sys.argv = sys.argv[:1]
sys.path.insert(0, "REPO_VALUE")
from runtime.contracts.steps import ServeConfig
from runtime.features.online import OnlineEngine
from runtime.features.store import open_store
from runtime.serving.online import OnlineFeatures
from runtime.serving.predictor import SpecOpsPredictor
from runtime.serving.server import SpecOpsModelServer
from tests.runtime.serving.served import ASSETS, asset_events

config = ServeConfig.model_validate_json(Path("CONFIG_VALUE").read_text())
store = open_store("memory://")
engine = OnlineEngine(config.feature_sets, store)
for asset, (kind, crit, vib) in ASSETS.items():
    for event in asset_events(asset, kind, crit, vib):
        engine.apply(event)
predictor = SpecOpsPredictor(config, features=OnlineFeatures(config.feature_sets, config.features, store))
predictor.load()
gc.freeze()
SpecOpsModelServer(host="127.0.0.1", http_port=int(PORT_VALUE)).start([predictor])
'''


def in_process(root: Path, calls: int, rounds: int) -> dict[str, Any]:
    base = served.make_repo(root / "inproc").config
    os.chdir(root / "inproc")
    variants = {
        "no_log": base.model_copy(update={"prediction_log": None}),
        "log_normal": base.model_copy(update={"prediction_log": PredictionLogConfig(
            path="wal/normal.db", root="parquet")}),
        "log_full": base.model_copy(update={"prediction_log": PredictionLogConfig(
            path="wal/full.db", root="parquet", synchronous="full")}),
    }
    predictors = {}
    for name, cfg in variants.items():
        p = SpecOpsPredictor(cfg)
        p.load()
        predictors[name] = p
    at = served.iso(served.T0 + timedelta(minutes=1))
    bodies = [{"instances": [{"entity": e, "at": at}]} for e in sorted(served.ASSETS)]
    headers = {"x-request-id": "bench"}
    samples: dict[str, list[int]] = {n: [] for n in variants}
    cpu_ns = dict.fromkeys(variants, 0)  # CPU time too: on a shared machine wall time waits for other work
    per_round = max(1, calls // rounds)
    for _ in range(rounds):
        for name, p in predictors.items():
            c = time.process_time_ns()
            samples[name] += bs.per_call(lambda i, p=p: p.predict(bodies[i % len(bodies)], headers), per_round,
                                         warmup=50)
            cpu_ns[name] += time.process_time_ns() - c
    out: dict[str, Any] = {name: {**bs.percentiles(ns), "cpu_us_per_call": cpu_ns[name] / 1000 / (len(ns) + 50 * rounds)}
                           for name, ns in samples.items()}
    for name in ("log_normal", "log_full"):
        out[f"{name}_over_no_log"] = {q: out[name][q] / out["no_log"][q] for q in ("p50_us", "p99_us", "cpu_us_per_call")}
    log = predictors["log_normal"].prediction_log
    assert log is not None
    out["rows_logged_normal"] = log.stats()["rows"]
    record = next(log.records())
    for p in predictors.values():
        p.unload()
    out["append"] = append_bench(root / "append.db", record, calls)
    out["record"], out["ingest"] = record_bench(root / "record.db", record, calls)
    out["compaction"] = compaction_bench(root, record)
    return out


def append_bench(path: Path, record: PredictionRecord, calls: int) -> dict[str, Any]:
    log = PredictionLog(path)
    try:
        return bs.percentiles(bs.per_call(lambda i: log.append([record]), calls, warmup=100))
    finally:
        log.close()


def record_bench(path: Path, record: PredictionRecord, calls: int) -> tuple[dict[str, Any], dict[str, Any]]:
    log = PredictionLog(path)
    try:
        log.writer()
        assert log._checkpoint is not None
        log._checkpoint.stop()  # ingest is timed on its own below
        timed = bs.percentiles(bs.per_call(lambda i: log.record([record]), calls, warmup=100))
        # One chunk's decode is one orjson call holding the GIL: how long the serving thread can wait.
        first = b"".join(p.read_bytes() for p in sorted(log.journals.glob("*.jsonl")))[:INGEST_CHUNK_BYTES]
        first = first[:first.rfind(b"\n")]
        start = time.perf_counter_ns()
        orjson.loads(b"[" + first.replace(b"\n", b",") + b"]")
        decode_ms = (time.perf_counter_ns() - start) / 1e6
        start = time.perf_counter_ns()
        rows = log.ingest().rows
        return timed, {"rows": rows, "us_per_row": (time.perf_counter_ns() - start) / 1000 / rows,
                       "chunk_bytes": INGEST_CHUNK_BYTES, "chunk_decode_ms": decode_ms}
    finally:
        log.close()


def compaction_bench(root: Path, record: PredictionRecord, rows: int = 200_000) -> dict[str, Any]:
    log = PredictionLog(root / "compact.db")
    log.set_feature_types(record.model, {k: "string" if isinstance(v, str) else "float64"
                                         for k, v in record.features.items()})
    try:
        batch = [record] * 1000
        for _ in range(rows // len(batch)):
            log.append(batch)
        t = time.perf_counter()
        done = compact(log, str(root / "compacted"))
        elapsed = time.perf_counter() - t
        return {"rows": done.rows_moved, "seconds": elapsed, "rows_per_s": done.rows_moved / elapsed,
                "parts": len(done.parts)}
    finally:
        log.close()


def http_bench(root: Path, seconds: float, repeats: int) -> dict[str, Any]:
    repos = {"no_log": served.make_repo(root / "http-nolog", prediction_log=None),
             "log_normal": served.make_repo(root / "http-log")}
    at = served.iso(served.T0 + timedelta(minutes=1))
    bodies = [json.dumps({"instances": [{"entity": e, "at": at}]}).encode() for e in sorted(served.ASSETS)]
    memory = MEMORY_SERVER.replace("REPO_VALUE", str(REPO)).replace("CONFIG_VALUE", CONFIG)
    out: dict[str, Any] = {}
    for store in ("sqlite", "memory"):
        runs: dict[str, list[float]] = {n: [] for n in repos}
        for _ in range(repeats):
            for name, repo in repos.items():
                port = served.free_port()
                argv = ([sys.executable, "-m", "runtime", "serve", "--config", CONFIG] if store == "sqlite"
                        else [sys.executable, "-c", memory.replace("PORT_VALUE", str(port))])
                process = bs.start(argv, repo.root, {"SPECOPS_SERVE_PORT": str(port), "PYTHONPATH": str(REPO)}, port)
                try:
                    result = bs.load(port, bodies, seconds)
                    assert set(result["statuses"]) == {200}, result
                    runs[name].append(result["requests_per_s"])
                finally:
                    process.terminate()
                    process.wait(timeout=30)
        part: dict[str, Any] = {n: {"requests_per_s_runs": r, "requests_per_s_median": statistics.median(r)}
                                for n, r in runs.items()}
        part["log_over_no_log"] = part["log_normal"]["requests_per_s_median"] / part["no_log"]["requests_per_s_median"]
        out[f"{store}_store"] = part
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--calls", type=int, default=6000)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    calls, seconds, repeats = (1500, 2.0, 1) if args.quick else (args.calls, args.seconds, 2)
    load_before = os.getloadavg()
    cwd = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="bench-predlog-") as tmp:
        try:
            inproc = in_process(Path(tmp), calls, rounds=6)
        finally:
            os.chdir(cwd)
        http = http_bench(Path(tmp), seconds, repeats)
    result = {**bl.run_header("quick" if args.quick else "full", DISTS, load_before),
              "in_process": inproc, "http": http}
    bl.write_results(RESULTS_PATH, result)
    print(f"{'in-process predict':<28} {'p50 us':>9} {'p99 us':>9} {'cpu us':>9}")
    for name in ("no_log", "log_normal", "log_full"):
        r = inproc[name]
        print(f"{name:<28} {r['p50_us']:>9.1f} {r['p99_us']:>9.1f} {r['cpu_us_per_call']:>9.1f}")
    for name in ("log_normal", "log_full"):
        r = inproc[f"{name}_over_no_log"]
        print(f"{name + ' / no_log':<28} {r['p50_us']:>8.2f}x {r['p99_us']:>8.2f}x {r['cpu_us_per_call']:>8.2f}x")
    print(f"{'append alone':<28} {inproc['append']['p50_us']:>9.1f} {inproc['append']['p99_us']:>9.1f}")
    print(f"{'record (journal) alone':<28} {inproc['record']['p50_us']:>9.1f} {inproc['record']['p99_us']:>9.1f}")
    print(f"ingest: {inproc['ingest']['us_per_row']:.1f} us a row ({inproc['ingest']['rows']} rows); one "
          f"{inproc['ingest']['chunk_bytes'] >> 10} KB chunk's decode holds the GIL {inproc['ingest']['chunk_decode_ms']:.1f} ms")
    print(f"compaction: {inproc['compaction']['rows_per_s']:.0f} rows/s")
    for store, h in http.items():
        print(f"http ({store}): no_log {h['no_log']['requests_per_s_median']:.0f}/s, "
              f"log {h['log_normal']['requests_per_s_median']:.0f}/s, ratio {h['log_over_no_log']:.2f}")
    print(f"-> {RESULTS_PATH.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
