"""Reload in-process: the switch is one swap of the predictor's arms; a
request holding the old arms finishes on the old release; a release whose
file fails its sha256 or whose model cannot score the golden rows is refused
and the current one keeps serving (counted on /metrics)."""

from __future__ import annotations

import math
from pathlib import Path

from prometheus_client import REGISTRY

from runtime.registry import Registry
from runtime.serving.predictor import SpecOpsPredictor
from runtime.serving.request import PredictionInput
from tests.runtime.serving.served import BIAS, MODEL, WEIGHTS, ServedRepo, write_onnx

AT = "2026-03-01T12:01:00Z"


def refused() -> float:
    return REGISTRY.get_sample_value("specops_reloads_total",
                                     {"model": MODEL, "environment": "local", "outcome": "refused"}) or 0.0


def register(repo: ServedRepo, name: str, alias: str, bias: float) -> str:
    path = Path(f"build/{name}.onnx")
    write_onnx(path, list(repo.config.features), WEIGHTS, bias)
    registry = Registry(".specops/artifacts")
    entry = registry.register(MODEL, {"model.onnx": path}, "model.onnx", {})
    registry.set_alias(MODEL, alias, entry.version)
    return entry.version


def ask(predictor: SpecOpsPredictor) -> dict:
    return predictor.predict({"instances": [{"entity": "P-CRIT", "at": AT}]}, {"x-request-id": "r"})["predictions"][0]


def test_reload_swaps_atomically_and_refuses_what_cannot_serve(served_repo: ServedRepo) -> None:
    v1 = served_repo.version
    predictor = SpecOpsPredictor(served_repo.config)
    predictor.load()
    assert ask(predictor)["model"]["version"] == v1 and not predictor.reload()  # nothing moved: no switch
    held = predictor._arms  # what a request in flight holds

    v2 = register(served_repo, "v2", "champion", BIAS + 1.0)
    assert predictor.reload()
    answer = ask(predictor)
    assert answer["model"] == {**answer["model"], "version": v2, "release": "registry:champion"}
    assert predictor.predict_many(tuple(), "r", held.champion, held) == []
    [old] = predictor.predict_many((PredictionInput("P-CRIT", None, None),), "r", held.champion, held)
    assert old.version == v1  # the request that started before the switch finishes on its release

    before = refused()
    v3 = register(served_repo, "v3", "champion", BIAS + 2.0)
    model_file = Path(Registry(".specops/artifacts").entry(MODEL, v3).model_uri)
    model_file.write_bytes(model_file.read_bytes() + b"tampered")  # fails its recorded sha256
    assert not predictor.reload() and ask(predictor)["model"]["version"] == v2

    register(served_repo, "v4", "champion", math.nan)  # loads, but scores NaN on the golden rows
    assert not predictor.reload() and ask(predictor)["model"]["version"] == v2
    assert refused() - before == 2
    predictor.unload()
