"""The predictor's circuit breakers in-process, with real failures: a real
ONNX model that returns NaN for some inputs (a model failure onnxruntime
really produces), a Redis port nothing listens on (the store is down), and
a RuntimeControl file forcing every circuit open.  Each declared fallback
answers, marked, and the breaker closes again once the dependency recovers."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from kserve.protocol.infer_type import InferInput, InferRequest
from prometheus_client import REGISTRY

from runtime.contracts.monitoring import control_path
from runtime.contracts.steps import BreakerConfig, ServeConfig
from runtime.features.online import OnlineEngine
from runtime.features.store import open_store
from runtime.registry import Registry
from runtime.serving.control import ControlReader
from runtime.serving.errors import FeaturesUnavailable
from runtime.serving.predictor import ModelOutputError, SpecOpsPredictor
from runtime.serving.release import ReleaseError
from runtime.serving.review import InMemoryReviewQueue
from tests.runtime.serving.served import BIAS, MODEL, STORE, T0, VOCAB, WEIGHTS, ServedRepo, asset_events, free_port, iso

AT = iso(T0 + timedelta(minutes=1))
FAIL_ABOVE = 10.0  # the broken model's NaN starts at this vibration


@dataclass
class Clock:
    t: float = 100.0

    def __call__(self) -> float:
        return self.t


def breaker(fallback: str = "human_review", **kw: object) -> BreakerConfig:
    raw = dict(failure_threshold=2, window_s=30.0, open_for_s=60.0, half_open_requests=2, fallback=fallback) | kw
    return BreakerConfig.model_validate(raw)


def write_broken_onnx(path: Path, features: list[str]) -> None:
    """The fixture's logistic model plus ``0 * log(FAIL_ABOVE - vibration)``:
    the same score below FAIL_ABOVE, NaN above it (log of a negative)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.array([[WEIGHTS.get(f, 0.0)] for f in features], dtype=np.float32)
    pick = np.array([[1.0 if f == "vibration_max_1h" else 0.0] for f in features], dtype=np.float32)
    nodes = [
        helper.make_node("IsNaN", ["input"], ["nan"]),
        helper.make_node("Where", ["nan", "zero", "input"], ["x"]),
        helper.make_node("MatMul", ["x", "w"], ["z32"]),
        helper.make_node("MatMul", ["x", "pick"], ["vib"]),
        helper.make_node("Sub", ["limit", "vib"], ["room"]),
        helper.make_node("Log", ["room"], ["log"]),
        helper.make_node("Mul", ["log", "zero"], ["poison"]),
        helper.make_node("Add", ["z32", "poison"], ["zp"]),
        helper.make_node("Cast", ["zp"], ["z"], to=TensorProto.DOUBLE),
        helper.make_node("Add", ["z", "b"], ["zb"]),
        helper.make_node("Sigmoid", ["zb"], ["probability"]),
    ]
    graph = helper.make_graph(
        nodes, "broken_fixture",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, len(features)])],
        [helper.make_tensor_value_info("probability", TensorProto.DOUBLE, [None, 1])],
        initializer=[numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"),
                     numpy_helper.from_array(np.array(FAIL_ABOVE, dtype=np.float32), "limit"),
                     numpy_helper.from_array(w, "w"), numpy_helper.from_array(pick, "pick"),
                     numpy_helper.from_array(np.array([[BIAS]]), "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    encoding = {"features": [{"name": f, "type": "category", "vocabulary": VOCAB[f]} if f in VOCAB
                             else {"name": f, "type": "float"} for f in features]}
    for key, value in sorted({"specops.encoding": json.dumps(encoding, sort_keys=True), "specops.threshold": "0.5",
                              "specops.model": MODEL, "specops.spec_hash": "fixture"}.items()):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())


@pytest.fixture
def broken_repo(served_repo: ServedRepo) -> ServedRepo:
    """The served candidate is the broken model; the good one is ``previous``;
    P-BAD (vibration 12) makes the broken one fail."""
    registry = Registry(served_repo.config.artifacts.uri)
    registry.set_alias(MODEL, "previous", served_repo.version)
    path = served_repo.root / "build/broken.onnx"
    write_broken_onnx(path, list(served_repo.config.features))
    entry = registry.register(MODEL, {"model.onnx": path}, "model.onnx", {})
    registry.set_alias(MODEL, "candidate", entry.version)
    store = open_store(STORE)
    engine = OnlineEngine(served_repo.config.feature_sets, store)
    for event in asset_events("P-BAD", "pump", "low", 12.0):
        engine.apply(event)
    store.close()
    return ServedRepo(served_repo.root, served_repo.config, entry.version)


def loaded(config: ServeConfig, clock: Clock, **kw: object) -> SpecOpsPredictor:
    control = ControlReader(control_path(config.work_dir, config.model, config.environment), clock=clock)
    p = SpecOpsPredictor(config, breaker_clock=clock, control=control, **kw)  # type: ignore[arg-type]
    assert p.load()
    return p


