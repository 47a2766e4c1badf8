"""Row transforms: one parsed expression, rendered to DuckDB SQL for the
batch engine and evaluated in Python by the online engine.

The language is deliberately small (arithmetic, comparisons, boolean logic,
``nullif``/``coalesce``/``abs``/``sqrt``/``ln``/``least``/``greatest``) so
both renderings mean exactly the same thing: numbers are doubles, NULL
propagates as in SQL, and the cases where engines usually disagree are
defined once here: division by zero, ``sqrt`` of a negative number and
``ln`` of a non-positive number are NULL, NaN inputs are NULL.  A function
that reads other rows (``lag``, ``lead``, window ``over`` clauses...) is
rejected: a transform sees only the row it is computed on, so it can never
see the future.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = [
    "FUNCTIONS",
    "Expr",
    "ExpressionError",
    "columns_of",
    "evaluate",
    "parse",
    "quote_ident",
    "to_sql",
]

Value = float | bool | str | None


class ExpressionError(ValueError):
    """The expression cannot be used; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Num:
    value: float


@dataclass(frozen=True, slots=True)
class Str:
    value: str


@dataclass(frozen=True, slots=True)
class Const:
    value: bool | None  # true, false, null


@dataclass(frozen=True, slots=True)
class Col:
    name: str


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "-" or "not"
    arg: Expr


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # + - * / = != < <= > >= and or
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class IsNull:
    arg: Expr
    negated: bool


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Expr, ...]


Expr = Num | Str | Const | Col | Unary | Binary | IsNull | Call

# name -> (min args, max args or None)
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "abs": (1, 1),
    "coalesce": (1, None),
    "greatest": (1, None),
    "least": (1, None),
    "ln": (1, 1),
    "nullif": (2, 2),
    "sqrt": (1, 1),
}
# Functions that read other rows: in a feature definition they could read
# rows from the future, so they are refused with that reason.
_OTHER_ROWS = {"lag", "lead", "first_value", "last_value", "nth_value", "row_number", "rank", "dense_rank",
               "ntile", "lookahead", "shift", "over", "sum", "avg", "mean", "count", "min", "max"}
_KEYWORDS = {"and", "or", "not", "is", "null", "true", "false"}

