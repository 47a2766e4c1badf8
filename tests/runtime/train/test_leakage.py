"""Leakage: the backtest is time-ordered only.

A table whose positives come in bursts (a failing pump looks "positive" for
a day, rows 6 h apart) rewards a random split, which sees the neighbours of
every test row; the time split cannot.  The pipeline reports the honest
(lower) figure, and labels at or after the holdout window cannot change the
shipped model at all.
"""

from __future__ import annotations

import json
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from train_steps import DAY, run_step, train_config
from sklearn.metrics import average_precision_score
from train_synthetic import START

from runtime.training.estimators import LIGHTGBM_FIXED

FEATURES = ("asset_code", "age_h", "noise")
PARAMS = {"num_leaves": 15, "learning_rate": 0.1, "n_estimators": 150, "min_child_samples": 5}


def _bursty_table(seed: int = 3) -> pa.Table:
    rng = np.random.default_rng(seed)
    assets, steps = 30, 400  # every 6 h for 100 days
    asset = np.repeat(np.arange(assets), steps)
    t = START + np.tile(np.arange(steps), assets) * 6 * 3600.0
    y = np.zeros(len(t), dtype=bool)
    for a in range(assets):
        for start in rng.uniform(START, START + 100 * DAY, 4):
            y[(asset == a) & (t >= start - DAY) & (t < start)] = True
    order = np.argsort(t, kind="stable")
    return pa.table({"cut_time": pa.array((t[order] * 1e6).astype("int64"), type=pa.timestamp("us", tz="UTC")),
                     "asset_type": pa.array(["centrifugal"] * len(t)),
                     "asset_code": asset[order].astype(float), "age_h": ((t - START) / 3600)[order],
                     "noise": rng.normal(size=len(t)), "label": pa.array(y[order])})


def _write(root: Path, table: pa.Table) -> None:
    (root / "features").mkdir(parents=True, exist_ok=True)
    pq.write_table(table, root / "features" / "part-000.parquet")


def _cfg(root: Path) -> dict:
    return train_config(root, features=list(FEATURES), params=PARAMS, baseline=None, baseline_params={},
                        imbalance="none", folds=3, min_train_window_s=50 * DAY, slice_column=None)


def test_random_split_looks_better_but_the_pipeline_reports_the_time_split(tmp_path: Path):
    table = _bursty_table()
    _write(tmp_path, table)
    assert run_step(tmp_path, "train", _cfg(tmp_path)) == 0
    backtest = json.loads((tmp_path / "model" / "backtest.json").read_text())
    time_split = float(np.mean([f["metrics"]["pr_auc"] for f in backtest["folds"]]))

    # What a random 80/20 split of the same rows would have reported.
    x = np.column_stack([table.column(f).to_numpy() for f in FEATURES])
    y = table.column("label").to_numpy(zero_copy_only=False).astype(int)
    test = np.random.default_rng(0).random(len(y)) < 0.2
    params = {**PARAMS, **LIGHTGBM_FIXED, "seed": 7}
    rounds = params.pop("n_estimators")
    booster = lgb.train(params, lgb.Dataset(x[~test], y[~test]), num_boost_round=rounds)
    random_split = float(average_precision_score(y[test], booster.predict(x[test])))

    assert random_split > 3 * time_split and random_split - time_split > 0.15, (random_split, time_split)
    # And the folds the pipeline used are time-ordered with the declared gap.
    for f in backtest["folds"]:
        assert f["fit"]["until"] + backtest["gap_s"] <= f["validation"]["after"] + 1e-6
        assert f["validation"]["until"] + backtest["gap_s"] <= f["test"]["after"] + 1e-6


def test_labels_in_the_holdout_and_the_gap_cannot_change_the_shipped_model(trained: Path, tmp_path: Path):
    training = json.loads((trained / "model" / "training.json").read_text())
    original = pq.read_table(trained / "features" / "part-000.parquet")
    t = original.column("cut_time").cast(pa.int64()).to_numpy() / 1e6
    late = t > training["validation"]["until"]  # the gap before the holdout, and the holdout itself
    assert late.sum() > 100
    flipped = original.set_column(original.schema.get_field_index("label"), "label",
                                  pa.array(np.where(late, ~original.column("label").to_numpy(zero_copy_only=False),
                                                    original.column("label").to_numpy(zero_copy_only=False))))
    _write(tmp_path, flipped)
    assert run_step(tmp_path, "train", train_config(tmp_path)) == 0
    for name in ("model.txt", "calibrator.json", "threshold.json", "features.json"):
        assert (tmp_path / "model" / name).read_bytes() == (trained / "model" / name).read_bytes(), name
    # The holdout metrics did see the flipped labels (the test is not vacuous).
    before = json.loads((trained / "model" / "metrics.json").read_text())["holdout"]["pr_auc"]
    after = json.loads((tmp_path / "model" / "metrics.json").read_text())["holdout"]["pr_auc"]
    assert after != before
