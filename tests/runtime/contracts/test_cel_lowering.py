"""CEL rules lowered to Python must answer exactly as the CEL engine does:
over generated expressions of the subset and generated contexts (NaN, the
infinities, -0.0, ints beside doubles, unicode), a lowered function either
declines (None: outside the subset, or a value of another type) or gives the
engine's result.  The predictor's policy uses it; the engine stays the
reference and the fallback."""

from __future__ import annotations

import math
from typing import Any

import cel
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.contracts.cel_lowering import lower_rules
from runtime.contracts.policy import PREDICTION_VARIABLE_TYPES, PredictionContext, PredictionRule
from runtime.serving.policy import PolicyEngine

TYPES = PREDICTION_VARIABLE_TYPES
DOUBLES = ("score", "threshold", "confidence", "featureAgeSeconds")
STRING_FIELDS = ("environment", "entity.id", "entity.type", "entity.criticality", "model.name", "model.riskTier")
WORDS = ("critical", "low", "prod", "pump", "", "Zürich", "a'b", "high")


def engine(expression: str, variables: dict[str, Any]) -> Any:
    """The CEL engine's answer, or the exception type it raised."""
    try:
        return cel.evaluate(expression, variables)
    except Exception as exc:  # noqa: BLE001 - any engine error is an answer the lowering must not contradict
        return type(exc)


def lowered(expression: str, when: str | None = None) -> Any:
    return lower_rules([(expression, when)], TYPES)


# ------------------------------------------------------------- generators

numbers = st.one_of(st.sampled_from(["0", "1", "-1", "7200", "0.1", "7200.0", "-0.0", "1e3", "0x10", "0.5", "2.5"]),
                    st.integers(-10**6, 10**6).map(str),
                    st.floats(-1e6, 1e6, allow_nan=False).map(repr).filter(lambda s: "e" not in s or "." in s))
double_vars = st.sampled_from(DOUBLES)
strings = st.sampled_from(WORDS).map(lambda w: f'"{w}"' if "'" in w else f"'{w}'")
string_vars = st.sampled_from(STRING_FIELDS)


def comparison() -> st.SearchStrategy[str]:
    ops = st.sampled_from(["<", "<=", ">", ">=", "==", "!="])
    numeric = st.tuples(st.one_of(double_vars, numbers), ops, st.one_of(double_vars, numbers))
    text = st.tuples(st.one_of(string_vars, strings), ops, st.one_of(string_vars, strings))
    booleans = st.tuples(st.sampled_from(["decision", "true", "false"]), st.sampled_from(["==", "!="]),
                         st.sampled_from(["decision", "true", "false"]))
    def listed(items: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.lists(items, min_size=1, max_size=3).map(lambda x: f"[{', '.join(x)}]")

    membership = st.one_of(st.tuples(double_vars, st.just("in"), listed(numbers)),
                           st.tuples(string_vars, st.just("in"), listed(strings)))
    return st.one_of(numeric, text, booleans, membership).map(" ".join)


expressions = st.recursive(
    st.one_of(comparison(), st.just("decision")),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["&&", "||"]), inner).map(" ".join),
        inner.map(lambda e: f"!({e})"),
        inner.map(lambda e: f"({e})")),
    max_leaves=5)

# The special values often (NaN, whose ordering the engine refuses, was missed at uniform odds).
doubles = st.one_of(st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, 0.1, 7200.0, 1.0]),
                    st.floats(allow_nan=True, allow_infinity=True))
contexts = st.fixed_dictionaries({
    **{name: doubles for name in DOUBLES},
    "decision": st.booleans(),
    "environment": st.sampled_from(WORDS),
    "entity": st.fixed_dictionaries({"id": st.sampled_from(WORDS), "type": st.sampled_from(WORDS),
                                     "criticality": st.sampled_from(WORDS)}),
    "model": st.fixed_dictionaries({"name": st.sampled_from(WORDS), "version": st.just("1.0.0"),
                                    "release": st.just("r"), "riskTier": st.sampled_from(WORDS)}),
})


# ------------------------------------------------------------------ tests

@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions, contexts)
def test_a_lowered_rule_answers_as_the_cel_engine(expression: str, variables: dict[str, Any]) -> None:
    function = lowered(expression)
    expected = engine(expression, variables)
    if function is None:
        return  # outside the subset: the engine evaluates it
    got = function(variables)
    if got is None:  # declined: only a NaN (the engine errors on ordering one) may be
        assert any(math.isnan(variables[d]) for d in DOUBLES if d in expression), f"{expression}: declined {variables}"
        return
    assert isinstance(expected, bool), f"{expression} over {variables}: lowered {got}, the engine answers {expected!r}"
    assert got == (expected,), f"{expression} over {variables}: lowered {got}, engine {expected}"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(expressions, st.one_of(st.none(), expressions)), min_size=1, max_size=4), contexts)
def test_several_rules_with_guards_fire_as_the_engine_fires_them(rules: list[tuple[str, str | None]],
                                                                variables: dict[str, Any]) -> None:
    function = lower_rules(rules, TYPES)
    if function is None:
        return
    got = function(variables)
    if got is None:
        assert any(math.isnan(variables[d]) for d in DOUBLES), variables
        return
    expected = []
    for expression, when in rules:
        guard = True if when is None else engine(when, variables)
        expected.append(guard is True and engine(expression, variables) is True)
    assert got == tuple(expected)


