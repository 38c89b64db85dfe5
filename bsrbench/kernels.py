"""Blur kernels: construction, application, size conversion, validation and scoring.

The construction and the blur follow the official IKC pipeline exactly (float64 kernel
normalised then cast to float32; reflect padding; grouped float32 cross-correlation),
because a benchmark whose LR images differ from the published ones by even ±1 grey level
does not reproduce the published numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from bsrbench.errors import InputError

__all__ = [
    "align_kernels",
    "blur",
    "center_crop_kernel",
    "check_kernel",
    "gaussian_kernel",
    "gaussian_kernels",
    "kernel_psnr",
    "kernel_psnr_aligned",
    "pad_kernel",
    "resize_kernel",
]


def _check_odd_size(size: int, what: str = "kernel size") -> None:
    """Raise unless ``size`` is a positive odd integer (kernels need a centre pixel)."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1 or size % 2 == 0:
        raise InputError(f"{what} must be a positive odd integer, got {size!r}")


def _check_sigma(sigma: float, name: str) -> None:
    if not (math.isfinite(sigma) and sigma > 0):
        raise InputError(f"gaussian {name} must be a positive finite number, got {sigma!r}")


def _as_stack(kernel: Tensor) -> tuple[Tensor, bool]:
    """Return kernel as (B,k,k) and whether the input was a single (k,k) kernel.

    Raises:
        InputError: If the kernel is not (k,k)/(B,k,k) with odd k, or holds NaN/inf.
    """
    if kernel.dim() not in (2, 3) or kernel.shape[-1] != kernel.shape[-2]:
        raise InputError(
            f"kernel must be square, (k,k) or (B,k,k), got shape {tuple(kernel.shape)}"
        )
    if kernel.shape[-1] % 2 == 0:
        raise InputError(f"kernel size must be odd so it has a centre, got {kernel.shape[-1]}")
    if not torch.isfinite(kernel).all():
        raise InputError("kernel contains NaN or infinite values")
    single = kernel.dim() == 2
    return (kernel.unsqueeze(0) if single else kernel), single


def _renormalise(stack: Tensor) -> Tensor:
    total = stack.sum(dim=(-2, -1), keepdim=True)
    if (total == 0).any():
        raise InputError("kernel sums to zero after resizing; it cannot be renormalised")
    return stack / total


def gaussian_kernel(
    sigma1: float, sigma2: float | None = None, theta: float = 0.0, size: int = 21
) -> Tensor:
    """Gaussian blur kernel, normalised in float64 and returned as float32.

    The isotropic case (``sigma2`` None or equal to ``sigma1``) evaluates
    ``exp(-(x²+y²)/(2σ²))`` on the grid ``-(size//2)..size//2`` and divides by the sum in
    float64, exactly as IKC does, so it reproduces the reference kernels bit for bit. The
    anisotropic case uses the covariance ``Σ = R diag(σ1², σ2²) Rᵀ`` with ``R`` the
    rotation by ``theta``; ``x`` is the column (width) coordinate and ``y`` the row
    coordinate, so ``theta`` turns the ``σ1`` axis from the width axis towards the rows.

    Args:
        sigma1: Standard deviation in pixels along the first principal axis.
        sigma2: Standard deviation along the second axis; None for isotropic.
        theta: Rotation of the first axis, in radians.
        size: Odd kernel side length.

    Returns:
        float32 (size, size) kernel summing to 1.

    Raises:
        InputError: For an even or non-positive size or a non-positive sigma.
    """
    _check_odd_size(size)
    _check_sigma(sigma1, "sigma1")
    if sigma2 is not None:
        _check_sigma(sigma2, "sigma2")
    if not math.isfinite(theta):
        raise InputError(f"gaussian theta must be finite, got {theta!r}")
    half = size // 2
    ax = torch.arange(-half, half + 1, dtype=torch.float64)
    yy, xx = torch.meshgrid(ax, ax, indexing="ij")
    if sigma2 is None or sigma2 == sigma1:
        k = torch.exp(-(xx**2 + yy**2) / (2.0 * sigma1**2))
    else:
        c, s = math.cos(theta), math.sin(theta)
        rot = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
        cov = rot @ torch.diag(torch.tensor([sigma1**2, sigma2**2], dtype=torch.float64)) @ rot.T
        inv = torch.linalg.inv(cov)
        quad = inv[0, 0] * xx**2 + 2.0 * inv[0, 1] * xx * yy + inv[1, 1] * yy**2
        k = torch.exp(-0.5 * quad)
    return (k / k.sum()).to(torch.float32)


def gaussian_kernels(sigmas: Sequence[float], size: int = 21) -> Tensor:
    """Stack of isotropic Gaussian kernels, one per sigma: float32 (K, size, size)."""
    _check_odd_size(size)
    if len(sigmas) == 0:
        return torch.empty(0, size, size, dtype=torch.float32)
    return torch.stack([gaussian_kernel(float(s), size=size) for s in sigmas])


