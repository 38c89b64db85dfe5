"""The HTML report: one self-contained page rendered only from stored run folders.

A report reads each run folder's ``results.csv``, ``run.json`` and, when present, its
``images/`` through :mod:`bsrbench.results` and nothing else, so it can be rebuilt at any
time and gives the same bytes for the same files. The page needs no network at view time:
the stylesheet is inline, plots are SVG, pictures are ``data:`` URIs.

Headline numbers are final-step means (``is_final``) of every metric column, the best blind
value of each bold in that metric's direction (``higher_better`` from run.json). Rows made
with ground truth (``upper_bound``: the true kernel; ``noise_known``: the true noise level)
are grouped apart as upper bounds, and the per-image best step of iterative methods appears
only on a line labelled as an oracle.

Inside: :mod:`~bsrbench.report.context` reads and labels the rows,
:mod:`~bsrbench.report.tables`, :mod:`~bsrbench.report.svg`,
:mod:`~bsrbench.report.images` and :mod:`~bsrbench.report.metadata` build the page's blocks
as plain values, :mod:`~bsrbench.report.page` assembles them, and the jinja2 templates in
``templates/`` (autoescaped) turn them into HTML. This ``__init__`` is the only door.
"""

from __future__ import annotations

from bsrbench.report.page import render_report, write_report

__all__ = ["render_report", "write_report"]
