"""Means over stored rows that every view shares (the terminal summary, the report)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["per_step"]


def per_step(frame: pd.DataFrame, columns: Sequence[str],
             group: Sequence[str]) -> pd.DataFrame:
    """Mean of ``columns`` per ``group`` and step over rows without an error, with ``n``
    (rows averaged) and ``final`` (whether that step is the one the method reports)."""
    ok = frame[frame["error"] == ""]
    keys = [*group, "step"]
    table = ok.groupby(keys)[list(columns)].mean()
    table["n"] = ok.groupby(keys).size()
    final = ok[ok["is_final"]].groupby(list(group))["step"].max()
    table["final"] = [final.get(tuple(idx[:-1])) == idx[-1] for idx in table.index]
    return table.reset_index()
