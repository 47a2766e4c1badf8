"""The predictor in-process: online features -> ONNX -> threshold -> rules,
with the lineage every answer carries, the review hand-off and fresh events."""

from __future__ import annotations

import hashlib
import math
from datetime import timedelta

import numpy as np
import onnxruntime as ort
import pytest

from runtime.serving.errors import BadInput, UnknownEntity
from runtime.serving.predictor import SpecOpsPredictor
from runtime.serving.review import InMemoryReviewQueue
from tests.runtime.serving.served import T0, ServedRepo, iso

AT = iso(T0 + timedelta(minutes=1))


def loaded(repo: ServedRepo, **kwargs: object) -> SpecOpsPredictor:
    predictor = SpecOpsPredictor(repo.config, **kwargs)  # type: ignore[arg-type]
    assert predictor.load() is True and predictor.ready
    return predictor


def predict(predictor: SpecOpsPredictor, *instances: dict, rid: str = "req-1") -> list[dict]:
    out = predictor.predict({"instances": list(instances)}, {"x-request-id": rid})
    return out["predictions"]


def test_a_prediction_is_traceable_to_release_spec_and_features(served_repo: ServedRepo) -> None:
    predictor = loaded(served_repo)
    [p] = predict(predictor, {"entity": "T-LOW", "at": AT})
    assert p["model"] == {"name": "pump-failure", "version": served_repo.version, "release": "registry:candidate",
                          "role": "champion", "sha256": predictor.served.sha256}
    assert p["spec_hash"] == served_repo.config.spec_hash and len(p["spec_hash"]) == 64
    assert p["request_id"] == "req-1" and p["prediction_id"] == "req-1/0"
    assert p["at"] == AT and p["environment"] == "local"
    # The hash is of the exact model input: re-encode the returned features and compare.
    row = predictor.scorer.vector(p["features"])
    assert p["feature_vector_sha256"] == hashlib.sha256(row.astype("<f4").tobytes()).hexdigest()
    assert p["features"]["vibration_max_1h"] == 1.0 and p["features"]["events_count_1h"] == 12
    assert p["features"]["criticality"] == "low"


def test_the_score_is_the_onnx_session_on_the_same_vector(served_repo: ServedRepo) -> None:
    predictor = loaded(served_repo)
    [p] = predict(predictor, {"entity": "P-CRIT", "at": AT})
    session = ort.InferenceSession(str(predictor.served.path))
    raw = float(session.run(None, {"input": predictor.scorer.vector(p["features"])})[0][0][0])
    assert p["score"] == raw
    assert p["score"] == pytest.approx(1 / (1 + math.exp(-(9.0 - 5.0))), abs=1e-6)
    assert p["threshold"] == 0.5 and p["decision"] is True
    assert p["confidence"] == pytest.approx((p["score"] - 0.5) / 0.5)


def test_policy_rules_decide_the_action_with_their_reason(served_repo: ServedRepo) -> None:
    queue = InMemoryReviewQueue()
    predictor = loaded(served_repo, review=queue)
    crit, low, near = predict(predictor, {"entity": "P-CRIT", "at": AT}, {"entity": "T-LOW", "at": AT},
                              {"entity": "C-NEAR", "at": AT}, rid="batch")
    assert (crit["action"], crit["reason"]["rule"]) == ("human_review", "HR-010")
    assert "critical asset" in crit["reason"]["message"]
    assert (low["action"], low["reason"]["rule"]) == ("auto", None)
    assert near["decision"] is True and near["confidence"] < 0.1
    assert (near["action"], near["reason"]["rule"]) == ("human_review", "HR-011")
    # Both escalations reached the review hand-off, with what a reviewer needs.
    items = queue.items()
    assert [(i.prediction_id, i.rule, i.entity) for i in items] == [("batch/0", "HR-010", "P-CRIT"),
                                                                     ("batch/2", "HR-011", "C-NEAR")]
    assert items[0].feature_vector_sha256 == crit["feature_vector_sha256"] and items[0].score == crit["score"]