def blur(x: Tensor, kernel: Tensor, *, check: bool = True) -> Tensor:
    """Blur images by reflect padding and grouped cross-correlation, as IKC does.

    The padding mirrors without repeating the edge pixel (torch ``reflect``) and the
    correlation runs in the input's float dtype with one grouped ``conv2d`` over all
    ``B*C`` planes. This is the operation order that reproduces IKC's ``blurred_u8``
    exactly; a float64 or differently grouped blur flips some truncated values by one.

    Args:
        x: Float images (B,C,H,W).
        kernel: One shared (k,k) kernel, or (B,k,k) with one kernel per batch item.
        check: Validate the kernel values (NaN/inf). Training passes False: the check reads
            a value back to the host, which would stall the device every step; shapes are
            checked either way.

    Returns:
        Blurred images, same shape and dtype as ``x``.

    Raises:
        InputError: For bad shapes, a kernel count that does not match the batch, or a
            kernel too large for the image (reflect padding needs ``k//2 < H, W``).
    """
    if x.dim() != 4 or not x.is_floating_point():
        raise InputError(f"blur needs float images (B,C,H,W), got {x.dtype} {tuple(x.shape)}")
    if check:
        stack, _ = _as_stack(kernel)
    else:
        stack = kernel.unsqueeze(0) if kernel.dim() == 2 else kernel
    batch, channels, height, width = x.shape
    if stack.shape[0] == 1:
        stack = stack.expand(batch, -1, -1)
    elif stack.shape[0] != batch:
        raise InputError(f"blur got {stack.shape[0]} kernels for a batch of {batch} images")
    k = stack.shape[-1]
    pad = k // 2
    if pad >= height or pad >= width:
        raise InputError(f"kernel of size {k} is too large for a {height}x{width} image")
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    planes = padded.reshape(1, batch * channels, height + 2 * pad, width + 2 * pad)
    weight = stack.to(device=x.device, dtype=x.dtype).unsqueeze(1)
    weight = weight.repeat(1, channels, 1, 1).reshape(batch * channels, 1, k, k)
    out = F.conv2d(planes, weight, groups=batch * channels)
    return out.reshape(batch, channels, height, width)


def center_crop_kernel(kernel: Tensor, size: int) -> Tensor:
    """Crop the central ``size``×``size`` window and renormalise it to sum 1.

    Used when a method estimates a larger kernel than the ground truth (or than a
    non-blind model accepts); renormalising keeps the crop a valid blur.
    """
    _check_odd_size(size, "target kernel size")
    stack, single = _as_stack(kernel)
    k = stack.shape[-1]
    if size > k:
        raise InputError(f"cannot crop a {k}x{k} kernel to the larger size {size}; use pad_kernel")
    start = (k - size) // 2
    out = _renormalise(stack[:, start : start + size, start : start + size])
    return out[0] if single else out


def pad_kernel(kernel: Tensor, size: int) -> Tensor:
    """Zero-pad a kernel symmetrically to ``size``×``size`` and renormalise it to sum 1."""
    _check_odd_size(size, "target kernel size")
    stack, single = _as_stack(kernel)
    k = stack.shape[-1]
    if size < k:
        raise InputError(
            f"cannot pad a {k}x{k} kernel to the smaller size {size}; use center_crop_kernel"
        )
    margin = (size - k) // 2
    out = _renormalise(F.pad(stack, (margin, margin, margin, margin)))
    return out[0] if single else out


def resize_kernel(kernel: Tensor, size: int) -> Tensor:
    """Bring a kernel to ``size`` by centre crop or zero padding, renormalised to sum 1."""
    _check_odd_size(size, "target kernel size")
    stack, _ = _as_stack(kernel)
    if size <= stack.shape[-1]:
        return center_crop_kernel(kernel, size)
    return pad_kernel(kernel, size)


def check_kernel(kernel: Tensor, *, size: int | None = None, atol: float = 1e-3) -> None:
    """Validate a blur kernel (or a (B,k,k) stack) and explain the first problem found.

    Raises:
        InputError: If the kernel is not square with an odd side, is not ``size`` when one
            is given, holds NaN/inf, has entries below ``-atol``, or does not sum to 1
            within ``atol``.
    """
    stack, _ = _as_stack(kernel)
    k = stack.shape[-1]
    if size is not None and k != size:
        raise InputError(f"kernel must be {size}x{size}, got {k}x{k}")
    lowest = float(stack.min())
    if lowest < -atol:
        raise InputError(
            f"kernel has negative entries (min {lowest:.3g}); blur kernels must be >= 0"
        )
    sums = stack.to(torch.float64).sum(dim=(-2, -1))
    worst = float((sums - 1.0).abs().max())
    if worst > atol:
        raise InputError(f"kernel must sum to 1 within {atol:g}, but a sum is off by {worst:.3g}")


