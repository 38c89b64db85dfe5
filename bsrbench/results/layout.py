"""Where a run folder keeps its files: the one place that knows the layout.

``results.csv`` and ``run.json`` at the top, ``report.html`` beside them, and with
``--save-images`` an ``images/`` tree: ``images/<kind>/[<method>/]<dataset>_x<scale>/``.
kinds: ``hr`` (``<image>.png``), ``lr`` and ``gt_kernel`` (``<image>_k<i>.png``, plus
``.npy`` for kernels), ``sr`` and ``kernel`` (``<image>_k<i>_s<step>.png``/``.npy``).
"""

from __future__ import annotations

import os
from pathlib import Path

from bsrbench.errors import InputError

__all__ = ["IMAGES", "REPORT", "RESULTS", "check_out_dir", "image_dir", "lr_stem", "step_stem"]

RESULTS = "results.csv"
REPORT = "report.html"
IMAGES = "images"


def image_dir(out: Path, kind: str, dataset_label: str, scale: int, method: str = "") -> Path:
    """The folder of one kind of saved image for a dataset (and method) in run folder
    ``out``; pass ``Path()`` as ``out`` for the path relative to the run folder."""
    ds = f"{dataset_label.replace('/', '_')}_x{scale}"
    base = Path(out) / IMAGES / kind
    return base / method / ds if method else base / ds


def lr_stem(image: str, kernel_index: int) -> str:
    """File stem of an LR image (and its ground-truth kernel)."""
    return f"{image}_k{kernel_index}"


def step_stem(image: str, kernel_index: int, step: int) -> str:
    """File stem of one step's SR image and kernel."""
    return f"{image}_k{kernel_index}_s{step}"


def check_out_dir(out: str | Path, flag: str = "--out", *, folder: bool = True) -> Path:
    """Check that ``out`` is, or can be created as, a writable folder (with ``folder``
    False: a file in one); create nothing.

    Called before any work, so a path under a file or on a read-only disk is a one-line
    error naming the user's path rather than an OSError after the first results.

    Raises:
        InputError: ``out`` or a folder above it is a file (``out`` a folder, when a file
            is wanted), or the nearest existing folder is not writable.
    """
    out = Path(out)
    hint = f"pass another {flag}"
    if folder and out.exists() and not out.is_dir():
        raise InputError(f"{flag} {out} is a file, not a folder: {hint}")
    if not folder and out.is_dir():
        raise InputError(f"{flag} {out} is a folder, not a file: {hint}")
    above = out if folder else out.parent
    while not above.exists():
        if above.parent == above:
            break
        above = above.parent
    if above.exists() and not above.is_dir():
        raise InputError(f"{flag} {out} is under {above}, which is a file: {hint}")
    if above.is_dir() and not os.access(above, os.W_OK | os.X_OK):
        raise InputError(f"{flag} {out}: cannot write in {above} (read-only or no "
                         f"permission): {hint}")
    return out
