#!/usr/bin/env python
"""Benchmark: what a challenger costs a prediction, in-process.

Workload
--------
The serving test fixture (``tests/runtime/serving/served.py: make_repo``): a
small logistic ONNX model registered twice (champion, and a candidate with
another bias), the SQLite online store filled through the online engine,
40 assets.  Every call is ``SpecOpsPredictor.predict`` on a V1 body of one
instance with a fresh request id, as kserve calls it.

What is measured (same run, same store, one predictor per setting, interleaved)
---------------------------------------------------------------------------
* ``champion`` -- no challenger: the baseline;
* ``canary_10`` -- a 10 % in-process canary with its analysis on (routing by
  request-id hash, per-arm windows; thresholds high enough never to roll back);
* ``shadow`` -- the candidate scores every request beside the champion.

Reported: p50/p99 per call and each setting's p50 over the baseline's.
Timings are reported, never asserted.  Results go to
``bench/results/canary.json`` (with machine facts and load).

Usage (from the repository root)::

    .venv/bin/python bench/canary/bench_canary.py [--quick]
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from runtime.registry import Registry  # noqa: E402
from runtime.serving.predictor import SpecOpsPredictor  # noqa: E402
from tests.runtime.serving import served  # noqa: E402


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bl = _load("bench_lint", REPO / "bench" / "lint" / "bench_lint.py")  # run_header, write_results

RESULTS_PATH = REPO / "bench" / "results" / "canary.json"
DISTS = ("kserve", "onnxruntime", "numpy")
ANALYSIS = {"steps": [10, 25, 50, 100], "percent": 0.0, "challenger_alias": "candidate", "interval_s": 3600.0,
            "max_error_rate": 1.0, "max_latency_p99_ms": 1e6, "max_score_psi": 1e6, "min_requests": 100}
AT = "2026-03-01T12:01:00Z"


def setup(root: Path) -> served.ServedRepo:
    repo = served.make_repo(root, canary=ANALYSIS)
    os.chdir(root)
    registry = Registry(repo.config.artifacts.uri)
    registry.set_alias(served.MODEL, "champion", repo.version)
    other = root / "build/candidate.onnx"
    served.write_onnx(other, list(repo.config.features), served.WEIGHTS, served.BIAS + 0.3)
    entry = registry.register(served.MODEL, {"model.onnx": other}, "model.onnx", {})
    registry.set_alias(served.MODEL, "candidate", entry.version)
    return repo


def measure(predictors: dict[str, SpecOpsPredictor], calls: int, warmup: int = 300) -> dict[str, list[int]]:
    """Interleaved: call i of every setting runs back to back, so load on a
    shared machine lands on all settings alike and the ratios hold."""
    entities = list(served.ASSETS)
    bodies = [{"instances": [{"entity": entities[i % len(entities)], "at": AT}]} for i in range(len(entities))]
    for i in range(warmup):
        for predictor in predictors.values():
            predictor.predict(bodies[i % len(bodies)], {"x-request-id": f"warm-{i}"})
    gc.collect()
    out: dict[str, list[int]] = {name: [] for name in predictors}
    clock = time.perf_counter_ns
    for i in range(calls):
        body, headers = bodies[i % len(bodies)], {"x-request-id": f"r-{i}"}
        for name, predictor in predictors.items():
            t = clock()
            predictor.predict(body, headers)
            out[name].append(clock() - t)
    return out


def stats(ns: list[int]) -> dict[str, float]:
    us = np.array(ns, dtype=np.float64) / 1000.0
    return {"p50_us": float(np.percentile(us, 50)), "p99_us": float(np.percentile(us, 99)), "calls": len(ns)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls")
    args = parser.parse_args()
    calls = 2_000 if args.quick else 20_000
    load_before = os.getloadavg()
    cwd = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="bench-canary-") as tmp:
        repo = setup(Path(tmp))
        try:
            base = repo.config
            settings = {
                "champion": base,
                "canary_10": base.model_copy(update={"canary": base.canary.model_copy(update={"percent": 10.0})}),  # type: ignore[union-attr]
                "shadow": base.model_copy(update={"registry_shadow_alias": "candidate"}),
            }
            predictors = {name: SpecOpsPredictor(config) for name, config in settings.items()}
            for predictor in predictors.values():
                predictor.load()
            timings = measure(predictors, calls)
            results: dict[str, Any] = {name: stats(ns) for name, ns in timings.items()}
            for name, predictor in predictors.items():
                if predictor.canary is not None:
                    results[name]["arms"] = {k: v.requests for k, v in predictor.canary.samples().items()}
                    results[name]["rolled_back"] = predictor.canary.status()["rolled_back"]
                predictor.unload()
        finally:
            os.chdir(cwd)
    p50 = results["champion"]["p50_us"]
    for name in ("canary_10", "shadow"):
        results[name]["p50_over_champion"] = results[name]["p50_us"] / p50
    print(f"{'setting':<10} {'p50 us':>9} {'p99 us':>9} {'x champion':>11}")
    for name, r in results.items():
        print(f"{name:<10} {r['p50_us']:>9.1f} {r['p99_us']:>9.1f} {r.get('p50_over_champion', 1.0):>11.2f}")
    bl.write_results(RESULTS_PATH, {**bl.run_header("quick" if args.quick else "full", DISTS, load_before),
                                    "results": results})
    print(f"wrote {RESULTS_PATH.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
