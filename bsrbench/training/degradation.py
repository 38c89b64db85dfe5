"""The test sets' degradation, batched on the training device.

Random Gaussian kernels drawn as one batch, then the test sets' own blur, downsampler, noise
and 8-bit quantisation (:mod:`bsrbench.kernels`, :mod:`bsrbench.degradations`), called
without the host-side checks that would stall the device every step: one implementation
serves dataset building and training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from torch import Tensor


def _kernel_grid(
    size: int, device: torch.device | str, dtype: torch.dtype
) -> tuple[Tensor, Tensor]:
    import torch

    half = size // 2
    ax = torch.arange(-half, half + 1, dtype=dtype, device=device)
    yy, xx = torch.meshgrid(ax, ax, indexing="ij")
    return xx, yy


def to_device(t: Tensor, device: torch.device | str) -> Tensor:
    """Copy a small CPU tensor to ``device`` without stalling the host.

    A plain ``.to("cuda")`` from pageable memory synchronises the stream, so the host
    would wait for the previous step's kernels every step; from pinned memory with
    ``non_blocking=True`` the copy is queued behind them instead.
    """
    import torch

    if torch.device(device).type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def random_kernels(
    n: int,
    *,
    size: int,
    sigma_range: tuple[float, float],
    generator: torch.Generator,
    device: torch.device | str,
    rate_iso: float = 1.0,
    scaling: float = 3.0,
) -> tuple[Tensor, Tensor]:
    """Sample ``n`` Gaussian kernels as one batch, the way IKC's ``random_batch_kernel`` does.

    With probability ``rate_iso`` a kernel is isotropic with σ ~ U(σmin, σmax); otherwise it
    is anisotropic with σx ~ U(σmin, σmax), σy = clip(U·scaling·σx, σmin, σmax) and an angle
    ~ U(-π, π). The random numbers come from ``generator`` (a CPU generator, so a seed gives
    the same kernels on every device); the kernels are built on ``device`` in float64 and
    cast to float32, like :func:`bsrbench.kernels.gaussian_kernel`.

    Returns:
        ``(kernels, sigmas)``: float32 ``(n, size, size)`` kernels on ``device`` and the
        float64 ``(n, 2)`` CPU widths (σx, σy) for logging.
    """
    import torch

    f64 = torch.float64 if str(device) != "mps" else torch.float32
    u = torch.rand(n, 4, generator=generator, dtype=torch.float64)
    lo, hi = sigma_range
    sx = lo + (hi - lo) * u[:, 0]
    sy = (u[:, 1] * scaling * sx).clamp(lo, hi)
    theta = u[:, 2] * 2.0 * math.pi - math.pi
    iso = u[:, 3] < rate_iso
    sy = torch.where(iso, sx, sy)
    theta = torch.where(iso, torch.zeros_like(theta), theta)
    sigmas = torch.stack([sx, sy], dim=1)

    xx, yy = _kernel_grid(size, device, f64)
    params = to_device(torch.stack([sx, sy, theta, iso.double()], dim=1), device).to(f64)
    sx_d, sy_d, th, iso_d = (params[:, i, None, None] for i in range(4))
    iso_k = torch.exp(-(xx**2 + yy**2) / (2.0 * sx_d**2))
    c, s = torch.cos(th), torch.sin(th)
    a = c**2 / sx_d**2 + s**2 / sy_d**2
    b = c * s * (1.0 / sx_d**2 - 1.0 / sy_d**2)
    d = s**2 / sx_d**2 + c**2 / sy_d**2
    aniso_k = torch.exp(-0.5 * (a * xx**2 + 2.0 * b * xx * yy + d * yy**2))
    k = torch.where(iso_d > 0.5, iso_k, aniso_k)
    k = k / k.sum(dim=(-2, -1), keepdim=True)
    return k.to(torch.float32), sigmas


def blur_batch(x: Tensor, kernels: Tensor) -> Tensor:
    """Blur ``x`` (B,C,H,W) with one kernel per item: the core's :func:`bsrbench.kernels.blur`
    without the kernel-value check, which would read a value back to the host every step."""
    from bsrbench.kernels import blur

    return blur(x, kernels, check=False)


def _lr_u8(
    blurred: Tensor,
    scale: int,
    method: str,
    noise: Tensor | None,
    generator: torch.Generator | None,
) -> Tensor:
    """Downsample and quantise; with ``noise`` (B,) in 0..255 units, add it before rounding.

    The test sets' own code path, :func:`bsrbench.degradations.degrade_blurred`, with one
    noise level per item.
    """
    from bsrbench.degradations import degrade_blurred

    if noise is None:
        return degrade_blurred(blurred, scale, method)
    return degrade_blurred(blurred, scale, method, noise_sigma=noise, generator=generator)


@dataclass
class PairBatch:
    """One training batch, everything on the training device."""

    lr: Tensor  # (B,3,h,w) float32 = lr_u8 / 255, the 8-bit LR a test set would hold
    hr: Tensor  # (B,3,s*h,s*w) float32 in [0,1]
    hr_u8: Tensor  # (B,3,s*h,s*w) uint8
    kernels: Tensor  # (B,k,k) float32, the blur of each item
    noise: Tensor | None = None  # (B,) float32 noise std in 0..255 units; None when noise-free


def make_pairs(
    hr_u8: Tensor,
    kernels: Tensor,
    scale: int,
    downsampler: str,
    noise: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> PairBatch:
    """Blur each uint8 HR image with its kernel, downsample, quantise: a :class:`PairBatch`."""
    hr = hr_u8.to(kernels.dtype) / 255.0
    lr_u8 = _lr_u8(blur_batch(hr, kernels), scale, downsampler, noise, generator)
    return PairBatch(
        lr=lr_u8.to(hr.dtype) / 255.0, hr=hr, hr_u8=hr_u8, kernels=kernels, noise=noise
    )
