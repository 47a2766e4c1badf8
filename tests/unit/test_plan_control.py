"""The compiled RuntimeControl channel: in a cluster the monitor pod and the
predictor replicas share the review store's PostgreSQL row (the predictor
has its DSN only when the model has a review section); locally, and without
a review section, the control file under work_dir."""

from __future__ import annotations

from pathlib import Path

from compiler.plan import SystemPlan
from compiler.plan.review import REVIEW_DSN_ENV
from runtime.contracts.steps import MonitorConfig, ServeConfig
from tests.unit.test_review_config import _plan_without_review


def test_cluster_serve_and_monitor_share_the_review_store_row(plan: SystemPlan) -> None:
    assert plan.servings and plan.monitors
    configs = [s.config for s in plan.servings] + [m.step.config for m in plan.monitors]
    for cfg in configs:
        assert isinstance(cfg, (ServeConfig, MonitorConfig)) and cfg.control is not None
        assert cfg.control.backend == "database" and cfg.control.refresh_s == 1.0
        assert cfg.control.store is not None
        assert (cfg.control.store.backend, cfg.control.store.dsn_env) == ("postgres", REVIEW_DSN_ENV)
    for serving in plan.servings:  # the predictor's DSN is the one its review store maps from the Secret
        assert isinstance(serving.config, ServeConfig) and serving.config.review is not None
        assert serving.config.control.store == serving.config.review.store  # type: ignore[union-attr]


def test_local_serve_uses_the_control_file(plan: SystemPlan) -> None:
    for local in plan.local_servings:
        assert local.config.control is not None and local.config.control.backend == "file"
        assert local.config.control.store is None


def test_without_a_review_section_the_cluster_falls_back_to_the_file(repo: Path, tmp_path: Path) -> None:
    plan = _plan_without_review(repo, tmp_path)
    for serving in plan.servings:
        assert isinstance(serving.config, ServeConfig) and serving.config.control is not None
        assert serving.config.control.backend == "file"
    for monitor in plan.monitors:
        assert monitor.step.config.control.backend == "file"  # type: ignore[union-attr]
