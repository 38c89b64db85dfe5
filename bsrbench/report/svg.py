"""Small line plots for the report: the geometry here, the SVG in ``templates/macros.html``.

No plotting library and nothing fetched at view time. This module only computes where
things go (ticks, polylines, markers, legend), as strings with one decimal so the page is
byte-reproducible; the template writes the SVG elements and escapes every label. The SVG
has no ``xmlns`` attribute: inside an HTML5 page it is not needed, and leaving it out keeps
the report free of any URL.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

__all__ = ["Figure", "Plot", "Series", "line_plot", "nice_ticks"]

# Okabe-Ito colours (distinguishable with colour-blindness), then dashes for more lines
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
DASHES = ("", "6 3", "2 3", "8 3 2 3")
MARGIN = (64, 18, 30, 46)  # left, right, top, bottom
LEGEND_ROW = 18


@dataclass(frozen=True)
class Series:
    """One line: points ``(x, y)``; ``final_x`` (if any) is drawn as a larger marker."""

    label: str
    points: tuple[tuple[float, float], ...]
    final_x: float | None = None


@dataclass(frozen=True)
class Tick:
    at: str  # pixel coordinate along its axis
    text: str
    text_at: str = ""  # y of a y tick's label (baseline, a little below the grid line)


@dataclass(frozen=True)
class Marker:
    x: str
    y: str
    r: str
    tip: str  # tooltip: series, step and value


@dataclass(frozen=True)
class Line:
    label: str
    colour: str
    dash: str  # stroke-dasharray, "" for solid
    points: str  # polyline points
    markers: tuple[Marker, ...]
    legend_y: str
    legend_text_y: str


@dataclass(frozen=True)
class Plot:
    """Everything the template needs to draw one plot."""

    title: str
    xlabel: str
    ylabel: str
    width: int
    height: int  # plot area plus legend
    left: int
    right: int  # x of the plot area's right edge
    top: int
    bottom: int  # y of the x axis
    xticks: tuple[Tick, ...]
    yticks: tuple[Tick, ...]
    lines: tuple[Line, ...]

    @property
    def xmid(self) -> str:
        return f"{(self.left + self.right) / 2:.1f}"

    @property
    def ymid(self) -> str:
        return f"{(self.top + self.bottom) / 2:.1f}"


@dataclass(frozen=True)
class Figure:
    """A row of plots with one caption each (a page block)."""

    kind: ClassVar[str] = "figures"
    plots: tuple[tuple[Plot, str], ...]


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
    ticks = []
    t = math.floor(lo / step) * step
    while t < hi + step * 0.999:
        ticks.append(round(t, 12))
        t += step
    return ticks


def _tick_text(v: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step < 1 else 0
    return f"{v:.{decimals}f}"


def line_plot(series: Sequence[Series], *, title: str, xlabel: str, ylabel: str,
              width: int = 540, height: int = 300) -> Plot | None:
    """The geometry of a line plot with axes, grid, ticks, labels and a legend below
    (None when no series has a point)."""
    ml, mr, mt, mb = MARGIN
    pw, ph = width - ml - mr, height - mt - mb
    xs = [x for s in series for x, _ in s.points]
    ys = [y for s in series for _, y in s.points]
    if not xs:
        return None
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

    ystep = yt[1] - yt[0] if len(yt) > 1 else 1.0
    lines = []
    for i, s in enumerate(series):
        pts = sorted(s.points)
        markers = tuple(Marker(f"{px(x):.1f}", f"{py(y):.1f}",
                               "4.5" if s.final_x is not None and x == s.final_x else "2.8",
                               f"{s.label}: step {x:g}, {y:.4g}") for x, y in pts)
        lines.append(Line(s.label, PALETTE[i % len(PALETTE)],
                          DASHES[i // len(PALETTE) % len(DASHES)],
                          " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts), markers,
                          f"{height + 4 + LEGEND_ROW * i:.1f}",
                          f"{height + 8 + LEGEND_ROW * i:.1f}"))
    return Plot(title, xlabel, ylabel, width, height + LEGEND_ROW * len(series) + 6,
                ml, ml + pw, mt, mt + ph,
                tuple(Tick(f"{px(v):.1f}", str(v)) for v in xt),
                tuple(Tick(f"{py(v):.1f}", _tick_text(v, ystep), f"{py(v) + 4:.1f}") for v in yt),
                tuple(lines))
