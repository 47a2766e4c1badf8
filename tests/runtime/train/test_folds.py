"""Rolling-origin folds: time order, the gap, the minimum history."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.training.folds import FoldError, rolling_origin

DAY = 86400.0


def _check(times: np.ndarray, folds: int, test: float, gap: float, min_train: float) -> None:
    result = rolling_origin(times, folds, test, gap, min_train)
    assert len(result) == folds
    assert result[-1].test.until == times[-1]  # the holdout is the latest data
    for i, f in enumerate(result):
        fit_t, val_t, test_t = times[f.fit.rows], times[f.valid.rows], times[f.test.rows]
        # Every training label window (t, t + gap] closes before the next window opens.
        assert fit_t.max() + gap <= val_t.min()
        assert val_t.max() + gap <= test_t.min()
        assert f.fit.until - times[0] >= min_train
        assert f.test.until - f.test.after == pytest.approx(test)
        if i:
            assert f.test.after == pytest.approx(result[i - 1].test.until)  # adjacent, no overlap
            assert f.fit.hi >= result[i - 1].fit.hi  # expanding window


def test_fold_boundaries_respect_the_gap_on_the_example_shape():
    rng = np.random.default_rng(1)
    times = np.sort(rng.uniform(0, 120 * DAY, 20_000))
    _check(times, folds=4, test=7 * DAY, gap=DAY, min_train=60 * DAY)


@settings(max_examples=60, deadline=None)
@given(folds=st.integers(2, 6), test_days=st.integers(1, 10), gap_h=st.integers(1, 72), seed=st.integers(0, 1000))
def test_fold_invariants_hold_for_any_declared_backtest(folds: int, test_days: int, gap_h: int, seed: int):
    rng = np.random.default_rng(seed)
    times = np.sort(rng.uniform(0, 200 * DAY, 5_000))
    try:
        _check(times, folds, test_days * DAY, gap_h * 3600.0, 30 * DAY)
    except FoldError as exc:
        # Refused, never silently shortened: only when the history is too short.
        assert "minTrainWindow" in str(exc) or "has no rows" in str(exc)


def test_too_little_history_is_refused_with_the_numbers():
    times = np.linspace(0, 70 * DAY, 1000)
    with pytest.raises(FoldError) as err:
        rolling_origin(times, 4, 7 * DAY, DAY, 60 * DAY)
    msg = str(err.value)
    assert "fold 1 of 4" in msg and "minTrainWindow (60.0 days)" in msg and "spans 70.0 days" in msg
