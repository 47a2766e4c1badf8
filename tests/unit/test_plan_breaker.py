"""The ServiceLevel's circuitBreaker compiled into every serve config (cluster
and local), with the previous model a ``previous_model`` fallback scores
with: the champion a canary replaces, the registry's alias locally."""

from __future__ import annotations

import shutil
from pathlib import Path

from compiler.lint import lint_paths
from compiler.plan import SystemPlan, build_plan
from runtime.contracts.steps import BreakerConfig


def test_the_example_breaker_reaches_every_serve_config(plan: SystemPlan) -> None:
    want = BreakerConfig(failure_threshold=5, window_s=30.0, open_for_s=60.0, half_open_requests=3,
                         fallback="human_review")
    assert {s.environment: s.config.breaker for s in plan.servings} == {"prod": want, "staging": want}
    assert [s.config.breaker for s in plan.local_servings] == [want]


def _plan_with(tmp_path: Path, repo: Path, fallback: str) -> SystemPlan:
    for folder in ("specs", "policies"):
        shutil.copytree(repo / folder, tmp_path / folder)
    slo = tmp_path / "specs/slos/pump-failure.yaml"
    slo.write_text(slo.read_text().replace("fallback: human_review", f"fallback: {fallback}"))
    result = lint_paths([tmp_path / "specs", tmp_path / "policies"], base=str(tmp_path))
    errors = [d for d in result.diagnostics if d.severity.name == "ERROR"]
    if fallback == "previous_model":  # staging serves a champion alone: refused offline (SO423)
        assert [(d.code, "'staging'" in d.message) for d in errors] == [("SO423", True)], errors
    else:
        assert not errors, errors
    return build_plan(result.spec)


def test_previous_model_names_the_champion_a_canary_replaces(tmp_path: Path, repo: Path) -> None:
    plan = _plan_with(tmp_path, repo, "previous_model")
    by_env = {s.environment: s for s in plan.servings}
    prod = by_env["prod"]  # 1.4.0 is the canary, 1.3.0 the champion it replaces
    assert prod.role == "canary" and prod.config.breaker is not None
    assert prod.config.breaker.previous is not None and prod.config.breaker.previous.version == "1.3.0"
    assert prod.config.breaker.previous.sha256 != prod.config.release.sha256  # type: ignore[union-attr]
    # staging serves a champion alone: no previous release in git (lint says SO423; the predictor would refuse)
    assert by_env["staging"].config.breaker.previous is None  # type: ignore[union-attr]
    [local] = plan.local_servings
    assert local.config.breaker.previous_alias == "previous" and local.config.breaker.previous is None  # type: ignore[union-attr]


def test_other_fallbacks_name_no_previous_model(tmp_path: Path, repo: Path) -> None:
    plan = _plan_with(tmp_path, repo, "conservative_rule")
    for s in (*plan.servings, *plan.local_servings):
        assert s.config.breaker is not None and s.config.breaker.fallback == "conservative_rule"
        assert s.config.breaker.previous is None and s.config.breaker.previous_alias is None
