"""HTML building blocks of the report: escaping, number formats, tables, the stylesheet.

Every piece of text that reaches the page goes through :func:`esc`; helpers that take
``html`` arguments expect markup that was already built from escaped text.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["CSS", "Cell", "esc", "fmt", "table", "tag"]


def esc(value: Any) -> str:
    """``value`` as text, HTML-escaped (quotes too, so it is safe in attributes)."""
    return html.escape(str(value), quote=True)


# decimals per quantity: the same everywhere on the page
DECIMALS = {"psnr": 2, "ssim": 4, "kernel_psnr": 2, "code_l2": 4, "seconds": 3, "delta": 2}


def fmt(value: Any, kind: str) -> str:
    """A number in the page's format for ``kind``: "–" when missing, "∞" for infinity."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return "–"
    if math.isnan(x):
        return "–"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return f"{x:.{DECIMALS[kind]}f}"


VOID = frozenset({"br", "hr", "img", "meta"})  # elements without a closing tag


def tag(name: str, body: str = "", **attrs: Any) -> str:
    """``<name attrs>body</name>``; attribute values are escaped, ``class_`` means class."""
    parts = [name]
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        key = key.rstrip("_").replace("_", "-")
        parts.append(key if value is True else f'{key}="{esc(value)}"')
    if name in VOID:
        return f"<{' '.join(parts)}>"
    return f"<{' '.join(parts)}>{body}</{name}>"


class Cell:
    """A table cell: already-escaped ``html`` plus optional class, colspan and rowspan."""

    __slots__ = ("colspan", "css", "html", "rowspan", "title")

    def __init__(self, html_: str, css: str = "", colspan: int = 1, rowspan: int = 1,
                 title: str = "") -> None:
        self.html, self.css, self.colspan, self.rowspan = html_, css, colspan, rowspan
        self.title = title

    def render(self, name: str = "td") -> str:
        return tag(name, self.html, class_=self.css or None,
                   colspan=self.colspan if self.colspan > 1 else None,
                   rowspan=self.rowspan if self.rowspan > 1 else None,
                   title=self.title or None)


def _cell(c: Cell | str) -> Cell:
    return c if isinstance(c, Cell) else Cell(esc(c))


def table(head: Sequence[Sequence[Cell | str]], body: Iterable[tuple[str, Sequence[Cell | str]]],
          *, css: str = "", caption: str = "") -> str:
    """A table from header rows and ``(row_class, cells)`` body rows; plain strings are
    escaped, :class:`Cell` values are taken as they are."""
    thead = "".join(tag("tr", "".join(_cell(c).render("th") for c in row)) for row in head)
    rows = []
    for row_css, cells in body:
        rows.append(tag("tr", "".join(_cell(c).render() for c in cells),
                        class_=row_css or None))
    cap = tag("caption", caption) if caption else ""
    return tag("div", tag("table", cap + tag("thead", thead) + tag("tbody", "".join(rows)),
                          class_=css or None), class_="table-wrap")


