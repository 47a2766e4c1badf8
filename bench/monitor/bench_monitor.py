"""Drift, label join and realized / estimated quality over a large prediction log.

A synthetic log in the prediction log's layout (LOG_COLUMNS scalars plus a
``features`` struct): 1,000,000 predictions x 30 features (28 numeric, 2
categorical) over 7 days, 6 features shifted in the last 2 days.  Timed, as
medians of runs in the same process:

* ``drift``: ``drift_by_window`` over the in-memory log in 100k-row chunks,
  1 h windows (the ServiceLevel's), BH correction, persistence 2;
* ``drift_parquet``: the same, reading the Parquet file chunk by chunk
  (what the monitor job does), with its peak traced memory next to the
  log's in-memory size (bounded memory: counts per window, never rows);
* ``baseline``: a naive per-window, per-feature loop (pandas groupby,
  ``scipy.stats.ks_2samp`` / ``chi2_contingency``, ``numpy.histogram`` PSI);
* ``labels``: ``label_events`` + ``join_labels`` against a naive pandas
  merge on entity (the labels must agree), then ``performance_by_window``
  (daily windows: realized where mature, 200-draw estimation elsewhere)
  next to the naive per-window realized metrics alone.

Wall and CPU seconds are both recorded (the machine is shared: the load
average is in the results; CPU time is the steadier figure).

Results go to ``bench/results/monitor.json``.

    .venv/bin/python bench/monitor/bench_monitor.py [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from scipy import stats
from sklearn.metrics import average_precision_score

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from runtime.events import ARRIVAL_TIME, EVENT_ID  # noqa: E402
from runtime.monitoring.drift import DriftThresholds, drift_by_window  # noqa: E402
from runtime.monitoring.labels import JoinedLabels, join_labels, label_events  # noqa: E402
from runtime.monitoring.performance import PerformanceReport, performance_by_window  # noqa: E402
from runtime.training.metrics import expected_calibration_error, recall_at_precision  # noqa: E402
from runtime.monitoring.reference import build_profile  # noqa: E402

RESULTS_PATH = REPO / "bench" / "results" / "monitor.json"
ROWS, NUMERIC, CATEGORICAL, DAYS, ENTITIES = 1_000_000, 28, 2, 7, 5_000
SHIFTED = 6
CHUNK = 100_000
HOUR_S, DAY_US = 3600.0, 86_400 * 1_000_000
TH = DriftThresholds(psi_warning=0.1, psi_alert=0.25, p_value=0.01, correction="benjamini_hochberg", persistence=2)
HORIZON_S, DELAY_S = 86_400.0, 86_400.0
START_US = 1_767_225_600 * 1_000_000  # 2026-01-01
CATS = ("pump", "turbine", "compressor", "fan")


def _names() -> list[str]:
    return [f"x{i:02d}" for i in range(NUMERIC)] + [f"c{i}" for i in range(CATEGORICAL)]


def _features(rng: np.random.Generator, n: int, shift: np.ndarray | None) -> dict[str, np.ndarray]:
    cols: dict[str, np.ndarray] = {}
    for i in range(NUMERIC):
        v = rng.normal(i % 5, 1.0 + i % 3, n)
        if shift is not None and i < SHIFTED:
            v = np.where(shift, v + 0.5 * (1.0 + i % 3), v)
        cols[f"x{i:02d}"] = v
    for i in range(CATEGORICAL):
        cols[f"c{i}"] = np.asarray(CATS, dtype=object)[rng.choice(len(CATS), n, p=(0.4, 0.3, 0.2, 0.1))]
    return cols


def _data(seed: int = 1) -> tuple[pa.Table, pa.Table, pa.Table]:
    """(reference rows, the log, the labels source table)."""
    rng = np.random.default_rng(seed)
    ref = pa.table(_features(rng, 200_000, None))
    served = START_US + np.sort(rng.integers(0, DAYS * DAY_US, ROWS))
    shift = served >= START_US + (DAYS - 2) * DAY_US
    feats = _features(rng, ROWS, shift)
    z = -4.0 + 0.8 * feats["x00"] - 0.6 * feats["x07"] + 0.5 * (feats["c0"] == "pump")
    score = 1 / (1 + np.exp(-z))
    entity = rng.integers(0, ENTITIES, ROWS)
    log = pa.table({
        "seq": np.arange(ROWS, dtype=np.int64), "served_at_us": served, "at_us": served,
        "entity": pa.array([f"A{e:05d}" for e in range(ENTITIES)])
        .take(pa.array(entity)),
        "score": score, "features": pa.StructArray.from_arrays([pa.array(feats[n]) for n in _names()], _names()),
    })
    # Failures: per entity, each prediction's outcome drawn from its score; a
    # failure at the first positive prediction's time + U(0, horizon).
    y = rng.random(ROWS) < score
    f_t = served[y] + rng.integers(1, int(HORIZON_S * 1e6), int(y.sum()))
    avail = f_t + (rng.uniform(0.25, 1.0, int(y.sum())) * DELAY_S * 1e6).astype(np.int64)
    labels = pa.table({"asset_id": log.column("entity").filter(pa.array(y)),
                       "failure_time": pa.array(f_t, pa.timestamp("us", tz="UTC")), "failed": np.ones(int(y.sum()), bool),
                       EVENT_ID: pa.array([f"T{i}" for i in range(int(y.sum()))]),
                       ARRIVAL_TIME: pa.array(avail, pa.timestamp("us", tz="UTC"))})
    return ref, log, labels


def _psi(a: np.ndarray, e: np.ndarray) -> float:
    a, e = np.maximum(a, 1e-4), np.maximum(e, 1e-4)
    return float(np.sum((a - e) * np.log(a / e)))


def baseline_drift(ref: pa.Table, log: pa.Table) -> int:
    """The naive loop: per window, per feature, scipy tests on the raw values."""
    df = log.select(["served_at_us"]).to_pandas()
    feats = log.column("features").combine_chunks().flatten()
    for name, arr in zip(_names(), feats, strict=True):
        df[name] = arr.to_numpy(zero_copy_only=False)
    df["w"] = df["served_at_us"] // int(HOUR_S * 1e6)
    refd = {n: ref.column(n).to_numpy(zero_copy_only=False) for n in _names()}
    sample = {n: np.random.default_rng(0).choice(refd[n], 2000, replace=False) for n in _names()[:NUMERIC]}
    edges = {n: np.quantile(refd[n], np.linspace(0, 1, 11)[1:-1]) for n in _names()[:NUMERIC]}
    ref_frac = {n: np.bincount(np.searchsorted(edges[n], refd[n], "right"), minlength=10) / len(refd[n])
                for n in edges}
    ref_counts = {n: np.unique(refd[n], return_counts=True) for n in _names()[NUMERIC:]}
    flagged = 0
    for _, g in df.groupby("w"):
        ps, psis = [], []
        for n in _names():
            v = g[n].to_numpy()
            if n in edges:
                ps.append(stats.ks_2samp(sample[n], v, method="asymp").pvalue)
                psis.append(_psi(np.histogram(v, np.concatenate(([-np.inf], edges[n], [np.inf])))[0] / len(v),
                                 ref_frac[n]))
            else:
                rv, rc = ref_counts[n]
                wc = pd.Series(v).value_counts().reindex(rv, fill_value=0).to_numpy()
                ps.append(stats.chi2_contingency(np.vstack([rc, wc]), correction=False)[1])
                psis.append(_psi(wc / wc.sum(), rc / rc.sum()))
        adj = stats.false_discovery_control(np.array(ps))
        flagged += int(((adj < TH.p_value) & (np.array(psis) >= TH.psi_warning)).sum())
    return flagged


def baseline_join(log: pa.Table, labels: pa.Table, as_of: int) -> pd.DataFrame:
    """The naive join: pandas merge of every prediction with its entity's failures, then filter."""
    preds = pd.DataFrame({"i": np.arange(log.num_rows), "entity": log.column("entity").to_numpy(zero_copy_only=False),
                          "t": log.column("at_us").to_numpy(), "p": log.column("score").to_numpy()})
    fails = pd.DataFrame({"entity": labels.column("asset_id").to_numpy(zero_copy_only=False),
                          "ft": labels.column("failure_time").cast(pa.int64()).to_numpy(),
                          "av": labels.column(ARRIVAL_TIME).cast(pa.int64()).to_numpy()})
    fails = fails[fails.av <= as_of]
    m = preds.merge(fails, on="entity")
    m = m[(m.ft > m.t) & (m.ft <= m.t + int(HORIZON_S * 1e6))]
    preds["y"] = preds.i.isin(m.i.unique()).astype(int)
    preds["w"] = preds.t // DAY_US
    return preds


