"""System.spec.sampleData compiles into a generate-data step config and a
DVC stage (local runs only), and nothing at all when the section is absent."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

from compiler.emit import emit
from compiler.emit.backends.dvc import build_dvc
from compiler.lint import lint_paths
from compiler.plan import SystemPlan, build_plan
from runtime.contracts.steps import GenerateDataConfig, ValidateDataConfig


def test_generate_data_step_from_the_example(plan: SystemPlan) -> None:
    (step,) = plan.data_steps
    cfg = step.config
    assert isinstance(cfg, GenerateDataConfig)
    g = cfg.generator
    assert (g.seed, g.days, g.assets, g.mean_interval_s) == (7, 120.0, 40, 900.0)
    assert g.start == datetime(2026, 3, 1, tzinfo=timezone.utc)
    assert g.positive_rate == 0.03  # from failure-labels' expectedPositiveRate
    assert g.label_delay_s == 48 * 3600  # from failure-labels' availabilityDelay
    assert g.late_delay_s == 3 * 7200  # well past sensor-events' allowedLateness
    assert (g.new_asset_type, g.new_asset_type_at_day, g.new_assets) == ("compressor", 100.0, 4)
    assert (cfg.events.name, cfg.labels.name) == ("sensor-events", "failure-labels")
    assert step.outs == ("data/events", "data/labels")
    assert step.command == ("python", "-m", "runtime", "generate-data", "--config",
                            "generated/runtime/sample-data/generate-data.json")


def test_generate_data_is_local_only(plan: SystemPlan) -> None:
    assert all(s.step != "generate-data" for p in plan.pipelines for s in p.steps)
    artifacts = emit(plan)
    workflows = [a for a in artifacts if "workflow" in a.path]
    assert workflows and all(b"generate-data" not in a.content for a in workflows)
    stages = build_dvc(plan).stages
    assert "sample-data-generate-data" in stages


def test_local_validate_data_checks_freshness_at_the_end_of_the_sample(plan: SystemPlan) -> None:
    (validate,) = [s for p in plan.pipelines for s in p.steps if s.step == "validate-data"]
    assert isinstance(validate.config, ValidateDataConfig) and isinstance(validate.cluster_config, ValidateDataConfig)
    assert validate.config.as_of == datetime(2026, 3, 1, tzinfo=timezone.utc) + timedelta(days=120)
    assert validate.cluster_config.as_of is None  # production: the wall clock
    labels = next(s for s in validate.config.sources if s.type == "labels")
    assert labels.availability_delay_s == 48 * 3600


def test_without_sample_data_nothing_is_generated(repo: Path, tmp_path: Path) -> None:
    shutil.copytree(repo / "specs", tmp_path / "specs")
    system = tmp_path / "specs" / "system.yaml"
    text = system.read_text(encoding="utf-8")
    system.write_text(text[: text.index("  # The embedded sample data set")], encoding="utf-8")
    result = lint_paths([tmp_path / "specs", repo / "policies"], base=str(tmp_path))
    assert result.diagnostics == ()
    bare = build_plan(result.spec)
    assert bare.data_steps == ()
    assert "sample-data-generate-data" not in build_dvc(bare).stages
    (validate,) = [s for p in bare.pipelines for s in p.steps if s.step == "validate-data"]
    assert validate.config.as_of is None  # type: ignore[attr-defined]
    assert not any(a.path.startswith("generated/runtime/sample-data/") for a in emit(bare))
