#!/usr/bin/env python
"""Benchmark: online prediction latency and throughput.

Workload
--------
The real pipeline (``tests/runtime/serving/served.py: train_example``:
generator data, validate-data, build-features, train, export-onnx) gives a
LightGBM model exported to ONNX and registered as candidate; the validated
events are replayed into an online store through the online engine.  Every
request predicts one entity (the assets in turn) at the end of the data.

What is measured
----------------
* ``raw``  -- ``session.run`` of the served onnxruntime session on one
  entity's encoded vector: the model call alone;
* ``floor`` -- the feature read, its encoding and ``session.run`` in
  sequence, nothing else: what any predictor over this store and model
  does, so ``floor / raw`` bounds the ratio ``predict`` can reach (it is
  above the sum of its parts in isolation: one call's sequence keeps the
  model's trees out of the hot cache a tight loop of ``raw`` enjoys);
* ``predict`` -- the predictor in-process (``SpecOpsPredictor.predict_one``):
  online features from the in-process store, encoding, ONNX, threshold, the
  policy rules, lineage hash, metrics; same run, same session as ``raw``.
  Target: p50 <= 2.5x raw;
* ``http`` -- requests/s through the kserve ModelServer (quiet logging, the
  in-process store filled at start; every answer written to the prediction
  log's journal first) next to an empty
  ``kserve.Model`` on the same server class and settings, with the same
  client (4 threads, keep-alive); every server is started first, then each
  is loaded in turn for 3 alternating rounds (the median is reported), the
  server pinned to one core and the client to the other (where there are
  two), so placement and load changes hit every variant alike.  Target:
  >= 0.8x empty;
  for reference the same predictor without the prediction log (its share
  of the cost), `python -m runtime serve` on the embedded SQLite store, and
  the predictor with the per-request access log on (which
  also routes v1 through kserve's own endpoint instead of the guard's);
  then the empty model and the predictor with and without the log again at
  saturation (16 connections, 3 alternating rounds);
* ``redis`` -- the in-process predictor over Redis on loopback (a real
  server at 127.0.0.1:6379, unique key prefix, deleted afterwards; every
  read is a GET of the entity's whole state, the decoded state is reused
  while its bytes are unchanged).
  Target: p99 <= 2 ms.

Latencies are per call (``perf_counter_ns``), reported as p50/p99 over
``--calls`` calls after a warm-up; throughput is completed requests over a
fixed duration after a warm-up.  Targets are reported, never asserted.
Results go to ``bench/results/serve.json`` (with machine facts and load).

Usage (from the repository root)::

    .venv/bin/python bench/serve/bench_serve.py [--quick]
"""

from __future__ import annotations

import argparse
import gc
import http.client
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from runtime.contracts.steps import ServeConfig  # noqa: E402
from runtime.events import ARRIVAL_TIME  # noqa: E402
from runtime.features.online import OnlineEngine  # noqa: E402
from runtime.features.store import ApplyResult, open_store  # noqa: E402
from runtime.features.timestamps import to_us  # noqa: E402
from runtime.serving.online import OnlineFeatures  # noqa: E402
from runtime.serving.predictor import SpecOpsPredictor  # noqa: E402
from runtime.serving.request import PredictionInput  # noqa: E402


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bl = _load("bench_lint", REPO / "bench" / "lint" / "bench_lint.py")  # run_header, write_results
from tests.runtime.serving import served  # noqa: E402  (train_example, free_port, iso)

RESULTS_PATH = REPO / "bench" / "results" / "serve.json"
DISTS = ("kserve", "onnxruntime", "fastapi", "uvicorn", "prometheus-client", "redis", "common-expression-language")
CONFIG = "generated/runtime/pump-failure/serve.json"
ROUNDS = 3  # HTTP rounds per variant, alternating; the median is reported
TARGETS = {"predict_over_raw_p50": 2.5, "http_over_empty": 0.8, "redis_p99_ms": 2.0}


def percentiles(ns: list[int]) -> dict[str, float]:
    us = np.array(ns, dtype=np.float64) / 1000.0
    return {"p50_us": float(np.percentile(us, 50)), "p99_us": float(np.percentile(us, 99)), "mean_us": float(us.mean()),
            "calls": len(ns)}


