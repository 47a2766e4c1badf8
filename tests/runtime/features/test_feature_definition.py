"""Feature definitions that could see the future are refused with a clear
error; transform expressions mean the same in DuckDB and Python."""

from __future__ import annotations

import duckdb
import pytest
from feature_builders import LABEL, feature_set

from runtime.contracts.steps import TransformConfig
from runtime.features.definition import FeatureDefinitionError, define
from runtime.features.expression import ExpressionError, evaluate, parse, to_sql


def transform(expression: str, inputs: tuple[str, ...] = ("temperature", "pressure"), name: str = "t") -> TransformConfig:
    return TransformConfig(name=name, expression=expression, inputs=inputs, type="float")


@pytest.mark.parametrize(("cfg", "message"), [
    (feature_set(source="labels"), "reads the label source 'labels'"),
    (feature_set(aggregations=[("failed", "sum", 3600.0)]), "'failed' is the label's outcome column"),
    (feature_set(attributes=("failed",)), "'failed' is the label's outcome column"),
    (feature_set(transforms=[transform("failed * 2", ("failed",))]), "'failed' is the label's outcome column"),
    (feature_set(transforms=[transform("lead(temperature)", ("temperature",))]), "lead() at column 1 reads other rows"),
    (feature_set(transforms=[transform("temperature - lag(temperature)", ("temperature",))]), "lag() at column 15"),
    (feature_set(transforms=[transform("max(temperature) over (order by t)", ("temperature",))]), "reads other rows"),
    (feature_set(transforms=[transform("temperature / pressure", ("temperature",))]),
     "reads 'pressure', which is not in its inputs"),
    (feature_set(aggregations=[("_arrival_time", "max", 3600.0)]), "'_arrival_time' is a system column"),
    (feature_set(aggregations=[(None, "mean", 3600.0)]), "mean needs a column"),
    (feature_set(transforms=[transform("exp(temperature)", ("temperature",))]), "unknown function exp()"),
    (feature_set(transforms=[transform("temperature +", ("temperature",))]), "unexpected 'end of expression'"),
], ids=["label-source", "outcome-aggregated", "outcome-attribute", "outcome-in-transform", "lead", "lag", "over",
        "undeclared-input", "system-column", "mean-without-column", "unknown-function", "syntax"])
def test_future_seeing_or_broken_definitions_are_refused(cfg, message) -> None:
    with pytest.raises(FeatureDefinitionError, match="feature set 'health'") as err:
        define([cfg], LABEL)
    assert message in str(err.value)


def test_a_model_feature_no_feature_set_defines_is_refused() -> None:
    with pytest.raises(FeatureDefinitionError, match="the model's feature 'vibration_p99_1h' is not defined"):
        define([feature_set()], LABEL, features=["asset_type", "vibration_p99_1h"])


def test_a_feature_named_like_the_outcome_is_refused() -> None:
    cfg = feature_set(transforms=[transform("temperature", ("temperature",), name="failed")])
    with pytest.raises(FeatureDefinitionError, match="label's outcome column"):
        define([cfg], LABEL)


ROWS = [
    {"a": 6.0, "b": 3.0, "s": "pump"},
    {"a": 6.0, "b": 0.0, "s": "turbine"},
    {"a": None, "b": 2.0, "s": None},
    {"a": -4.0, "b": None, "s": "pump"},
    {"a": 0.1, "b": 0.2, "s": "x"},
]
EXPRESSIONS = [
    "a / b", "a / nullif(b, 0)", "a + b * 2 - -a", "sqrt(a)", "ln(a)", "abs(a) / (b + 1)", "coalesce(a, b, 0)",
    "least(a, b)", "greatest(a, b, 1)", "a > b", "a >= 6 and b < 1", "a is null or b is not null", "not (a = b)",
    "s = 'pump'", "coalesce(s, 'none')", "nullif(s, 'x')", "(a + b) * 0.5e1", "a <> b",
]


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_an_expression_means_the_same_in_duckdb_and_python(text: str) -> None:
    expr = parse(text)
    con = duckdb.connect()
    for row in ROWS:
        sql = f"SELECT {to_sql(expr)} FROM (SELECT $a::DOUBLE AS a, $b::DOUBLE AS b, $s::VARCHAR AS s)"
        want = con.execute(sql, {"a": row["a"], "b": row["b"], "s": row["s"]}).fetchone()[0]
        got = evaluate(expr, row)
        assert got == want, (text, row, got, want)


@pytest.mark.parametrize(("text", "message"), [
    ("a +* b", "unexpected '*' at column 4"),
    ("a ; drop table x", "unexpected character ';' at column 3"),
    ("nullif(a)", "nullif() at column 1 takes 2 argument(s), got 1"),
    ("(a + b", "expected ')'"),
])
def test_expression_errors_say_where(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        parse(text)
