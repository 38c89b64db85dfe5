"""Inline SVG line plots for the report (no plotting library, nothing fetched at view time).

The SVG is written without an ``xmlns`` attribute: inside an HTML5 page it is not needed,
and leaving it out keeps the report free of any URL.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bsrbench._report_html import esc

__all__ = ["Series", "line_plot", "nice_ticks"]

# Okabe-Ito colours (distinguishable with colour-blindness), then dashes for more lines
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
DASHES = ("", "6 3", "2 3", "8 3 2 3")


@dataclass(frozen=True)
class Series:
    """One line: points ``(x, y)``; ``final_x`` (if any) is drawn as a larger marker."""

    label: str
    points: tuple[tuple[float, float], ...]
    final_x: float | None = None


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering ``[lo, hi]`` (1, 2, 2.5, 5 × 10^k steps)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi - lo < 1e-12:
        pad = abs(lo) * 0.05 or 0.5
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(n - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    t = start
    while t < hi + step * 0.999:
        ticks.append(round(t, 12))
        t += step
    return ticks


def _tick_label(v: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step < 1 else 0
    return f"{v:.{decimals}f}"


def line_plot(series: Sequence[Series], *, title: str, xlabel: str, ylabel: str,
              width: int = 540, height: int = 300) -> str:
    """An SVG line plot with axes, grid, tick labels, axis labels and a legend below."""
    ml, mr, mt, mb = 64, 18, 30, 46
    legend_h = 18 * len(series) + 6
    pw, ph = width - ml - mr, height - mt - mb
    xs = [x for s in series for x, _ in s.points]
    ys = [y for s in series for _, y in s.points]
    if not xs:
        return ""
    xt = list(range(int(min(xs)), int(max(xs)) + 1))
    if len(xt) > 12:
        xt = [int(v) for v in nice_ticks(min(xs), max(xs), 8)]
    if len(xt) < 2:
        xt = [xt[0], xt[0] + 1]
    yt = nice_ticks(min(ys), max(ys))
    x0, x1, y0, y1 = xt[0], xt[-1], yt[0], yt[-1]

    def px(x: float) -> float:
        return ml + (x - x0) / (x1 - x0) * pw

    def py(y: float) -> float:
        return mt + ph - (y - y0) / (y1 - y0) * ph

    out = [f'<svg class="plot" width="{width}" height="{height + legend_h}" '
           f'viewBox="0 0 {width} {height + legend_h}" role="img" '
           f'aria-label="{esc(title)}">',
           f"<title>{esc(title)}</title>",
           f'<text class="title" x="{ml}" y="18">{esc(title)}</text>']
    ystep = yt[1] - yt[0] if len(yt) > 1 else 1.0
    for v in yt:
        y = py(v)
        out.append(f'<line class="grid" x1="{ml}" x2="{ml + pw}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text x="{ml - 6}" y="{y + 4:.1f}" text-anchor="end">'
                   f"{_tick_label(v, ystep)}</text>")
    for v in xt:
        x = px(v)
        out.append(f'<line class="axis" x1="{x:.1f}" x2="{x:.1f}" y1="{mt + ph}" '
                   f'y2="{mt + ph + 4}"/>')
        out.append(f'<text x="{x:.1f}" y="{mt + ph + 16}" text-anchor="middle">{v}</text>')
    out.append(f'<line class="axis" x1="{ml}" x2="{ml + pw}" y1="{mt + ph}" y2="{mt + ph}"/>')
    out.append(f'<line class="axis" x1="{ml}" x2="{ml}" y1="{mt}" y2="{mt + ph}"/>')
    out.append(f'<text x="{ml + pw / 2:.1f}" y="{mt + ph + 36}" text-anchor="middle">'
               f"{esc(xlabel)}</text>")
    out.append(f'<text transform="translate(16 {mt + ph / 2:.1f}) rotate(-90)" '
               f'text-anchor="middle">{esc(ylabel)}</text>')
    for i, s in enumerate(series):
        colour, dash = PALETTE[i % len(PALETTE)], DASHES[i // len(PALETTE) % len(DASHES)]
        pts = sorted(s.points)
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2"{dash_attr} '
                   f'points="{path}"/>')
        for x, y in pts:
            r = 4.5 if s.final_x is not None and x == s.final_x else 2.8
            out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="{r}" fill="{colour}">'
                       f"<title>{esc(s.label)}: step {x:g}, {y:.4g}</title></circle>")
        ly = height + 4 + 18 * i
        out.append(f'<line x1="{ml}" x2="{ml + 24}" y1="{ly:.1f}" y2="{ly:.1f}" '
                   f'stroke="{colour}" stroke-width="2"{dash_attr}/>')
        out.append(f'<text x="{ml + 30}" y="{ly + 4:.1f}">{esc(s.label)}</text>')
    out.append("</svg>")
    return "".join(out)