_TOKEN = re.compile(r"""\s*(?:
    (?P<num>\d+\.\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|\d+(?:[eE][+-]?\d+)?)
  | (?P<str>'(?:[^']|'')*')
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|<>|!=|[-+*/(),<>=])
)""", re.VERBOSE)


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            col = len(text) - len(text[pos:].lstrip()) + 1
            raise ExpressionError(f"unexpected character {text[col - 1]!r} at column {col}")
        kind = m.lastgroup or ""
        start = m.start(kind)
        tokens.append((kind, m.group(kind), start + 1))
        pos = m.end()
    tokens.append(("end", "", len(text) + 1))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.i]

    def word(self) -> str:
        kind, value, _ = self.peek()
        return value.lower() if kind == "ident" else value

    def take(self) -> tuple[str, str, int]:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect(self, value: str) -> None:
        kind, got, col = self.take()
        if got.lower() != value:
            raise ExpressionError(f"expected {value!r} at column {col}, found {got or 'end of expression'!r}")

    def parse(self) -> Expr:
        expr = self.or_()
        kind, value, col = self.peek()
        if kind != "end":
            raise ExpressionError(f"unexpected {value!r} at column {col}")
        return expr

    def or_(self) -> Expr:
        left = self.and_()
        while self.word() == "or":
            self.take()
            left = Binary("or", left, self.and_())
        return left

    def and_(self) -> Expr:
        left = self.not_()
        while self.word() == "and":
            self.take()
            left = Binary("and", left, self.not_())
        return left

    def not_(self) -> Expr:
        if self.word() == "not":
            self.take()
            return Unary("not", self.not_())
        return self.cmp()

    def cmp(self) -> Expr:
        left = self.add()
        word = self.word()
        if word in ("=", "!=", "<>", "<", "<=", ">", ">="):
            self.take()
            return Binary("!=" if word == "<>" else word, left, self.add())
        if word == "is":
            self.take()
            negated = self.word() == "not"
            if negated:
                self.take()
            self.expect("null")
            return IsNull(left, negated)
        return left

    def add(self) -> Expr:
        left = self.mul()
        while self.word() in ("+", "-"):
            left = Binary(self.take()[1], left, self.mul())
        return left

    def mul(self) -> Expr:
        left = self.unary()
        while self.word() in ("*", "/"):
            left = Binary(self.take()[1], left, self.unary())
        return left

    def unary(self) -> Expr:
        if self.word() == "-":
            self.take()
            return Unary("-", self.unary())
        if self.word() == "+":
            self.take()
            return self.unary()
        return self.primary()

    def primary(self) -> Expr:
        kind, value, col = self.take()
        if kind == "num":
            return Num(float(value))
        if kind == "str":
            return Str(value[1:-1].replace("''", "'"))
        if kind == "op" and value == "(":
            inner = self.or_()
            self.expect(")")
            return inner
        if kind == "ident":
            low = value.lower()
            if low in ("true", "false"):
                return Const(low == "true")
            if low == "null":
                return Const(None)
            if low in _KEYWORDS:
                raise ExpressionError(f"unexpected {value!r} at column {col}")
            if self.peek()[1] == "(":
                return self.call(low, col)
            if low == "over":
                raise ExpressionError(f"a window clause (OVER) at column {col} reads other rows, possibly "
                                      "from the future; declare a windowed aggregation instead")
            return Col(value)
        raise ExpressionError(f"unexpected {value or 'end of expression'!r} at column {col}")

    def call(self, name: str, col: int) -> Expr:
        if name in _OTHER_ROWS:
            raise ExpressionError(
                f"{name}() at column {col} reads other rows, possibly from the future; a transform sees only "
                "its own row (declare a windowed aggregation for values over time)")
        if name not in FUNCTIONS:
            raise ExpressionError(f"unknown function {name}() at column {col}; allowed: {', '.join(sorted(FUNCTIONS))}")
        self.expect("(")
        args: list[Expr] = []
        if self.peek()[1] != ")":
            args.append(self.or_())
            while self.peek()[1] == ",":
                self.take()
                args.append(self.or_())
        self.expect(")")
        if self.word() == "over":
            raise ExpressionError(f"{name}() OVER at column {col} reads other rows, possibly from the future")
        lo, hi = FUNCTIONS[name]
        if len(args) < lo or (hi is not None and len(args) > hi):
            want = f"{lo}" if lo == hi else f"at least {lo}"
            raise ExpressionError(f"{name}() at column {col} takes {want} argument(s), got {len(args)}")
        return Call(name, tuple(args))


def parse(text: str) -> Expr:
    """Parse a transform expression (raises ExpressionError with the column)."""
    return _Parser(text).parse()


def columns_of(expr: Expr) -> tuple[str, ...]:
    """The column names an expression reads, in first-use order."""
    out: list[str] = []

    def walk(e: Expr) -> None:
        if isinstance(e, Col):
            if e.name not in out:
                out.append(e.name)
        elif isinstance(e, Unary | IsNull):
            walk(e.arg)
        elif isinstance(e, Binary):
            walk(e.left)
            walk(e.right)
        elif isinstance(e, Call):
            for a in e.args:
                walk(a)

    walk(expr)
    return tuple(out)


# ------------------------------------------------------------------- SQL


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _num_sql(value: str) -> str:
    return f"CASE WHEN isnan(CAST({value} AS DOUBLE)) THEN NULL ELSE CAST({value} AS DOUBLE) END"


