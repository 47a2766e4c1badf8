"""Rolling-origin backtest windows over a time-sorted table.

Fold ``i`` tests on the window ``(start_i, end_i]``; the latest fold ends at
the last cut time and each earlier fold ends where the next one starts.  The
model of a fold is fitted on rows at or before ``valid_start - gap``, early
stopped and calibrated on the validation window ``(valid_start, valid_end]``
that ends ``gap`` before the test window.  With ``gap >= label horizon`` no
training or validation label can see into the test window (a row's label
covers ``(t, t + horizon]``).  Rows are never shuffled; a random split is not
available here by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Fold", "FoldError", "Window", "rolling_origin", "window"]


class FoldError(Exception):
    """The table cannot hold the declared backtest."""


@dataclass(frozen=True)
class Window:
    """Rows ``lo:hi`` of the sorted table; times ``(after, until]``."""

    lo: int
    hi: int
    after: float
    until: float

    @property
    def rows(self) -> slice:
        return slice(self.lo, self.hi)

    def __len__(self) -> int:
        return self.hi - self.lo

    def to_json(self) -> dict[str, float | int]:
        return {"rows": len(self), "after": self.after if np.isfinite(self.after) else None, "until": self.until}


@dataclass(frozen=True)
class Fold:
    index: int  # 0 = oldest; the last fold is the holdout
    fit: Window
    valid: Window
    test: Window


def window(times: np.ndarray, after: float | None, until: float) -> Window:
    """Rows with ``after < t <= until`` (``after=None``: from the start)."""
    after = -np.inf if after is None else after
    lo = int(np.searchsorted(times, after, side="right"))
    hi = int(np.searchsorted(times, until, side="right"))
    return Window(lo=lo, hi=hi, after=after, until=until)


def rolling_origin(times: np.ndarray, folds: int, test_window_s: float, gap_s: float,
                   min_train_window_s: float) -> tuple[Fold, ...]:
    """The backtest folds, oldest first.  ``times`` must be sorted ascending."""
    if len(times) == 0:
        raise FoldError("the training table is empty")
    first, last = float(times[0]), float(times[-1])
    out = []
    for k in range(folds):
        test_until = last - (folds - 1 - k) * test_window_s
        test_after = test_until - test_window_s
        valid_until = test_after - gap_s
        valid_after = valid_until - test_window_s
        fit_until = valid_after - gap_s
        span = fit_until - first
        if span < min_train_window_s:
            need = (min_train_window_s - span) / 86400
            raise FoldError(
                f"fold {k + 1} of {folds} would train on {max(span, 0) / 86400:.1f} days of history, less than "
                f"minTrainWindow ({min_train_window_s / 86400:.1f} days): the table spans "
                f"{(last - first) / 86400:.1f} days; provide {need:.1f} more days of data or declare fewer folds, "
                "a shorter testWindow or a shorter minTrainWindow")
        fold = Fold(index=k, fit=window(times, -np.inf, fit_until),
                    valid=window(times, valid_after, valid_until), test=window(times, test_after, test_until))
        for name, w in (("training", fold.fit), ("validation", fold.valid), ("test", fold.test)):
            if len(w) == 0:
                raise FoldError(f"fold {k + 1} of {folds}: the {name} window ({w.after:.0f}, {w.until:.0f}] has no rows")
        out.append(fold)
    return tuple(out)
