"""The v1 request's quick path (``request._plain_v1``) and ``V1Request``
agree: on every body the quick path answers, the model gives the same
inputs or the same error, and every other body is left to the model."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from runtime.serving.errors import BadInput
from runtime.serving.request import MAX_INSTANCES, V1Request, _plain_v1, _to_input, _validation_message, parse_v1


def _by_model(body: Any) -> tuple[Any, ...] | str:
    try:
        request = V1Request.model_validate(body)
        return tuple(_to_input(inst, i) for i, inst in enumerate(request.instances))
    except ValidationError as exc:
        return _validation_message(exc)
    except BadInput as exc:
        return exc.message


def _by_quick(body: Any) -> tuple[Any, ...] | str | None:
    try:
        return _plain_v1(body)
    except BadInput as exc:
        return exc.message


_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=3),
                    st.just(""), st.just("x" * 257), st.just("2026-03-01T12:00:00Z"), st.just("2026-13-01"),
                    st.just("1900-01-01T00:00:00Z"), st.just("2026-03-01T12:00:00+02:00"), st.lists(st.none()),
                    st.dictionaries(st.text(max_size=2), st.none(), max_size=1))
_KEYS = st.sampled_from(["entity", "at", "event", "Entity", "extra"])
_INSTANCE = st.one_of(st.dictionaries(_KEYS, _VALUES, max_size=3), _VALUES)
_BODY = st.one_of(
    st.fixed_dictionaries({"instances": st.lists(_INSTANCE, max_size=4)}),
    st.fixed_dictionaries({"instances": st.lists(_INSTANCE, max_size=2)}, optional={"extra": _VALUES}),
    st.dictionaries(st.sampled_from(["instances", "inputs"]), _VALUES, max_size=2))


@settings(max_examples=600, deadline=None)
@given(_BODY)
def test_the_quick_path_answers_as_the_model_does(body: dict[str, Any]) -> None:
    quick = _by_quick(body)
    if quick is not None:
        assert quick == _by_model(body)


@pytest.mark.parametrize("body", [
    {"instances": [{"entity": "pump-0001"}]},
    {"instances": [{"entity": "pump-0001", "at": "2026-03-01T12:00:00Z"}, {"entity": "pump-0002"}]},
    {"instances": [{"entity": f"pump-{i}", "at": "2026-03-01T12:00:00Z"} for i in range(MAX_INSTANCES)]},
    {"instances": [{"entity": "pump-0001", "at": "not a time"}]},
])
def test_the_common_requests_take_the_quick_path(body: dict[str, Any]) -> None:
    assert _by_quick(body) is not None
    assert _by_quick(body) == _by_model(body)


@pytest.mark.parametrize("body", [
    {"instances": [{"entity": "pump-0001", "at": None}]},
    {"instances": [{"entity": "pump-0001", "event": {"temperature": 1.0}}]},
    {"instances": [{"entity": "pump-0001", "extra": 1}]},
    {"instances": [{"entity": 7}]},
    {"instances": []},
    {"instances": [{"entity": "p"}] * (MAX_INSTANCES + 1)},
    {"instances": [{"entity": "p"}], "extra": 1},
    {"instances": [{"entity": "p", "at": "not a time"}, {"entity": 1}]},  # the shape is judged before any time
])
def test_anything_else_is_left_to_the_model(body: dict[str, Any]) -> None:
    assert _plain_v1(body) is None
    expected = _by_model(body)
    try:
        got: Any = parse_v1(body)
    except BadInput as exc:
        got = exc.message
    assert got == expected
