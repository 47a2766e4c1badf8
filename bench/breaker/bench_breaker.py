#!/usr/bin/env python
"""Benchmark: what the circuit breakers and the RuntimeControl check cost a
prediction.

What is measured (same run, same process, medians of per-call
``perf_counter_ns`` after a warm-up):

* ``predict_plain`` -- ``SpecOpsPredictor.predict_one`` without breakers
  (the baseline): the fixture model of tests/runtime/serving/served.py over
  the embedded SQLite store;
* ``predict_breakers`` -- the same with the ServiceLevel's breakers (two
  admit/record pairs) and the RuntimeControl check, the control file
  present (the realistic case: its stat runs at most once a second);
* ``control_cached`` -- ``ControlReader.current()`` between checks (a clock
  read and a compare), against ``monotonic`` (a bare ``time.monotonic()``);
* ``control_stat`` -- the same with the interval at 0: a stat per call, what
  the request path would pay without the once-a-second limit;
* ``breaker_pair`` -- ``CircuitBreaker.admit`` + ``record`` (closed).

Results go to ``bench/results/breaker.json``; nothing is asserted.

    .venv/bin/python bench/breaker/bench_breaker.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from runtime.contracts.monitoring import control_path  # noqa: E402
from runtime.contracts.steps import BreakerConfig  # noqa: E402
from runtime.serving.breaker import CircuitBreaker  # noqa: E402
from runtime.serving.control import ControlReader  # noqa: E402
from runtime.serving.predictor import SpecOpsPredictor  # noqa: E402
from runtime.serving.request import PredictionInput  # noqa: E402
from runtime.features.timestamps import to_us  # noqa: E402
from tests.runtime.serving.served import T0, iso, make_repo  # noqa: E402

RESULTS_PATH = REPO / "bench" / "results" / "breaker.json"
SPEC = BreakerConfig(failure_threshold=5, window_s=30.0, open_for_s=60.0, half_open_requests=3, fallback="human_review")


def per_call_ns(fn: Callable[[], object], calls: int) -> float:
    for _ in range(min(1000, calls)):
        fn()
    samples = []
    for _ in range(calls):
        t0 = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - t0)
    return float(statistics.median(samples))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    calls = 2000 if args.quick else 20000
    old = Path.cwd()
    with tempfile.TemporaryDirectory() as tmp:
        repo = make_repo(Path(tmp))
        os.chdir(tmp)
        try:
            inp = PredictionInput(entity="T-LOW", at_us=to_us(iso(T0 + timedelta(minutes=1))), event=None)
            now = time.time_ns() // 1000
            plain = SpecOpsPredictor(repo.config.model_copy(update={"breaker": None}))
            plain.load()
            guarded = SpecOpsPredictor(repo.config.model_copy(update={"breaker": SPEC}))
            guarded.load()
            path = Path(control_path(repo.config.work_dir, repo.config.model, repo.config.environment))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"canary_percent": 50.0, "updated_at_us": now}))
            # Interleaved rounds, so a busy neighbour slows both alike; the median of the round medians.
            rounds: dict[str, list[float]] = {"predict_plain": [], "predict_breakers": []}
            for _ in range(5):
                rounds["predict_plain"].append(per_call_ns(lambda: plain.predict_one(inp, "b", 0, now), calls // 5))
                rounds["predict_breakers"].append(
                    per_call_ns(lambda: guarded.predict_one(inp, "b", 0, now), calls // 5))
            results = {k: float(statistics.median(v)) for k, v in rounds.items()}
            cached = ControlReader(str(path))
            every = ControlReader(str(path), interval_s=0.0)
            breaker = CircuitBreaker("model", SPEC)

            def pair() -> None:
                breaker.record(breaker.admit(), ok=True)  # type: ignore[arg-type]

            results |= {
                "monotonic": per_call_ns(time.monotonic, calls),
                "control_cached": per_call_ns(cached.current, calls),
                "control_stat": per_call_ns(every.current, calls),
                "breaker_pair": per_call_ns(pair, calls),
            }
            assert guarded.control.reloads == 1 and every.reloads == 1  # the file was parsed once, not per call
        finally:
            os.chdir(old)
    ratio = results["predict_breakers"] / results["predict_plain"]
    out = {
        "benchmark": "breaker", "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
                    "load": os.getloadavg()},
        "calls": calls, "median_ns": {k: round(v) for k, v in results.items()},
        "ratio_breakers_to_plain": round(ratio, 3),
    }
    print(f"{'what':<18} {'median us':>10}")
    for name, ns in results.items():
        print(f"{name:<18} {ns / 1000:>10.2f}")
    print(f"predict with breakers + control / plain: {ratio:.3f}x")
    RESULTS_PATH.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
