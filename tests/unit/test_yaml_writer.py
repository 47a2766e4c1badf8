"""The canonical YAML writer: whatever it writes, a YAML reader reads back
as the same data (every generated file, and random data of every shape)."""

from __future__ import annotations

import math

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.emit.yaml_writer import dump

_scalars = (
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["yes", "No", "on", "OFF", "null", "~", "1e3", "0x1F", "0o17", "2026-11-27", "12:30", ".inf",
                       "- a", "a: b", "a #b", "#x", "&a", "*a", "!tag", "%x", "@x", "`x", "'q'", '"q"', "", " ",
                       "a\nb", "a\n", "\u2028", "\x85", "\ufeff", "é", "日本", "😀", "<<", "=", "?", "|", ">"])
)
_keys = st.text(min_size=1, max_size=12) | st.sampled_from(["apiVersion", "on", "yes", "1", "a.b/c-d", "<<"])
_data = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
                     max_leaves=25)


@settings(max_examples=400, deadline=None)
@given(_data)
def test_round_trips_random_data(data):
    back = yaml.safe_load(dump(data))
    assert back == data or (isinstance(data, float) and math.isclose(back, data))


def test_round_trips_every_generated_file(repo):
    files = [*repo.joinpath("generated").rglob("*.yaml"), repo / "dvc.yaml"]
    assert len(files) > 30
    for path in files:
        data = yaml.safe_load(path.read_text())
        assert yaml.safe_load(dump(data)) == data, path


def test_style_is_kubectl_like():
    text = dump({"b": [{"x": 1, "z": [1, 2]}, "s"], "a": {"c": None, "d": {}, "e": []}, "n": "0123"})
    # YAML 1.1 reads a plain n/y as a boolean: such keys are quoted, like numbers in strings.
    assert text == ('a:\n  c: null\n  d: {}\n  e: []\nb:\n- x: 1\n  z:\n  - 1\n  - 2\n- s\n"n": "0123"\n')


def test_a_trailing_newline_is_kept() -> None:
    """Found by the random test: a plain-looking string ending in a newline was
    written plain, and read back without it."""
    for data in ({"A\n": None}, {"k": "A\n"}, ["a/b\n"]):
        assert yaml.safe_load(dump(data)) == data
