"""results.csv: one tidy row per (method, dataset, scale, image, kernel, step).

Rows are appended one image at a time in a single write, flushed to disk, so an
interrupted run leaves a valid CSV and a rerun resumes where it stopped. Error rows are
dropped on resume so the failed images are tried again.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from bsrbench.errors import InputError

__all__ = ["COLUMNS", "ResultsFile", "read_results", "row_key"]

COLUMNS = (
    "method",  # method label: "ikc", "bicubic", or "model+estimator" ("srmd+oracle")
    "model",  # non-blind model of a composition, else the method name
    "estimator",  # kernel estimator of a composition ("" for blind methods)
    "upper_bound",  # True when ground truth was used (oracle estimator): not a blind result
    "dataset",  # dataset label ("gaussian8", or "gaussian8/Set5" for another HR set)
    "downsampler",  # matlab-bicubic, pil-bicubic or direct
    "scale",
    "image",
    "kernel_index",  # index of the LR image of this HR image (0..7 for Gaussian8)
    "sigma",  # kernel width sigma1 (0 without blur)
    "sigma2",
    "theta",
    "noise",  # noise std, 0..255 units
    "step",  # 0 for one-shot methods; 0..t for iterative ones
    "is_final",  # True on the method's last step: the headline result
    "psnr",
    "ssim",
    "kernel_psnr",  # PSNR of the step's kernel estimate vs the ground truth (peak = gt max)
    "code_l2",  # L2 distance of the step's kernel code to the ground-truth kernel's code
    "seconds",  # wall time per LR image from the start of the method to this step
    "convention",  # metric convention (matlab-y, basicsr-y, rgb)
    "error",  # why this image failed ("" when it did not)
)

KEY = ("method", "dataset", "scale", "image", "kernel_index")


def row_key(row: Mapping[str, Any]) -> tuple[str, ...]:
    """The identity of one LR image's result (all its steps share it)."""
    return tuple(str(row[k]) for k in KEY)


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):  # numpy floats too: write plain numbers, not np.float64(..)
        value = float(value)
        if math.isnan(value):
            return ""
        return repr(round(value, 6)) if math.isfinite(value) else str(value)
    return str(value)


_FLAGS = ("is_final", "upper_bound")


def read_results(path: str | Path) -> list[dict[str, str]]:
    """All complete rows of a results.csv, as strings (a torn last line is ignored).

    The flag columns read as ``"True"``/``"False"`` whatever their spelling, so a file a
    spreadsheet saved (``TRUE``) still resumes and reports.
    """
    path = Path(path)
    if not path.is_file():
        return []
    text = path.read_text()
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    rows = list(csv.DictReader(io.StringIO(text)))
    for row in rows:
        for col in _FLAGS:
            if col in row:
                flag = str(row[col]).strip().lower() in ("true", "1", "yes")
                row[col] = "True" if flag else "False"
    return rows


class ResultsFile:
    """An append-only results.csv that knows which LR images are already done."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise InputError(f"{self.path} is a folder, not a results file: pass another --out")
        rows = read_results(self.path)
        missing = [c for c in (*KEY, "step", "is_final") if rows and c not in rows[0]]
        if missing:  # never rewrite a file this is not (it would lose its rows)
            raise InputError(
                f"{self.path} is not a bsrbench results file (no column "
                f"{', '.join(missing)}): pass another --out")
        rows = [r for r in rows if not r.get("error")]
        finals = {row_key(r) for r in rows if r.get("is_final") == "True"}
        # keep only images whose final step is there; partial ones are recomputed
        rows = [r for r in rows if row_key(r) in finals]
        self.done: set[tuple[str, ...]] = finals
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, self.path)
        self.kept = len(rows)

    def append(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Append rows in one write and flush them to disk."""
        buf = io.StringIO()
        writer = csv.writer(buf)
        for row in rows:
            writer.writerow([_fmt(row.get(c)) for c in COLUMNS])
        with open(self.path, "a", newline="") as f:
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())
