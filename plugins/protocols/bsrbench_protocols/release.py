"""The public DIV2KRK release folder, read into bsrbench's HDF5 form.

Layout as distributed (FACTS.md §2): ``gt/``, ``lr_x2/``, ``lr_x4/``, ``gt_k_x2/``,
``gt_k_x4/`` with ``kernel_<i>.mat``. GT and LR file names differ (e.g. ``img_1_gt.png``
and ``im_1.png``; DCLS issue #33 is about pairing them by name), so files are paired by the
**image number**, the first integer in each file name. The exact names and ``.mat`` keys
could not be checked offline: any name with one number pairs, and the kernel is the
``.mat`` file's only 2-D numeric array (``Kernel``/``ker``/``kernel`` preferred). Every
missing or unpaired file, and a kernel that does not sum to 1, is a one-line error naming
the file. The kernels are stored as released (``gt_k_x4`` has zero bottom/right borders,
ResizeRight issue #4); their parameters are unknown, so rows carry no sigma/theta.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bsrbench.errors import InputError

_NUMBER = re.compile(r"(\d+)")
PREFERRED_KEYS = ("Kernel", "kernel", "ker", "k")


def _by_number(folder: Path, suffixes: tuple[str, ...]) -> dict[int, Path]:
    if not folder.is_dir():
        raise InputError(f"DIV2KRK release: folder {folder} is missing (expected gt/, lr_x2/, "
                         "lr_x4/, gt_k_x2/, gt_k_x4/)")
    out: dict[int, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in suffixes:
            continue
        match = _NUMBER.search(path.stem)
        if match is None:
            raise InputError(f"DIV2KRK release: {path} has no image number in its name")
        n = int(match.group(1))
        if n in out:
            raise InputError(f"DIV2KRK release: {path} and {out[n]} have the same image "
                             f"number {n}")
        out[n] = path
    if not out:
        raise InputError(f"DIV2KRK release: no {'/'.join(suffixes)} files in {folder}")
    return out


def read_mat_kernel(path: Path) -> Any:
    """The kernel of one ``.mat`` file as float32, checked to sum to 1 (±1e-3)."""
    import numpy as np
    from scipy.io import loadmat

    try:
        mat = loadmat(path)
    except Exception as exc:  # scipy raises several types for a damaged file
        raise InputError(f"{path} is not a readable .mat file ({type(exc).__name__})") from None
    arrays = {k: v for k, v in mat.items() if not k.startswith("__")
              and isinstance(v, np.ndarray) and v.ndim == 2 and v.dtype.kind in "fiu"}
    key = next((k for k in PREFERRED_KEYS if k in arrays), None)
    if key is None and len(arrays) == 1:
        key = next(iter(arrays))
    if key is None:
        raise InputError(f"{path} has no single 2-D kernel array (found {sorted(arrays)})")
    kernel = np.asarray(arrays[key], dtype=np.float64)
    if kernel.shape[0] != kernel.shape[1]:
        raise InputError(f"{path}: kernel is {kernel.shape}, not square")
    total = kernel.sum()
    if not np.isfinite(total) or abs(total - 1.0) > 1e-3:
        raise InputError(f"{path}: kernel sums to {total:.6g}, not 1")
    return kernel.astype(np.float32)


def read_div2krk_release(folder: Path, scale: int) -> list[Any]:
    """Read GT, ``lr_x<scale>`` and ``gt_k_x<scale>`` as one DatasetImage per image number."""
    import numpy as np

    from bsrbench.datasets import DatasetImage
    from bsrbench.images import read_image

    folder = Path(folder)
    images = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")
    gt = _by_number(folder / "gt", images)
    lr = _by_number(folder / f"lr_x{scale}", images)
    ker = _by_number(folder / f"gt_k_x{scale}", (".mat",))
    for group in (gt, lr, ker):
        for other in (gt, lr, ker):
            lonely = sorted(set(group) - set(other))
            if lonely:
                raise InputError(f"DIV2KRK release: {group[lonely[0]]} has no partner with "
                                 f"image number {lonely[0]} in every folder")
    out = []
    for n in sorted(gt):
        hr = read_image(gt[n]).pixels
        low = read_image(lr[n]).pixels
        h, w = low.shape[:2]
        if hr.shape[0] < h * scale or hr.shape[1] < w * scale:
            raise InputError(f"DIV2KRK release: {lr[n]} ({w}x{h}) is not 1/{scale} of "
                             f"{gt[n]} ({hr.shape[1]}x{hr.shape[0]})")
        hr = np.ascontiguousarray(hr[:h * scale, :w * scale])  # modcrop as the LR was made
        low = np.broadcast_to(low, (h, w, 3)) if low.shape[2] == 1 else low
        kernel = read_mat_kernel(ker[n])
        nan = float("nan")
        out.append(DatasetImage(gt[n].stem, hr, np.ascontiguousarray(low)[None],
                                kernel[None], np.array([[nan, nan, nan, 0.0]])))
    return out
