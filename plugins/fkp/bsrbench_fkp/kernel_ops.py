"""Kernel helpers of the FKP/KernelGAN code base: the analytic x4 kernel and the shift that
centres a kernel for top-left ``[::sf]`` sampling.

KernelGAN(-FKP) estimates an x2 kernel and derives the x4 one analytically (applying the x2
degradation twice); both it and FKP's dataset script then move the kernel's centre of mass
to ``(k - sf) / 2``, the position that makes ``conv2d`` + ``[::sf, ::sf]`` unbiased. Float64
numpy/scipy, as upstream (FACTS.md §5: analytic kernel exact to 1e-12).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["analytic_kernel", "kernel_shift"]


def analytic_kernel(k: np.ndarray) -> np.ndarray:
    """The x4 kernel equivalent to applying the x2 kernel ``k`` (k x k) twice.

    The (3k-2)-sized accumulation ``big[2r:2r+k, 2c:2c+k] += k[r, c] * k`` is cropped by
    k//2 on each side and normalised to sum 1 (size 2k - 1, e.g. 21 for k = 11).
    """
    k = np.asarray(k, dtype=np.float64)
    n = k.shape[0]
    big = np.zeros((3 * n - 2, 3 * n - 2))
    for r in range(n):
        for c in range(n):
            big[2 * r:2 * r + n, 2 * c:2 * c + n] += k[r, c] * k
    crop = n // 2
    out = big[crop:-crop, crop:-crop]
    return out / out.sum()


def kernel_shift(kernel: np.ndarray, sf: int) -> np.ndarray:
    """Shift ``kernel`` (cubic spline, zero fill) so its centre of mass is at (k - sf) / 2."""
    kernel = np.asarray(kernel, dtype=np.float64)
    current = np.array(ndimage.center_of_mass(kernel))
    wanted = (np.array(kernel.shape) - sf) / 2.0
    return ndimage.shift(kernel, wanted - current)

