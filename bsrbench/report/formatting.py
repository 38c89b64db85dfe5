"""What the report knows about its numbers: metric columns, their direction and format.

Metric columns are whatever results.csv holds besides bsrbench's fixed columns
(:data:`~bsrbench.results.BASE_COLUMNS`, :data:`~bsrbench.results.TAIL_COLUMNS`): the
built-in ``psnr`` and ``ssim`` and any plugin metric. Which way is better, and the unit,
come from the ``"metrics"`` list each run.json entry records (``higher_better``, ``unit``),
so the report never special-cases a metric by name, except that results from before that
list existed fall back to PSNR and SSIM being higher-better.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CODE_L2",
    "KERNEL_PSNR",
    "MetricInfo",
    "best_value",
    "fmt",
    "metric_infos",
]


@dataclass(frozen=True)
class MetricInfo:
    """One scored quantity as the report shows it."""

    name: str  # the results.csv column
    higher_better: bool | None  # None: no run declared it, so it is never bolded
    unit: str = ""  # "dB", or "" for unitless scores
    summary: str = ""  # the metric's one-line description from run.json
    title: str = ""  # display name; default the column name in capitals ("PSNR", "LPIPS")

    @property
    def label(self) -> str:
        return self.title or self.name.upper()

    @property
    def arrow(self) -> str:
        """"↑" higher is better, "↓" lower is better, "" unknown."""
        if self.higher_better is None:
            return ""
        return "↑" if self.higher_better else "↓"

    @property
    def decimals(self) -> int:
        """2 decimals for decibels (as papers print PSNR), 4 for unitless scores."""
        return 2 if self.unit == "dB" else 4

    @property
    def heading(self) -> str:
        """Column heading: name, unit and direction ("PSNR (dB) ↑")."""
        unit = f" ({self.unit})" if self.unit else ""
        return f"{self.label}{unit} {self.arrow}".rstrip()

    @property
    def direction(self) -> str:
        if self.higher_better is None:
            return "direction unknown: never bolded"
        return "higher is better" if self.higher_better else "lower is better"


# the runner's own kernel scores (TAIL_COLUMNS): fixed meaning, not metric plugins
KERNEL_PSNR = MetricInfo("kernel_psnr", True, "dB", title="kernel PSNR")
CODE_L2 = MetricInfo("code_l2", False, "", title="code L2")
# results written before run.json recorded its metrics: the two built-in ones
_LEGACY = {"psnr": MetricInfo("psnr", True, "dB"), "ssim": MetricInfo("ssim", True, "")}


def _declared(entries: Iterable[Mapping[str, Any]]) -> tuple[dict[str, MetricInfo], set[str]]:
    """Metrics declared by run.json entries, and the names entries disagree on."""
    found: dict[str, MetricInfo] = {}
    clash: set[str] = set()
    for entry in entries:
        metrics = entry.get("metrics")
        if not isinstance(metrics, list):
            continue
        for m in metrics:
            if not isinstance(m, Mapping) or not isinstance(m.get("name"), str):
                continue
            hb = m.get("higher_better")
            info = MetricInfo(m["name"], hb if isinstance(hb, bool) else None,
                              str(m.get("unit") or ""), str(m.get("summary") or ""))
            old = found.get(info.name)
            if old is not None and old.higher_better != info.higher_better:
                clash.add(info.name)
            found[info.name] = info
    return found, clash


def metric_infos(columns: Sequence[str], numeric: Mapping[str, bool],
                 entries: Iterable[Mapping[str, Any]]) -> list[MetricInfo]:
    """The metric columns of the report, in column order.

    Args:
        columns: candidate columns (results.csv columns that are not bsrbench's fixed ones).
        numeric: per column, whether it holds any number (a user's text column does not).
        entries: every run.json entry of every run shown.

    Returns:
        One :class:`MetricInfo` per metric: declared in run.json, else the PSNR/SSIM
        fallback, else (a number column nobody declared) with an unknown direction. A
        metric whose direction the runs disagree on gets an unknown direction too.
    """
    declared, clash = _declared(entries)
    out = []
    for col in columns:
        info = declared.get(col) or _LEGACY.get(col)
        if info is None:
            if not numeric.get(col):
                continue
            info = MetricInfo(col, None)
        if col in clash:
            info = MetricInfo(col, None, info.unit, info.summary)
        out.append(info)
    return out


def fmt(value: Any, decimals: int) -> str:
    """A number with ``decimals`` decimals: "–" when missing, "∞" for infinity."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return "–"
    if math.isnan(x):
        return "–"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return f"{x:.{decimals}f}"


def best_value(values: Iterable[Any], higher_better: bool | None) -> float | None:
    """The best of ``values`` in the metric's direction (NaN ignored); None when the
    direction is unknown or nothing is left."""
    if higher_better is None:
        return None
    vals = [float(v) for v in values if v == v and v is not None]
    if not vals:
        return None
    return max(vals) if higher_better else min(vals)
