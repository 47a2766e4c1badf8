"""CEL programs: compiled once, undeclared names and type errors classified."""

from __future__ import annotations

import pytest

from runtime.contracts import PREDICTION_VARIABLES, CelError, PredictionContext, compile_cel


def test_prediction_rule_over_the_typical_context():
    prog = compile_cel("decision && entity.criticality == 'critical'", PREDICTION_VARIABLES)
    assert prog.evaluate_bool(PredictionContext.example().variables()) is True


@pytest.mark.parametrize(
    ("source", "kind"),
    [("score >=", "syntax"), ("scor > 0.5", "undeclared"), ("score + 'x' == 'y'", "type"),
     ("features.nope > 1.0", "type"), ("score", "type")],
)
def test_errors_are_classified(source, kind):
    with pytest.raises(CelError) as info:
        prog = compile_cel(source, PREDICTION_VARIABLES)
        prog.evaluate_bool(PredictionContext.example().variables())
    assert info.value.kind == kind


def test_macro_variables_are_not_undeclared():
    prog = compile_cel("features.exists(k, k == 'asset_type')", PREDICTION_VARIABLES)
    assert prog.evaluate_bool(PredictionContext.example().variables())


def test_prediction_context_rejects_nan():
    ctx = PredictionContext.example().model_dump()
    ctx["score"] = float("nan")
    with pytest.raises(ValueError):
        PredictionContext.model_validate(ctx)