def to_sql(expr: Expr, column: Callable[[str], str] = quote_ident) -> str:
    """DuckDB SQL with the semantics of ``evaluate`` (``column`` renders a column reference)."""
    def r(e: Expr) -> str:
        if isinstance(e, Num):
            return f"CAST({e.value!r} AS DOUBLE)"
        if isinstance(e, Str):
            return "'" + e.value.replace("'", "''") + "'"
        if isinstance(e, Const):
            return "NULL" if e.value is None else ("TRUE" if e.value else "FALSE")
        if isinstance(e, Col):
            return column(e.name)
        if isinstance(e, Unary):
            return f"(NOT {r(e.arg)})" if e.op == "not" else f"(- {r(e.arg)})"
        if isinstance(e, IsNull):
            return f"({r(e.arg)} IS {'NOT ' if e.negated else ''}NULL)"
        if isinstance(e, Binary):
            left, right = r(e.left), r(e.right)
            if e.op == "/":
                return f"({left} / nullif({right}, 0))"
            op = {"and": "AND", "or": "OR"}.get(e.op, e.op)
            return f"({left} {op} {right})"
        assert isinstance(e, Call)
        args = [r(a) for a in e.args]
        if e.name == "sqrt":
            return f"(CASE WHEN {args[0]} >= 0 THEN sqrt({args[0]}) END)"
        if e.name == "ln":
            return f"(CASE WHEN {args[0]} > 0 THEN ln({args[0]}) END)"
        return f"{e.name}({', '.join(args)})"

    return r(expr)


# ---------------------------------------------------------------- Python


def _num(v: Value) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, str):
        raise ExpressionError(f"a string ({v!r}) used as a number")
    f = float(v)
    return None if math.isnan(f) else f


def _compare(op: str, a: Value, b: Value) -> bool | None:
    if a is None or b is None:
        return None
    if isinstance(a, str) != isinstance(b, str):
        raise ExpressionError(f"cannot compare {a!r} with {b!r}")
    if op == "=":
        return a == b
    if op == "!=":
        return a != b
    if op == "<":
        return a < b  # type: ignore[operator]
    if op == "<=":
        return a <= b  # type: ignore[operator]
    if op == ">":
        return a > b  # type: ignore[operator]
    return a >= b  # type: ignore[operator]


def evaluate(expr: Expr, row: Mapping[str, Value]) -> Value:
    """Evaluate with SQL NULL semantics; numbers are doubles, as in ``to_sql``."""
    if isinstance(expr, Num):
        return expr.value
    if isinstance(expr, Str):
        return expr.value
    if isinstance(expr, Const):
        return expr.value
    if isinstance(expr, Col):
        v = row.get(expr.name)
        if isinstance(v, float) and math.isnan(v):
            return None
        if isinstance(v, int) and not isinstance(v, bool):
            return float(v)
        return v
    if isinstance(expr, Unary):
        v = evaluate(expr.arg, row)
        if v is None:
            return None
        if expr.op == "not":
            return not v
        n = _num(v)
        return None if n is None else -n
    if isinstance(expr, IsNull):
        return (evaluate(expr.arg, row) is None) != expr.negated
    if isinstance(expr, Binary):
        if expr.op in ("and", "or"):
            a, b = evaluate(expr.left, row), evaluate(expr.right, row)
            if expr.op == "and":
                if a is False or b is False:
                    return False
                return None if a is None or b is None else True
            if a is True or b is True:
                return True
            return None if a is None or b is None else False
        a, b = evaluate(expr.left, row), evaluate(expr.right, row)
        if expr.op in ("=", "!=", "<", "<=", ">", ">="):
            if not isinstance(a, str) and not isinstance(b, str):
                a, b = _num(a), _num(b)
            return _compare(expr.op, a, b)
        x, y = _num(a), _num(b)
        if x is None or y is None:
            return None
        if expr.op == "+":
            return x + y
        if expr.op == "-":
            return x - y
        if expr.op == "*":
            return x * y
        return None if y == 0 else x / y
    assert isinstance(expr, Call)
    vals = [evaluate(a, row) for a in expr.args]
    if expr.name == "coalesce":
        return next((v for v in vals if v is not None), None)
    if expr.name == "nullif":
        a, b = vals
        if a is None:
            return None
        if not isinstance(a, str) and not isinstance(b, str):
            a, b = _num(a), _num(b)
        return None if b is not None and a == b else a
    if expr.name in ("least", "greatest"):
        nums = [v for v in vals if v is not None]
        if not nums:
            return None
        return min(nums) if expr.name == "least" else max(nums)  # type: ignore[type-var]
    x = _num(vals[0])
    if x is None:
        return None
    if expr.name == "abs":
        return abs(x)
    if expr.name == "sqrt":
        return math.sqrt(x) if x >= 0 else None
    return math.log(x) if x > 0 else None  # ln