def test_stale_features_abstain(served_repo: ServedRepo) -> None:
    predictor = loaded(served_repo)
    [p] = predict(predictor, {"entity": "P-CRIT", "at": iso(T0 + timedelta(hours=3))})
    assert p["feature_age_seconds"] == 3 * 3600
    assert (p["action"], p["reason"]["rule"]) == ("abstain", "HR-012")
    # abstain outranks the human_review the critical-asset rule would ask for
    assert p["features"]["events_count_1h"] == 0


def test_a_fresh_event_is_applied_first_and_only_once(served_repo: ServedRepo) -> None:
    predictor = loaded(served_repo)
    event = {"asset_id": "T-LOW", "event_time": AT, "asset_type": "turbine", "criticality": "low",
             "temperature": 70.0, "vibration": 8.0, "pressure": 100.0, "rpm": 1500.0}
    [p] = predict(predictor, {"entity": "T-LOW", "at": AT, "event": event})
    assert p["features"]["events_count_1h"] == 13 and p["features"]["vibration_max_1h"] == 8.0
    assert p["feature_age_seconds"] == 0.0 and p["decision"] is True
    [again] = predict(predictor, {"entity": "T-LOW", "at": AT, "event": event})  # a retried request
    assert again["features"]["events_count_1h"] == 13
    assert again["feature_vector_sha256"] == p["feature_vector_sha256"]


def test_an_event_breaking_its_data_contract_is_refused_before_it_touches_the_state(served_repo: ServedRepo) -> None:
    predictor = loaded(served_repo)
    bad = {"asset_id": "T-LOW", "event_time": AT, "asset_type": "turbine", "criticality": "low", "vibration": 999.0}
    with pytest.raises(BadInput, match=r"instances\[0\]\.event\.vibration: .*outside"):
        predict(predictor, {"entity": "T-LOW", "at": AT, "event": bad})
    other = {**bad, "vibration": 2.0, "asset_id": "P-CRIT"}
    with pytest.raises(BadInput, match=r"event\.asset_id: 'P-CRIT' is not the instance's entity 'T-LOW'"):
        predict(predictor, {"entity": "T-LOW", "at": AT, "event": other})
    [p] = predict(predictor, {"entity": "T-LOW", "at": AT})
    assert p["features"]["events_count_1h"] == 12  # nothing was applied


def test_unknown_entity_and_time_travel_are_client_errors(served_repo: ServedRepo) -> None:
    predictor = loaded(served_repo)
    with pytest.raises(UnknownEntity, match="'NOPE' has no online features") as exc:
        predict(predictor, {"entity": "NOPE", "at": AT})
    assert exc.value.status == 404
    with pytest.raises(BadInput, match="latest event arrived after this time"):
        predict(predictor, {"entity": "P-CRIT", "at": iso(T0 - timedelta(hours=1))})
    with pytest.raises(BadInput, match="is in the future"):
        predict(predictor, {"entity": "P-CRIT", "at": "2099-01-01T00:00:00Z"})


def test_v2_open_inference_protocol(served_repo: ServedRepo) -> None:
    from kserve.protocol.infer_type import InferInput, InferRequest

    predictor = loaded(served_repo)
    request = InferRequest(model_name="pump-failure", infer_inputs=[
        InferInput("entity", [2], "BYTES", ["P-CRIT", "T-LOW"]), InferInput("at", [2], "BYTES", [AT, AT])])
    response = predictor.predict(request, {"x-request-id": "v2"})
    outputs = {o.name: o.data for o in response.outputs}
    assert response.model_version == served_repo.version and response.id == "v2"
    assert outputs["action"] == ["human_review", "auto"] and outputs["rule"] == ["HR-010", ""]
    assert outputs["decision"] == [True, False] and len(outputs["feature_vector_sha256"][0]) == 64
    assert response.parameters["spec_hash"] == served_repo.config.spec_hash


