"""Prediction rules -> action: precedence, `when`, rule errors, and the
context the predictor builds being exactly the contract's PredictionContext."""

from __future__ import annotations

from datetime import timedelta

import pytest

from runtime.contracts.policy import EntityInfo, PolicyBundle, PredictionContext, PredictionRule
from runtime.serving.online import FeatureRead
from runtime.serving.policy import PolicyEngine, PolicyLoadError, confidence
from runtime.serving.predictor import SpecOpsPredictor
from tests.runtime.serving.served import ServedRepo


def rule(id: str, expression: str, action: str = "human_review", when: str | None = None) -> PredictionRule:
    return PredictionRule(id=id, policy="p", message=f"{id} fired", severity="error", expression=expression,
                          when=when, action=action, models=("m",))  # type: ignore[arg-type]


def context(**changes: object) -> PredictionContext:
    return PredictionContext.example().model_copy(update=changes)


def test_abstain_outranks_human_review_outranks_auto() -> None:
    engine = PolicyEngine([rule("B-2", "score > 0.5"), rule("A-1", "featureAgeSeconds > 10.0", "abstain")])
    assert engine.decide(context(feature_age_seconds=42.0)).model_dump() == {
        "action": "abstain", "rule": "A-1", "reason": "A-1 fired"}
    assert engine.decide(context(feature_age_seconds=1.0)).rule == "B-2"
    assert engine.decide(context(feature_age_seconds=1.0, score=0.1)).action == "auto"
    # among rules of one action, the bundle's order (by id) names the reason
    two = PolicyEngine([rule("Z-9", "score > 0.5"), rule("C-3", "decision")])
    assert two.decide(context()).rule == "C-3"


def test_when_restricts_a_rule() -> None:
    engine = PolicyEngine([rule("W-1", "score > 0.5", when="environment == 'staging'")])
    assert engine.decide(context()).action == "auto"
    assert engine.decide(context(environment="staging")).rule == "W-1"


def test_a_rule_that_cannot_be_evaluated_sends_the_prediction_to_a_human() -> None:
    engine = PolicyEngine([rule("E-1", "features.rpm > 10.0", "abstain")])  # no such feature in the example
    decision = engine.decide(context())
    assert decision.action == "human_review" and decision.rule == "E-1"
    assert "could not be evaluated" in decision.reason and "a human decides" in decision.reason
    not_bool = PolicyEngine([rule("E-2", "score + 1.0")])
    assert not_bool.decide(context()).action == "human_review"


def test_a_rule_that_does_not_compile_refuses_the_load() -> None:
    with pytest.raises(PolicyLoadError, match="prediction rule X-1 \\(p\\): .*unknown variable 'colour'"):
        PolicyEngine([rule("X-1", "colour == 'red'")])
    with pytest.raises(PolicyLoadError, match="X-2"):
        PolicyEngine([rule("X-2", "score >")])


def test_only_the_variables_rules_read_are_converted() -> None:
    engine = PolicyEngine([rule("A", "decision && entity.criticality == 'critical'"), rule("B", "confidence < 0.1")])
    assert engine.variables == {"decision", "entity", "confidence"}
    # a context whose unread variables could not even be converted still decides
    variables = {**context().variables(), "features": {"x": object()}}
    assert engine.decide(variables).rule == "A"


def test_confidence_is_the_scaled_distance_from_the_threshold() -> None:
    assert confidence(0.5, 0.5) == 0.0
    assert confidence(1.0, 0.5) == 1.0 and confidence(0.0, 0.5) == 1.0
    assert confidence(0.75, 0.5) == pytest.approx(0.5) and confidence(0.2, 0.8) == pytest.approx(0.75)
    assert confidence(0.3, 0.0) == pytest.approx(0.3) and confidence(0.3, 1.0) == pytest.approx(0.7)
    assert confidence(1.0, 1.0) == 1.0  # no room above the threshold: certain


def test_the_predictor_context_is_the_contracts_prediction_context(served_repo: ServedRepo) -> None:
    # A bundle with a rule that reads features, so the predictor builds every variable.
    bundle = PolicyBundle(rules=(rule("F-1", "features.vibration_max_1h > 4.0"),))
    bundle = PolicyBundle(rules=tuple(r.model_copy(update={"models": ("pump-failure",)}) for r in bundle.rules))
    path = served_repo.root / "bundle.json"
    path.write_text(bundle.model_dump_json(by_alias=True))
    predictor = SpecOpsPredictor(served_repo.config.model_copy(update={"policy_bundle": str(path)}))
    predictor.load()
    features = {f: None for f in served_repo.config.features} | {"criticality": "critical", "asset_type": "pump",
                                                                    "vibration_max_1h": 4.5, "events_count_1h": 3}
    read = FeatureRead(features, (("asset-health", 12.5),), 0)
    built = predictor._context("P-1", read, 0.9, 0.5, True, 0.8)
    contract = PredictionContext(score=0.9, threshold=0.5, decision=True, confidence=0.8, model=predictor.model_info,
                                 entity=EntityInfo(id="P-1", type="pump", criticality="critical"), features=features,
                                 feature_age_seconds=12.5, environment="local")
    assert built == contract.variables()
    assert set(built) == {f.alias or n for n, f in PredictionContext.model_fields.items()}
    assert predictor.policy.decide(built).rule == "F-1"
    # With the example bundle (no rule reads features) the same context, minus the unread features.
    plain = SpecOpsPredictor(served_repo.config)
    plain.load()
    assert plain._context("P-1", read, 0.9, 0.5, True, 0.8) == {k: v for k, v in contract.variables().items()
                                                                 if k != "features"}


