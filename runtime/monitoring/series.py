"""Metric samples as Prometheus stores them, and promtool's input notation.

A ``SeriesSet`` is what the SLO evaluator reads: float samples per labelled
series, in milliseconds.  It comes either from promtool test vectors
(``parse_values`` reads ``input_series`` notation: ``0+10x60``, ``_x3``,
``stale``) or from the prediction log (``runtime.monitoring.log_metrics``
rebuilds the series the predictor would have exported).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from runtime.contracts.metrics import LabelMatcher

__all__ = [
    "Labels", "Series", "SeriesSet", "SeriesError", "parse_duration_ms", "parse_selector", "parse_values",
    "series_from_vector",
]

Labels = tuple[tuple[str, str], ...]  # sorted (name, value) pairs, without __name__


class SeriesError(ValueError):
    """Input series that cannot be read; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    labels: Labels
    samples: tuple[tuple[int, float], ...]  # (ms, value), ascending; stale markers already dropped

    def label(self, name: str) -> str:
        return dict(self.labels).get(name, "")


@dataclass(frozen=True, slots=True)
class SeriesSet:
    series: tuple[Series, ...]

    def select(self, name: str, matchers: Sequence[LabelMatcher] = (), equal: Mapping[str, str] | None = None
               ) -> tuple[Series, ...]:
        """The series of ``name`` matching every matcher (PromQL semantics: a missing label is "")."""
        wanted = [*(LabelMatcher(label=k, op="=", value=v) for k, v in (equal or {}).items()), *matchers]
        return tuple(s for s in self.series if s.name == name and all(_matches(s.label(m.label), m) for m in wanted))


def _matches(value: str, m: LabelMatcher) -> bool:
    if m.op == "=":
        return value == m.value
    if m.op == "!=":
        return value != m.value
    hit = re.fullmatch(m.value, value) is not None  # PromQL regexes are fully anchored
    return hit if m.op == "=~" else not hit


_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000, "y": 31_536_000_000}
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")


def parse_duration_ms(text: str) -> int:
    """A Prometheus duration (``30s``, ``9h30m``, ``17d12h``) in milliseconds."""
    text = str(text).strip()
    parts = _DURATION.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise SeriesError(f"{text!r} is not a Prometheus duration (e.g. 30s, 5m, 1h30m)")
    return sum(int(n) * _UNITS[u] for n, u in parts)


_SELECTOR = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{(.*)\})?\s*$")
_PAIR = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')


def parse_selector(text: str) -> tuple[str, Labels]:
    """``name{a="1",b="2"}`` -> (name, sorted labels)."""
    m = _SELECTOR.match(text)
    if not m:
        raise SeriesError(f"{text!r} is not a series (name{{label=\"value\",...}})")
    body, labels, pos = m.group(2) or "", [], 0
    while pos < len(body.rstrip()):
        pair = _PAIR.match(body, pos)
        if not pair:
            raise SeriesError(f"{text!r}: cannot read the labels at {body[pos:]!r}")
        labels.append((pair.group(1), pair.group(2).encode().decode("unicode_escape")))
        pos = pair.end()
    return m.group(1), tuple(sorted(labels))


_NUM = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+|Inf|NaN)"
_EXPANDING = re.compile(rf"^({_NUM})([-+]{_NUM})x(\d+)$")
_REPEAT = re.compile(rf"^({_NUM})x(\d+)$")
_BLANKS = re.compile(r"^_x(\d+)$")
_STALE = object()


def parse_values(text: str) -> list[float | None | object]:
    """promtool's ``values``: one entry per interval; None where omitted (``_``),
    a stale marker for ``stale``.  ``a+bxn`` is n+1 samples a, a+b, ..., a+nb;
    ``axn`` is a n+1 times; ``_xn`` is n omitted samples."""
    out: list[float | None | object] = []
    for token in str(text).split():
        if token == "_":
            out.append(None)
        elif token == "stale":
            out.append(_STALE)
        elif m := _BLANKS.match(token):
            out.extend([None] * int(m.group(1)))
        elif m := _EXPANDING.match(token):
            start, step, n = float(m.group(1)), float(m.group(2)), int(m.group(3))
            out.extend(start + i * step for i in range(n + 1))
        elif m := _REPEAT.match(token):
            out.extend([float(m.group(1))] * (int(m.group(2)) + 1))
        else:
            try:
                out.append(float(token))
            except ValueError:
                raise SeriesError(f"{token!r} is not a promtool value (a, a+bxn, axn, _, _xn, stale)") from None
    return out


def series_from_vector(entries: Iterable[Mapping[str, str]], interval: str) -> SeriesSet:
    """promtool ``input_series`` (``series`` + ``values``) sampled every ``interval`` from t=0."""
    step = parse_duration_ms(interval)
    out = []
    for entry in entries:
        name, labels = parse_selector(entry["series"])
        samples = tuple((i * step, float(v)) for i, v in enumerate(parse_values(entry["values"]))
                        if isinstance(v, float))  # omitted and stale samples are not stored
        out.append(Series(name, labels, samples))
    return SeriesSet(tuple(out))
