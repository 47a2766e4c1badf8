"""Steps of the failure drills (05_operations.feature), imported by test_05_operations.py.

Each drill is bench/drills' own code at CI size: the failure injected, detected by the real monitoring
code, and acted on by the real enforcement with the compiled ServiceLevel's objectives and actions."""

from __future__ import annotations

from typing import Any

from drill_runs import drill as run_once
from pytest_bdd import parsers, then, when


@when(parsers.parse('the drill "{name}" runs'), target_fixture="drill")
def run_drill(name: str) -> dict[str, Any]:
    """The drill's result, run once a session and shared with tests/drills (deterministic, read-only)."""
    return run_once(name)


@then(parsers.parse("it is detected within {n:d} windows"))
def detected_within(drill: dict[str, Any], n: int) -> None:
    assert drill["detected"] and drill["windows_to_detect"] <= n


@then(parsers.parse("stationary data raises at most {n:d} false alarm per 100 windows"))
def false_alarms(drill: dict[str, Any], n: int) -> None:
    assert drill["stationary_windows"] >= 100 and drill["false_alarms_per_100_windows"] <= n


@then(parsers.parse('the action "{action}" fired'))
def action_fired(drill: dict[str, Any], action: str) -> None:
    assert any(a["action"] == action and a["ok"] and a["incident"] for a in drill["actions"]), drill["actions"]


@then("estimated quality flags it before realized quality confirms it")
def estimated_first(drill: dict[str, Any]) -> None:
    assert drill["estimated_days_after_change"] < drill["realized_days_after_change"]


@then("only realized quality catches it")
def realized_only(drill: dict[str, Any]) -> None:
    assert drill["detected"] and drill["objective_breached"] == ["realized-quality"]


@then("reviewer overrides show it before realized quality does")
def overrides_first(drill: dict[str, Any]) -> None:
    assert drill["reviewer_override_days_after_change"] < drill["realized_days_after_change"]


@then("it is rolled back within its first canary step")
def rolled_back(drill: dict[str, Any]) -> None:
    assert drill["within_first_step"] and drill["challenger_share_after_rollback"] == 0.0


@then(parsers.parse('the objective "{name}" is breached'))
def breached(drill: dict[str, Any], name: str) -> None:
    assert drill["detected"] and name in drill["objective_breached"]
