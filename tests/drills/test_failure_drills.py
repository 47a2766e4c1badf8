"""Every failure drill at CI size: the failure is detected, the declared
action fires through the real enforcement, and the issue's targets hold.
The drills are bench/drills' own code (one definition of each drill)."""

from __future__ import annotations

from typing import Any

import pytest
from drill_runs import RUN, drill


def actions(r: dict[str, Any]) -> set[str]:
    return {a["action"] for a in r["actions"] if a["ok"]}


def test_covariate_drift_detected_within_three_windows_with_few_false_alarms() -> None:
    r = drill("covariate_drift")
    assert r["detected"] and 2 <= r["windows_to_detect"] <= 3  # persistence 2: two windows at the least
    assert r["stationary_windows"] >= 100
    assert r["false_alarms_per_100_windows"] <= 1.0
    assert all(b["windows_to_detect"] <= 3 and b["false_alarms_before_onset"] == 0 for b in r["by_fraction"].values())
    # Half the fleet recalibrated: the score moves past the spec's score-drift bound within one 6 h window.
    half = r["by_fraction"]["0.5"]
    assert half["objective_breached"] == ["score-drift"] and half["hours_from_onset_to_action"] <= 12
    assert {a["action"] for a in half["actions"] if a["ok"]} == {"retrain"}
    # One sensor of six can never push the drift share past 0.3: the spec's drift objective is blind to it.
    assert all(b["max_after_onset"]["drift"] < 0.3 for b in r["by_fraction"].values())


def test_degradation_estimated_flags_before_realized_confirms() -> None:
    r = drill("degradation")
    assert r["detected"] and r["estimated_before_realized"]
    assert r["estimated_days_after_change"] <= 2 < r["realized_days_after_change"]
    assert {"estimated-quality", "realized-quality"} <= set(r["objective_breached"])
    assert {"retrain", "page"} <= actions(r)
    assert any(p["objective"] == "realized-quality" for p in r["stdout_pages"])


def test_concept_drift_is_caught_by_realized_quality_only() -> None:
    r = drill("concept_drift")
    assert r["detected"] and not r["estimated_breached"]
    assert r["objective_breached"] == ["realized-quality"] and {"retrain", "page"} <= actions(r)
    # reviewer verdicts (early labels) show it within days; realized quality waits for the 7 d window to mature
    assert r["reviewer_override_days_after_change"] <= 2 < r["realized_days_after_change"]


def test_a_bad_release_is_rolled_back_within_its_first_canary_step() -> None:
    r = drill("bad_release")
    assert r["detected"] and r["within_first_step"]
    assert r["challenger_requests_to_rollback"] == r["min_requests"]  # judged at the first chance
    assert r["challenger_share_after_rollback"] == 0.0
    assert actions(r) == {"rollback"} and "score PSI" in r["failures"][0]


def test_review_overload_breaches_the_backlog_objective_and_pages_the_webhook() -> None:
    r = drill("review_overload")
    assert r["detected"] and r["pending_at_breach"] > r["bound"] == 50
    assert actions(r) == {"page"}
    (page,) = r["webhook_received"]
    assert page["kind"] == "incident.opened" and page["objective"] == "review-backlog"
    assert page["id"] == r["actions"][0]["incident"]


def test_skew_in_the_online_path_is_caught_by_the_live_skew_monitor_and_pages() -> None:
    r = drill("training_serving_skew")
    assert r["clean_mismatch_rate"] == 0.0 and r["clean_actions"] == []  # no false alarm on a clean path
    assert r["detected"] and r["skewed_mismatch_rate"] > r["bound"]
    assert r["runs"]["skewed"]["entities"] == ["P-CRIT"]  # the skewed asset, named
    assert actions(r) == {"page"}


@pytest.mark.parametrize("name", ["review_overload", "training_serving_skew"])
def test_drills_are_deterministic(name: str) -> None:
    a = RUN.run_drill(name, "ci")
    b = drill(name)
    keep = lambda r: {k: v for k, v in r.items() if k != "wall_s"}  # noqa: E731
    assert keep(a) == keep(b)  # the incident ids too: a rerun names the same incidents
