"""Stage 1: source files -> YAML documents whose every node keeps file:line:col.

``read_sources`` is the only function here that touches the disk; ``load``
is pure.  The loader is deliberately stricter than PyYAML:

* YAML 1.2 core scalars (``yes``/``no``/``on`` stay strings, ``2026-01-01``
  stays a string, ``.nan``/``.inf`` are floats that validation rejects);
* duplicate keys, merge keys (``<<``), custom tags and non-string keys are
  errors, not silent overwrites;
* aliases are expanded under a node budget, so an alias bomb is rejected in
  bounded time and memory, and a recursive alias is an error;
* oversize files, non-UTF-8 bytes and tab indentation are located errors.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from compiler.diagnostics import Diagnostic, Location, Severity

__all__ = [
    "Document",
    "LoadResult",
    "Position",
    "SourceFile",
    "MAX_FILE_BYTES",
    "MAX_NODES_PER_DOCUMENT",
    "MAX_DEPTH",
    "load",
    "read_sources",
]

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_NODES_PER_DOCUMENT = 100_000
MAX_DEPTH = 64
SPEC_SUFFIXES = (".yaml", ".yml")

class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The C parser without PyYAML's YAML 1.1 scalar resolution: every plain
    scalar arrives tagged str and ``_resolve_plain`` applies YAML 1.2 rules
    (faster, and no 1.1 surprises such as ``no`` -> False)."""

    yaml_implicit_resolvers: dict = {}

    # Untagged nodes are plain str / seq / map; explicit tags never reach resolve().
    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        return _STR if kind is yaml.ScalarNode else (_SEQ if kind is yaml.SequenceNode else _MAP)

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        return None

    def ascend_resolver(self) -> None:
        return None

