"""The acceptance suite is one feature file per lifecycle stage, in order:
a reader goes from design to governance, and topic files do not creep back."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

FEATURES = Path(__file__).resolve().parent
STAGES = ("01_design", "02_data_engineering", "03_model_development", "04_deployment", "05_operations",
          "06_governance")


def test_each_stage_has_a_feature_file_with_a_narrative_and_scenarios_and_one_step_module() -> None:
    for n, stage in enumerate(STAGES, 1):
        text = (FEATURES / f"{stage}.feature").read_text(encoding="utf-8")
        header = text.split("\n\n", 1)[0].splitlines()
        assert header[0].startswith(f"Feature: {n}. "), f"{stage}: the title says which stage it is: {header[0]!r}"
        assert f"Stage {n} of 6" in header[1] and len(header) >= 4, f"{stage}: a short narrative under the title"
        assert re.search(r"(?m)^  Scenario( Outline)?: ", text), f"{stage}: no scenario"
        module = FEATURES / f"test_{stage}.py"
        assert f'scenarios("{stage}.feature")' in module.read_text(encoding="utf-8"), module


def test_every_feature_file_is_a_stage_file() -> None:
    found = sorted(p.stem for p in FEATURES.glob("*.feature"))
    assert found == list(STAGES), f"feature files that are not one of the six stages: {sorted(set(found) - set(STAGES))}"
