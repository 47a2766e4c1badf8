"""A typed subset of CEL lowered to one plain Python function.

The prediction rules run on every prediction, and through the CEL engine
(``runtime.contracts.cel``, Rust bindings) they cost ~17 µs of a ~68 µs
prediction in one request's sequence, though 2 µs in a tight loop
(bench/serve and its README; the engine's code and data are cold by the
time a request reaches it).  Rules are mostly comparisons of typed
scalars joined by ``&&``/``||``, and for those the answer is fixed by types
alone: no CEL error can occur, so Python computes the same value.

``lower_rules`` accepts an expression only when every part is in the subset, with
its operand types known from the declared variable types:

* literals: ``true``, ``false``, decimal and hex ints, doubles, quoted
  strings without escapes or prefixes;
* variables of a declared scalar type and fields of a declared map
  (``entity.criticality``), parentheses;
* ``==`` ``!=`` between two numbers (int or double: CEL compares them as
  numbers) or two values of one type; ``<`` ``<=`` ``>`` ``>=`` between two
  numbers or two strings; ``x in [literals]`` of ``x``'s kind;
* ``!``, ``&&``, ``||`` over booleans.

Anything else (arithmetic, functions, macros, ``has``, indexes, ``null``,
ternaries, maps of undeclared fields, ``1 == true``, which CEL answers false
and Python true) returns ``None``: the caller keeps the CEL engine for it.
The lowered function checks the exact types of what it reads first and
returns ``None`` when one differs from the declaration or a double is NaN
(the engine errors on ordering NaN, Python answers false), so a context the
subset was not proven for goes to the engine too.  The CEL library's own
parser (``celpy``'s Lark grammar) reads the expression; nothing here parses
CEL text.  tests/runtime/contracts/test_cel_lowering.py checks the lowered
function against the engine over generated contexts and expressions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any, Union

__all__ = ["BOOL", "DOUBLE", "INT", "STRING", "LoweredRules", "VarType", "lower_rules"]

BOOL, INT, DOUBLE, STRING = "bool", "int", "double", "string"
_PY_TYPE = {BOOL: "bool", DOUBLE: "float", STRING: "str", INT: "int"}
_NUMBERS = (INT, DOUBLE)
_ORDER = {"relation_lt": "<", "relation_le": "<=", "relation_gt": ">", "relation_ge": ">="}
_EQUAL = {"relation_eq": "==", "relation_ne": "!="}
_EXACT = 2**53

# A declared variable: a scalar type, or a map of field -> scalar type.
VarType = Union[str, Mapping[str, str]]
# (the rules' fired flags) from the variables; None: a value is not of its declared type, or a NaN.
LoweredRules = Callable[[Mapping[str, Any]], Union[tuple[bool, ...], None]]


class _Unsupported(Exception):
    """Outside the subset: the caller evaluates with the CEL engine."""


def lower_rules(rules: Sequence[tuple[str, str | None]], types: Mapping[str, VarType]) -> LoweredRules | None:
    """One function giving, for each ``(expression, when)``, whether the rule
    fired (its ``when`` true, or absent, and its expression true); ``None`` if
    any expression or guard is outside the subset."""
    try:
        from celpy.celparser import CELParseError
    except ImportError:  # the engine alone still evaluates every rule
        return None
    parser = _parser()
    reads: dict[str, str] = {}  # local name -> its guard and read, in first-use order
    flags = []
    try:
        for expression, when in rules:
            code = _Lowering(types, reads).boolean(parser.parse(expression))
            if when is not None:
                code = f"({_Lowering(types, reads).boolean(parser.parse(when))} and {code})"
            flags.append(code)
    except (_Unsupported, CELParseError, RecursionError):
        return None
    body = [f"    {line}" for read in reads.values() for line in read.splitlines()]
    source = "def rules(v):\n" + "\n".join(body) + f"\n    return ({', '.join(flags)},)\n"
    namespace: dict[str, Any] = {}
    # The source holds only checked names, repr() literals and Python operators.
    exec(compile(source, "<lowered prediction rules>", "exec"), namespace)  # noqa: S102
    function: LoweredRules = namespace["rules"]
    function.source = source  # type: ignore[attr-defined]  # for a reader (and the tests)
    return function


@cache
def _parser() -> Any:
    """CEL's grammar, built once per process (~0.1 s)."""
    from celpy.celparser import CELParser

    return CELParser()


