"""The series rebuilt from what was recorded read as the exporters' would."""

from __future__ import annotations

import pytest
from monitoring_log import MODEL, T0_US, make_log

from runtime.contracts.monitoring import ObjectiveResult
from runtime.monitoring.log_metrics import gauge_series, series_from_log
from runtime.monitoring.series import SeriesSet
from runtime.monitoring.slo import Objective, evaluate

T0_MS = T0_US // 1000
H = 3_600_000


def drift_objective() -> Objective:
    return Objective(name="drift", metric="feature_drift_share", bound=0.3, direction="max", window_ms=6 * H,
                     actions=("retrain",), severity="ticket", service_level="sl")


def judge(windows: list[tuple[int, float | None]], at_ms: int) -> ObjectiveResult:
    series = gauge_series("specops_feature_drift_share", {"model": MODEL, "environment": "local"}, windows,
                          since_ms=T0_MS, at_ms=at_ms)
    (result,) = evaluate([drift_objective()], SeriesSet((series,)), model=MODEL, environment="local",
                         at_ms=at_ms).results
    return result


def test_a_monitor_gauge_breaches_only_once_it_has_held_the_whole_window() -> None:
    hourly = [(T0_MS + h * H, 0.5) for h in range(1, 13)]  # drift share 0.5 in every hourly window
    assert judge(hourly, T0_MS + 4 * H).status == "no_data"  # began inside the 6h window: not judged yet
    assert judge(hourly, T0_MS + 8 * H).status == "breach"
    one_clean = [(t, 0.1 if t == T0_MS + 6 * H else v) for t, v in hourly]
    assert judge(one_clean, T0_MS + 8 * H).status == "ok"  # one clean window inside the 6h: no retrain
    assert judge(one_clean, T0_MS + 12 * H).status == "ok"  # the clean value held 6h-7h: still inside
    assert judge(one_clean, T0_MS + 13 * H + 5 * 60_000).status == "breach"


def test_counters_rebuilt_from_the_log_count_requests_and_errors() -> None:
    records = make_log(minutes=10, errors_from_min=0)
    at = T0_MS + 11 * 60_000  # scrapes are aligned to 30 s: the last one after the log's end
    data = series_from_log(records, model=MODEL, at_ms=at, since_ms=at - H)
    total = {s.label("version"): s.samples[-1][1] for s in data.select("specops_requests_total")}
    assert total == {"1.4.0": 1200.0, "1.5.0": 600.0}
    errors = [s for s in data.select("specops_request_errors_total") if s.label("reason") == "model_error"]
    assert [s.samples[-1][1] for s in errors] == [60.0]
    # Before the first request the counters read 0 (initialised at start-up), never absent.
    assert all(s.samples[0][1] == 0.0 for s in data.select("specops_requests_total"))
    inf = [s for s in data.select("specops_request_duration_seconds_bucket") if s.label("le") == "+Inf"]
    assert sorted(s.samples[-1][1] for s in inf) == [600.0, 1200.0]


def test_a_batch_request_counts_once_with_its_slowest_row() -> None:
    import dataclasses

    first = make_log(minutes=1)[0]
    rows = [dataclasses.replace(first, seq=i, prediction_id=f"{first.request_id}/{i}", latency_s=0.02 * (i + 1))
            for i in range(3)]
    data = series_from_log(rows, model=MODEL, at_ms=T0_MS + 60_000, since_ms=T0_MS - 60_000)
    (total,) = data.select("specops_requests_total")
    assert total.samples[-1][1] == 1.0
    le = {s.label("le"): s.samples[-1][1] for s in data.select("specops_request_duration_seconds_bucket")}
    assert le["0.05"] == 0.0 and le["0.1"] == 1.0
    assert pytest.approx(0.06) == max(r.latency_s for r in rows)
