"""Population stability index: how far one distribution moved from another.

``PSI = sum_b (cur_b - ref_b) * ln(cur_b / ref_b)`` over bins cut at the
reference's quantiles, so every bin holds about the same share of the
reference.  Ties collapse bins (a tree model's scores take few values): the
edges are the distinct quantiles.  A bin empty on one side counts as
``EPSILON`` of it (otherwise one empty bin makes the index infinite).
Common reading: < 0.1 stable, 0.1-0.2 moderate, > 0.2 a real shift.

Used by canary analysis (challenger scores vs the champion's) and by drift
(a window's feature or score values vs the training reference).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["DEFAULT_BINS", "EPSILON", "PsiResult", "psi", "psi_of_shares", "quantile_edges"]

DEFAULT_BINS = 10
EPSILON = 1e-4


@dataclass(frozen=True, slots=True)
class PsiResult:
    value: float
    edges: tuple[float, ...]          # interior cut points (bin b holds edges[b-1] < x <= edges[b])
    reference: tuple[float, ...]      # share of the reference per bin
    current: tuple[float, ...]        # share of the current sample per bin
    n_reference: int
    n_current: int

    def to_json(self) -> dict[str, object]:
        return {"psi": self.value, "edges": list(self.edges), "reference_share": list(self.reference),
                "current_share": list(self.current), "n_reference": self.n_reference, "n_current": self.n_current}


def _finite(values: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        raise ValueError(f"PSI needs at least one finite {what} value")
    return arr


def quantile_edges(reference: Sequence[float] | np.ndarray, bins: int = DEFAULT_BINS) -> tuple[float, ...]:
    """The distinct interior quantiles of ``reference`` (at most bins - 1 of them)."""
    if bins < 2:
        raise ValueError(f"PSI needs at least 2 bins, got {bins}")
    ref = _finite(reference, "reference")
    cuts = np.quantile(ref, np.linspace(0.0, 1.0, bins + 1)[1:-1], method="lower")
    edges = np.unique(cuts)
    if edges.size == 0 or edges[-1] >= ref.max():
        # keep the top value(s) in a bin of their own: a constant reference still has a "moved up" bin
        edges = np.unique(np.append(edges[edges < ref.max()], ref.max()))
    return tuple(float(e) for e in edges)


def _shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=edges.size + 1)
    return np.maximum(counts / values.size, EPSILON)


def psi(reference: Sequence[float] | np.ndarray, current: Sequence[float] | np.ndarray,
        bins: int = DEFAULT_BINS, edges: Sequence[float] | None = None) -> PsiResult:
    """PSI of ``current`` against ``reference`` (non-finite values are ignored)."""
    ref = _finite(reference, "reference")
    cur = _finite(current, "current")
    cut = np.asarray(edges if edges is not None else quantile_edges(ref, bins), dtype=np.float64)
    r, c = _shares(ref, cut), _shares(cur, cut)
    value = psi_of_shares(r, c)
    return PsiResult(value, tuple(float(e) for e in cut), tuple(float(x) for x in r), tuple(float(x) for x in c),
                     int(ref.size), int(cur.size))


def psi_of_shares(reference: Sequence[float] | np.ndarray, current: Sequence[float] | np.ndarray) -> float:
    """PSI of two distributions already binned alike (shares per bin); an
    empty bin counts as ``EPSILON``.  Drift computes shares from counts kept
    per window, canary analysis from samples (``psi``): one formula."""
    r = np.maximum(np.asarray(reference, dtype=np.float64), EPSILON)
    c = np.maximum(np.asarray(current, dtype=np.float64), EPSILON)
    return float(np.sum((c - r) * np.log(c / r)))
