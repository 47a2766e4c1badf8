"""``python -m runtime train --config train.json``: backtest, fit, calibrate,
choose the threshold, write the model directory (``runtime.training.model_dir``).

Exit 0 written; 1 the data cannot support the declared training (too little
history, no positives, no threshold reaching the target precision), with one
clear message on stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path

from runtime.contracts.steps import TrainConfig
from runtime.training.estimators import EstimatorError
from runtime.training.folds import FoldError
from runtime.training.imbalance import ImbalanceError
from runtime.training.model_dir import write_model_dir
from runtime.training.pipeline import train
from runtime.training.table import TableError, read_table
from runtime.training.threshold import ThresholdError

__all__ = ["run"]

_REFUSALS = (TableError, FoldError, ImbalanceError, EstimatorError, ThresholdError)


def run(config: TrainConfig) -> int:
    try:
        extra = (config.slice_column,) if config.slice_column else ()
        table = read_table(Path(config.input), config.features, extra)
        result = train(config, table, config.slice_column)
    except _REFUSALS as exc:
        print(f"error: train {config.model}: {exc}", file=sys.stderr)
        return 1
    out = Path(config.output)
    write_model_dir(out, config, result)
    h = result.final.metrics
    base = result.final.baseline_metrics
    print(f"train {config.model}: {len(result.folds)} folds, holdout rows {h['rows']} ({h['positives']} positive), "
          f"PR-AUC {_fmt(h['pr_auc'])}" + (f" (baseline {_fmt(base['pr_auc'])})" if base else "")
          + f", threshold {result.final.threshold.value:.4f} -> {out}", file=sys.stderr)
    return 0


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"
