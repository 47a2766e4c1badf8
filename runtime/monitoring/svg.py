"""A small line chart as inline SVG: the HTML report must open offline, so
no plotting library or CDN script; the markup is deterministic."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from html import escape

__all__ = ["line_chart"]

W, H, PAD_L, PAD_R, PAD_T, PAD_B = 560, 180, 56, 12, 14, 28


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def line_chart(points: Sequence[tuple[int, float]], *, bound: float | None = None, title: str = "",
               bad_above: bool = True, others: Sequence[tuple[str, str, Sequence[tuple[int, float]]]] = ()) -> str:
    """``points`` (ms, value) as a polyline, the bound as a dashed red line; empty input says so.
    ``others``: more series as (legend, colour, points) on the same axes (e.g. realized beside estimated)."""
    if not points and not any(more for _, _, more in others):
        return f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="40" role="img"><text x="4" y="24">' \
               f'{escape(title)}: no data</text></svg>'
    xs = [p[0] for p in points] + [p[0] for _, _, more in others for p in more]
    ys = [p[1] for p in points] + [p[1] for _, _, more in others for p in more] + ([bound] if bound is not None else [])
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    lo, hi = min(ys), max(ys)
    if hi == lo:
        lo, hi = lo - (abs(lo) or 1) * 0.1, hi + (abs(hi) or 1) * 0.1

    def sx(x: float) -> float:
        return PAD_L + (x - x0) / (x1 - x0) * (W - PAD_L - PAD_R)

    def sy(y: float) -> float:
        return PAD_T + (hi - y) / (hi - lo) * (H - PAD_T - PAD_B)

    line = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" '
             f'aria-label="{escape(title)}">',
             f'<rect x="{PAD_L}" y="{PAD_T}" width="{W - PAD_L - PAD_R}" height="{H - PAD_T - PAD_B}" '
             'fill="#fafafa" stroke="#ccc"/>',
             f'<text x="4" y="{sy(hi) + 4:.1f}" font-size="10">{_fmt(hi)}</text>',
             f'<text x="4" y="{sy(lo) + 4:.1f}" font-size="10">{_fmt(lo)}</text>']
    if bound is not None:
        parts.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{sy(bound):.1f}" y2="{sy(bound):.1f}" stroke="#c00" '
                     f'stroke-dasharray="4 3"><title>bound {_fmt(bound)} ({"max" if bad_above else "min"})</title></line>')
    if points:
        parts.append(f'<polyline fill="none" stroke="#1f6feb" stroke-width="1.5" points="{line}"/>')
    for i, (legend, colour, more) in enumerate(others):
        pts = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in more)
        parts.append(f'<polyline fill="none" stroke="{escape(colour)}" stroke-width="1.5" points="{pts}">'
                     f'<title>{escape(legend)}</title></polyline>')
        parts.append(f'<text x="{W - PAD_R - 4}" y="{PAD_T + 12 * (i + 1)}" font-size="10" text-anchor="end" '
                     f'fill="{escape(colour)}">{escape(legend)}</text>')
    for x, label in ((x0, min(xs)), (x1, max(xs))):
        when = datetime.fromtimestamp(label / 1000, tz=timezone.utc).strftime("%m-%d %H:%M")
        anchor = "start" if x == x0 else "end"
        parts.append(f'<text x="{sx(x):.1f}" y="{H - 8}" font-size="10" text-anchor="{anchor}">{when}</text>')
    parts.append("</svg>")
    return "".join(parts)
