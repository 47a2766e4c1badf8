"""`specops serve --canary/--shadow`: how the options reach the compiled
config, and every misuse answered with a message naming what to do (never a
traceback, never a silently ignored option)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from compiler.serve import CANARY_ENV, SHADOW_ENV, ServeError, serve_command
from runtime.contracts.steps import ServeConfig
from runtime.steps.serve import with_challenger

REPO = Path(__file__).resolve().parents[3]


def local() -> ServeConfig:
    return ServeConfig.model_validate_json((REPO / "generated/runtime/pump-failure/serve.json").read_text())


def test_the_compiled_configs_carry_the_specs_canary_analysis() -> None:
    canary = local().canary
    assert canary is not None
    assert (canary.steps, canary.percent, canary.challenger_alias) == ((10, 25, 50, 100), 0.0, "candidate")
    assert (canary.interval_s, canary.max_error_rate, canary.max_latency_p99_ms, canary.max_score_psi,
            canary.min_requests) == (900.0, 0.01, 200.0, 0.2, 300)
    [path] = sorted((REPO / "generated/prod").glob("configmap-pump-failure-serve-*.yaml"))
    prod = ServeConfig.model_validate_json(yaml.safe_load(path.read_text())["data"]["serve-prod.json"])
    # In a cluster KServe splits between revisions (canaryTrafficPercent on the InferenceService):
    # the revision's config carries the analysis, not the percent, so a step PR makes no new revision.
    assert prod.role == "canary" and prod.canary is not None and prod.canary.percent == 0.0
    assert prod.canary.challenger is None


def test_canary_and_shadow_options_become_the_configs_challenger() -> None:
    assert with_challenger(local(), {}) == local()
    split = with_challenger(local(), {CANARY_ENV: "25"})
    assert split.canary is not None and (split.canary.percent, split.canary.challenger_alias) == (25.0, "candidate")
    shadow = with_challenger(local(), {SHADOW_ENV: "1"})
    assert shadow.registry_shadow_alias == "candidate" and shadow.canary == local().canary


@pytest.mark.parametrize(("env", "message"), [
    ({CANARY_ENV: "0"}, "must be a number in (0, 100]"),
    ({CANARY_ENV: "ten"}, "must be a number in (0, 100]"),
    ({CANARY_ENV: "10", SHADOW_ENV: "1"}, "choose one of --canary and --shadow"),
])
def test_bad_challenger_options_are_refused_with_a_reason(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("]", r"\]")):
        with_challenger(local(), env)


def test_a_model_without_canary_steps_or_a_cluster_config_refuses_the_options() -> None:
    no_canary = local().model_copy(update={"canary": None})
    with pytest.raises(ValueError, match="declares no spec.serving.canary"):
        with_challenger(no_canary, {CANARY_ENV: "10"})
    [path] = sorted((REPO / "generated/prod").glob("configmap-pump-failure-serve-*.yaml"))
    prod = ServeConfig.model_validate_json(yaml.safe_load(path.read_text())["data"]["serve-prod.json"])
    with pytest.raises(ValueError, match="in a cluster the release in git decides"):
        with_challenger(prod, {SHADOW_ENV: "1"})


def test_specops_serve_passes_the_options_on_and_refuses_both() -> None:
    command = serve_command(REPO / "generated", None, None, None, False, canary=12.5)
    assert command.env[CANARY_ENV] == "12.5" and SHADOW_ENV not in command.env
    assert serve_command(REPO / "generated", None, None, None, False, shadow=True).env[SHADOW_ENV] == "1"
    with pytest.raises(ServeError, match="choose one of --canary and --shadow"):
        serve_command(REPO / "generated", None, None, None, False, canary=10, shadow=True)


def test_the_serve_step_exits_2_with_one_message_on_a_bad_canary(served_repo) -> None:  # type: ignore[no-untyped-def]
    import os
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "runtime", "serve", "--config", str(served_repo.config_path())],
                          cwd=served_repo.root, env={**os.environ, CANARY_ENV: "150"}, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == ("error: serve pump-failure: SPECOPS_SERVE_CANARY_PERCENT='150': the canary percent "
                                   "must be a number in (0, 100]")
