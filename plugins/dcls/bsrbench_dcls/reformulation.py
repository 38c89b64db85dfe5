"""DCLS's kernel reformulation: the training target of its Estimator (FACTS.md §4).

DCLS does not train its Estimator to predict the blur kernel itself but the kernel that
maps the *bicubic-downsampled clean* LR to the *blurred* LR, solved per channel in the
Fourier domain (upstream ``CorrectionLoss``; eps = 1e-20). At test time nothing here
runs: the released Estimator already predicts this reformulated kernel. It is kept so a
training recipe (or an analysis) can compute the exact targets the checkpoints learnt.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["otf2psf", "reformulated_kernel", "zeroize_negligible"]

EPS = 1e-20


def otf2psf(otf: Tensor, k: int) -> Tensor:
    """The ``k x k`` kernel of a full spectrum ``(..., H, W)``: the inverse of ``psf2otf``.

    The real part is read as torch < 1.8's ``irfft`` did (the first ``W // 2 + 1``
    columns), then the window is re-centred so that (0, 0) becomes ``[k//2, k//2]``.
    """
    h, w = otf.shape[-2:]
    psf = torch.fft.irfft2(otf[..., : w // 2 + 1], s=(h, w))
    return torch.roll(psf, shifts=(k // 2, k // 2), dims=(-2, -1))[..., :k, :k]


def zeroize_negligible(kernel: Tensor, n: int = 40) -> Tensor:
    """Upstream ``zeroize_negligible_val``: keep about the ``n`` largest values.

    ``thr = 0.75 x`` the (n+1)-th largest value; ``clamp(k - thr, 0, 1)``; 1e-20 added at
    ``[k//2 + 1, k//2 + 1]`` (one past the centre, as upstream codes it); renormalised.
    """
    flat = kernel.reshape(kernel.shape[0], -1)
    thr = 0.75 * flat.sort(dim=1, descending=True).values[:, n:n + 1]
    out = (flat - thr).clamp(0, 1).view_as(kernel).clone()
    c = kernel.shape[-1] // 2 + 1
    out[..., c, c] += EPS
    return out / out.sum(dim=(-2, -1), keepdim=True)


def reformulated_kernel(lr: Tensor, lr_blurred: Tensor, k: int, n: int = 40) -> Tensor:
    """The Estimator's target ``(B, k, k)`` from clean and blurred LR images ``(B, 3, h, w)``.

    Per channel c: ``k_c = otf2psf(conj(F lr_c) F lr_blurred_c / (|F lr_c|² + eps))``;
    then ``mean_c(k_c)`` where the product over channels is positive (0 elsewhere), and
    :func:`zeroize_negligible`.
    """
    fa = torch.fft.fft2(lr)
    fb = torch.fft.fft2(lr_blurred)
    ratio = fa.conj() * fb / (fa.abs().square() + EPS)
    per_channel = otf2psf(ratio, k)  # (B, 3, k, k)
    kernel = per_channel.mean(dim=1) * (per_channel.prod(dim=1) > 0)
    return zeroize_negligible(kernel, n)
