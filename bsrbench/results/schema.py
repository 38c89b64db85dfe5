"""The columns of results.csv: what each means and how it is typed.

Metric columns are not fixed: every metric a run scores (``psnr`` and ``ssim`` built in,
plugin metrics beside them) is a column named after the metric. Columns a user adds by hand
are kept as they are.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = [
    "BASE_COLUMNS",
    "FLAG_COLUMNS",
    "INT_COLUMNS",
    "KEY",
    "NUMERIC_COLUMNS",
    "TAIL_COLUMNS",
    "columns_for",
    "format_value",
    "row_key",
]

BASE_COLUMNS = (
    "method",  # method label: "ikc", "bicubic", or "model+estimator" ("srmd+oracle")
    "model",  # non-blind model of a composition, else the method name
    "estimator",  # kernel estimator of a composition ("" for blind methods)
    "weights",  # which weights ran: "bundled", "official", "file:<sha256[:8]>", "none"
    "upper_bound",  # True when ground truth was used (oracle estimator): not a blind result
    "noise_known",  # True when the true noise level reached the method: not fully blind
    "dataset",  # dataset label ("gaussian8", or "gaussian8/Set5" for another HR set)
    "downsampler",  # matlab-bicubic, pil-bicubic or direct
    "scale",
    "image",
    "kernel_index",  # index of the LR image of this HR image (0..7 for Gaussian8)
    "sigma",  # kernel width sigma1 (0 without blur); lambda1 for anisotropic kernels
    "sigma2",
    "theta",
    "noise",  # noise std, 0..255 units
    "jpeg",  # JPEG quality of the LR image ('' when not compressed)
    "kernel_size",  # size of the ground-truth kernel ('' without blur)
    "step",  # 0 for one-shot methods; 0..t for iterative ones
    "is_final",  # True on the method's last step: the headline result
)
TAIL_COLUMNS = (
    "kernel_psnr",  # PSNR of the step's kernel estimate vs the ground truth (peak = gt max)
    "code_l2",  # L2 distance of the code the model used to the ground-truth kernel's code
    "seconds",  # wall time per LR image from the start of the method to this step
    "convention",  # metric convention (matlab-y, basicsr-y, rgb)
    "run_id",  # the run (run.json entry) that wrote the row; a later run's rows supersede
    # what the runner's out-of-memory fallback changed for this image ("" when nothing):
    # "batch=2" (a smaller batch), "batch=1,tile=256" (then tiles of 256 LR pixels)
    "fallback",
    "error",  # why this image failed ("" when it did not)
)
KEY = ("method", "dataset", "scale", "image", "kernel_index")
FLAG_COLUMNS = ("is_final", "upper_bound", "noise_known")
INT_COLUMNS = ("scale", "kernel_index", "step")
NUMERIC_COLUMNS = ("scale", "kernel_index", "step", "sigma", "sigma2", "theta", "noise",
                   "jpeg", "kernel_size", "kernel_psnr", "code_l2", "seconds")


def columns_for(metrics: tuple[str, ...], extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The header of a results.csv scoring ``metrics``; ``extra`` columns (a user's, or
    another run's metrics) follow the metrics, in their order."""
    mids = [*metrics, *(c for c in extra if c not in metrics)]
    mids = [c for c in mids if c not in BASE_COLUMNS and c not in TAIL_COLUMNS]
    return (*BASE_COLUMNS, *mids, *TAIL_COLUMNS)


def row_key(row: Mapping[str, Any]) -> tuple[str, ...]:
    """The identity of one LR image's result (all its steps share it)."""
    return tuple(str(row[k]) for k in KEY)


def format_value(value: Any) -> str:
    """A cell as written: plain numbers (never numpy reprs), '' for None and NaN."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) or type(value).__name__.startswith("float"):
        value = float(value)
        if math.isnan(value):
            return ""
        return repr(round(value, 6)) if math.isfinite(value) else str(value)
    return str(value)