CSS = """
:root { --ink:#1f2328; --muted:#59636e; --line:#d1d9e0; --head:#f0f3f6; --zebra:#f8fafb;
  --accent:#0b5cad; --ub:#fff6e0; --ub-ink:#8a5a00; --oracle:#f3effa; --oracle-ink:#5b3f8c;
  --bad:#b42318; --good:#067647; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue",
  Arial, sans-serif; color: var(--ink); margin: 0; background: #fff; }
main { max-width: 1240px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 36px 0 8px; padding-bottom: 4px;
  border-bottom: 2px solid var(--line); }
h3 { font-size: 15px; margin: 22px 0 6px; }
p, li { max-width: 960px; }
.sub { color: var(--muted); margin: 0 0 16px; }
.note { color: var(--muted); font-size: 13px; }
.warn { color: var(--bad); }
nav.toc { font-size: 13px; margin: 10px 0 0; }
nav.toc a { color: var(--accent); text-decoration: none; margin-right: 14px; }
.summary { display: flex; gap: 20px; flex-wrap: wrap; align-items: flex-start; }
.summary ul { margin: 0; padding-left: 18px; flex: 1 1 520px; }
.legend { flex: 0 1 420px; border: 1px solid var(--line); border-radius: 6px;
  padding: 8px 12px; font-size: 12.5px; background: var(--zebra); }
dl.legend { display: grid; grid-template-columns: auto 1fr; gap: 4px 10px; margin: 0; }
.legend dt { font-weight: 600; text-align: right; }
.legend dt .badge { margin-left: 0; }
.legend dd { margin: 0; color: var(--muted); }
.table-wrap { overflow-x: auto; margin: 6px 0 10px; }
table { border-collapse: collapse; font-size: 13px; }
caption { caption-side: bottom; text-align: left; color: var(--muted); font-size: 12px;
  padding-top: 4px; }
th, td { border: 1px solid var(--line); padding: 4px 9px; }
th { background: var(--head); font-weight: 600; text-align: center; white-space: nowrap; }
td { white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.name { font-weight: 600; }
td.wrap { white-space: normal; word-break: break-all; max-width: 520px; }
tbody tr:nth-child(even) td { background: var(--zebra); }
tr.group td { background: var(--head) !important; font-weight: 600; font-size: 12px;
  color: var(--muted); text-transform: uppercase; letter-spacing: .03em; }
tr.ub td { background: var(--ub) !important; }
tr.oracle td { background: var(--oracle) !important; color: var(--oracle-ink);
  font-style: italic; }
tr.final td.step { font-weight: 600; }
.badge { display: inline-block; font-size: 10.5px; font-weight: 600; font-style: normal;
  padding: 0 5px; border-radius: 3px; margin-left: 6px; vertical-align: 1px; }
.badge.ub { background: #f5d78e; color: var(--ub-ink); }
.badge.oracle { background: #ddd0f2; color: var(--oracle-ink); }
.badge.final { background: #d3e6fb; color: var(--accent); }
b.best { color: #000; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 0; }
.plots figure { width: min-content; }
figcaption { font-size: 12px; color: var(--muted); max-width: 560px; }
svg.plot { background: #fff; border: 1px solid var(--line); border-radius: 4px; }
svg.plot text { font: 11px system-ui, sans-serif; fill: var(--ink); }
svg.plot .title { font-size: 12.5px; font-weight: 600; }
svg.plot .grid { stroke: #e6eaef; }
svg.plot .axis { stroke: #8c959f; }
.vis { border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px;
  margin: 10px 0 16px; }
.vis h3 { margin-top: 0; }
.tiles { display: flex; flex-wrap: wrap; gap: 10px; align-items: flex-start; }
.tile { font-size: 11.5px; text-align: center; width: 148px; }
.tile img { display: block; width: 144px; height: 144px; image-rendering: pixelated;
  border: 1px solid var(--line); margin: 0 auto 2px; }
.tile.kernel { width: 92px; }
.tile.kernel img { width: 84px; height: 84px; }
.tile .cap { font-weight: 600; overflow-wrap: anywhere; }
.tile .val { color: var(--muted); font-variant-numeric: tabular-nums; }
.tile .missing { width: 144px; height: 144px; margin: 0 auto 2px; display: flex;
  align-items: center; justify-content: center; border: 1px dashed var(--line);
  color: var(--muted); }
.tile.kernel .missing { width: 84px; height: 84px; }
.tile.ub img { border: 2px solid #e0b13a; }
.full { position: relative; display: inline-block; width: 240px; }
.full img { display: block; width: 100%; height: auto; border: 1px solid var(--line); }
.full .box { position: absolute; border: 2px solid #e5212b;
  box-shadow: 0 0 0 1px #fff; }
.kgroup { border-left: 3px solid var(--line); padding-left: 8px; }
.kgroup:first-child { border-left: 0; padding-left: 0; }
.rowlabel { font-size: 12px; font-weight: 600; color: var(--muted); margin: 10px 0 4px; }
.meta td:first-child { color: var(--muted); }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 12px; }
"""
