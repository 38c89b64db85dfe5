"""The page's building blocks as plain values: what the templates render.

Python code builds these (text only, never markup); ``templates/macros.html`` turns each
kind into HTML, escaping every string on the way. Each block carries a ``kind`` naming its
macro, so a section is just a sequence of blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = [
    "BADGES",
    "Badge",
    "Cell",
    "Heading",
    "Note",
    "Part",
    "Row",
    "Section",
    "Table",
    "cell",
]


@dataclass(frozen=True)
class Badge:
    """A small label after a name: ``css`` picks its colour."""

    css: str
    text: str


BADGES = {
    "ub": Badge("ub", "upper bound"),  # the ground-truth kernel reached the method
    "noise": Badge("noise", "noise known"),  # the true noise level reached the method
    "final": Badge("final", "final"),  # the step an iterative method reports
    "oracle": Badge("oracle", "oracle"),  # a choice made with the ground truth
    "quoted": Badge("quoted", "quoted, not measured"),  # a number from a paper
}


@dataclass(frozen=True)
class Part:
    """One value inside a cell; ``best`` renders it bold (best blind value)."""

    text: str
    best: bool = False


@dataclass(frozen=True)
class Cell:
    """A table cell: values joined by " / ", then badges, then a footnote star."""

    parts: tuple[Part, ...] = ()
    css: str = ""
    colspan: int = 1
    rowspan: int = 1
    title: str = ""  # tooltip
    badges: tuple[Badge, ...] = ()
    star: bool = False  # the value leaves something out (see the table's caption)


def cell(text: str = "", css: str = "", **kw: Any) -> Cell:
    """A cell holding one plain text."""
    return Cell((Part(text),) if text else (), css, **kw)


@dataclass(frozen=True)
class Row:
    cells: tuple[Cell, ...]
    css: str = ""


@dataclass(frozen=True)
class Table:
    kind: ClassVar[str] = "table"
    head: tuple[tuple[Cell, ...], ...]
    body: tuple[Row, ...]
    css: str = ""
    caption: str = ""


@dataclass(frozen=True)
class Note:
    """A paragraph; ``css`` "note" (muted), "warn" (red) or "mono" (a path)."""

    kind: ClassVar[str] = "note"
    text: str
    css: str = "note"


@dataclass(frozen=True)
class Heading:
    kind: ClassVar[str] = "heading"
    text: str


@dataclass(frozen=True)
class Section:
    """One ``<h2>`` section of the page and its blocks."""

    key: str  # anchor id
    title: str
    blocks: tuple[Any, ...]