def one(p: SpecOpsPredictor, entity: str, rid: str = "r") -> dict:
    return p.predict({"instances": [{"entity": entity, "at": AT}]}, {"x-request-id": rid})["predictions"][0]


def gauge(p: SpecOpsPredictor, dependency: str) -> float | None:
    return REGISTRY.get_sample_value("specops_circuit_state", {
        "model": MODEL, "version": p.served.version, "environment": p.config.environment, "dependency": dependency})


def test_a_failing_model_opens_its_circuit_and_the_human_review_fallback_answers(broken_repo: ServedRepo) -> None:
    clock, queue = Clock(), InMemoryReviewQueue()
    p = loaded(broken_repo.config.model_copy(update={"breaker": breaker()}), clock, review=queue)
    assert one(p, "T-LOW")["score"] == pytest.approx(1 / (1 + math.exp(4.0)), abs=1e-6)  # the model works below 10
    with pytest.raises(ModelOutputError, match="nan"):
        one(p, "P-BAD")  # failure 1 of 2: the circuit is still closed, so the request fails (500)
    opened = one(p, "P-BAD", "r2")  # failure 2 opens it: this one is already the fallback's
    assert opened["breaker"] == {"dependency": "model", "state": "open", "fallback": "human_review",
                                 "reason": opened["breaker"]["reason"]}
    assert "circuit open on model: the model returned nan" in opened["breaker"]["reason"]
    assert opened["action"] == "human_review" and opened["reason"]["rule"] == "circuit-open:model"
    assert opened["score"] is None and opened["decision"] is True and opened["features"]["vibration_max_1h"] == 12.0
    assert gauge(p, "model") == 2 and gauge(p, "online-store") == 0
    healthy = one(p, "T-LOW", "r3")  # while open even a healthy entity is not scored: the model is not called
    assert healthy["breaker"]["state"] == "open" and healthy["action"] == "human_review"
    [item, item2] = [i for i in queue.items() if i.rule == "circuit-open:model"]
    assert item.prediction_id == "r2/0" and item.score == item.threshold == 0.5 and item.entity == "P-BAD"
    assert "routed to a human" in item.reason and item2.entity == "T-LOW"

    clock.t += 60  # openFor: half-open, two probes
    assert "breaker" not in one(p, "T-LOW", "probe1") and gauge(p, "model") == 1
    assert "breaker" not in one(p, "C-NEAR", "probe2")
    assert p.breakers["model"].state == "closed" and gauge(p, "model") == 0
    assert one(p, "P-CRIT", "after")["reason"]["rule"] == "HR-010"  # normal answers, normal rules


def test_a_failed_probe_is_answered_by_the_fallback_not_an_error(broken_repo: ServedRepo) -> None:
    clock = Clock()
    p = loaded(broken_repo.config.model_copy(update={"breaker": breaker("conservative_rule")}), clock)
    with pytest.raises(ModelOutputError):
        one(p, "P-BAD")
    one(p, "P-BAD")
    clock.t += 60
    probe = one(p, "P-BAD")  # the probe fails: the circuit reopens, the caller gets the fallback
    assert probe["breaker"]["state"] == "open" and p.breakers["model"].opened == 2
    assert probe["action"] == "auto" and probe["decision"] is True and probe["reason"]["rule"] == "circuit-open:model"
    assert "conservative rule: failure assumed" in probe["reason"]["message"]


def test_previous_model_fallback_scores_with_the_previous_release(broken_repo: ServedRepo, served_repo: ServedRepo) -> None:
    clock = Clock()
    cfg = broken_repo.config.model_copy(update={"breaker": breaker("previous_model", previous_alias="previous")})
    p = loaded(cfg, clock)
    assert p.previous is not None and p.previous.served.version == served_repo.version != broken_repo.version
    with pytest.raises(ModelOutputError):
        one(p, "P-BAD")
    answer = one(p, "P-BAD")
    assert answer["breaker"]["fallback"] == "previous_model" and answer["breaker"]["version"] == served_repo.version
    assert answer["model"]["version"] == served_repo.version and answer["model"]["release"] == "registry:previous"
    assert answer["score"] == pytest.approx(1 / (1 + math.exp(-(12.0 - 5.0))), abs=1e-6)  # the good model's score
    assert answer["action"] == "auto" and answer["reason"]["rule"] is None  # low criticality: the rules decide


def test_previous_model_without_a_previous_version_refuses_to_load(served_repo: ServedRepo) -> None:
    cfg = served_repo.config.model_copy(update={"breaker": breaker("previous_model", previous_alias="previous")})
    with pytest.raises(ReleaseError, match="no 'previous' version of it; register one .* or declare another fallback"):
        SpecOpsPredictor(cfg).load()
    cluster = served_repo.config.model_copy(update={"breaker": breaker("previous_model")})
    with pytest.raises(ReleaseError, match="no previous release to score with"):
        SpecOpsPredictor(cluster).load()


