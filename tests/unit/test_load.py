"""The loader: positions for every node, YAML 1.2 scalars, and errors (not
silence) for duplicate keys, alias bombs, bad encodings, tabs and tags."""

from __future__ import annotations

import math
import time
import tracemalloc

from compiler.load import MAX_FILE_BYTES, SourceFile, load


def _load(text: str | bytes, name: str = "a.yaml"):
    data = text.encode() if isinstance(text, str) else text
    return load([SourceFile(name, data)])


def test_positions_are_one_based_for_keys_and_values():
    res = _load("kind: Model\nspec:\n  items:\n    - name: x\n      value: 3\n")
    doc = res.documents[0]
    assert doc.positions[("spec", "items", 0, "value")].line == 5
    assert doc.positions[("spec", "items", 0, "value")].col == 7
    assert doc.positions[("spec", "items", 0, "value")].value_col == 14
    assert str(doc.location(("spec", "items", 0, "missing"))) == "a.yaml:4:7"


def test_yaml_12_scalars_norway_and_dates_stay_strings():
    doc = _load("a: no\nb: yes\nc: on\nd: 2026-01-01\ne: 0o17\nf: 012\ng: ~\nh: true\ni: 1_000\n").documents[0].data
    assert doc == {"a": "no", "b": "yes", "c": "on", "d": "2026-01-01", "e": 15, "f": 12, "g": None, "h": True, "i": "1_000"}


def test_nan_and_inf_are_floats_for_validation_to_reject():
    doc = _load("a: .nan\nb: -.inf\n").documents[0].data
    assert math.isnan(doc["a"]) and doc["b"] == -math.inf


def test_quoted_numbers_stay_strings():
    assert _load("a: '5'\nb: \"true\"\n").documents[0].data == {"a": "5", "b": "true"}


def test_duplicate_key_is_an_error_with_both_lines():
    res = _load("a: 1\nb: 2\na: 3\n")
    (d,) = res.diagnostics
    assert d.code == "SO102" and d.location.line == 3
    assert d.related[0][0].line == 1


def test_alias_bomb_is_rejected_fast_and_in_bounded_memory():
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):  # 10**11 nodes if expanded
        prev = chr(ord("a") + i - 1)
        cur = chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]")
    tracemalloc.start()
    start = time.perf_counter()
    res = _load("\n".join(lines) + "\n")
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [d.code for d in res.diagnostics] == ["SO103"]
    assert not res.documents
    assert elapsed < 5.0, elapsed  # generous bound: the budget stops it after 100k nodes
    assert peak < 200 * 1024 * 1024, peak


def test_recursive_alias_is_an_error():
    res = _load("a: &a [1, *a]\n")
    assert [d.code for d in res.diagnostics] == ["SO103"]


def test_tab_indentation_is_located():
    res = _load("a:\n\tb: 1\n")
    (d,) = res.diagnostics
    assert (d.code, d.location.line, d.location.col) == ("SO106", 2, 1)


def test_non_utf8_is_located():
    res = _load(b"a: 1\nb: caf\xe9\n")
    (d,) = res.diagnostics
    assert (d.code, d.location.line, d.location.col) == ("SO105", 2, 7)


def test_oversize_file_is_rejected_without_parsing():
    res = _load(b"a: " + b"x" * (MAX_FILE_BYTES + 1))
    assert [d.code for d in res.diagnostics] == ["SO104"]


def test_custom_tags_and_merge_keys_are_rejected():
    assert [d.code for d in _load("a: !!python/object:os.system x\n").diagnostics] == ["SO101"]
    assert [d.code for d in _load("b: &b {x: 1}\nc:\n  <<: *b\n").diagnostics] == ["SO101"]


def test_non_mapping_document_is_an_error():
    res = _load("- a\n- b\n")
    assert [d.code for d in res.diagnostics] == ["SO107"]


def test_syntax_error_is_located_with_a_hint():
    res = _load("a: b: c\n")
    (d,) = res.diagnostics
    assert d.code == "SO101" and d.location.line == 1 and d.hint


def test_multiple_documents_and_empty_ones():
    res = _load("---\na: 1\n---\n---\nb: 2\n")
    assert [d.data for d in res.documents] == [{"a": 1}, {"b": 2}]
    assert res.documents[1].positions[("b",)].line == 5


def test_files_are_processed_in_sorted_order():
    res = load([SourceFile("b.yaml", b"x: 1\n"), SourceFile("a.yaml", b"y: 1\n")])
    assert [d.file for d in res.documents] == ["a.yaml", "b.yaml"]


def test_control_character_after_a_lone_carriage_return_is_located_on_the_next_line():
    # A lone \r is a YAML line break (found by tests/fuzz: the column ran past line 1).
    result = load([SourceFile("a.yaml", b"\r\x00# comment\n")])
    (d,) = result.diagnostics
    assert (d.code, d.location.line, d.location.col) == ("SO101", 2, 1)


def test_invalid_utf8_after_a_lone_carriage_return_is_located_on_the_next_line():
    result = load([SourceFile("a.yaml", b"\r\x80# comment\n")])
    (d,) = result.diagnostics
    assert (d.code, d.location.line, d.location.col) == ("SO105", 2, 1)