def test_typical_rules_are_lowered() -> None:
    """The differential tests above prove nothing if the subset declines
    the rules people write."""
    assert lowered("decision && entity.criticality == 'critical'") is not None
    assert lowered("confidence < 0.1 || featureAgeSeconds >= 7200") is not None
    assert lowered("!(environment in ['prod', 'staging']) && model.riskTier != 'low'") is not None
    assert lowered("score == 1", "decision") is not None


@pytest.mark.parametrize("expression", [
    "score + 0.1 > threshold",          # arithmetic
    "size(environment) > 3",            # functions
    "has(entity.type)",                 # macros
    "features.rpm > 10.0",              # a map of undeclared (any-typed) values
    "entity['id'] == 'a'",              # indexes
    "entity.colour == 'red'",           # an undeclared field
    "decision == 1",                    # CEL: false (other types); Python: True
    "decision ? true : false",          # ternaries
    "environment == null",
    "score > 1u",                       # uints
    "environment == 'a\\nb'",           # escapes
    "environment == r'ab'",             # raw strings
    "score < 9007199254740993",         # beyond 2**53: compared as a double by CEL
    "score > 1e999",                    # not finite
    "decision < true",                  # ordering of booleans
    "score in [1, 'a']",                # a list of mixed kinds
    "score in [threshold]",             # a list of non-literals
    "-score < 1.0",                     # negation of a variable
    "score",                            # not a boolean
])
def test_what_is_outside_the_subset_is_left_to_the_engine(expression: str) -> None:
    assert lowered(expression) is None


def test_a_context_of_other_types_is_declined_not_answered() -> None:
    function = lowered("confidence < 0.1 && entity.criticality == 'critical'")
    assert function is not None
    good = {"confidence": 0.05, "entity": {"id": "a", "type": "", "criticality": "critical"}}
    assert function(good) == (True,)
    assert function({**good, "confidence": 0}) is None  # an int: CEL's int, not the declared double
    assert function({**good, "confidence": True}) is None
    assert function({**good, "entity": {"id": "a"}}) is None  # a missing field: CEL errors on it
    assert function({"entity": good["entity"]}) is None  # a missing variable
    assert function({**good, "confidence": math.nan}) is None  # the engine errors on NaN < 0.1


def test_the_declared_types_are_the_prediction_contexts() -> None:
    """PREDICTION_VARIABLE_TYPES (what the lowering trusts) is every variable of
    PredictionContext but ``features``, with its values' types."""
    kinds = {bool: "bool", float: "double", str: "string"}
    variables = PredictionContext.example().variables()
    declared = {name: ({k: kinds[type(v)] for k, v in value.items()} if isinstance(value, dict) else kinds[type(value)])
                for name, value in variables.items() if name != "features"}
    assert declared == TYPES


def rule(id: str, expression: str, action: str = "human_review", when: str | None = None) -> PredictionRule:
    return PredictionRule(id=id, policy="p", message=f"{id} fired", severity="error", expression=expression,
                          when=when, action=action, models=("m",))  # type: ignore[arg-type]


def test_the_policy_engine_lowers_the_example_rules_and_decides_as_the_engine() -> None:
    rules = [rule("E-1", "decision && entity.criticality == 'critical'"), rule("C-2", "confidence < 0.1"),
             rule("A-3", "featureAgeSeconds > 7200.0", "abstain"), rule("W-4", "score > 0.9", "abstain", "decision")]
    fast, reference = PolicyEngine(rules), PolicyEngine(rules)
    reference._lowered = None
    assert fast.lowered and not reference.lowered
    seen = set()
    for i in range(400):
        variables = {**PredictionContext.example().variables(), "decision": i % 2 == 0,
                     "confidence": (i % 13) / 100.0, "featureAgeSeconds": float(i * 40), "score": (i % 11) / 10.0,
                     "entity": {"id": f"e-{i % 7}", "type": "pump",
                                "criticality": ("critical", "low", "medium")[i % 3]}}
        if i % 37 == 0:
            variables["featureAgeSeconds"] = math.nan if i % 2 else 7200  # NaN; an int (declined: the engine)
        decision = fast.decide(variables)
        assert decision == reference.decide(variables), variables
        seen.add(decision.rule)
    assert seen == {None, "E-1", "C-2", "A-3", "W-4"}
    # a rule outside the subset keeps the whole bundle on the engine
    assert not PolicyEngine([*rules, rule("F-5", "features.rpm > 1.0")]).lowered


def test_a_lowering_that_disagrees_with_the_engine_at_load_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """The load-time cross-check: were the lowering wrong, the engine serves."""
    import runtime.serving.policy as policy

    monkeypatch.setattr(policy, "lower_rules", lambda rules, types: (lambda variables: (True,) * len(rules)))
    engine = PolicyEngine([rule("C-2", "confidence < 0.1")])
    assert not engine.lowered
    assert engine.decide(PredictionContext.example()).action == "auto"  # confidence 0.64: the engine says no