def kernel_psnr(est: Tensor, gt: Tensor) -> Tensor:
    """PSNR of estimated kernels against ground truth, one value per item, float64.

    The peak is the maximum of each ground-truth kernel (not 1): kernel values are small
    and their scale varies with the blur width, so a fixed peak would make wide kernels
    look far better than narrow ones. A single (k,k) kernel on either side is broadcast.

    Args:
        est: Estimated kernels (k,k) or (B,k,k).
        gt: Ground-truth kernels (k,k) or (B,k,k), same k.

    Returns:
        float64 (B,) PSNR in dB; ``inf`` where the estimate is exact.

    Raises:
        InputError: If the kernel sizes or batch sizes do not match.
    """
    est_stack, _ = _as_stack(est)
    gt_stack, _ = _as_stack(gt)
    if est_stack.shape[-1] != gt_stack.shape[-1]:
        raise InputError(
            f"kernel sizes differ: estimate {est_stack.shape[-1]},"
            f" ground truth {gt_stack.shape[-1]}; use resize_kernel first"
        )
    if est_stack.shape[0] != gt_stack.shape[0] and 1 not in (est_stack.shape[0], gt_stack.shape[0]):
        raise InputError(f"kernel batch sizes differ: {est_stack.shape[0]} vs {gt_stack.shape[0]}")
    est64 = est_stack.to(torch.float64)
    gt64 = gt_stack.to(device=est.device, dtype=torch.float64)
    mse = ((est64 - gt64) ** 2).mean(dim=(-2, -1))
    peak = gt64.amax(dim=(-2, -1)).expand_as(mse)
    return 10.0 * torch.log10(peak**2 / mse)


def _centre_of_mass(stack: Tensor) -> Tensor:
    """(B, 2) row, column centre of mass of (B, k, k) kernels (of their absolute values)."""
    w = stack.abs()
    total = w.sum(dim=(-2, -1)).clamp_min(1e-30)
    idx = torch.arange(stack.shape[-1], dtype=stack.dtype, device=stack.device)
    rows = (w.sum(dim=-1) * idx).sum(dim=-1) / total
    cols = (w.sum(dim=-2) * idx).sum(dim=-1) / total
    return torch.stack([rows, cols], dim=-1)


def align_kernels(est: Tensor, gt: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Put estimated and ground-truth kernels on one grid with their centres aligned.

    The documented alignment behind :func:`kernel_psnr_aligned`: both stacks are zero-padded
    (centred, sums unchanged) to one square size, the larger of the two plus a margin of
    half of it, and each estimate is moved by the whole-pixel shift that brings its centre of
    mass nearest to the ground truth's. Protocols disagree on where a kernel's centre lies
    (DIV2KRK's and FKP's kernels are shifted for phase-0 subsampling; IKC's are centred), so
    comparing tap by tap without this would score the convention, not the estimate. Sizes
    may differ and may be even (released DIV2KRK kernels).

    Args:
        est: Estimated kernels (k,k) or (B,k,k).
        gt: Ground-truth kernels (m,m) or (B,m,m).

    Returns:
        ``(est_aligned, gt_padded, shift)``: float64 (B,n,n) each and the (B,2) integer
        (row, column) shift applied to each estimate.
    """
    def stack(k: Tensor, what: str) -> Tensor:
        if k.dim() not in (2, 3) or k.shape[-1] != k.shape[-2]:
            raise InputError(f"{what} kernel must be square, (k,k) or (B,k,k), got shape "
                             f"{tuple(k.shape)}")
        if not torch.isfinite(k).all():
            raise InputError(f"{what} kernel contains NaN or infinite values")
        return (k.unsqueeze(0) if k.dim() == 2 else k).to(torch.float64)

    e, g = stack(est, "estimated"), stack(gt.to(est.device), "ground-truth")
    if e.shape[0] != g.shape[0] and 1 not in (e.shape[0], g.shape[0]):
        raise InputError(f"kernel batch sizes differ: {e.shape[0]} vs {g.shape[0]}")
    big = max(e.shape[-1], g.shape[-1])
    size = big + 2 * (big // 2)

    def pad(k: Tensor) -> Tensor:
        lo = (size - k.shape[-1]) // 2
        hi = size - k.shape[-1] - lo
        return F.pad(k, (lo, hi, lo, hi))

    e, g = pad(e), pad(g)
    e, g = torch.broadcast_tensors(e, g)
    shift = torch.round(_centre_of_mass(g) - _centre_of_mass(e)).to(torch.long)
    limit = big // 2
    shift = shift.clamp(-limit, limit)
    out = torch.stack([torch.roll(e[i], tuple(shift[i].tolist()), dims=(0, 1))
                       for i in range(e.shape[0])])
    return out, g.contiguous(), shift


def kernel_psnr_aligned(est: Tensor, gt: Tensor) -> Tensor:
    """Kernel PSNR after :func:`align_kernels` (centre-of-mass alignment, zero padding).

    Same peak as :func:`kernel_psnr` (each ground-truth kernel's maximum). For centred
    kernels of one odd size the shift is 0 and the value equals :func:`kernel_psnr`.

    Returns:
        float64 (B,) PSNR in dB; ``inf`` where the aligned estimate is exact.
    """
    e, g, _ = align_kernels(est, gt)
    # mean over the ground truth's own k×k taps, so the padding margin does not matter
    mse = ((e - g) ** 2).sum(dim=(-2, -1)) / gt.shape[-1] ** 2
    peak = g.amax(dim=(-2, -1))
    return 10.0 * torch.log10(peak**2 / mse)
