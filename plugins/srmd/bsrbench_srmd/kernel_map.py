"""SRMD's degradation map: a kernel's 15 PCA coefficients (and the noise level) as planes.

SRMD never sees the kernel itself. It sees ``P @ vec_F(k)``, the projection of the 15×15
kernel flattened **column-major** (MATLAB's order) onto the 15 rows of KAIR's PCA matrix
``P``, plus ``noise / 255`` for the noise-aware models. Each value becomes a constant plane
concatenated *after* the 3 LR channels. Row-major flattening goes unnoticed on isotropic
kernels but is wrong on anisotropic ones, so the order is pinned by the golden tests.

Provenance of the PCA matrix: ``P`` (15×225, MATLAB single) from KAIR
(``cszn/KAIR``, MIT licence, © 2019 Kai Zhang), file ``kernels/srmd_pca_matlab.mat``
(git blob 8fb2f8c128c9d14b540f99f350797a1d39606e8d, sha256 :data:`SOURCE_MAT_SHA256`),
the matrix KAIR's ``main_test_srmd.py`` uses. It ships here re-encoded, unchanged in value,
as ``srmd_pca.safetensors`` (tensor ``P``); ``plugins/srmd/scripts/convert_pca.py``
regenerates it from the ``.mat`` and :func:`load_pca` checks its sha256.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch
from torch import Tensor

from bsrbench.errors import InputError, WeightsError
from bsrbench.weights import load_state_dict

__all__ = [
    "KERNEL_SIZE",
    "NUM_CODES",
    "PCA_FILE",
    "PCA_SHA256",
    "SOURCE_MAT_SHA256",
    "degradation_map",
    "degradation_vector",
    "load_pca",
    "network_input",
    "project_kernel",
    "read_pca_mat",
]

KERNEL_SIZE = 15  # side of the kernels P was computed for (225 = 15 * 15)
NUM_CODES = 15  # rows of P: PCA coefficients per kernel
PCA_FILE = Path(__file__).with_name("srmd_pca.safetensors")
PCA_KEY = "P"  # tensor name inside PCA_FILE, the variable name in KAIR's .mat
PCA_SHA256 = "a9f2963d180ed638f6c5fe2ac50b7139bab405618f514acac3c111153cea779b"
SOURCE_MAT_SHA256 = "3b485dfbca9c38ced6b4fb56494882e0560be81522213cf8fc280e3ad095502a"


def read_pca_mat(path: str | Path) -> Tensor:
    """Read ``P`` from KAIR's ``srmd_pca_matlab.mat`` as a float32 (15, 225) tensor.

    Only the conversion script and the tests need this; runs use :func:`load_pca`, so the
    plugin does not need scipy at run time.

    Raises:
        InputError: The file is missing, is not a MAT file, or holds no 15×225 ``P``.
    """
    import numpy as np
    import scipy.io

    path = Path(path)
    if not path.is_file():
        raise InputError(f"PCA file {path} not found: pass KAIR's kernels/srmd_pca_matlab.mat")
    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as exc:  # scipy raises several types for non-MAT input
        raise InputError(f"{path} is not a MATLAB .mat file: {exc}") from None
    if PCA_KEY not in mat:
        found = ", ".join(k for k in mat if not k.startswith("__")) or "none"
        raise InputError(f"{path} has no variable 'P' (found: {found}): use srmd_pca_matlab.mat")
    p = np.asarray(mat[PCA_KEY])
    if p.shape != (NUM_CODES, KERNEL_SIZE**2) or p.dtype != np.float32:
        raise InputError(f"{path}: P is {p.dtype} {p.shape}, expected float32 (15, 225)")
    return torch.from_numpy(np.ascontiguousarray(p))


@functools.lru_cache(maxsize=4)
def _load_pca_cached(path: Path, sha256: str | None) -> Tensor:
    state = load_state_dict(path, sha256=sha256)
    p = state.get(PCA_KEY)
    if p is None or p.shape != (NUM_CODES, KERNEL_SIZE**2) or p.dtype != torch.float32:
        raise WeightsError(
            f"{path} must hold one float32 (15, 225) tensor 'P': "
            "regenerate it with plugins/srmd/scripts/convert_pca.py"
        )
    return p


def load_pca(path: str | Path | None = None, *, sha256: str | None = PCA_SHA256) -> Tensor:
    """Return SRMD's PCA matrix ``P``, float32 (15, 225) on the CPU.

    The result is cached and shared: do not modify it in place.

    Args:
        path: A safetensors file with tensor ``P``; None for the one shipped with the plugin.
        sha256: Expected hash of the file (the shipped file's by default); None skips it.

    Raises:
        WeightsError: The file is missing, fails its hash, or holds no 15×225 ``P``.
    """
    return _load_pca_cached(Path(path) if path is not None else PCA_FILE, sha256)


def project_kernel(kernel: Tensor, pca: Tensor) -> Tensor:
    """Project kernels onto the PCA basis: ``P @ vec_F(k)`` for each kernel.

    The product runs in float64 on the CPU, as KAIR's numpy code does (float32 ``P`` times
    a float64 kernel), so float64 kernels reproduce KAIR's codes bit for bit; the inputs
    are 225 numbers per kernel, so the device round trip costs nothing measurable.

    Args:
        kernel: (15, 15) or (B, 15, 15) kernels, any float dtype and device.
        pca: ``P``, (15, 225).

    Returns:
        float64 CPU codes, (15,) or (B, 15) to match ``kernel``.

    Raises:
        InputError: The kernel is not 15×15 (or does not match ``pca``'s width).
    """
    size = KERNEL_SIZE
    if kernel.dim() not in (2, 3) or kernel.shape[-2:] != (size, size):
        raise InputError(
            f"SRMD projects 15x15 kernels, got shape {tuple(kernel.shape)}: "
            "crop or pad it with bsrbench.kernels.resize_kernel first"
        )
    if pca.shape[-1] != size * size:
        raise InputError(f"PCA matrix must have {size * size} columns, got {tuple(pca.shape)}")
    k = kernel.detach().to(device="cpu", dtype=torch.float64)
    # Column-major flattening: the transpose's row-major order is the kernel's column order.
    flat = k.transpose(-2, -1).reshape(*k.shape[:-2], size * size)
    return flat @ pca.detach().to(device="cpu", dtype=torch.float64).T


def degradation_vector(
    kernel: Tensor, pca: Tensor, noise: Tensor | float | None = None
) -> Tensor:
    """Return SRMD's per-image degradation vector, float32 (B, 15) or (B, 16) on the CPU.

    The 15 PCA codes come first; with ``noise`` given, ``noise / 255`` follows as the 16th
    value (the noise-aware srmd models), without it the vector stays 15 long (srmdnf). The
    division and the codes are float64 and cast once to float32, as in KAIR.

    Args:
        kernel: (B, 15, 15) kernels.
        pca: ``P``, (15, 225).
        noise: Noise standard deviations in 0..255 units, (B,) or a scalar for all items.

    Raises:
        InputError: Bad kernel shape, or noise that is not (B,), finite and non-negative.
    """
    if kernel.dim() != 3:
        raise InputError(f"kernels must be a (B, 15, 15) batch, got shape {tuple(kernel.shape)}")
    codes = project_kernel(kernel, pca)
    if noise is None:
        return codes.to(torch.float32)
    batch = kernel.shape[0]
    sigma = torch.as_tensor(noise).detach().to(device="cpu", dtype=torch.float64)
    if sigma.dim() == 0:
        sigma = sigma.expand(batch)
    if sigma.shape != (batch,):
        raise InputError(f"noise must be a scalar or ({batch},), got shape {tuple(sigma.shape)}")
    if not (torch.isfinite(sigma).all() and (sigma >= 0).all()):
        raise InputError("noise levels must be finite and >= 0 (0..255 units)")
    return torch.cat([codes, (sigma / 255.0).unsqueeze(1)], dim=1).to(torch.float32)


def degradation_map(vector: Tensor, height: int, width: int) -> Tensor:
    """Broadcast (B, C) vectors to constant planes (B, C, height, width)."""
    return vector[:, :, None, None].expand(-1, -1, height, width)


def network_input(lr: Tensor, vector: Tensor) -> Tensor:
    """Concatenate the LR ``(B, 3, h, w)`` and the degradation map *after* it.

    The vector is moved to the LR's device and dtype; the result is (B, 3 + C, h, w).
    """
    if vector.dim() != 2 or vector.shape[0] != lr.shape[0]:
        raise InputError(
            f"degradation vectors {tuple(vector.shape)} do not match an LR batch of {lr.shape[0]}"
        )
    planes = degradation_map(vector.to(device=lr.device, dtype=lr.dtype), *lr.shape[-2:])
    return torch.cat([lr, planes], dim=1)