def interleaved(fns: dict[str, Callable[[int], object]], calls: int, warmup: int = 200,
                blocks: int = 10) -> dict[str, list[int]]:
    """Per-call latencies (ns) of each function, measured in alternating blocks
    (``calls / blocks`` calls of each in turn): a change in the machine's speed
    during the run (other tenants, frequency) hits every function alike."""
    for fn in fns.values():
        for i in range(warmup):
            fn(i)
    gc.collect()
    gc.freeze()  # as the server does after loading (runtime/steps/serve.py)
    out: dict[str, list[int]] = {name: [] for name in fns}
    clock = time.perf_counter_ns
    size = max(1, calls // blocks)
    for block in range(blocks):
        for name, fn in fns.items():
            times = out[name]
            for i in range(block * size, (block + 1) * size):
                t = clock()
                fn(i)
                times.append(clock() - t)
    return out


def per_call(fn: Callable[[int], object], calls: int, warmup: int = 200) -> list[int]:
    """Per-call latencies (ns) of one function (bench/predlog uses it too)."""
    return interleaved({"fn": fn}, calls, warmup, blocks=1)["fn"]


def replay(root: Path, config: ServeConfig, store: Any) -> tuple[list[str], int]:
    """The validated events, in arrival order, through the online engine into ``store``."""
    import pyarrow.parquet as pq

    events = pq.read_table(root / served.WORK / "validated/sensor-events.parquet").to_pylist()
    events.sort(key=lambda e: to_us(e[ARRIVAL_TIME] or e["event_time"]))
    engine = OnlineEngine(config.feature_sets, store)
    for event in events:
        engine.apply(event)
    entities = sorted({str(e["asset_id"]) for e in events})
    return entities, max(to_us(e[ARRIVAL_TIME] or e["event_time"]) for e in events)


def in_process(config: ServeConfig, store: Any, entities: list[str], at_us: int, calls: int,
               warmup: int = 200) -> dict[str, Any]:
    predictor = SpecOpsPredictor(config, features=OnlineFeatures(config.feature_sets, config.features, store))
    predictor.load()
    inputs = [PredictionInput(e, None, at_us) for e in entities]
    rows = [predictor.scorer.vector(predictor.features.read(e, at_us, at_us).values) for e in entities]
    session, feed_name, out_name = predictor.scorer.session, predictor.scorer.input_name, predictor.scorer.output_name
    n = len(entities)
    read, vector = predictor.features.read, predictor.scorer.vector

    def floor(i: int) -> object:
        # What any predictor must do: read the features, encode them, run the model; no rule,
        # hash, metric or provenance.  Its ratio to raw bounds what predict's ratio can reach.
        return session.run([out_name], {feed_name: vector(read(entities[i % n], at_us, at_us).values)})

    times = interleaved({"raw": lambda i: session.run([out_name], {feed_name: rows[i % n]}),
                      "predict": lambda i: predictor.predict_one(inputs[i % n], "bench", 0, at_us),
                      "features_only": lambda i: read(entities[i % n], at_us, at_us),
                      "floor": floor},
                     calls, warmup)
    predictor.unload()  # its background threads (log compactor) must not run into the next measurement
    return {name: percentiles(ns) for name, ns in times.items()}


EMPTY_SERVER = '''
import sys
sys.argv = sys.argv[:1]
from kserve import Model
from runtime.serving.server import SpecOpsModelServer

class EmptyModel(Model):
    def __init__(self, name):
        super().__init__(name)
        self.ready = True

    def predict(self, payload, headers=None):
        return {"predictions": []}

SpecOpsModelServer(host="127.0.0.1", http_port=int(PORT)).start([EmptyModel("pump-failure")])
'''

# The predictor behind the same server with the in-process store (the embedded
# default besides SQLite), filled by replaying the validated events at start.
MEMORY_SERVER = '''
import gc, sys
from pathlib import Path
sys.argv = sys.argv[:1]
sys.path.insert(0, "REPO_VALUE")
from bench.serve.bench_serve import replay
from runtime.contracts.steps import ServeConfig
from runtime.features.store import open_store
from runtime.serving.online import OnlineFeatures
from runtime.serving.predictor import SpecOpsPredictor
from runtime.serving.server import SpecOpsModelServer

config = ServeConfig.model_validate_json(Path("CONFIG_VALUE").read_text())
if "NO_LOG" == "1":  # the prediction log's share: the same server without it
    config = config.model_copy(update={"prediction_log": None})
store = open_store("memory://")
replay(Path("."), config, store)
predictor = SpecOpsPredictor(config, features=OnlineFeatures(config.feature_sets, config.features, store))
predictor.load()
gc.freeze()
SpecOpsModelServer(host="127.0.0.1", http_port=int(PORT_VALUE)).start([predictor])
'''


SERVER_CPU, CLIENT_CPU = 1, 0  # with 2+ cores: the server has a core of its own (a 1-CPU pod), the client the other


def _pinned() -> bool:
    return hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2


def start(argv: list[str], cwd: Path, env: dict[str, str], port: int, pinned: bool = False) -> subprocess.Popen:
    # Pinned before exec, so every thread of the server inherits it.
    pin = (lambda: os.sched_setaffinity(0, {SERVER_CPU})) if pinned and _pinned() else None
    process = subprocess.Popen(argv, cwd=cwd, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, preexec_fn=pin)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{argv} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{argv} did not become ready")


def load(port: int, bodies: list[bytes], seconds: float, threads: int = 4) -> dict[str, Any]:
    """Requests/s over ``seconds`` with keep-alive connections, after 1 s of warm-up."""
    stop = threading.Event()
    counting = threading.Event()
    counts = [0] * threads
    statuses: dict[int, int] = {}

    def worker(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        i = k
        while not stop.is_set():
            conn.request("POST", "/v1/models/pump-failure:predict", body=bodies[i % len(bodies)],
                         headers={"content-type": "application/json"})
            response = conn.getresponse()
            response.read()
            if counting.is_set():
                counts[k] += 1
                statuses[response.status] = statuses.get(response.status, 0) + 1
            i += threads
        conn.close()

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    time.sleep(1.0)
    counting.set()
    start_t = time.perf_counter()
    time.sleep(seconds)
    counting.clear()
    elapsed = time.perf_counter() - start_t
    stop.set()
    for t in pool:
        t.join()
    return {"requests_per_s": sum(counts) / elapsed, "requests": sum(counts), "statuses": statuses}


SATURATED = ("empty", "predictor", "predictor_no_log")
SATURATED_THREADS = 16


def _summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    rates = [r["requests_per_s"] for r in results]
    statuses: dict[int, int] = {}
    for r in results:
        for code, count in r["statuses"].items():
            statuses[code] = statuses.get(code, 0) + count
    return {"requests_per_s": statistics.median(rates), "rounds_requests_per_s": rates,
            "requests": sum(r["requests"] for r in results), "statuses": statuses}


def http_bench(root: Path, entities: list[str], at: str, seconds: float) -> dict[str, Any]:
    bodies = [json.dumps({"instances": [{"entity": e, "at": at}]}).encode() for e in entities]
    memory_server = MEMORY_SERVER.replace("REPO_VALUE", str(REPO)).replace("CONFIG_VALUE", CONFIG)
    runs = (("empty", [sys.executable, "-c", EMPTY_SERVER.replace("PORT", "PORT_VALUE")], {}),
            ("predictor", [sys.executable, "-c", memory_server.replace('"NO_LOG"', '"0"')], {}),
            ("predictor_no_log", [sys.executable, "-c", memory_server.replace('"NO_LOG"', '"1"')], {}),
            ("predictor_sqlite", [sys.executable, "-m", "runtime", "serve", "--config", CONFIG], {}),
            ("predictor_access_log", [sys.executable, "-m", "runtime", "serve", "--config", CONFIG],
             {"SPECOPS_SERVE_ACCESS_LOG": "1"}))
    servers: dict[str, tuple[subprocess.Popen, int]] = {}
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in runs}
    saturated: dict[str, list[dict[str, Any]]] = {name: [] for name in SATURATED}
    before = os.sched_getaffinity(0) if _pinned() else None
    try:
        for name, argv, env in runs:
            port = served.free_port()
            argv = [a.replace("PORT_VALUE", str(port)) for a in argv]
            servers[name] = start(argv, root, {"SPECOPS_SERVE_PORT": str(port), "PYTHONPATH": str(REPO), **env},
                                  port, pinned=True), port
        if before is not None:
            os.sched_setaffinity(0, {CLIENT_CPU})  # the load threads, created after this, inherit it
        # Alternating rounds: a change in the machine's load or placement hits every variant alike.
        for _ in range(ROUNDS):
            for name, _, _ in runs:
                rounds[name].append(load(servers[name][1], bodies, seconds))
        # Then at saturation: with 16 connections the server always has requests waiting.
        for _ in range(ROUNDS):
            for name in SATURATED:
                saturated[name].append(load(servers[name][1], bodies, seconds, threads=SATURATED_THREADS))
    finally:
        if before is not None:
            os.sched_setaffinity(0, before)
        for process, _ in servers.values():
            process.terminate()
            process.wait(timeout=30)
    out: dict[str, Any] = {name: _summary(results) for name, results in rounds.items()}
    out["saturated"] = {"threads": SATURATED_THREADS, **{name: _summary(r) for name, r in saturated.items()}}
    out["pinned"] = {"server_cpu": SERVER_CPU, "client_cpu": CLIENT_CPU} if before is not None else None
    return out


def redis_bench(root: Path, config: ServeConfig, calls: int) -> dict[str, Any]:
    import socket

    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError as exc:
        return {"skipped": f"Redis at 127.0.0.1:6379 not reachable ({exc})"}
    import redis

    prefix = f"specops-bench-{uuid.uuid4().hex[:12]}"
    url = f"redis://127.0.0.1:6379/0?prefix={prefix}"
    store = open_store(url)
    try:
        entities, at_us = replay(root, config, store)
        result = in_process(config, store, entities, at_us, calls)
    finally:
        store.close()
        client = redis.Redis(host="127.0.0.1", port=6379)
        keys = client.keys(f"{prefix}:*")
        if keys:
            client.delete(*keys)
        client.close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls, shorter load runs")
    args = parser.parse_args(argv)
    calls, seconds = (2000, 2.0) if args.quick else (10000, 5.0)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        version = served.train_example(root, trees=400)  # the spec's n_estimators
        os.chdir(root)
        config = ServeConfig.model_validate_json((root / CONFIG).read_text())
        in_memory = open_store("memory://")
        entities, at_us = replay(root, config, in_memory)
        memory = in_process(config, in_memory, entities, at_us, calls)
        assert config.online_store is not None and config.online_store.url
        Path(config.online_store.url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        # The server's store (SQLite, the embedded default), filled through a fast in-memory
        # replay: the engine's per-event transactions are the ingester's cost, not serving's.
        on_disk = open_store(config.online_store.url)
        for fs in config.feature_sets:
            for entity in entities:
                state = in_memory.get(fs.name, entity)
                if state is not None:
                    on_disk.update(fs.name, entity, lambda _old, s=state: ApplyResult(s, True), fs.online_ttl_s)
        sqlite = in_process(config, on_disk, entities, at_us, calls)
        on_disk.close()
        at = served.iso(datetime.fromtimestamp(at_us / 1e6, tz=timezone.utc))
        web = http_bench(root, entities, at, seconds)
        on_redis = redis_bench(root, config, calls)
        os.chdir(REPO)
    sat = web["saturated"]
    ratios = {
        "predict_over_raw_p50": memory["predict"]["p50_us"] / memory["raw"]["p50_us"],
        "predict_over_raw_p99": memory["predict"]["p99_us"] / memory["raw"]["p99_us"],
        "floor_over_raw_p50": memory["floor"]["p50_us"] / memory["raw"]["p50_us"],
        "http_over_empty": web["predictor"]["requests_per_s"] / web["empty"]["requests_per_s"],
        "http_no_log_over_empty": web["predictor_no_log"]["requests_per_s"] / web["empty"]["requests_per_s"],
        "log_on_over_off": web["predictor"]["requests_per_s"] / web["predictor_no_log"]["requests_per_s"],
        "http_sqlite_over_empty": web["predictor_sqlite"]["requests_per_s"] / web["empty"]["requests_per_s"],
        "access_log_over_quiet": web["predictor_access_log"]["requests_per_s"] / web["predictor_sqlite"]["requests_per_s"],
        "saturated_http_over_empty": sat["predictor"]["requests_per_s"] / sat["empty"]["requests_per_s"],
        "saturated_http_no_log_over_empty": sat["predictor_no_log"]["requests_per_s"] / sat["empty"]["requests_per_s"],
    }
    if "predict" in on_redis:
        ratios["redis_p99_ms"] = on_redis["predict"]["p99_us"] / 1000.0
    result = {**bl.run_header("quick" if args.quick else "full", DISTS, load_before), "model_version": version,
              "entities": len(entities), "in_process_memory": memory, "in_process_sqlite": sqlite, "http": web,
              "redis": on_redis, "ratios": ratios, "targets": TARGETS}
    bl.write_results(RESULTS_PATH, result)
    print(f"raw onnxruntime       p50 {memory['raw']['p50_us']:8.1f} us  p99 {memory['raw']['p99_us']:8.1f} us")
    print(f"predict (memory)      p50 {memory['predict']['p50_us']:8.1f} us  p99 {memory['predict']['p99_us']:8.1f} us"
          f"  = {ratios['predict_over_raw_p50']:.2f}x raw at p50 (target <= {TARGETS['predict_over_raw_p50']}x)")
    print(f"  of which features   p50 {memory['features_only']['p50_us']:8.1f} us")
    print(f"floor (read+encode+run) p50 {memory['floor']['p50_us']:6.1f} us  = {ratios['floor_over_raw_p50']:.2f}x raw "
          "(features and the model alone, nothing else)")
    print(f"predict (sqlite)      p50 {sqlite['predict']['p50_us']:8.1f} us  p99 {sqlite['predict']['p99_us']:8.1f} us")
    if "predict" in on_redis:
        print(f"predict (redis)       p50 {on_redis['predict']['p50_us']:8.1f} us  p99 {on_redis['predict']['p99_us']:8.1f} us"
              f"  (target p99 <= {TARGETS['redis_p99_ms']} ms)")
    else:
        print(f"predict (redis)       {on_redis['skipped']}")
    print(f"http empty model      {web['empty']['requests_per_s']:8.0f} req/s")
    print(f"http predictor        {web['predictor']['requests_per_s']:8.0f} req/s  = {ratios['http_over_empty']:.2f}x empty "
          f"(target >= {TARGETS['http_over_empty']}x); statuses {web['predictor']['statuses']}")
    print(f"http, log off         {web['predictor_no_log']['requests_per_s']:8.0f} req/s  = "
          f"{ratios['http_no_log_over_empty']:.2f}x empty; the log costs {1 - ratios['log_on_over_off']:.0%} of throughput")
    print(f"http predictor sqlite {web['predictor_sqlite']['requests_per_s']:8.0f} req/s  = "
          f"{ratios['http_sqlite_over_empty']:.2f}x empty (`python -m runtime serve`, the embedded SQLite store)")
    print(f"http + access log     {web['predictor_access_log']['requests_per_s']:8.0f} req/s  "
          f"= {ratios['access_log_over_quiet']:.2f}x quiet")
    print(f"at {sat['threads']} connections: empty {sat['empty']['requests_per_s']:.0f} req/s, predictor "
          f"{sat['predictor']['requests_per_s']:.0f} = {ratios['saturated_http_over_empty']:.2f}x, log off "
          f"{sat['predictor_no_log']['requests_per_s']:.0f} = {ratios['saturated_http_no_log_over_empty']:.2f}x")
    print(f"results: {RESULTS_PATH.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
