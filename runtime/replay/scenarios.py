"""The replay scenarios, listed as data: a new scenario is one entry.

Each scenario continues the embedded sample data set where it ends (same
seed, so the same fleet: asset ids, types, criticality and which sensors
were recalibrated), with generator knobs changed from the replay's start.
``expect`` names the ServiceLevel objectives the scenario should breach, so
a drill can check that monitoring saw what was injected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SCENARIOS", "Scenario", "ScenarioError", "scenario_named"]


class ScenarioError(ValueError):
    """No such scenario."""


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    # GeneratorConfig fields overriding the sample data's, times in days from the replay start.
    generator: Mapping[str, Any] = field(default_factory=dict)
    expect: tuple[str, ...] = ()  # objective metrics it should breach (runtime.contracts.metrics OBJECTIVE_SLIS)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("stationary", "The fleet as the model was trained on it: nothing should fire."),
    Scenario("recalibration",
             "Most temperature sensors are recalibrated half a day in: a covariate shift of +15 C on 60% of "
             "the fleet.",
             {"recalibration_at_day": 0.5, "recalibration_fraction": 0.6, "recalibration_offset": 15.0},
             expect=("feature_drift_share", "prediction_drift_psi")),
    Scenario("new-asset-type",
             "The compressor fleet triples half a day in (the model saw four compressors for twenty days).",
             {"new_asset_type": "compressor", "new_asset_type_at_day": 0.5, "new_assets": 12},
             expect=("feature_drift_share",)),
    Scenario("sensor-faults",
             "Flaky gateways: 8% nulls, 3% impossible values, duplicates and late, out-of-order arrivals.",
             {"null_rate": 0.08, "out_of_range_rate": 0.03, "duplicate_rate": 0.05, "late_rate": 0.02,
              "out_of_order_rate": 0.1},
             expect=()),
    Scenario("gateway-outage",
             "Every gateway goes silent four hours in and stays so for a day (store and forward: the held "
             "readings arrive when it returns): features age past maxFeatureAge and the freshness objective.",
             {"outage_at_day": 1 / 6, "outage_hours": 24.0},
             expect=("feature_freshness",)),
    Scenario("failure-wave",
             "Five times the usual failure rate: more high scores, more escalations, a review backlog.",
             {"positive_rate": 0.15},
             expect=("review_backlog",)),
)


def scenario_named(name: str) -> Scenario:
    for s in SCENARIOS:
        if s.name == name:
            return s
    raise ScenarioError(f"no replay scenario {name!r}; choose one of: {', '.join(s.name for s in SCENARIOS)}")
