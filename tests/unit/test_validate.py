"""Validation: pydantic errors become located diagnostics with useful hints."""

from __future__ import annotations

import pytest

from compiler.load import SourceFile, load
from compiler.spec.base import Duration
from compiler.validate import validate

MODEL_HEAD = "apiVersion: specops.dev/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n"


def _diags(text: str):
    loaded = load([SourceFile("x.yaml", text.encode())])
    return validate(loaded.documents).diagnostics


def test_unknown_kind_gets_did_you_mean():
    (d,) = _diags("apiVersion: specops.dev/v1alpha1\nkind: Modle\nmetadata: {name: a}\nspec: {}\n")
    assert d.code == "SO109" and "Model" in (d.hint or "") and d.location.line == 2


def test_unknown_api_version():
    (d,) = _diags("apiVersion: specops.dev/v1\nkind: Model\nmetadata: {name: a}\nspec: {}\n")
    assert d.code == "SO108" and "specops.dev/v1alpha1" in (d.hint or "")


def test_unknown_field_points_at_the_key_with_did_you_mean():
    text = MODEL_HEAD.format(kind="ServiceLevel", name="a") + (
        "  model: m\n  objectives:\n    - name: lat\n      metric: latency_p99\n      max: 250ms\n"
        "      windw: 5m\n      actions: [rollback]\n"
    )
    codes = {(d.code, d.location.line, d.hint) for d in _diags(text)}
    assert ("SO201", 11, "did you mean 'window'?") in codes
    assert any(c == "SO202" and "window" in str(h) or c == "SO202" for c, _, h in codes)


@pytest.mark.parametrize(
    ("value", "code"),
    [("Pump_Failure", "SO205"), ("../etc/passwd", "SO205"), ("a" * 64, "SO205")],
)
def test_names_must_be_dns_1123(value, code):
    diags = _diags(f"apiVersion: specops.dev/v1alpha1\nkind: RiskPolicy\nmetadata:\n  name: '{value}'\n"
                   "spec:\n  maxCanaryPercent: 10\n")
    assert [(d.code, d.location.line) for d in diags] == [(code, 4)]


def test_duration_without_unit_and_nan():
    text = MODEL_HEAD.format(kind="ServiceLevel", name="a") + (
        "  model: m\n  objectives:\n    - name: err\n      metric: error_rate\n      max: .nan\n"
        "      window: 5\n      actions: [page]\n"
    )
    got = {(d.code, d.location.line) for d in _diags(text)}
    assert ("SO206", 11) in got
    assert ("SO208", 10) in got or ("SO204", 10) in got


def test_wrong_type_says_what_was_found():
    text = MODEL_HEAD.format(kind="RiskPolicy", name="a") + "  maxCanaryPercent: '10'\n"
    (d,) = _diags(text)
    assert d.code == "SO203" and "string '10'" in d.message and "quotes" in (d.hint or "")


def test_yes_is_not_a_boolean():
    text = ("apiVersion: specops.dev/v1alpha1\nkind: System\nmetadata: {name: s}\nspec:\n  owner: me\n"
            "  gitops: {repoUrl: 'https://g.example/r.git'}\n  runtime: {repository: ghcr.io/a/b, tag: '1'}\n"
            "  artifacts: {uri: s3://bucket/p}\n  environments:\n    - {name: dev, namespace: dev, promotionOrder: 1, production: yes}\n")
    (d,) = _diags(text)
    assert d.code == "SO203" and d.location.line == 10 and "YAML 1.2" in (d.hint or "")


def test_enum_value_gets_did_you_mean():
    text = MODEL_HEAD.format(kind="RiskPolicy", name="a") + (
        "  rules:\n    - id: AB-001\n      target: spek\n      message: m\n      expression: 'true'\n"
    )
    (d,) = _diags(text)
    assert d.code == "SO204" and d.hint == "did you mean 'spec'?" and d.location.line == 8


def test_durations_parse_and_compare():
    assert Duration.parse("1h30m").millis == 5_400_000
    assert Duration.parse("24h") == Duration.parse("1d")
    assert Duration.parse("7d") > Duration.parse("24h")
    assert str(Duration.parse("15m")) == "15m"
