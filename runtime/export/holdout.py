"""The rows the exporter and the evaluator score: the model's own validation
and holdout windows (recorded by train), re-read from the training table."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.training.folds import window
from runtime.training.model_dir import ModelDir
from runtime.training.table import TableError, TrainingTable, encode, read_table

__all__ = ["Windows", "model_windows"]


@dataclass(frozen=True)
class Windows:
    table: TrainingTable
    x: np.ndarray
    valid: slice
    holdout: slice


def model_windows(model: ModelDir, input_path: Path, extra: tuple[str, ...] = ()) -> Windows:
    table = read_table(input_path, model.encoding.features, extra)
    if table.source_hash != model.training.get("training_data_sha256"):
        raise TableError(f"{input_path}: the training table changed since the model was trained (sha256 "
                         f"{table.source_hash[:12]}..., model trained on {str(model.training.get('training_data_sha256'))[:12]}...); "
                         "re-run the train step")
    h, v = model.training["holdout"], model.training["validation"]
    hold = window(table.times, h["after"], h["until"])
    val = window(table.times, v["after"], v["until"])
    if len(hold) == 0:
        raise TableError(f"{input_path}: the holdout window recorded by train has no rows")
    return Windows(table=table, x=encode(table.columns, model.encoding), valid=val.rows, holdout=hold.rows)
