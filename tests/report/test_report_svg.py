"""The hand-written plots: round ticks, points inside the plot area, the final step marked,
labels escaped, well-formed SVG."""

from __future__ import annotations

import itertools
import math
import xml.etree.ElementTree as ET

import pytest

from bsrbench.report.page import environment
from bsrbench.report.svg import MARGIN, PALETTE, Series, line_plot, nice_ticks


def _svg(plot) -> str:
    return environment().get_template("macros.html").module.plot(plot)


@pytest.mark.parametrize(("lo", "hi"), [(23.21, 23.97), (0.0012, 0.2), (-3.0, 41.0),
                                        (5.0, 5.0), (0.7, 0.70001)])
def test_report_svg_ticks_are_round_and_cover_the_range(lo, hi):
    ticks = nice_ticks(lo, hi)
    assert ticks[0] <= lo and ticks[-1] >= hi and 2 <= len(ticks) <= 8
    steps = {round(b - a, 9) for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1
    step = steps.pop()
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 6) in (1, 2, 2.5, 5, 10)


def test_report_svg_geometry_puts_points_inside_the_axes():
    series = [Series("ikc", ((0, 28.1), (1, 28.6), (2, 28.9)), final_x=2),
              Series("dan", ((0, 27.0), (1, 29.3)), final_x=1)]
    plot = line_plot(series, title="PSNR vs step", xlabel="step", ylabel="PSNR", width=380,
                     height=260)
    left, right, top, bottom = MARGIN
    assert (plot.left, plot.right, plot.top, plot.bottom) == (left, 380 - right, top,
                                                              260 - bottom)
    assert plot.height == 260 + 18 * 2 + 6  # room for a legend row per series
    for line in plot.lines:
        for m in line.markers:
            assert plot.left <= float(m.x) <= plot.right
            assert plot.top <= float(m.y) <= plot.bottom
    ikc, dan = plot.lines
    assert [m.r for m in ikc.markers] == ["2.8", "2.8", "4.5"]  # the final step is larger
    assert (ikc.colour, dan.colour) == PALETTE[:2]
    # x ticks are the steps; the lowest y tick sits on the x axis
    assert [t.text for t in plot.xticks] == ["0", "1", "2"]
    assert float(plot.yticks[0].at) == plot.bottom
    assert float(ikc.markers[0].x) == plot.left and float(ikc.markers[-1].x) == plot.right


def test_report_svg_many_series_get_dashes():
    series = [Series(f"m{i}", ((0, float(i)), (1, float(i) + 1))) for i in range(9)]
    plot = line_plot(series, title="t", xlabel="x", ylabel="y")
    assert [line.dash for line in plot.lines[:7]] == [""] * 7
    assert plot.lines[7].dash and plot.lines[7].colour == PALETTE[0]


def test_report_svg_is_well_formed_and_escapes_labels():
    plot = line_plot([Series("a<b & c", ((0, 1.0), (3, 2.0)), final_x=3)],
                     title='PSNR "vs" <step>', xlabel="step", ylabel="PSNR (dB)")
    svg = _svg(plot)
    root = ET.fromstring(str(svg))  # parses: every element closed, attributes quoted
    assert root.tag == "svg" and root.get("aria-label") == 'PSNR "vs" <step>'
    assert "a&lt;b &amp; c" in svg and "<step>" not in svg
    assert len(root.findall("polyline")) == 1 and len(root.findall("circle")) == 2
    assert "xmlns" not in svg and "http" not in svg


def test_report_svg_without_points_is_no_plot():
    assert line_plot([], title="t", xlabel="x", ylabel="y") is None
    assert line_plot([Series("a", ())], title="t", xlabel="x", ylabel="y") is None
