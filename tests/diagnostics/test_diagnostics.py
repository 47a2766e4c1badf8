"""Diagnostics as data: a corpus of bad specs, each annotated with the
diagnostics it must produce.

``base/`` is a small, lint-clean spec tree.  Every folder under ``cases/`` is
an overlay laid over a copy of ``base/``: a file with the same relative path
replaces the base file, a new path is added, and ``<path>.delete`` removes
that base file.  Inside the overlaid tree, trailing YAML comments say what
the linter must report on that very line:

* ``# expect: SO403`` (or ``# expect: SO301, SO304``): a diagnostic with
  that code is located on this line.  The set of (file, line, code) of ALL
  diagnostics, errors and warnings, must equal the set of expectations.
* ``# hint: did you mean 'horizon'`` (after an expect): a diagnostic on
  this line has a hint containing that text.
* ``# nohint: remove the quotes``: no diagnostic on this line has a hint
  containing that text (a misleading hint).
* ``# related: SO302``: a diagnostic with that code names this line as a
  related location (e.g. the first definition of a duplicate).

Inputs that cannot be written as a checked-in file (oversize, not UTF-8,
alias bombs, a missing path, ...) are generated in ``test_generated``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from compiler.codes import CODES
from compiler.diagnostics import Diagnostic, Severity
from compiler.lint import LintResult, lint_paths
from compiler.load import MAX_DEPTH, MAX_FILE_BYTES
from compiler.render import RENDERERS

HERE = Path(__file__).resolve().parent
BASE = HERE / "base"
CASES = HERE / "cases"
DELETE_SUFFIX = ".delete"

# Codes whose diagnostics are warnings (SO501 takes the rule's severity).
WARNING_CODES = frozenset({"SO304", "SO406", "SO411", "SO412", "SO456", "SO463", "SO472", "SO491", "SO497", "SO504"})

# Cases that document a compiler bug: the expectations say what SHOULD be
# reported; remove the entry once the compiler is fixed (strict xfail).
XFAIL: dict[str, str] = {
}

_EXPECT = re.compile(r"#\s*expect:\s*([A-Z0-9,\s]+?)\s*(?=#|$)")
_HINT = re.compile(r"#\s*hint:\s*(.+?)\s*(?=#|$)")
_NOHINT = re.compile(r"#\s*nohint:\s*(.+?)\s*(?=#|$)")
_RELATED = re.compile(r"#\s*related:\s*([A-Z0-9,\s]+?)\s*(?=#|$)")

Key = tuple[str, int, str]  # (file, line, code)


# ----------------------------------------------------------------- the tree


def case_names() -> list[str]:
    return sorted(p.name for p in CASES.iterdir() if p.is_dir())


def build_tree(case: Path | None, dest: Path) -> Path:
    """Copy base/ to dest and lay the case's overlay over it."""
    tree = dest / "tree"
    shutil.copytree(BASE, tree)
    if case is None:
        return tree
    for src in sorted(case.rglob("*")):
        if not src.is_file():
            continue
        rel = src.relative_to(case)
        if rel.name.endswith(DELETE_SUFFIX):
            target = tree / rel.with_name(rel.name[: -len(DELETE_SUFFIX)])
            assert target.is_file(), f"{rel}: there is no base file {target.relative_to(tree)} to delete"
            target.unlink()
            continue
        target = tree / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
    return tree


def lint_tree(tree: Path) -> LintResult:
    return lint_paths([tree], base=str(tree))


# ---------------------------------------------------------- expectations


@dataclass
class Expectations:
    codes: set[Key] = field(default_factory=set)
    hints: list[tuple[str, int, str]] = field(default_factory=list)  # (file, line, text)
    nohints: list[tuple[str, int, str]] = field(default_factory=list)
    related: set[Key] = field(default_factory=set)