def baseline_realized(preds: pd.DataFrame, as_of: int) -> int:
    n = 0
    for w, g in preds.groupby("w"):
        if (w + 1) * DAY_US + int((HORIZON_S + DELAY_S) * 1e6) <= as_of:
            y, p = g.y.to_numpy(), g.p.to_numpy()
            average_precision_score(y, p)
            recall_at_precision(y, p, 0.5)
            expected_calibration_error(y, p)
            n += 1
    return n


def ours_join(log: pa.Table, labels: pa.Table, as_of: int) -> JoinedLabels:
    failures, reviews = label_events(labels, entity="asset_id", timestamp="failure_time", outcome="failed",
                                     positive_value=True, availability_delay_s=DELAY_S)
    return join_labels(log.column("entity"), log.column("at_us").to_numpy(), failures, reviews, horizon_s=HORIZON_S,
                       availability_delay_s=DELAY_S, as_of_us=as_of)


def ours_performance(log: pa.Table, joined: JoinedLabels) -> PerformanceReport:
    return performance_by_window(log.column("at_us").to_numpy(), log.column("score").to_numpy(), joined,
                                 window_s=86_400.0, horizon_s=HORIZON_S, availability_delay_s=DELAY_S,
                                 precision_at=0.5, draws=200)


def _median(fn, repeats: int) -> tuple[float, float, object]:
    """Median wall and CPU seconds (the CPU time counts every thread) of ``repeats`` runs."""
    wall, cpu, out = [], [], None
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu), out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    repeats = 2 if args.quick else 5
    ref, log, labels = _data()
    profile = build_profile(ref, tuple(_names()), None, source="bench reference")
    batches = log.to_batches(CHUNK)
    as_of = START_US + DAYS * DAY_US

    drift_s, drift_cpu, report = _median(lambda: drift_by_window(profile, batches, window_s=HOUR_S, thresholds=TH),
                                         repeats)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "part-0.parquet")
        pq.write_table(log, path, row_group_size=CHUNK)

        def from_parquet():
            f = pq.ParquetFile(path)
            return drift_by_window(profile, f.iter_batches(batch_size=CHUNK, columns=["served_at_us", "score",
                                                                                      "features"]),
                                   window_s=HOUR_S, thresholds=TH)
        parquet_s, parquet_cpu, _ = _median(from_parquet, repeats)
        tracemalloc.start()
        from_parquet()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    base_repeats = max(1, repeats // 2)
    base_s, base_cpu, base_flagged = _median(lambda: baseline_drift(ref, log), base_repeats)
    join_s, join_cpu, joined = _median(lambda: ours_join(log, labels, as_of), repeats)
    perf_s, perf_cpu, perf = _median(lambda: ours_performance(log, joined), repeats)
    bjoin_s, bjoin_cpu, preds = _median(lambda: baseline_join(log, labels, as_of), base_repeats)
    breal_s, breal_cpu, _ = _median(lambda: baseline_realized(preds, as_of), base_repeats)
    agree = float((preds.y.to_numpy() == np.maximum(joined.label, 0)).mean())

    windows = report.windows
    last2 = [w for w in windows if w.start_us >= START_US + (DAYS - 2) * DAY_US]
    est = perf.estimated
    results = {
        "rows": ROWS, "features": {"numeric": NUMERIC, "categorical": CATEGORICAL}, "windows": len(windows),
        "window_s": HOUR_S, "chunk_rows": CHUNK, "repeats": repeats, "baseline_repeats": base_repeats,
        "drift": {"median_s": round(drift_s, 3), "median_cpu_s": round(drift_cpu, 3), "target_s": 2.0,
                  "parquet_median_s": round(parquet_s, 3), "parquet_median_cpu_s": round(parquet_cpu, 3),
                  "parquet_peak_traced_mb": round(peak / 2**20, 1), "log_in_memory_mb": round(log.nbytes / 2**20, 1),
                  "baseline_median_s": round(base_s, 3), "baseline_median_cpu_s": round(base_cpu, 3),
                  "speedup_vs_baseline": round(base_s / drift_s, 2),
                  "cpu_ratio_vs_baseline": round(base_cpu / drift_cpu, 2),
                  "shifted_features_drifted_per_window_last_2_days": round(
                      float(np.mean([len(w.drifted) for w in last2])), 2),
                  "shifted_features": SHIFTED,
                  "drifted_feature_windows_before_shift": sum(len(w.drifted) for w in windows if w not in last2),
                  "baseline_flagged_feature_windows": base_flagged},
        "labels": {"join_median_s": round(join_s, 3), "join_median_cpu_s": round(join_cpu, 3),
                   "baseline_join_median_s": round(bjoin_s, 3), "baseline_join_median_cpu_s": round(bjoin_cpu, 3),
                   "join_speedup_vs_baseline": round(bjoin_s / join_s, 2),
                   "labels_agree_with_baseline": agree,
                   "performance_median_s": round(perf_s, 3), "performance_median_cpu_s": round(perf_cpu, 3),
                   "baseline_realized_only_median_s": round(breal_s, 3),
                   "baseline_realized_only_median_cpu_s": round(breal_cpu, 3),
                   "realized_windows": len(perf.realized), "estimated_windows": len(est),
                   "estimated_rows": int(sum(w.rows for w in est)), "estimation_draws": 200,
                   "note": "performance = realized metrics of the mature windows + 200-draw estimation of the "
                           "immature ones; the baseline computes only the realized metrics"},
    }
    out = {"benchmark": "monitor", "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
           "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
                       "load_avg_1m": round(os.getloadavg()[0], 2)},
           "quick": args.quick, "results": results}
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
