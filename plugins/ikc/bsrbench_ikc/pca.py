"""IKC's kernel code space: a 441×10 PCA of isotropic Gaussian kernels.

IKC never feeds a kernel to its networks; it feeds ``code = kernel.flatten() @ P`` with no
mean subtraction (FACTS.md §5). The released ``pca_matrix.pth`` was made by
``codes/train_SFTMD.py`` of ``yuanjunchai/IKC``; :func:`compute_pca` follows that recipe and
reproduces the released matrix at ×4 to float32 rounding (see the tests):

1. ``np.random.seed(0)`` (``manual_seed: 0`` in ``options/train/train_SFTMD.yml``).
2. 30,000 kernels from ``util.random_batch_kernel(l=21, sig_min=0.2, sig_max=4.0,
   rate_iso=1.0)``: each kernel draws two uniforms, the first only for the
   isotropic-or-not test (always isotropic at ``rate_iso=1.0``), the second for
   ``sigma = 0.2 + 3.8 u``. The kernel is ``exp(-(x² + y²) / (2 sigma²))`` on the grid
   −10..10, normalised to sum 1, in float64.
3. Centre the data on its mean, ``torch.svd`` of the transposed (441 × 30,000) matrix in
   float64, keep the first 10 left singular vectors, cast to float32. The column signs are
   whatever LAPACK returns; in the release every column's corner entry (kernel pixel 0, 0)
   is negative, and :func:`compute_pca` fixes the signs by that rule.

:func:`compute_pca` takes the same vectors from the SVD of the 441 × 441 Gram matrix
instead of the thin SVD of the data: 0.4 s instead of 16 s on two cores. The result equals
the release to within one float32 rounding step, signs included (fixed by the corner rule,
so another LAPACK build cannot flip a column and make ``--pca official`` codes disagree
with the released Predictor and Corrector).

The official code uses σ ∈ [0.2, 4.0] for its ×4 release only. For ×2 and ×3 this module
uses the paper's ranges [0.2, 2.0] and [0.2, 3.0] (:data:`SIGMA_RANGE`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from bsrbench.errors import InputError, WeightsError
from bsrbench.weights import load_state_dict

__all__ = [
    "KERNEL_SIZE",
    "SIGMA_RANGE",
    "KernelPCA",
    "compute_pca",
    "distribution_mean",
    "isotropic_kernels",
    "load_pca",
]

KERNEL_SIZE = 21
SIGMA_RANGE: dict[int, tuple[float, float]] = {2: (0.2, 2.0), 3: (0.2, 3.0), 4: (0.2, 4.0)}
OFFICIAL_SIGMA_RANGE = (0.2, 4.0)  # what the released pca_matrix.pth was computed from
_QUADRATURE_POINTS = 4000


def isotropic_kernels(sigmas: np.ndarray, size: int = KERNEL_SIZE) -> np.ndarray:
    """Float64 isotropic Gaussian kernels ``(n, size, size)``, each summing to 1.

    Batched and float64 on purpose: the PCA recipe needs tens of thousands of kernels
    computed exactly as the official float64 code does, which a per-kernel float32 helper
    (:func:`bsrbench.kernels.gaussian_kernel`) does not give.
    """
    ax = np.arange(-(size // 2), size // 2 + 1, dtype=np.float64)
    xx, yy = np.meshgrid(ax, ax)
    sig = np.asarray(sigmas, dtype=np.float64).reshape(-1, 1, 1)
    k = np.exp(-(xx**2 + yy**2)[None] / (2.0 * sig**2))
    return k / k.sum(axis=(1, 2), keepdims=True)


def distribution_mean(sigma_range: tuple[float, float], size: int = KERNEL_SIZE) -> Tensor:
    """Expected kernel under σ ~ U(sigma_range), flattened ``(size²,)`` float64.

    The released matrix comes without the mean it was centred on; this deterministic
    midpoint-rule estimate stands in for it (it differs from the recipe's sample mean by
    at most 5e-4 per element, against a peak of 0.14).
    """
    lo, hi = sigma_range
    sig = lo + (np.arange(_QUADRATURE_POINTS) + 0.5) * (hi - lo) / _QUADRATURE_POINTS
    return torch.from_numpy(isotropic_kernels(sig, size).reshape(len(sig), -1).mean(axis=0))


class KernelPCA:
    """Encodes kernels to PCA codes and decodes codes back to kernels.

    Args:
        matrix: ``(k², d)`` with orthonormal columns (IKC's ``pca_matrix``).
        mean: ``(k²,)`` the mean kernel the PCA was centred on; used only by
            :meth:`decode`, since IKC's codes are taken without subtracting it.
    """

    def __init__(self, matrix: Tensor, mean: Tensor) -> None:
        if matrix.dim() != 2 or mean.shape != (matrix.shape[0],):
            raise WeightsError(
                f"PCA needs a (k², d) matrix and a (k²,) mean, got {tuple(matrix.shape)} "
                f"and {tuple(mean.shape)}"
            )
        size = round(matrix.shape[0] ** 0.5)
        if size * size != matrix.shape[0] or size % 2 == 0:
            raise WeightsError(f"PCA matrix has {matrix.shape[0]} rows, not an odd square")
        self.matrix = matrix.detach().to(torch.float32).contiguous()
        self.mean = mean.detach().to(torch.float32).contiguous()
        self.kernel_size = size
        self.dim = matrix.shape[1]
        # The part of the mean outside the PCA span; decode adds it back (see decode).
        p = self.matrix.double()
        m = self.mean.double()
        self._mean_perp = (m - p @ (p.T @ m)).float()
        # The code space's name: codes are interchangeable only under the same matrix.
        self.space = "ikc-pca:" + hashlib.sha256(
            self.matrix.cpu().numpy().tobytes()).hexdigest()[:12]

    def encode(self, kernels: Tensor) -> Tensor:
        """Map kernels ``(B, k, k)`` to codes ``(B, d)``: ``kernel.flatten() @ P``.

        Computed in float32 with ``bmm``, exactly as IKC's ``PCAEncoder``, so codes match
        the official ones bit for bit.
        """
        k = self.kernel_size
        if kernels.dim() != 3 or kernels.shape[1:] != (k, k):
            raise InputError(
                f"IKC codes need kernels of shape (B, {k}, {k}), got "
                f"{tuple(kernels.shape)}: center-crop or pad them to {k}×{k}"
            )
        b = kernels.shape[0]
        p = self.matrix.to(kernels.device)
        flat = kernels.to(torch.float32).reshape(b, 1, k * k)
        return torch.bmm(flat, p.expand(b, *p.shape)).reshape(b, self.dim)

    def decode(self, codes: Tensor) -> Tensor:
        """Map codes ``(B, d)`` to kernels ``(B, k, k)``, non-negative and summing to 1.

        The least-squares reconstruction from a code alone, ``P c``, sums to 0 (every
        column of P does, because the PCA was centred), so it is no kernel. Adding back
        the component of the PCA mean outside the span of P gives ``P c + (I − P Pᵀ) μ``,
        the usual PCA reconstruction, whose code is exactly ``c``. Tiny negative lobes
        (about 1e-4 for the sharpest kernels) are then clipped to 0 and the result is
        renormalised to sum 1, so ``encode(decode(c))`` equals ``c`` to about 1e-4.
        """
        if codes.dim() != 2 or codes.shape[1] != self.dim:
            raise InputError(f"IKC codes must be (B, {self.dim}), got {tuple(codes.shape)}")
        p = self.matrix.to(codes.device)
        flat = codes.to(torch.float32) @ p.T + self._mean_perp.to(codes.device)
        flat = flat.clamp(min=0.0)
        total = flat.sum(dim=1, keepdim=True)
        # A code far outside the kernel distribution can clip to nothing: use a delta.
        delta = torch.zeros_like(flat)
        delta[:, flat.shape[1] // 2] = 1.0
        flat = torch.where(total > 1e-12, flat / total.clamp(min=1e-12), delta)
        k = self.kernel_size
        return flat.reshape(-1, k, k)

    def state_dict(self) -> dict[str, Tensor]:
        """Tensors to save in the bsrbench layout (``matrix`` and ``mean``)."""
        return {"matrix": self.matrix, "mean": self.mean}


def load_pca(path: str | Path, *, sha256: str | None = None) -> KernelPCA:
    """Load the official ``pca_matrix.pth`` (a bare tensor) or a bsrbench PCA file.

    The official file holds no mean, so :func:`distribution_mean` over the official σ
    range stands in for it (used by :meth:`KernelPCA.decode` only).

    Raises:
        WeightsError: the file is not a PCA matrix with orthonormal columns.
    """
    from bsrbench_ikc.checkpoints import OFFICIAL_SHA256

    state = load_state_dict(path, sha256=sha256, known=OFFICIAL_SHA256)
    if set(state) == {""}:
        matrix = state[""]
        mean = distribution_mean(OFFICIAL_SIGMA_RANGE, round(matrix.shape[0] ** 0.5))
    elif set(state) == {"matrix", "mean"}:
        matrix, mean = state["matrix"], state["mean"]
    else:
        raise WeightsError(
            f"{path} is not an IKC PCA file: expected a bare tensor (pca_matrix.pth) or "
            f"keys 'matrix' and 'mean', found {sorted(state)[:4]}"
        )
    if matrix.dim() != 2:
        raise WeightsError(f"{path}: PCA matrix must be 2-D, got shape {tuple(matrix.shape)}")
    gram = matrix.double().T @ matrix.double()
    if (gram - torch.eye(gram.shape[0], dtype=gram.dtype)).abs().max() > 1e-4:
        raise WeightsError(f"{path}: PCA columns are not orthonormal; is this a PCA matrix?")
    return KernelPCA(matrix, mean)


def compute_pca(scale: int, n: int = 30000, seed: int = 0, dim: int = 10) -> KernelPCA:
    """Compute IKC's kernel PCA for ``scale`` following the official recipe (module doc).

    With ``scale=4`` and the defaults this reproduces the released ``pca_matrix.pth``
    to float32 rounding (max abs difference about 4e-9). It takes about 2 s and 300 MB.

    Args:
        scale: SR factor; picks σ from :data:`SIGMA_RANGE`.
        n: number of random kernels.
        seed: numpy legacy seed (``np.random.seed``), 0 in the official config.
        dim: code length.
    """
    if scale not in SIGMA_RANGE:
        raise InputError(f"IKC PCA has σ ranges for scales {sorted(SIGMA_RANGE)}, not {scale}")
    lo, hi = SIGMA_RANGE[scale]
    # Legacy RandomState, the generator behind np.random.seed; two draws per kernel.
    draws = np.random.RandomState(seed).random_sample(2 * n)
    sigmas = draws[1::2] * (hi - lo) + lo
    data = torch.from_numpy(isotropic_kernels(sigmas).reshape(n, -1))
    mean = data.mean(dim=0)
    centred = data - mean
    # Left singular vectors of centred.T are the singular vectors of its Gram matrix.
    u, _, _ = torch.linalg.svd(centred.T @ centred)
    u = u[:, :dim]
    # LAPACK picks the signs; fix them as the release has them: every column's corner
    # entry (kernel pixel 0, 0) negative (its smallest, column 0, is -3.3e-6, far above
    # float64 noise).
    u = u * -torch.sign(u[0])
    return KernelPCA(u.float(), mean)