def _codes(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def collect_expectations(tree: Path) -> Expectations:
    exp = Expectations()
    for path in sorted(tree.rglob("*")):
        if not path.is_file() or path.suffix not in (".yaml", ".yml"):
            continue
        rel = path.relative_to(tree).as_posix()
        text = path.read_bytes().decode("utf-8-sig", "replace")
        for number, line in enumerate(text.splitlines(), 1):
            if "#" not in line:
                continue
            for m in _EXPECT.finditer(line):
                exp.codes.update((rel, number, c) for c in _codes(m.group(1)))
            for m in _HINT.finditer(line):
                exp.hints.append((rel, number, m.group(1)))
            for m in _NOHINT.finditer(line):
                exp.nohints.append((rel, number, m.group(1)))
            for m in _RELATED.finditer(line):
                exp.related.update((rel, number, c) for c in _codes(m.group(1)))
    return exp


def describe(diags: list[Diagnostic] | tuple[Diagnostic, ...]) -> str:
    return "\n".join(
        f"  {d.location.file}:{d.location.line}:{d.location.col} {d.severity.value}[{d.code}] {d.message}"
        + (f"  (hint: {d.hint})" if d.hint else "")
        for d in diags
    )


def check_well_formed(result: LintResult, files: set[str], *, lineless: frozenset[str] = frozenset()) -> None:
    """Every diagnostic: a known code, the right severity, a message, a real location; renderers cope."""
    for d in result.diagnostics:
        assert d.code in CODES, f"unknown code {d.code}: {d.message}"
        assert d.message.strip(), f"{d.code} has an empty message"
        if d.code == "SO501":
            assert d.severity in (Severity.ERROR, Severity.WARNING, Severity.INFO)
        else:
            want = Severity.WARNING if d.code in WARNING_CODES else Severity.ERROR
            assert d.severity is want, f"{d.code} should be a {want.value}: {d.message}"
        if d.code in lineless:
            continue
        assert d.location.file in files, f"{d.code} names a file outside the tree: {d.location.file}"
        assert d.location.line > 0 and d.location.col > 0, f"{d.code} has no line/column: {d.message}"
        assert d.hint is None or d.hint.strip(), f"{d.code} has a blank hint"
        for loc, note in d.related:
            assert loc.file in files and loc.line > 0 and note, f"{d.code}: bad related location {loc}"
    sources = result.loaded.source_lines()
    options = {"files": len(result.loaded.files), "resources": len(result.spec.nodes)}
    for name, render in RENDERERS.items():
        assert isinstance(render(result.diagnostics, sources, options), str), name


def tree_files(tree: Path) -> set[str]:
    return {p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file()}


# ------------------------------------------------------------------- tests


def test_base_is_clean(tmp_path: Path) -> None:
    tree = build_tree(None, tmp_path)
    result = lint_tree(tree)
    assert result.diagnostics == (), "base/ must lint clean:\n" + describe(result.diagnostics)
    assert len(result.spec.nodes) == 7
    assert collect_expectations(tree) == Expectations()


def _case_params() -> list:
    return [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=XFAIL[name])) if name in XFAIL else name
        for name in case_names()
    ]


@pytest.mark.parametrize("case", _case_params())
def test_case(case: str, tmp_path: Path) -> None:
    tree = build_tree(CASES / case, tmp_path)
    expected = collect_expectations(tree)
    assert expected.codes, f"case {case} expects nothing: annotate the offending line with '# expect: SOxxx'"
    assert all(code in CODES for _, _, code in expected.codes), "an expectation names an unknown code"

    result = lint_tree(tree)
    check_well_formed(result, tree_files(tree))

    actual = {(d.location.file, d.location.line, d.code) for d in result.diagnostics}
    missing = sorted(expected.codes - actual)
    extra = sorted(actual - expected.codes)
    assert not missing and not extra, (
        f"case {case}:\n missing: {missing}\n unexpected: {extra}\n all diagnostics:\n{describe(result.diagnostics)}"
    )

    for file, line, text in expected.hints:
        on_line = [d for d in result.diagnostics if (d.location.file, d.location.line) == (file, line)]
        assert any(d.hint and text in d.hint for d in on_line), (
            f"{file}:{line}: no hint contains {text!r}:\n{describe(on_line)}"
        )
    for file, line, text in expected.nohints:
        on_line = [d for d in result.diagnostics if (d.location.file, d.location.line) == (file, line)]
        assert not any(d.hint and text in d.hint for d in on_line), (
            f"{file}:{line}: a hint contains {text!r}:\n{describe(on_line)}"
        )
    for file, line, code in expected.related:
        assert any(
            d.code == code and any((loc.file, loc.line) == (file, line) for loc, _ in d.related)
            for d in result.diagnostics
        ), f"{file}:{line}: no {code} diagnostic names this line as related:\n{describe(result.diagnostics)}"


