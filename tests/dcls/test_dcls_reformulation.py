"""DCLS's kernel reformulation (training target): exact on circular blur, and the
negligible-value pruning as upstream codes it."""

from __future__ import annotations

import torch
from bsrbench_dcls.arch import psf2otf
from bsrbench_dcls.reformulation import otf2psf, reformulated_kernel, zeroize_negligible

from bsrbench.kernels import gaussian_kernel


def test_otf2psf_inverts_psf2otf() -> None:
    k = torch.rand(2, 1, 21, 21, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(otf2psf(psf2otf(k, (40, 44)), 21), k, atol=1e-6, rtol=0)


def test_reformulated_kernel_recovers_a_circular_blur() -> None:
    """With lr_blurred = lr circularly blurred by k, every channel's solution is k, so
    the target is k pruned by zeroize_negligible."""
    g = torch.Generator().manual_seed(1)
    lr = torch.rand(1, 3, 40, 48, generator=g, dtype=torch.float64)
    kernel = gaussian_kernel(1.6, size=21).to(torch.float64)[None]
    blurred = torch.fft.ifft2(torch.fft.fft2(lr) * psf2otf(kernel[:, None], (40, 48))).real
    target = reformulated_kernel(lr, blurred, 21)
    torch.testing.assert_close(target, zeroize_negligible(kernel), atol=1e-9, rtol=0)
    assert int((target > 1e-12).sum()) <= 45  # about the 40 largest values survive
    assert abs(float(target.sum()) - 1) < 1e-12


def test_zeroize_negligible_threshold() -> None:
    k = torch.arange(1.0, 122.0).view(1, 11, 11)  # 121 distinct values
    out = zeroize_negligible(k / k.sum(), n=40)
    thr = 0.75 * 81  # the 41st largest of 1..121 is 81
    expected = (k - thr).clamp(min=0)
    torch.testing.assert_close(out, expected / expected.sum(), atol=1e-7, rtol=0)
