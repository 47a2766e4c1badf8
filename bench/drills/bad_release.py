"""A bad model released: the candidate's scores are shifted (a wrong bias,
the kind a broken export produces).  The real in-process predictor serves a
split canary at the release's first step; its canary analysis (score PSI
against the champion, error rate, latency p99) fails the candidate and rolls
back within that step: a canary_rollback incident, the control file at 0 %."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from harness import REPO, Drill
from runtime.registry import Registry
from runtime.serving.predictor import SpecOpsPredictor
from tests.runtime.serving import served

__all__ = ["DRILL", "run"]

DRILL = Drill(name="bad_release", failure_mode="a bad model released (scores shifted)",
              detector="runtime.serving.canary.CanaryController (judge: error rate, p99, score PSI)",
              objective=None, human="nothing to stop it; open the pull request that reverts the release so git agrees")

AT = "2026-03-01T12:01:00Z"
SIZES = {"ci": {"max_requests": 20_000}, "full": {"max_requests": 50_000}}
BIAS_SHIFT = 3.0


def run(size: str, work: Path) -> dict[str, Any]:
    assert REPO.exists()
    cwd = Path.cwd()
    repo = served.make_repo(work)
    canary = repo.config.canary
    assert canary is not None, "the compiled serve config declares no canary analysis"
    first_step = float(canary.steps[0])
    os.chdir(work)
    try:
        registry = Registry(repo.config.artifacts.uri)
        registry.set_alias(served.MODEL, "champion", repo.version)
        bad = work / "build" / "bad.onnx"
        served.write_onnx(bad, list(repo.config.features), served.WEIGHTS, served.BIAS + BIAS_SHIFT)
        entry = registry.register(served.MODEL, {"model.onnx": bad}, "model.onnx", {})
        registry.set_alias(served.MODEL, canary.challenger_alias, entry.version)
        config = repo.config.model_copy(update={"canary": canary.model_copy(update={"percent": first_step})})
        predictor = SpecOpsPredictor(config)
        predictor.load()
        try:
            entities = list(served.ASSETS)
            total = challenger = 0
            status: dict[str, Any] = {}
            predictor_percent_at_rollback = None
            for i in range(SIZES[size]["max_requests"]):
                percent = predictor.canary.config.percent  # type: ignore[union-attr]
                rid = f"drill-{i}"
                out = predictor.predict({"instances": [{"entity": entities[i % len(entities)], "at": AT}]},
                                        {"x-request-id": rid})
                total += 1
                challenger += out["predictions"][0]["model"]["role"] != "champion"
                status = predictor.canary.status()  # type: ignore[union-attr]
                if status["rolled_back"]:
                    predictor_percent_at_rollback = percent
                    break
            after = [predictor.predict({"instances": [{"entity": entities[j % len(entities)], "at": AT}]},
                                       {"x-request-id": f"after-{j}"})["predictions"][0]["model"]["role"]
                     for j in range(200)]
            incident = predictor.canary.rollback_incident  # type: ignore[union-attr]
            verdict = predictor.canary.verdicts[-1] if predictor.canary.verdicts else None  # type: ignore[union-attr]
        finally:
            predictor.unload()
    finally:
        os.chdir(cwd)
    rolled = bool(status.get("rolled_back"))
    return {
        "injected": {"candidate_bias_shift": BIAS_SHIFT, "canary_step_percent": first_step,
                     "canary": canary.model_dump(mode="json")},
        "detected": rolled,
        "requests_to_rollback": total,
        "challenger_requests_to_rollback": challenger,
        # judged as soon as the challenger had min_requests, long before the step's interval ended
        "within_first_step": rolled and predictor_percent_at_rollback == first_step,
        "step_interval_s": canary.interval_s,
        "min_requests": canary.min_requests,
        "failures": list(verdict.failures) if verdict else [],
        "challenger_share_after_rollback": sum(r != "champion" for r in after) / len(after),
        "objective_breached": ["canary analysis"] if rolled else [],
        "actions": [{"action": "rollback", "incident": incident.id, "ok": True}] if incident else [],
    }
