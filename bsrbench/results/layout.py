"""Where a run folder keeps its files: the one place that knows the layout.

``results.csv`` and ``run.json`` at the top, ``report.html`` beside them, and with
``--save-images`` an ``images/`` tree: ``images/<kind>/[<method>/]<dataset>_x<scale>/``.
kinds: ``hr`` (``<image>.png``), ``lr`` and ``gt_kernel`` (``<image>_k<i>.png``, plus
``.npy`` for kernels), ``sr`` and ``kernel`` (``<image>_k<i>_s<step>.png``/``.npy``).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["IMAGES", "REPORT", "RESULTS", "image_dir", "lr_stem", "step_stem"]

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
