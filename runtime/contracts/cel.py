"""CEL programs, compiled once and evaluated many times.

One implementation for lint (spec rules), the offline admission dry run and
the serving path (prediction rules), so a rule means the same everywhere.
The engine is ``common-expression-language`` (Rust bindings), chosen by
measurement over cel-python (see bench/cel and docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cel

__all__ = ["CelError", "CelProgram", "compile_cel", "prepare_context", "set_variable"]


def prepare_context(variables: Mapping[str, Any]) -> Any:
    """Convert variables to CEL values once, to evaluate many programs against.

    Converting a context costs far more than evaluating a rule over it
    (bench/cel): convert once per request or per resource, not per rule.
    """
    try:
        return cel.Context(dict(variables))
    except (TypeError, ValueError) as exc:
        raise CelError("type", f"cannot convert the context to CEL values: {exc}") from None


def set_variable(context: Any, name: str, value: Any) -> None:
    """Bind (or rebind) one variable in a context from ``prepare_context``,
    converting only that value: cheaper than converting the whole context
    again when one small variable changes between evaluations."""
    try:
        context.add_variable(name, value)
    except (TypeError, ValueError) as exc:
        raise CelError("type", f"cannot convert '{name}' to a CEL value: {exc}") from None


class CelError(Exception):
    """A CEL expression failed to compile or to evaluate.

    ``kind`` is ``syntax`` (does not parse), ``undeclared`` (names a variable
    the context does not provide), ``type`` (operands of the wrong type, a
    missing field, a non-boolean result).
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True, slots=True)
class CelProgram:
    source: str
    program: Any
    variables: tuple[str, ...]

    def evaluate(self, context: Any) -> Any:
        """Evaluate over a mapping of variables or a context from ``prepare_context``."""
        try:
            return self.program.execute(context if isinstance(context, cel.Context) else dict(context))
        except RuntimeError as exc:
            text = str(exc)
            kind = "undeclared" if "Undefined variable" in text else "type"
            raise CelError(kind, _first_sentence(text)) from None
        except KeyError as exc:
            raise CelError("type", f"no such key or field: {exc}; guard optional fields with has()") from None
        except (TypeError, ValueError) as exc:
            raise CelError("type", _first_sentence(str(exc))) from None

    def evaluate_bool(self, context: Any) -> bool:
        result = self.evaluate(context)
        if not isinstance(result, bool):
            raise CelError("type", f"expression must evaluate to a boolean, got {type(result).__name__} {result!r}")
        return result


def compile_cel(source: str, declared: frozenset[str] | None = None) -> CelProgram:
    """Compile ``source``; with ``declared``, reject variables outside it."""
    try:
        program = cel.compile(source)
    except (ValueError, RuntimeError) as exc:
        raise CelError("syntax", _syntax_message(str(exc))) from None
    variables = tuple(program.variables())
    if declared is not None:
        # Names bound by macros (x in list.all(x, ...)) show up as variables too.
        bound = _macro_bound(source)
        unknown = sorted(v for v in variables if v not in declared and v not in bound)
        if unknown:
            raise CelError(
                "undeclared",
                f"unknown variable '{unknown[0]}'; this rule may use: {', '.join(sorted(declared))}",
            )
    return CelProgram(source, program, variables)


def _macro_bound(source: str) -> set[str]:
    import re

    return set(re.findall(r"\.(?:all|exists|exists_one|map|filter)\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*,", source))


def _first_sentence(text: str) -> str:
    line = text.strip().split("\n")[0]
    if len(line) <= 400:
        return line
    cut = line.rfind(". ", 0, 400)
    return line[: cut + 1] if cut > 0 else line[:400] + "..."


def _syntax_message(text: str) -> str:
    # "Failed to parse expression 'x': ERROR: <input>:1:5: Syntax error: ..."
    marker = text.find("ERROR:")
    tail = text[marker + len("ERROR:"):].strip() if marker >= 0 else text
    return tail.split("\n")[0][:300]
