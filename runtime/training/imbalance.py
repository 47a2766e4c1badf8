"""Imbalance handling as declared: the rows and weights a model is fitted on.

``undersample`` keeps every positive and a seeded random ``negative_ratio``
negatives per positive, and weights each kept negative by ``1 / keep_rate``
so the weighted class balance (and hence the probability scale before
calibration) is that of the full data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ImbalanceError", "Resampled", "resample"]


class ImbalanceError(Exception):
    """The declared handling cannot apply to these rows."""


@dataclass(frozen=True)
class Resampled:
    rows: np.ndarray  # indices into the fit window, ascending (time order kept)
    weight: np.ndarray | None  # per kept row; None = unweighted
    scale_pos_weight: float | None  # LightGBM's own positive-class weight, when declared
    negatives_kept: int
    negatives_total: int


def resample(y: np.ndarray, strategy: str, *, negative_ratio: float | None, seed: int, native_scale_pos_weight: bool) -> Resampled:
    pos = np.flatnonzero(y == 1)
    neg = np.flatnonzero(y == 0)
    if len(pos) == 0:
        raise ImbalanceError(f"the training window has no positive rows (of {len(y)}); the model cannot learn the outcome")
    if len(neg) == 0:
        raise ImbalanceError(f"the training window has no negative rows (of {len(y)})")
    ratio = len(neg) / len(pos)
    rows = np.arange(len(y))
    if strategy == "none":
        return Resampled(rows, None, None, len(neg), len(neg))
    if strategy == "class_weight" or (strategy == "scale_pos_weight" and not native_scale_pos_weight):
        weight = np.where(y == 1, ratio, 1.0)
        return Resampled(rows, weight, None, len(neg), len(neg))
    if strategy == "scale_pos_weight":
        return Resampled(rows, None, ratio, len(neg), len(neg))
    if strategy == "undersample":
        if negative_ratio is None:
            raise ImbalanceError("undersample needs negative_ratio")
        keep_n = min(len(neg), max(1, int(round(negative_ratio * len(pos)))))
        rng = np.random.default_rng(seed)
        kept = np.sort(rng.choice(neg, size=keep_n, replace=False))
        rows = np.sort(np.concatenate([pos, kept]))
        weight = np.where(y[rows] == 1, 1.0, len(neg) / keep_n)
        return Resampled(rows, weight, None, keep_n, len(neg))
    raise ImbalanceError(f"unknown imbalance strategy {strategy!r}")