_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_IMPLICIT = {
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
    _STR,
}
_LINE_BREAK = re.compile("\r\n|\r|\n|\x85|\u2028|\u2029")  # YAML's line breaks
# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution)
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT10 = re.compile(r"^[-+]?[0-9]+$")
_INT8 = re.compile(r"^0o[0-7]+$")
_INT16 = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One input file as read from disk (``path`` is how diagnostics name it)."""

    path: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


class Position(NamedTuple):
    """Where a mapping key and its value start (1-based).  A tuple: one is
    made per YAML node, and tuples are the cheapest immutable record."""

    line: int
    col: int
    value_line: int
    value_col: int


Path_ = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Document:
    """One YAML document: plain data plus a position for every node path."""

    file: str
    index: int
    data: Mapping[str, Any]
    positions: Mapping[Path_, Position]
    lines: tuple[str, ...]

    def location(self, path: Path_ = (), *, value: bool = False) -> Location:
        """Location of the deepest known prefix of ``path``."""
        for cut in range(len(path), -1, -1):
            pos = self.positions.get(tuple(path[:cut]))
            if pos is not None:
                if value:
                    return Location(self.file, pos.value_line, pos.value_col)
                return Location(self.file, pos.line, pos.col)
        return Location(self.file, 1, 1)


@dataclass(frozen=True, slots=True)
class LoadResult:
    files: tuple[SourceFile, ...]
    documents: tuple[Document, ...]
    diagnostics: tuple[Diagnostic, ...]

    def source_lines(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        for doc in self.documents:
            out.setdefault(doc.file, doc.lines)
        for f in self.files:
            if f.path not in out:
                out[f.path] = tuple(f.data.decode("utf-8", "replace").splitlines())
        return out


# ---------------------------------------------------------------- disk access


def read_sources(paths: Iterable[str | os.PathLike[str]], *, base: str | None = None) -> tuple[
    tuple[SourceFile, ...], tuple[Diagnostic, ...]
]:
    """Read every *.yaml / *.yml under ``paths`` (sorted, symlinks not followed).

    Returns the files and the diagnostics for paths that could not be read.
    Display paths are relative to ``base`` (default: the current directory)
    when possible, always with forward slashes, so diagnostics and outputs
    do not depend on the machine.
    """
    base_dir = Path(base or os.getcwd()).resolve()
    found: dict[str, Path] = {}
    problems: list[Diagnostic] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for child in sorted(p.rglob("*")):
                if child.suffix in SPEC_SUFFIXES and child.is_file() and not _hidden(child, p):
                    found[_display(child, base_dir)] = child
        elif p.is_file():
            found[_display(p, base_dir)] = p
        else:
            problems.append(
                Diagnostic(
                    "SO110",
                    Severity.ERROR,
                    f"path '{raw}' does not exist",
                    Location(str(raw)),
                    hint="pass a spec file or a directory that contains *.yaml files",
                )
            )
    files: list[SourceFile] = []
    for display in sorted(found):
        path = found[display]
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                # Do not even read it: an oversize file is rejected in O(1).
                files.append(SourceFile(display, b""))
                problems.append(_oversize(display, size))
                continue
            files.append(SourceFile(display, path.read_bytes()))
        except OSError as exc:
            problems.append(
                Diagnostic("SO110", Severity.ERROR, f"cannot read file: {exc.strerror}", Location(display))
            )
    return tuple(files), tuple(problems)


def _hidden(child: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in child.relative_to(root).parts)


def _display(path: Path, base: Path) -> str:
    resolved = path.resolve()
    try:
        return resolved.relative_to(base).as_posix()
    except ValueError:
        return Path(os.path.relpath(resolved, base)).as_posix() if resolved.anchor == base.anchor else resolved.as_posix()


def _oversize(display: str, size: int) -> Diagnostic:
    return Diagnostic(
        "SO104",
        Severity.ERROR,
        f"file is {size:,} bytes; the limit is {MAX_FILE_BYTES:,}",
        Location(display),
        hint="split the resources across several files",
    )


# ---------------------------------------------------------------- pure stage


def load(files: Iterable[SourceFile]) -> LoadResult:
    """Parse every file into documents; never raises on bad input."""
    file_list = tuple(sorted(files, key=lambda f: f.path))
    documents: list[Document] = []
    diagnostics: list[Diagnostic] = []
    for source in file_list:
        docs, diags = _load_file(source)
        documents.extend(docs)
        diagnostics.extend(diags)
    return LoadResult(file_list, tuple(documents), tuple(diagnostics))


def _line_col(before: str) -> tuple[int, int]:
    """Where the text after ``before`` starts, counting lines as YAML does (a lone \\r breaks a line too)."""
    breaks = list(_LINE_BREAK.finditer(before))
    return len(breaks) + 1, len(before) - (breaks[-1].end() if breaks else 0) + 1


def _load_file(source: SourceFile) -> tuple[list[Document], list[Diagnostic]]:
    name = source.path
    if len(source.data) > MAX_FILE_BYTES:
        return [], [_oversize(name, len(source.data))]
    if not source.data:
        return [], []
    try:
        text = source.data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # Columns count code points (as SARIF says), not bytes.
        line, col = _line_col(source.data[: exc.start].decode("utf-8", "replace"))
        return [], [
            Diagnostic(
                "SO105",
                Severity.ERROR,
                f"file is not valid UTF-8 (byte 0x{source.data[exc.start]:02x})",
                Location(name, line, col),
                hint="save the file as UTF-8",
            )
        ]
    lines = tuple(text.splitlines())
    documents: list[Document] = []
    diagnostics: list[Diagnostic] = []
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        if _char_at(lines, line, col) == "\t":
            return [], [
                Diagnostic("SO106", Severity.ERROR, "tab character used for indentation", Location(name, line, col),
                           hint="YAML indentation must use spaces; replace the tab with spaces")
            ]
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem and "duplicate anchor" in exc.context:
            problem = "an anchor (&name) is defined twice"
        return [], [
            Diagnostic(
                "SO101",
                Severity.ERROR,
                f"YAML syntax error: {problem}",
                Location(name, line, col),
                hint=_syntax_hint(problem),
            )
        ]
    except yaml.reader.ReaderError as exc:  # control characters, invalid code points
        # The C reader counts UTF-8 bytes; turn the offset back into characters.
        before = text.encode("utf-8")[: exc.position].decode("utf-8", "replace")
        line, col = _line_col(before)
        return [], [
            Diagnostic("SO101", Severity.ERROR, f"{exc.reason} (character U+{exc.character:04X})" if isinstance(exc.character, int)
                       else f"{exc.reason}", Location(name, line, col),
                       hint="remove the character, or write it as an escape inside double quotes")
        ]
    except yaml.YAMLError as exc:  # pragma: no cover - PyYAML has no other error types today
        return [], [Diagnostic("SO101", Severity.ERROR, f"YAML error: {str(exc).splitlines()[0]}", Location(name, 1, 1))]
    for index, node in enumerate(nodes):
        if node is None:
            continue
        builder = _Builder(name)
        try:
            data = builder.build(node, (), 0, ())
        except _BuildError as exc:
            diagnostics.append(exc.diagnostic)
            continue
        diagnostics.extend(builder.diagnostics)
        if data is None:
            continue
        if not isinstance(data, dict):
            diagnostics.append(
                Diagnostic(
                    "SO107",
                    Severity.ERROR,
                    f"document {index + 1} is a {_kind_name(data)}, expected a mapping with apiVersion, kind, metadata and spec",
                    Location(name, node.start_mark.line + 1, node.start_mark.column + 1),
                    hint="every YAML document must be one spec resource",
                )
            )
            continue
        root = Position(node.start_mark.line + 1, node.start_mark.column + 1, node.start_mark.line + 1, node.start_mark.column + 1)
        builder.positions[()] = root
        documents.append(Document(name, index, data, builder.positions, lines))
    return documents, diagnostics


def _char_at(lines: tuple[str, ...], line: int, col: int) -> str:
    if 0 < line <= len(lines) and 0 < col <= len(lines[line - 1]):
        return lines[line - 1][col - 1]
    return ""


def _syntax_hint(problem: str) -> str:
    if "mapping values are not allowed" in problem:
        return "a ':' inside a plain value needs quotes, or the indentation is off"
    if "could not find expected ':'" in problem:
        return "check the indentation and that every key ends with ':'"
    if "defined twice" in problem:
        return "rename one of the anchors"
    if "found undefined alias" in problem:
        return "define the anchor (&name) before using the alias (*name)"
    return "check the indentation and quoting near this position"


def _kind_name(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(type(value), type(value).__name__)


class _BuildError(Exception):
    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


class _Builder:
    """Turns a composed node tree into plain data plus a position table."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.count = 0
        self.positions: dict[Path_, Position] = {}
        self.diagnostics: list[Diagnostic] = []

    def _loc(self, node: yaml.Node) -> Location:
        return Location(self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def build(self, node: yaml.Node, path: Path_, depth: int, stack: tuple[int, ...]) -> Any:
        self.count += 1
        if self.count > MAX_NODES_PER_DOCUMENT:
            raise _BuildError(
                Diagnostic(
                    "SO103",
                    Severity.ERROR,
                    f"document expands to more than {MAX_NODES_PER_DOCUMENT:,} nodes (an alias/anchor bomb?)",
                    self._loc(node),
                    hint="do not nest aliases (*name) of large anchors; write the values out",
                )
            )
        if depth > MAX_DEPTH:
            raise _BuildError(
                Diagnostic("SO103", Severity.ERROR, f"nesting deeper than {MAX_DEPTH} levels", self._loc(node),
                           hint="flatten the structure")
            )
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if id(node) in stack:
            raise _BuildError(
                Diagnostic("SO103", Severity.ERROR, "recursive alias: a node contains itself", self._loc(node),
                           hint="remove the alias that refers to an enclosing anchor")
            )
        inner = stack + (id(node),)
        if isinstance(node, yaml.SequenceNode):
            self._check_tag(node, _SEQ)
            items = []
            for i, child in enumerate(node.value):
                sub = path + (i,)
                self.positions[sub] = Position(child.start_mark.line + 1, child.start_mark.column + 1,
                                               child.start_mark.line + 1, child.start_mark.column + 1)
                items.append(self.build(child, sub, depth + 1, inner))
            return items
        self._check_tag(node, _MAP)
        out: dict[str, Any] = {}
        first_seen: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise _BuildError(
                    Diagnostic("SO101", Severity.ERROR, "mapping keys must be plain strings", self._loc(key_node),
                               hint="use a scalar key")
                )
            key = key_node.value
            if key_node.tag not in _IMPLICIT:
                raise _BuildError(
                    Diagnostic("SO101", Severity.ERROR, f"unsupported YAML tag '{key_node.tag}' on key '{key}'",
                               self._loc(key_node), hint="remove the tag: specs use plain YAML only")
                )
            if key == "<<" and not key_node.style:
                raise _BuildError(
                    Diagnostic("SO101", Severity.ERROR, "YAML merge keys ('<<') are not supported", self._loc(key_node),
                               hint="write the fields out: merges hide which value wins")
                )
            if key in first_seen:
                prior = first_seen[key]
                self.diagnostics.append(
                    Diagnostic(
                        "SO102",
                        Severity.ERROR,
                        f"duplicate key '{key}' (first defined on line {prior.start_mark.line + 1})",
                        self._loc(key_node),
                        hint="remove one of them: YAML would silently keep only the last",
                        related=((self._loc(prior), "first defined here"),),
                    )
                )
                continue
            first_seen[key] = key_node
            sub = path + (key,)
            self.positions[sub] = Position(
                key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                value_node.start_mark.line + 1, value_node.start_mark.column + 1,
            )
            out[key] = self.build(value_node, sub, depth + 1, inner)
        return out

    def _check_tag(self, node: yaml.Node, expected: str) -> None:
        if node.tag != expected:
            raise _BuildError(
                Diagnostic("SO101", Severity.ERROR, f"unsupported YAML tag '{node.tag}'", self._loc(node),
                           hint="remove the tag: specs use plain YAML only")
            )

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        value = node.value
        if node.tag not in _IMPLICIT:
            raise _BuildError(
                Diagnostic("SO101", Severity.ERROR, f"unsupported YAML tag '{node.tag}'", self._loc(node),
                           hint="remove the tag: specs use plain YAML only")
            )
        if node.style:
            return value
        try:
            return _resolve_plain(value)
        except OverflowError:
            raise _BuildError(
                Diagnostic("SO204", Severity.ERROR, f"number with {len(value)} digits is out of range", self._loc(node),
                           hint="no spec field takes a number this large; if it is a hash or an identifier, quote it")
            ) from None


_NUMERIC_START = frozenset("0123456789+-.")
_KEYWORDS = frozenset({"~", "null", "Null", "NULL", *_BOOL})


def _resolve_plain(value: str) -> Any:
    # Fast path: most plain scalars are words, which YAML 1.2 keeps as strings.
    if value and value[0] not in _NUMERIC_START and value not in _KEYWORDS:
        return value
    if _NULL.match(value):
        return None
    if value in _BOOL:
        return _BOOL[value]
    if _INT10.match(value):
        if len(value.lstrip("+-")) > 40:
            raise OverflowError(value)
        return int(value)
    if _INT8.match(value):
        return int(value[2:], 8)
    if _INT16.match(value):
        return int(value[2:], 16)
    if _FLOAT.match(value):
        return float(value)
    if _INF.match(value):
        return -math.inf if value.startswith("-") else math.inf
    if _NAN.match(value):
        return math.nan
    return value