def test_a_store_that_is_down_opens_its_circuit(served_repo: ServedRepo) -> None:
    clock, queue = Clock(), InMemoryReviewQueue()
    dead = f"redis://127.0.0.1:{free_port()}/0?prefix=nobody-listens"
    cfg = served_repo.config.model_copy(update={
        "breaker": breaker(), "online_store": served_repo.config.online_store.model_copy(update={"url": dead})})
    p = loaded(cfg, clock, review=queue)
    with pytest.raises(FeaturesUnavailable):
        one(p, "P-CRIT")
    answer = one(p, "P-CRIT", "down")
    assert answer["breaker"]["dependency"] == "online-store" and answer["reason"]["rule"] == "circuit-open:online-store"
    assert answer["score"] is None and answer["features"] == {} and answer["feature_vector_sha256"] is None
    assert answer["feature_age_seconds"] is None and answer["at"] == AT
    assert [i.feature_vector_sha256 for i in queue.items()] == [""]
    assert gauge(p, "online-store") == 2


def test_v2_answers_carry_the_breaker_mark(broken_repo: ServedRepo) -> None:
    clock = Clock()
    p = loaded(broken_repo.config.model_copy(update={"breaker": breaker(failure_threshold=1)}), clock)
    entity = InferInput(name="entity", shape=[2], datatype="BYTES", data=["P-BAD", "T-LOW"])
    at = InferInput(name="at", shape=[2], datatype="BYTES", data=[AT, AT])
    out = p.predict(InferRequest(model_name=MODEL, infer_inputs=[entity, at]), {"x-request-id": "v2"})
    by_name = {o.name: o.data for o in out.outputs}
    assert [json.loads(b)["dependency"] for b in by_name["breaker"]] == ["model", "model"]
    assert all(math.isnan(s) for s in by_name["score"])
    assert by_name["rule"] == ["circuit-open:model"] * 2
    assert json.loads(out.parameters["breaker"])["fallback"] == "human_review"


def test_runtime_control_forces_every_circuit_open_until_its_time(served_repo: ServedRepo) -> None:
    clock = Clock()
    cfg = served_repo.config.model_copy(update={"breaker": breaker()})
    p = loaded(cfg, clock)
    assert "breaker" not in one(p, "T-LOW")
    path = Path(control_path(cfg.work_dir, cfg.model, cfg.environment))
    path.parent.mkdir(parents=True, exist_ok=True)
    now_us = int(p._clock_us())
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"circuit_forced_open_until_us": now_us + 3_600_000_000, "incident": "inc-42",
                               "circuit_reason": "error rate 4% > 1%", "updated_at_us": now_us}))
    os.replace(tmp, path)
    assert "breaker" not in one(p, "T-LOW")  # read at most once a second: not yet seen
    clock.t += 1.0
    forced = one(p, "T-LOW")
    assert forced["breaker"]["state"] == "forced_open" and forced["breaker"]["incident"] == "inc-42"
    assert "error rate 4% > 1%" in forced["breaker"]["reason"] and forced["action"] == "human_review"
    assert gauge(p, "model") == 2 and gauge(p, "online-store") == 2
    path.unlink()
    clock.t += 1.0
    assert "breaker" not in one(p, "T-LOW") and gauge(p, "model") == 0 and p.control.reloads == 1


def test_previous_model_cannot_score_without_features_so_it_abstains(broken_repo: ServedRepo) -> None:
    clock = Clock()
    dead = f"redis://127.0.0.1:{free_port()}/0?prefix=nobody-listens"
    cfg = broken_repo.config.model_copy(update={
        "breaker": breaker("previous_model", previous_alias="previous", failure_threshold=1),
        "online_store": broken_repo.config.online_store.model_copy(update={"url": dead})})
    answer = one(loaded(cfg, clock), "T-LOW")
    assert answer["action"] == "abstain" and answer["decision"] is False and answer["score"] is None
    assert answer["breaker"]["dependency"] == "online-store" and answer["breaker"]["fallback"] == "previous_model"
    assert "the previous model cannot score either" in answer["reason"]["message"]


def test_forced_open_with_previous_model_scores_with_the_previous_release(broken_repo: ServedRepo,
                                                                           served_repo: ServedRepo) -> None:
    clock = Clock()
    cfg = broken_repo.config.model_copy(update={"breaker": breaker("previous_model", previous_alias="previous")})
    path = Path(control_path(cfg.work_dir, cfg.model, cfg.environment))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"circuit_forced_open_until_us": 4_102_444_800_000_000, "incident": "inc-7"}))
    p = loaded(cfg, clock)
    answer = one(p, "P-BAD")  # the served (broken) model is never called while forced open
    assert answer["breaker"]["state"] == "forced_open" and answer["breaker"]["incident"] == "inc-7"
    assert answer["model"]["version"] == served_repo.version and answer["score"] is not None
    assert p.breakers["model"].opened == 0
