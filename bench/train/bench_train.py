#!/usr/bin/env python
"""Benchmark: what the training pipeline costs beyond LightGBM, what export
and parity cost, and single-row latency of ONNX vs native LightGBM.

Workload
--------
The synthetic training table of the tests (``tests/runtime/train/
train_synthetic.py``, imported, not copied) at a larger size: 200 assets,
a cut every 6 h for 180 days (144,000 rows, 7 features, about 2.6 %
positive), written once as Parquet in a temporary directory.  The train
config is the example model's (``specs/models/pump-failure.yaml``): 4
folds, 7-day test windows, 1-day gap, 60-day minimum history, early
stopping after 50 rounds, isotonic calibration, cost threshold, LightGBM
with num_leaves 31, learning_rate 0.05, up to 400 rounds, seed 7.

What is measured (in-process, medians of N repeats)
--------------------------------------------------
* ``pipeline``  -- ``read_table`` + ``runtime.training.pipeline.train`` +
  ``write_model_dir`` with no baseline: everything the train step does;
* ``raw``       -- the floor: for each fold, ``lightgbm.train`` on the very
  matrices the pipeline fits (same rows, weights, parameters and early
  stopping on the same validation window), nothing else;
* ``pipeline+baseline`` -- the same with the logistic baseline, for reference;
* ``export``    -- ``to_onnx`` at opset 17 + an onnxruntime session + parity
  on the holdout window; and the whole ``export-onnx`` step with the signed
  edge bundle;
* ``latency``   -- single-row calls (2,000, after 100 warm-up calls):
  onnxruntime (1 thread) vs ``Booster.predict`` (num_threads=1), p50/p99.

Target from the issue, reported, never asserted: pipeline <= 1.25 x raw,
judged on wall and on CPU time (the steadier figure on a shared machine).
The two are timed interleaved, one repeat each in turn, so both see the
same load.
Results: printed and written to ``bench/results/train.json``.

Usage (from the repository root)::

    python bench/train/bench_train.py [--quick]
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import lightgbm as lgb
import numpy as np

from runtime.cli import main as runtime_main
from runtime.contracts.steps import TrainConfig
from runtime.export.convert import to_onnx
from runtime.export.parity import latency, onnx_scorer, parity
from runtime.training.estimators import lightgbm_params
from runtime.training.folds import rolling_origin
from runtime.training.imbalance import resample
from runtime.training.model_dir import read_model_dir, write_model_dir
from runtime.training.pipeline import train
from runtime.training.table import encode, fit_encoding, read_table

REPO = Path(__file__).resolve().parents[2]
RESULTS_PATH = REPO / "bench" / "results" / "train.json"
TARGET_RATIO = 1.25
DISTS = ("lightgbm", "scikit-learn", "numpy", "pyarrow", "onnx", "onnxruntime", "onnxmltools", "cryptography")
DAY = 86400.0


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bl = _load("bench_lint", REPO / "bench" / "lint" / "bench_lint.py")  # run_header, write_results, summary
synthetic = _load("train_synthetic", REPO / "tests" / "runtime" / "train" / "train_synthetic.py")


def config(root: Path, baseline: bool) -> TrainConfig:
    return TrainConfig(
        model="pump-failure", spec_hash="bench", artifacts={"uri": str(root / "artifacts")}, work_dir=str(root),
        features=synthetic.FEATURES, algorithm="lightgbm",
        params={"num_leaves": 31, "learning_rate": 0.05, "n_estimators": 400, "min_child_samples": 20}, seed=7,
        baseline="logistic_regression" if baseline else None, baseline_params={"C": 1.0} if baseline else {},
        imbalance="scale_pos_weight", folds=4, test_window_s=7 * DAY, gap_s=DAY, min_train_window_s=60 * DAY,
        early_stopping_rounds=50, calibration="isotonic", threshold_strategy="cost", false_negative_cost=50.0,
        false_positive_cost=1.0, input=str(root / "features"), output=str(root / "model"), slice_column="asset_type")


def run_pipeline(cfg: TrainConfig) -> None:
    table = read_table(Path(cfg.input), cfg.features, ("asset_type",))
    write_model_dir(Path(cfg.output), cfg, train(cfg, table, "asset_type"))


def raw_lightgbm(cfg: TrainConfig, x: np.ndarray, y: np.ndarray, folds: Any) -> Callable[[], None]:
    """The floor: the LightGBM fits of the pipeline, matrices prepared beforehand."""
    jobs = []
    for fold in folds:
        fx, fy = x[fold.fit.rows], y[fold.fit.rows]
        rs = resample(fy, cfg.imbalance, negative_ratio=None, seed=cfg.seed + fold.index, native_scale_pos_weight=True)
        core, rounds = lightgbm_params(dict(cfg.params), cfg.seed)
        core = {**core, "scale_pos_weight": rs.scale_pos_weight, "metric": "average_precision"}
        jobs.append((core, rounds, fx[rs.rows], fy[rs.rows], x[fold.valid.rows], y[fold.valid.rows]))

    def fit_all() -> None:
        for core, rounds, fx, fy, vx, vy in jobs:
            ds = lgb.Dataset(fx, label=fy, params={"verbose": -1})
            lgb.train(core, ds, num_boost_round=rounds, valid_sets=[lgb.Dataset(vx, label=vy, reference=ds)],
                      callbacks=[lgb.early_stopping(cfg.early_stopping_rounds, first_metric_only=True, verbose=False)])

    return fit_all


def timed(fn: Callable[[], object], repeats: int) -> dict[str, Any]:
    wall, cpu = [], []
    for _ in range(repeats):
        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"wall": bl.summary(wall), "cpu": bl.summary(cpu)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="100 assets, 3 repeats")
    ap.add_argument("--output", type=Path, default=RESULTS_PATH)
    args = ap.parse_args(argv)
    load_before = os.getloadavg()
    assets, repeats = (100, 3) if args.quick else (200, 5)
    result: dict[str, Any] = bl.run_header("quick" if args.quick else "full", DISTS, load_before)
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        root = Path(tmp)
        synthetic.write_table(root / "features", assets=assets, days=180, step_h=6.0, seed=11)
        cfg = config(root, baseline=False)
        table = read_table(Path(cfg.input), cfg.features, ("asset_type",))
        folds = rolling_origin(table.times, cfg.folds, cfg.test_window_s, cfg.gap_s, cfg.min_train_window_s)
        x = encode(table.columns, fit_encoding(table.columns.slice(0, folds[-1].valid.hi), cfg.features))
        result["workload"] = {"rows": len(table), "features": len(cfg.features), "positives": int(table.y.sum()),
                              "folds": cfg.folds, "fit_rows": [len(f.fit) for f in folds]}
        run_pipeline(cfg)  # warm-up and correctness: the model directory must be complete
        assert (root / "model" / "model.txt").is_file()
        fit_all = raw_lightgbm(cfg, x, table.y, folds)
        fit_all()
        # Interleave so both see the same machine load.
        pipe, raw = [], []
        for _ in range(repeats):
            pipe.append(timed(lambda: run_pipeline(cfg), 1))
            raw.append(timed(fit_all, 1))
        merge = lambda runs, k: bl.summary([r[k]["all"][0] for r in runs])  # noqa: E731
        result["pipeline"] = {"wall": merge(pipe, "wall"), "cpu": merge(pipe, "cpu")}
        result["raw"] = {"wall": merge(raw, "wall"), "cpu": merge(raw, "cpu")}
        result["ratio_wall"] = result["pipeline"]["wall"]["median"] / result["raw"]["wall"]["median"]
        result["ratio_cpu"] = result["pipeline"]["cpu"]["median"] / result["raw"]["cpu"]["median"]
        result["target_ratio"] = TARGET_RATIO
        # On a shared machine the wall ratio mostly measures other people's load;
        # CPU time is the steadier figure (as in bench/lint), so both are judged.
        result["target_met_wall"] = result["ratio_wall"] <= TARGET_RATIO
        result["target_met_cpu"] = result["ratio_cpu"] <= TARGET_RATIO
        result["pipeline_with_baseline"] = timed(lambda: run_pipeline(config(root, baseline=True)), max(1, repeats // 2))

        run_pipeline(cfg)
        md = read_model_dir(root / "model")
        training = md.training
        hold = slice(*np.searchsorted(table.times, [training["holdout"]["after"], training["holdout"]["until"]],
                                      side="right"))
        hx = x[hold]

        def export_and_parity() -> float:
            blob = to_onnx(md.model, md.calibrator, md.encoding.features, opset=17)
            return parity(md.predict(hx), onnx_scorer(blob)(hx), 1e-5).max_abs_diff

        result["export_parity"] = timed(export_and_parity, repeats)
        result["parity_max_abs_diff"] = export_and_parity()
        cfg_path = root / "export-onnx.json"
        cfg_path.write_text(json.dumps({
            "api_version": "runtime.specops.dev/v1alpha1", "step": "export-onnx", "model": "pump-failure",
            "spec_hash": "bench", "artifacts": {"uri": str(root / "artifacts")}, "work_dir": str(root), "opset": 17,
            "parity_tolerance": 1e-5, "edge_enabled": True, "edge_max_size_bytes": 2 * 1024 * 1024,
            "edge_max_latency_ms": 10.0, "allow_tree_truncation": True, "model_dir": str(root / "model"),
            "input": str(root / "features"), "output": str(root / "onnx")}))
        step_times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            code = runtime_main(["export-onnx", "--config", str(cfg_path)])
            step_times.append(time.perf_counter() - t0)
            assert code == 0, code
        result["export_step"] = {"wall": bl.summary(step_times),
                                 "report": json.loads((root / "onnx" / "export.json").read_text())}
        booster = md.model.model
        onnx_score = onnx_scorer((root / "onnx" / "model.onnx").read_bytes())
        calls = 2000
        result["latency"] = {
            "onnxruntime": latency(onnx_score, hx, calls=calls, warmup=100).to_json(),
            "lightgbm_native": latency(lambda r: booster.predict(r, num_threads=1), hx, calls=calls, warmup=100).to_json(),
            "lightgbm_native_calibrated": latency(lambda r: md.predict(r), hx, calls=calls, warmup=100).to_json(),
            "trees": int(booster.num_trees()),
        }
    result["loadavg_1_5_15"]["after"] = os.getloadavg()
    bl.write_results(args.output, result)
    p, r = result["pipeline"]["wall"]["median"], result["raw"]["wall"]["median"]
    print(f"rows {result['workload']['rows']}, positives {result['workload']['positives']}, folds {cfg.folds}")
    print(f"pipeline (train step, no baseline)  {p:8.3f} s   (cpu {result['pipeline']['cpu']['median']:.3f} s)")
    print(f"raw LightGBM, same fits             {r:8.3f} s   (cpu {result['raw']['cpu']['median']:.3f} s)")
    print(f"ratio                               {result['ratio_wall']:8.3f} x (cpu {result['ratio_cpu']:.3f} x), "
          f"target <= {TARGET_RATIO}: wall {'met' if result['target_met_wall'] else 'not met'}, "
          f"cpu {'met' if result['target_met_cpu'] else 'not met'}")
    print(f"pipeline + logistic baseline        {result['pipeline_with_baseline']['wall']['median']:8.3f} s")
    print(f"to_onnx + session + parity          {result['export_parity']['wall']['median']:8.3f} s "
          f"(max |dp| {result['parity_max_abs_diff']:.2e})")
    print(f"export-onnx step (with edge bundle) {result['export_step']['wall']['median']:8.3f} s")
    lat = result["latency"]
    for k in ("onnxruntime", "lightgbm_native", "lightgbm_native_calibrated"):
        print(f"single-row {k:27s} p50 {lat[k]['p50_ms'] * 1000:7.1f} us  p99 {lat[k]['p99_ms'] * 1000:7.1f} us")
    print(f"-> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