def test_the_example_bundle_compiles_for_the_model() -> None:
    from tests.runtime.serving.served import BUNDLE, REPO

    bundle = PolicyBundle.model_validate_json((REPO / BUNDLE).read_text())
    engine = PolicyEngine.for_model(bundle, "pump-failure")
    assert [c.rule.id for c in engine.rules] == ["HR-010", "HR-011", "HR-012"]
    assert engine.variables == {"decision", "entity", "confidence", "featureAgeSeconds"}
    stale = context(feature_age_seconds=float(timedelta(hours=3).total_seconds()))
    assert engine.decide(stale).model_dump() == {"action": "abstain", "rule": "HR-012",
                                                 "reason": "features older than two hours are too stale to act on"}


def test_the_per_entity_context_cache_decides_as_a_fresh_context() -> None:
    """Contexts are kept per entity (its map converted once) and the scalars
    rebound per request: decisions must equal those of a fresh context for any
    sequence, including an entity seen again with other scores, a value equal
    in Python but of another CEL type, and the cache being cleared when full."""
    import runtime.serving.policy as policy

    rules = [rule("E-1", "decision && entity.criticality == 'critical'"), rule("C-2", "confidence < 0.1"),
             rule("A-3", "featureAgeSeconds > 7200.0", "abstain"), rule("T-4", "entity.id == 1", "abstain")]
    cached, fresh = PolicyEngine(rules), PolicyEngine(rules)
    fresh._cacheable = False
    cases = []
    for i in range(300):
        entity = {"id": f"e-{i % 7}", "type": "pump", "criticality": ("critical", "low", "medium")[i % 3]}
        if i % 50 == 0:
            entity = {"id": 1 if i % 100 else 1.0, "type": "pump", "criticality": "low"}  # int vs double in CEL
        variables = {"decision": i % 2 == 0, "confidence": (i % 13) / 100.0, "featureAgeSeconds": float(i * 40),
                     "entity": entity, "score": 0.5, "threshold": 0.5}
        cases.append(variables)
    for variables in cases + cases[::-1]:
        assert cached.decide(variables) == fresh.decide(variables), variables
    assert len(cached._contexts) == 23 and not fresh._contexts  # 21 (id, criticality) pairs, id 1 and 1.0
    old = policy._CONTEXT_CACHE
    policy._CONTEXT_CACHE = 5  # cleared when full, again and again
    cached._contexts.clear()
    try:
        for variables in cases:
            assert cached.decide(variables) == fresh.decide(variables), variables
        assert len(cached._contexts) <= 5
    finally:
        policy._CONTEXT_CACHE = old
    assert {d.rule for d in map(cached.decide, cases)} == {None, "E-1", "C-2", "A-3", "T-4"}


def test_rules_evaluated_together_decide_as_one_by_one() -> None:
    """Without `when`, every rule runs in one CEL program; the decision (action,
    rule and reason) must be the rule-by-rule one for every context, including
    a rule that errors on some contexts (then the engine falls back to rule by
    rule, and the failing rule is named)."""
    from runtime.contracts.cel import CelError, prepare_context

    rules = [rule("E-1", "decision && entity.criticality == 'critical'"), rule("C-2", "confidence < 0.1"),
             rule("A-3", "featureAgeSeconds > 7200.0", "abstain"),
             rule("F-4", "entity.type == 'pump' || features.rpm > 1.0", "abstain")]
    engine = PolicyEngine(rules)
    assert engine._together is not None
    fell_back = errors = 0
    for i in range(240):
        variables = {"decision": i % 2 == 0, "confidence": (i % 13) / 100.0, "featureAgeSeconds": float(i * 60),
                     "entity": {"id": f"e-{i % 5}", "type": ("pump", "turbine")[i % 2],
                                "criticality": ("critical", "low", "medium")[i % 3]},
                     "score": 0.5 + (i % 3) / 10.0, "threshold": 0.5}
        if i % 4 == 1:
            variables["features"] = {"rpm": float(i)}
        values = prepare_context({k: v for k, v in variables.items() if k in engine.variables})
        expected = engine._one_by_one(values)
        assert engine.decide(variables) == expected, variables
        fell_back += expected.reason.startswith("rule F-4 could not be evaluated")
        try:
            engine._together.evaluate(values)
        except CelError:
            errors += 1
    # turbines without features: the one program fails, rule by rule decides (and names F-4 where it wins)
    assert errors == 60 and fell_back == 7
    assert PolicyEngine([rule("W-1", "score > 0.5", when="decision"), rule("B-2", "decision")])._together is None