# --------------------------------------------------------- generated inputs


@dataclass(frozen=True)
class Generated:
    """Files laid over base/ (bytes), or a path that does not exist, and the expected diagnostics."""

    files: dict[str, bytes]
    expected: set[Key]
    missing_path: str | None = None


_DS_HEAD = "apiVersion: specops.dev/v1alpha1\nkind: DataSource\nmetadata:\n  name: extra\n"


def _not_utf8() -> Generated:
    text = _DS_HEAD.encode() + b"  description: caf\xe9 sensors\n"
    return Generated({"data/extra.yaml": text}, {("data/extra.yaml", 5, "SO105")})


def _not_utf8_in_comment() -> Generated:
    return Generated({"data/extra.yaml": b"# \xff\xfe\napiVersion: specops.dev/v1alpha1\n"}, {("data/extra.yaml", 1, "SO105")})


def _tab_indentation() -> Generated:
    text = _DS_HEAD + "spec:\n\ttype: file\n"
    return Generated({"data/extra.yaml": text.encode()}, {("data/extra.yaml", 6, "SO106")})


def _oversize() -> Generated:
    body = _DS_HEAD + "  description: " + "x" * (MAX_FILE_BYTES + 1) + "\n"
    # The oversize file is rejected without being read: no line is known.
    return Generated({"data/huge.yaml": body.encode()}, {("data/huge.yaml", 0, "SO104")})


def _alias_bomb() -> Generated:
    lines = ["apiVersion: specops.dev/v1alpha1", "kind: DataSource", "metadata:", "  name: bomb", "  annotations:",
             '    a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"    a{i}: &a{i} [{refs}]")
    text = "\n".join(lines) + "\n"
    # Aliases share their anchor's node, so the overflow is located where the
    # innermost anchor is defined (line 6).
    return Generated({"data/bomb.yaml": text.encode()}, {("data/bomb.yaml", 6, "SO103")})


def _deep_nesting() -> Generated:
    depth = MAX_DEPTH + 10
    text = _DS_HEAD + "  annotations:\n    deep: " + "[" * depth + "1" + "]" * depth + "\n"
    return Generated({"data/deep.yaml": text.encode()}, {("data/deep.yaml", 6, "SO103")})


def _deep_block_nesting() -> Generated:
    depth = MAX_DEPTH + 5
    lines = [_DS_HEAD.rstrip("\n"), "  annotations:"]
    for i in range(depth):
        lines.append("    " + "  " * i + f"k{i}:")
    lines.append("    " + "  " * depth + "leaf: 1")
    text = "\n".join(lines) + "\n"
    # k<i> (line 6 + i) holds a mapping at depth i + 3; the first one deeper
    # than MAX_DEPTH starts on the line of its first key.
    line = 6 + (MAX_DEPTH + 1 - 3) + 1
    return Generated({"data/deep.yaml": text.encode()}, {("data/deep.yaml", line, "SO103")})


def _missing_path() -> Generated:
    return Generated({}, {("does-not-exist", 0, "SO110")}, missing_path="does-not-exist")


def _crlf_line_endings() -> Generated:
    text = _DS_HEAD + "spec:\n  type: file\n  file: {path: data/x/*.parquet}\n  entity: asset_id\n  timestamp: event_time\n" \
        "  fields:\n    - {name: asset_id, type: string}\n    - {name: event_time, type: timestmp}\n"
    return Generated({"data/extra.yaml": text.replace("\n", "\r\n").encode()}, {("data/extra.yaml", 12, "SO204")})


def _bom_and_error() -> Generated:
    text = "\ufeff" + _DS_HEAD + "spec:\n  type: flie\n"
    return Generated({"data/extra.yaml": text.encode()}, {("data/extra.yaml", 6, "SO204"), ("data/extra.yaml", 5, "SO202")})


def _control_character() -> Generated:
    text = _DS_HEAD + "  description: \"ring the bell \x07\"\n"
    return Generated({"data/extra.yaml": text.encode()}, {("data/extra.yaml", 5, "SO101")})


GENERATED: dict[str, Callable[[], Generated]] = {
    "control-character": _control_character,
    "not-utf8": _not_utf8,
    "not-utf8-in-comment": _not_utf8_in_comment,
    "tab-indentation": _tab_indentation,
    "oversize": _oversize,
    "alias-bomb": _alias_bomb,
    "deep-flow-nesting": _deep_nesting,
    "deep-block-nesting": _deep_block_nesting,
    "missing-path": _missing_path,
    "crlf-line-endings": _crlf_line_endings,
    "bom-and-error": _bom_and_error,
}


XFAIL_GENERATED: dict[str, str] = {
}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=XFAIL_GENERATED[n])) if n in XFAIL_GENERATED else n
        for n in sorted(GENERATED)
    ],
)
def test_generated(name: str, tmp_path: Path) -> None:
    gen = GENERATED[name]()
    tree = build_tree(None, tmp_path)
    for rel, data in gen.files.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_bytes(data)
    paths: list[Path | str] = [tree]
    if gen.missing_path is not None:
        paths.append(gen.missing_path)
    result = lint_paths(paths, base=str(tree))
    lineless = frozenset(code for _, line, code in gen.expected if line == 0)
    check_well_formed(result, tree_files(tree) | {gen.missing_path or ""}, lineless=lineless)
    actual = {(d.location.file, d.location.line, d.code) for d in result.diagnostics}
    assert actual == gen.expected, f"{name}:\n{describe(result.diagnostics)}"


