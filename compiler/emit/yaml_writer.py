"""A small canonical YAML writer for plain data (dict, list, str, int, float,
bool, None): block style, sorted keys, two-space indent, lists at the
parent's indent (as kubectl writes them).

PyYAML's representer is pure Python and was a third of compile time; plain
manifests need none of its generality.  Strings are written plain only when
no YAML 1.1 or 1.2 reader could take them for anything else; otherwise they
are double-quoted with JSON escapes, which YAML reads identically.  Every
output round-trips through yaml.safe_load (tested on all generated files and
on random data)."""

from __future__ import annotations

import json
import math
import re
from typing import Any

__all__ = ["dump"]

# Plain scalars: start with a letter or '/', no ': ' or ' #', no trailing
# space; anything that a resolver could read as bool/null/number/date is quoted.
_PLAIN = re.compile(r"^[A-Za-z/][A-Za-z0-9_./@+=-]*(?: [A-Za-z0-9_./@+=()'-]+)*$")
_RESERVED = frozenset({
    "y", "yes", "n", "no", "true", "false", "on", "off", "null", "~",
})
_NUMBERISH = re.compile(r"^[-+]?(\.?[0-9]|\.(inf|nan))", re.IGNORECASE)
# Characters JSON leaves alone but YAML treats as line breaks or does not
# allow in a stream: escape them.
_YAML_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")


def _quote(value: str) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return _YAML_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write non-finite number {value!r}")
        text = repr(value)
        if "e" in text and "." not in text.split("e")[0]:
            mantissa, exponent = text.split("e")
            text = f"{mantissa}.0e{exponent if exponent[0] in '+-' else '+' + exponent}"
        return text
    if isinstance(value, str):
        # fullmatch: `$` alone also matches before a final newline ("A\n" would lose it).
        if _PLAIN.fullmatch(value) and value.lower() not in _RESERVED and not _NUMBERISH.match(value):
            return value
        return _quote(value)
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _write(value: Any, indent: str, out: list[str]) -> None:
    """Append the block form of a dict or list (already known to be non-empty)."""
    if isinstance(value, dict):
        for key in sorted(value):
            if not isinstance(key, str):
                raise TypeError(f"mapping keys must be strings, got {key!r}")
            item = value[key]
            head = f"{indent}{_scalar(key)}:"
            if isinstance(item, dict) and item:
                out.append(head)
                _write(item, indent + "  ", out)
            elif isinstance(item, list) and item:
                out.append(head)
                _write(item, indent, out)
            else:
                out.append(f"{head} {_inline(item)}")
        return
    for item in value:
        if isinstance(item, dict) and item:
            first = len(out)
            _write(item, indent + "  ", out)
            out[first] = f"{indent}- {out[first][len(indent) + 2:]}"
        elif isinstance(item, list) and item:
            out.append(f"{indent}-")
            _write(item, indent + "  ", out)
        else:
            out.append(f"{indent}- {_inline(item)}")


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)


def dump(data: Any) -> str:
    """The canonical YAML text of ``data`` (a trailing newline included)."""
    if isinstance(data, (dict, list)) and data:
        out: list[str] = []
        _write(data, "", out)
        return "\n".join(out) + "\n"
    return _inline(data) + "\n"
