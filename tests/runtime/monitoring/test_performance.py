"""Delayed labels, realized quality and CBPE-style estimated quality.

A synthetic stream with a known truth: one prediction per entity, the model
is the true (calibrated) probability sigmoid(A + B x) before the change;
a positive is a failure within the 1 d horizon, reported 0.25-1.0 d later
(declared availability delay: 1 d)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from sklearn.metrics import average_precision_score

from runtime.events import ARRIVAL_TIME, EVENT_ID
from runtime.monitoring.labels import LabelEvents, ReviewLabels, join_labels, label_events
from runtime.monitoring.performance import ESTIMATION_LIMIT, estimate_quality, performance_by_window, \
    tied_average_precision

DAY_US = 86_400 * 1_000_000
HORIZON_S, DELAY_S = 86_400.0, 86_400.0
A, B = -4.0, 1.6
PER_DAY = 4000
CHANGE_DAY = 10
AT = 0.5  # the model gate's recall_at_precision `at`


def _stream(change: str, days: int = 20, seed: int = 3):
    rng = np.random.default_rng(seed)
    n = days * PER_DAY
    t = np.sort(rng.integers(0, days * DAY_US, n))
    after = t >= CHANGE_DAY * DAY_US
    x = rng.normal(0.0, 1.5, n)
    if change == "covariate":   # inputs move to where the model cannot separate
        x[after] = rng.normal(0.8, 0.25, int(after.sum()))
    score = 1 / (1 + np.exp(-(A + B * x)))
    truth = score.copy()
    if change == "concept":     # same inputs and scores; the outcome no longer depends on x
        truth[after] = rng.permutation(score[after])
    y = rng.random(n) < truth
    entity = pa.array([f"E{i}" for i in range(n)])
    fail_t = t[y] + rng.integers(1, int(HORIZON_S * 1e6), int(y.sum()))
    avail = fail_t + (rng.uniform(0.25, 1.0, int(y.sum())) * DELAY_S * 1e6).astype(np.int64)
    return t, score, y, entity, LabelEvents(entity.filter(pa.array(y)), fail_t, avail)


def _report(t, score, entity, failures, as_of_day):
    served = t < as_of_day * DAY_US  # the log holds what was served by then
    t, score, entity = t[served], score[served], entity.filter(pa.array(served))
    labels = join_labels(entity, t, failures, None, horizon_s=HORIZON_S, availability_delay_s=DELAY_S,
                         as_of_us=as_of_day * DAY_US)
    return performance_by_window(t, score, labels, window_s=86_400.0, horizon_s=HORIZON_S,
                                 availability_delay_s=DELAY_S, precision_at=AT, threshold=0.3, draws=200, seed=1)


def _day(w) -> int:
    return w.start_us // DAY_US


def test_covariate_shift_estimation_flags_before_labels_mature_and_realized_confirms():
    t, score, _, entity, failures = _stream("covariate")
    early = _report(t, score, entity, failures, CHANGE_DAY + 2)   # the first changed windows are not mature
    late = _report(t, score, entity, failures, CHANGE_DAY + 8)
    before = [w.pr_auc.value for w in early.realized if _day(w) < CHANGE_DAY]
    reference = float(np.mean(before))
    changed = [w for w in early.windows if _day(w) >= CHANGE_DAY]
    assert changed and all(w.basis == "estimated" for w in changed)
    assert all(w.pr_auc.high < reference for w in changed)  # the whole band is below the realized level
    confirmed = [w for w in late.realized if _day(w) >= CHANGE_DAY]
    print(f"covariate shift at day {CHANGE_DAY}: realized PR-AUC before {reference:.3f}; estimated on day "
          f"{_day(changed[0])} (as of day {CHANGE_DAY + 2}, labels immature) {changed[0].pr_auc.value:.3f} "
          f"[{changed[0].pr_auc.low:.3f}, {changed[0].pr_auc.high:.3f}]; realized later "
          + ", ".join(f"day {_day(w)} {w.pr_auc.value:.3f}" for w in confirmed))
    assert confirmed and all(w.pr_auc.value < reference - 0.1 for w in confirmed)
    # the estimate was right: the realized value falls inside the estimated band (most days)
    est = {(_day(w)): w.pr_auc for w in _report(t, score, entity, failures, CHANGE_DAY).windows}
    inside = [est[_day(w)].low <= w.pr_auc.value <= est[_day(w)].high for w in confirmed if _day(w) in est]
    assert sum(inside) >= 0.75 * len(inside)


def test_concept_drift_is_invisible_to_estimation_and_caught_by_realized_quality():
    t, score, _, entity, failures = _stream("concept")
    early = _report(t, score, entity, failures, CHANGE_DAY + 2)
    late = _report(t, score, entity, failures, CHANGE_DAY + 8)
    reference = float(np.mean([w.pr_auc.value for w in early.realized if _day(w) < CHANGE_DAY]))
    changed = [w for w in early.estimated if _day(w) >= CHANGE_DAY]
    # The documented limit: the scores look as before, so the estimate does too.
    assert not any(w.pr_auc.high < reference for w in changed)  # the flag the covariate case raises
    assert abs(np.mean([w.pr_auc.value for w in changed]) - reference) < 0.05
    confirmed = [w for w in late.realized if _day(w) >= CHANGE_DAY]
    print(f"concept drift at day {CHANGE_DAY}: realized before {reference:.3f}; estimated after "
          f"{np.mean([w.pr_auc.value for w in changed]):.3f} (does not see it, by construction); realized after "
          f"{np.mean([w.pr_auc.value for w in confirmed]):.3f}")
    assert confirmed and all(w.pr_auc.value < reference / 2 for w in confirmed)
    assert "not from a change of P(y|x)" in late.method == ESTIMATION_LIMIT


def test_every_window_says_realized_or_estimated_and_matures_after_horizon_plus_delay():
    t, score, _, entity, failures = _stream("none", days=8)
    report = _report(t, score, entity, failures, 6)
    assert [w.basis for w in report.windows] == ["realized"] * 4 + ["estimated"] * 2
    assert all(w.matures_at_us == w.end_us + 2 * DAY_US for w in report.windows)
    assert all(w.ece is not None and w.positives is not None for w in report.realized)
    assert all(w.ece is None and w.positives is None and w.labeled < w.rows for w in report.estimated)


def test_late_labels_are_not_used_before_they_are_available():
    h = int(HORIZON_S * 1e6)
    entity = pa.array(["A", "B", "C"])
    at = np.array([0, 0, 0])
    failures = LabelEvents(pa.array(["A", "C"]), np.array([h // 2, h // 2]),
                           np.array([int(1.5 * DAY_US), 4 * DAY_US]))  # C's ticket comes later than declared

    def known(as_of: float) -> list[int]:
        return join_labels(entity, at, failures, None, horizon_s=HORIZON_S, availability_delay_s=DELAY_S,
                           as_of_us=int(as_of * DAY_US)).label.tolist()

    assert known(1.49) == [-1, -1, -1]   # nothing known: A's ticket is not in yet, no horizon has matured
    assert known(1.5) == [1, -1, -1]     # A's ticket arrives
    assert known(1.99) == [1, -1, -1]
    assert known(2.0) == [1, 0, 0]       # horizon + delay: B and C look negative (C's ticket does not exist yet)
    assert known(4.0) == [1, 0, 1]       # the late ticket corrects C, from its arrival on
    j = join_labels(entity, at, failures, None, horizon_s=HORIZON_S, availability_delay_s=DELAY_S,
                    as_of_us=4 * DAY_US)
    assert j.known_us.tolist() == [int(1.5 * DAY_US), 2 * DAY_US, 4 * DAY_US]


def test_reviewer_decisions_are_early_labels_and_tickets_win_once_known():
    entity = pa.array(["A", "B", "C"])
    at = np.array([10, 10, 10])
    failures = LabelEvents(pa.array(["B"]), np.array([DAY_US // 2]), np.array([DAY_US]))
    reviews = ReviewLabels(pa.array(["A", "B", "C"]), np.array([10, 10, 999]), np.array([True, False, True]),
                           np.array([DAY_US // 10, DAY_US // 10, DAY_US // 10]))

    def joined(as_of: float):
        return join_labels(entity, at, failures, reviews, horizon_s=HORIZON_S, availability_delay_s=DELAY_S,
                           as_of_us=int(as_of * DAY_US))

    assert joined(0.09).label.tolist() == [-1, -1, -1]
    j = joined(0.1)  # C's review is about another prediction (at 999): no label for C
    assert j.label.tolist() == [1, 0, -1] and j.source.tolist() == [3, 3, 0]
    assert joined(1.0).label.tolist() == [1, 1, -1]         # B's ticket overrides the reviewer
    assert joined(3.0).label.tolist() == [0, 1, 0]          # A: no failure after all; the horizon decides


def test_label_events_split_tickets_and_review_exports_and_fill_missing_arrival():
    table = pa.table({
        "asset_id": ["A", "B", "C", "D"],
        "failure_time": pa.array([1, 2, 3, 4], pa.timestamp("us", tz="UTC")),
        "failed": [True, False, True, False],
        EVENT_ID: ["T1", "T2", "review:r1", "review:r2"],
        ARRIVAL_TIME: pa.array([100, 200, 300, None], pa.timestamp("us", tz="UTC")),
    })
    failures, reviews = label_events(table, entity="asset_id", timestamp="failure_time", outcome="failed",
                                     positive_value=True, availability_delay_s=1.0)
    assert failures.entity.to_pylist() == ["A"] and failures.available_us.tolist() == [100]
    assert reviews.entity.to_pylist() == ["C", "D"] and reviews.positive.tolist() == [True, False]
    assert reviews.available_us.tolist() == [300, 4 + 1_000_000]


def test_tied_average_precision_is_sklearns():
    rng = np.random.default_rng(0)
    p = np.round(rng.random(5000), 2)  # many ties, as isotonic calibration produces
    y = (rng.random(5000) < p).astype(int)
    assert tied_average_precision(y, p) == pytest.approx(average_precision_score(y, p), abs=1e-12)


def test_estimate_of_a_calibrated_window_covers_what_it_realizes():
    rng = np.random.default_rng(9)
    hits = 0
    for _ in range(20):
        p = 1 / (1 + np.exp(-(A + B * rng.normal(0, 1.5, 3000))))
        y = (rng.random(p.size) < p).astype(int)
        ap, _ = estimate_quality(p, AT, draws=200, seed=2)
        hits += ap.low <= average_precision_score(y, p) <= ap.high
    print(f"calibrated windows: realized PR-AUC inside the 90% estimated band in {hits} of 20")
    assert hits >= 15


def test_expected_confusion_matrix_matches_the_realized_one_on_calibrated_data():
    t, score, _, entity, failures = _stream("none", days=12)
    early = {_day(w): w for w in _report(t, score, entity, failures, 5).estimated}
    late = {_day(w): w for w in _report(t, score, entity, failures, 12).realized}
    for day, est in early.items():
        real = late[day].confusion
        assert est.confusion["tp"] + est.confusion["fn"] == pytest.approx(est.expected_positives)
        # expected counts within ~4 standard deviations of what was realized
        assert abs(est.confusion["tp"] - real["tp"]) <= 4 * np.sqrt(est.confusion["tp"]) + 1
        assert abs(est.confusion["precision"] - real["precision"]) < 0.1