# ---------------------------------------------------------------- coverage


def _case_codes(*, passing_only: bool) -> set[str]:
    codes: set[str] = set()
    for case in case_names():
        if passing_only and case in XFAIL:
            continue
        for path in (CASES / case).rglob("*.y*ml"):
            for line in path.read_bytes().decode("utf-8", "replace").splitlines():
                for m in _EXPECT.finditer(line):
                    codes.update(_codes(m.group(1)))
    return codes


def test_every_code_is_covered() -> None:
    """Every code is triggered by a case that passes (xfail cases do not count)."""
    named = _case_codes(passing_only=False)
    for make in GENERATED.values():
        named.update(code for _, _, code in make().expected)
    unknown = named - set(CODES)
    assert not unknown, f"expectations name codes that do not exist: {sorted(unknown)}"
    covered = _case_codes(passing_only=True)
    for name, make in GENERATED.items():
        if name not in XFAIL_GENERATED:
            covered.update(code for _, _, code in make().expected)
    missing = set(CODES) - covered - set(NOT_FROM_SPECS)
    assert not missing, f"no case triggers: {sorted(missing)}"


# Codes no spec can trigger (they report compiler bugs), with the test that covers each.
NOT_FROM_SPECS = {"SO601": "tests/unit/test_compile.py::test_inconsistent_output_is_reported_not_written",
                  # The admission dry run runs at compile, over the emitted output (this corpus is lint only).
                  "SO602": "tests/unit/test_admission.py::test_compile_whose_cluster_would_reject_it_fails_located_and_writes_nothing",
                  "SO603": "tests/unit/test_admission.py::test_rule_that_lint_accepts_but_fails_on_real_output_is_so603",
                  "SO604": "tests/unit/test_admission.py::test_binding_without_its_policy_is_reported",
                  "SO610": "tests/unit/test_emit_prometheus.py::test_inconsistent_rules_are_reported_at_the_service_level"}


def test_corpus_size() -> None:
    assert len(case_names()) + len(GENERATED) >= 45


def test_xfail_entries_name_existing_cases() -> None:
    assert set(XFAIL) <= set(case_names()), sorted(set(XFAIL) - set(case_names()))
    assert set(XFAIL_GENERATED) <= set(GENERATED), sorted(set(XFAIL_GENERATED) - set(GENERATED))