def test_a_model_trained_on_other_features_is_refused_at_load(served_repo: ServedRepo) -> None:
    from runtime.registry import Registry
    from runtime.serving.scoring import ModelFileError
    from tests.runtime.serving.served import write_onnx

    other = served_repo.root / "other.onnx"
    write_onnx(other, ["vibration_max_1h"], {"vibration_max_1h": 1.0}, 0.0)
    registry = Registry(served_repo.config.artifacts.uri)
    entry = registry.register("pump-failure", {"model.onnx": other}, "model.onnx", {})
    registry.set_alias("pump-failure", "champion", entry.version)  # champion wins over candidate
    with pytest.raises(ModelFileError, match="trained on features \\['vibration_max_1h'\\]"):
        SpecOpsPredictor(served_repo.config).load()


def test_the_onnx_file_must_match_its_recorded_sha256(served_repo: ServedRepo) -> None:
    from runtime.serving.scoring import ModelFileError

    predictor = SpecOpsPredictor(served_repo.config)
    predictor.load()
    path = predictor.served.path
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ModelFileError, match="differs from the release's"):
        SpecOpsPredictor(served_repo.config).load()


def test_shadow_scores_every_request_but_never_answers(served_repo: ServedRepo) -> None:
    from runtime.contracts.steps import ServeConfig
    from runtime.registry import Registry
    from tests.runtime.serving.served import write_onnx

    champion = served_repo.root / "champion.onnx"
    write_onnx(champion, list(served_repo.config.features), {"vibration_max_1h": 1.0}, -2.0)
    registry = Registry(served_repo.config.artifacts.uri)
    entry = registry.register("pump-failure", {"model.onnx": champion}, "model.onnx", {})
    registry.set_alias("pump-failure", "champion", entry.version)
    config = ServeConfig.model_validate({**served_repo.config.model_dump(), "registry_shadow_alias": "candidate"})
    predictor = SpecOpsPredictor(config)
    predictor.load()
    [p] = predict(predictor, {"entity": "T-LOW", "at": AT})
    assert p["model"]["version"] == entry.version and p["model"]["release"] == "registry:champion"
    assert p["score"] == pytest.approx(1 / (1 + math.exp(1.0)), abs=1e-6)
    assert p["shadow"]["version"] == served_repo.version
    assert p["shadow"]["score"] == pytest.approx(1 / (1 + math.exp(4.0)), abs=1e-6)
    assert p["action"] == "auto"  # decided by the served model alone


def test_the_vector_hash_is_stable_and_sensitive() -> None:
    from runtime.serving.scoring import OnnxScorer

    a = np.array([[1.0, np.nan, 2.5]], dtype=np.float32)
    assert OnnxScorer.vector_hash(a) == OnnxScorer.vector_hash(a.copy())
    assert OnnxScorer.vector_hash(a) != OnnxScorer.vector_hash(np.array([[1.0, np.nan, 2.5000002]], dtype=np.float32))


def test_the_models_max_feature_age_abstains_even_without_a_staleness_rule(served_repo: ServedRepo) -> None:
    from runtime.contracts.policy import PolicyBundle

    path = served_repo.root / "no-rules.json"
    path.write_text(PolicyBundle().model_dump_json(by_alias=True))
    predictor = SpecOpsPredictor(served_repo.config.model_copy(update={"policy_bundle": str(path)}))
    predictor.load()
    [fresh, stale] = predict(predictor, {"entity": "T-LOW", "at": AT},
                             {"entity": "T-LOW", "at": iso(T0 + timedelta(hours=2, seconds=1))})
    assert (fresh["action"], fresh["reason"]["rule"]) == ("auto", None)
    assert (stale["action"], stale["reason"]["rule"]) == ("abstain", "max-feature-age")
    assert stale["reason"]["message"] == "features are 7201s old, beyond the model's maxFeatureAge of 7200s"