class _Lowering:
    def __init__(self, types: Mapping[str, VarType], reads: dict[str, str]) -> None:
        self.types = types
        self.reads = reads

    def boolean(self, tree: Any) -> str:
        code, kind = self.node(tree)
        if kind != BOOL:
            raise _Unsupported(f"not a boolean: {kind}")
        return code

    def node(self, tree: Any) -> tuple[str, str]:
        name = getattr(tree, "data", None)
        kids = getattr(tree, "children", ())
        if name in ("expr", "addition", "multiplication") or (
                name in ("conditionalor", "conditionaland", "relation", "unary", "member", "primary")
                and len(kids) == 1 and getattr(kids[0], "data", None) is not None):
            if len(kids) != 1:
                raise _Unsupported(name)  # a ternary, arithmetic
            return self.node(kids[0])
        if name in ("conditionalor", "conditionaland"):
            left, right = (self.boolean(k) for k in kids)
            return f"({left} {'or' if name == 'conditionalor' else 'and'} {right})", BOOL
        if name == "relation":
            return self.relation(kids[0], kids[1])
        if name == "unary":
            if getattr(kids[0], "data", None) != "unary_not" or len(kids) != 2:
                raise _Unsupported("unary minus of a variable")
            return f"(not {self.boolean(kids[1])})", BOOL
        if name == "paren_expr":
            return self.node(kids[0])
        if name == "ident":
            return self.variable(str(kids[0]))
        if name == "member_dot":
            return self.field(kids[0], str(kids[1]))
        if name == "literal":
            return _literal(str(kids[0]))
        raise _Unsupported(str(name))

    def relation(self, op: Any, right_tree: Any) -> tuple[str, str]:
        kind = op.data
        left, lt = self.node(op.children[0])
        if kind == "relation_in":
            items = self.list_literal(right_tree)
            if not all(_comparable_eq(lt, it) for _, it in items):
                raise _Unsupported("in: mixed kinds")
            return f"({left} in ({''.join(code + ', ' for code, _ in items)}))", BOOL
        right, rt = self.node(right_tree)
        if kind in _EQUAL and _comparable_eq(lt, rt):
            return f"({left} {_EQUAL[kind]} {right})", BOOL
        if kind in _ORDER and ((lt in _NUMBERS and rt in _NUMBERS) or lt == rt == STRING):
            return f"({left} {_ORDER[kind]} {right})", BOOL
        raise _Unsupported(f"{kind} of {lt} and {rt}")

    def list_literal(self, tree: Any) -> list[tuple[str, str]]:
        while getattr(tree, "data", None) in ("addition", "multiplication", "unary", "member", "primary") \
                and len(tree.children) == 1:
            tree = tree.children[0]
        if getattr(tree, "data", None) != "list_lit" or len(tree.children) != 1:
            raise _Unsupported("in: not a list literal")
        items = [_literal_of(e) for e in tree.children[0].children]
        if not items:
            raise _Unsupported("in: an empty list")
        return items

    def variable(self, name: str) -> tuple[str, str]:
        declared = self.types.get(name)
        if not isinstance(declared, str):
            raise _Unsupported(f"variable {name}")
        local = f"v_{name}"
        if local not in self.reads:
            self.reads[local] = f"{local} = v.get({name!r})\n{_guard(local, declared)}"
        return local, declared

    def field(self, member: Any, field: str) -> tuple[str, str]:
        while getattr(member, "data", None) in ("member", "primary") and len(member.children) == 1 \
                and getattr(member.children[0], "data", None) is not None:
            member = member.children[0]
        if getattr(member, "data", None) != "ident":
            raise _Unsupported("a field of an expression")
        name = str(member.children[0])
        declared = self.types.get(name)
        if not isinstance(declared, Mapping) or field not in declared or not field.isidentifier():
            raise _Unsupported(f"{name}.{field}")
        holder, local = f"m_{name}", f"f{len(name)}_{name}_{field}"  # the length: no two (map, field) pairs collide
        if holder not in self.reads:
            self.reads[holder] = f"{holder} = v.get({name!r})\nif type({holder}) is not dict: return None"
        if local not in self.reads:
            self.reads[local] = f"{local} = {holder}.get({field!r})\n{_guard(local, declared[field])}"
        return local, declared[field]


def _guard(local: str, declared: str) -> str:
    """Decline a value of another type, and a NaN: the engine errors on ordering
    one (``NaN < 1.0``: no such overload), where Python answers false."""
    nan = f" or {local} != {local}" if declared == DOUBLE else ""
    return f"if type({local}) is not {_PY_TYPE[declared]}{nan}: return None"


def _literal_of(tree: Any) -> tuple[str, str]:
    """A list element, which must be a literal."""
    while getattr(tree, "data", None) != "literal":
        kids = getattr(tree, "children", ())
        if len(kids) != 1 or getattr(kids[0], "data", None) is None:
            raise _Unsupported("in: not a list of literals")
        tree = kids[0]
    return _literal(str(tree.children[0]))


def _comparable_eq(a: str, b: str) -> bool:
    return (a in _NUMBERS and b in _NUMBERS) or a == b


def _literal(text: str) -> tuple[str, str]:
    if text in ("true", "false"):
        return ("True" if text == "true" else "False"), BOOL
    if text[:1] in ("'", '"'):
        quote = text[0]
        if text.startswith(quote * 3) or "\\" in text or len(text) < 2 or text[-1] != quote:
            raise _Unsupported("a string with escapes or triple quotes")
        return repr(text[1:-1]), STRING
    body = text.lstrip("-")
    if not body or text.count("-") > 1 or body[-1] in "uU":
        raise _Unsupported(f"literal {text}")
    try:
        if body.lower().startswith("0x"):
            value: int | float = int(text, 16)
        elif any(c in body for c in ".eE"):
            number = float(text)
            if not math.isfinite(number):
                raise _Unsupported(f"literal {text}")
            return repr(number), DOUBLE
        else:
            value = int(text, 10)
    except ValueError:
        raise _Unsupported(f"literal {text}") from None
    if abs(value) > _EXACT:  # CEL may compare it with a double as a double: beyond 2**53 the two differ
        raise _Unsupported("an int beyond 2**53")
    return repr(value), INT
