"""The few PromQL functions the generated SLO rules use, with Prometheus'
own arithmetic (v2.x, the ``prometheus`` package promtool comes from):

* range selection ``[w] offset o`` at t: samples with t-o-w <= ts <= t-o;
* ``rate``: ``extrapolatedRate`` (counter resets, extrapolation to the window
  edges unless a gap exceeds 1.1x the mean sample spacing, never below zero);
* ``histogram_quantile``: linear interpolation inside the bucket holding the
  rank; the +Inf bucket answers the highest finite bound;
* ``min/max_over_time``, ``present_over_time``, ``absent_over_time``.

Values are plain floats (NaN for 0/0, as PromQL); a function with no answer
returns None (the series drops out of the result vector).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence

from runtime.monitoring.series import Labels, Series

__all__ = [
    "divide", "group_key", "histogram_quantile", "over_time", "present", "range_samples", "rate", "sum_by",
]


def _time(sample: tuple[int, float]) -> int:
    return sample[0]


def range_samples(series: Series, t_ms: int, range_ms: int, offset_ms: int = 0) -> tuple[tuple[int, float], ...]:
    end = t_ms - offset_ms
    start = end - range_ms
    lo = bisect.bisect_left(series.samples, start, key=_time)
    hi = bisect.bisect_right(series.samples, end, key=_time)
    return series.samples[lo:hi]


def rate(series: Series, t_ms: int, range_ms: int) -> float | None:
    """Per-second increase of a counter over ``[range]`` (Prometheus' extrapolatedRate)."""
    points = range_samples(series, t_ms, range_ms)
    if len(points) < 2:
        return None
    result = points[-1][1] - points[0][1]
    last = 0.0
    for _, v in points:  # a drop is a counter reset: the value before it was counted too
        if v < last:
            result += last
        last = v
    range_start, range_end = t_ms - range_ms, t_ms
    to_start = (points[0][0] - range_start) / 1000
    to_end = (range_end - points[-1][0]) / 1000
    sampled = (points[-1][0] - points[0][0]) / 1000
    average = sampled / (len(points) - 1)
    if result > 0 and points[0][1] >= 0:
        # The counter cannot have been below zero: extrapolate no further back than its zero.
        to_start = min(to_start, sampled * (points[0][1] / result))
    threshold = average * 1.1
    interval = sampled + (to_start if to_start < threshold else average / 2) \
        + (to_end if to_end < threshold else average / 2)
    return result * (interval / sampled) / (range_ms / 1000)


def over_time(series: Series, t_ms: int, range_ms: int, fn: str) -> float | None:
    """``min_over_time`` / ``max_over_time``."""
    values = [v for _, v in range_samples(series, t_ms, range_ms)]
    if not values:
        return None
    return min(values) if fn == "min" else max(values)


def present(series: Series, t_ms: int, range_ms: int, offset_ms: int = 0) -> bool:
    """``present_over_time(s[range] offset o)`` has an element."""
    return bool(range_samples(series, t_ms, range_ms, offset_ms))


def group_key(labels: Labels, by: Sequence[str]) -> Labels:
    """The labels ``sum by (...)`` keeps; PromQL drops empty ones."""
    found = dict(labels)
    return tuple(sorted((name, found[name]) for name in by if found.get(name)))


def sum_by(values: Iterable[tuple[Labels, float]], by: Sequence[str]) -> dict[Labels, float]:
    out: dict[Labels, float] = {}
    for labels, value in values:
        key = group_key(labels, by)
        out[key] = out.get(key, 0.0) + value
    return out


def divide(a: float, b: float) -> float:
    """IEEE division, as PromQL: x/0 is +-Inf, 0/0 is NaN."""
    if b == 0:
        return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a)
    return a / b


def histogram_quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float:
    """Prometheus' bucketQuantile over (upper bound, cumulative count) pairs."""
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    merged: dict[float, float] = {}
    for upper, count in buckets:
        merged[upper] = merged.get(upper, 0.0) + count
    ordered = sorted(merged.items())
    if not ordered or not math.isinf(ordered[-1][0]):
        return math.nan
    # Counts must not decrease with the bound (scrapes are not atomic across buckets).
    fixed, top = [], -math.inf
    for upper, count in ordered:
        top = max(top, count)
        fixed.append((upper, top))
    if len(fixed) < 2:
        return math.nan
    observations = fixed[-1][1]
    if observations == 0:
        return math.nan
    rank = q * observations
    b = next((i for i in range(len(fixed) - 1) if fixed[i][1] >= rank), len(fixed) - 1)
    if b == len(fixed) - 1:
        return fixed[-2][0]
    if b == 0 and fixed[0][0] <= 0:
        return fixed[0][0]
    start, end, count = 0.0, fixed[b][0], fixed[b][1]
    if b > 0:
        start = fixed[b - 1][0]
        count -= fixed[b - 1][1]
        rank -= fixed[b - 1][1]
    return start + (end - start) * (rank / count)
