"""Synthetic degradation: blur, downsample, optional noise, quantise to 8 bits.

Blind-SR papers disagree on how the LR image is made, and the differences move PSNR by
tenths of a dB, so each downsampler here is a named, exact copy of one published
pipeline rather than a generic "bicubic":

* ``matlab-bicubic``: MATLAB ``imresize(x, 1/s)`` (antialiased), rounded to uint8; the
  classic SR test sets and the bicubic baselines.
* ``pil-bicubic``: the official IKC generator; the blurred image is *truncated* to uint8
  and then shrunk by PIL's 8-bit bicubic.
* ``direct``: keep the top-left pixel of every s×s cell (KernelGAN, MANet), rounded.

Rounding to uint8 here is MATLAB's (half away from zero, in float64) because that is how
MATLAB-made LR images were stored; truncation is used only where IKC truncates.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from bsrbench.errors import InputError, UnknownNameError
from bsrbench.kernels import blur
from bsrbench.resize import imresize, pil_bicubic
from bsrbench.specs import DegradationSpec

__all__ = [
    "DOWNSAMPLERS",
    "builtin_degradation",
    "degrade",
    "degrade_blurred",
    "downsample",
    "modcrop",
]

DOWNSAMPLERS = ("matlab-bicubic", "pil-bicubic", "direct")


def _check_scale(scale: int) -> None:
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise InputError(f"scale must be a positive integer, got {scale!r}")


def _check_method(method: str) -> None:
    if method not in DOWNSAMPLERS:
        raise UnknownNameError("downsampler", method, DOWNSAMPLERS)


def _round_u8(x: Tensor) -> Tensor:
    """Clamp to [0,1] and round ``255·x`` half away from zero, like MATLAB's ``im2uint8``."""
    return torch.floor(x.to(torch.float64).clamp(0.0, 1.0) * 255.0 + 0.5).to(torch.uint8)


def _trunc_u8(x: Tensor) -> Tensor:
    """Clamp to [0,1] and truncate ``255·x`` in the input dtype, as IKC's generator does."""
    return (x.clamp(0.0, 1.0) * 255.0).to(torch.uint8)


def modcrop(x: Tensor, scale: int) -> Tensor:
    """Crop the last two dims down to multiples of ``scale``, keeping the top-left corner.

    Every SR test protocol does this to the HR image first so that HR and SR sizes agree.
    """
    _check_scale(scale)
    if x.dim() < 2:
        raise InputError(f"modcrop needs an image with at least 2 dims, got shape {tuple(x.shape)}")
    height, width = x.shape[-2:]
    return x[..., : height - height % scale, : width - width % scale]


def _float_lr(blurred: Tensor, scale: int, method: str) -> Tensor:
    """The float LR before quantisation, for the methods that quantise last."""
    if method == "matlab-bicubic":
        return imresize(blurred.to(torch.float64), 1.0 / scale)
    return blurred[..., ::scale, ::scale].to(torch.float64)


def _check_blurred(blurred: Tensor, scale: int) -> None:
    if blurred.dim() != 4 or not blurred.is_floating_point():
        raise InputError(
            f"expected float images (B,C,H,W) in [0,1], got {blurred.dtype} {tuple(blurred.shape)}"
        )
    height, width = blurred.shape[-2:]
    if height % scale or width % scale:
        raise InputError(
            f"image size {height}x{width} is not a multiple of scale {scale}; modcrop first"
        )


def downsample(blurred: Tensor, scale: int, method: str) -> Tensor:
    """Shrink a blurred HR batch by ``scale`` and quantise it to uint8 with one method.

    Args:
        blurred: Float (B,C,H,W) in [0,1]; H and W multiples of ``scale``.
        scale: Integer downsampling factor.
        method: One of :data:`DOWNSAMPLERS`, or a plugin's downsampler: a callable
            ``(blurred float, scale) -> uint8 LR`` (noise is then added to its 8-bit output
            and rounded again, as for ``pil-bicubic``).

    Returns:
        uint8 (B,C,H/scale,W/scale) on the input's device.

    Raises:
        InputError: For an unknown method (naming the valid ones), a bad scale or shape.
    """
    _check_method(method)
    _check_scale(scale)
    _check_blurred(blurred, scale)
    height, width = blurred.shape[-2:]
    if method == "pil-bicubic":
        return pil_bicubic(_trunc_u8(blurred), (height // scale, width // scale))
    return _round_u8(_float_lr(blurred, scale, method))


def _noise(
    shape: torch.Size,
    sigma: float | Tensor,
    like: Tensor,
    generator: torch.Generator | None,
) -> Tensor:
    """Gaussian noise of std ``sigma/255`` drawn from ``generator`` on its own device.

    Drawing on the generator's device keeps a seeded run identical whether the images
    then live on CPU or GPU. ``sigma`` may be a (B,) tensor: one level per batch item
    (training draws a level per item).
    """
    device = generator.device if generator is not None else like.device
    draw = torch.randn(shape, generator=generator, device=device, dtype=torch.float64)
    draw = draw.to(like.device)
    if isinstance(sigma, Tensor):
        return draw * (sigma.to(like.device, torch.float64) / 255.0)[:, None, None, None]
    return draw * (sigma / 255.0)


def _blur_batch(hr: Tensor, kernels: Tensor, check: bool = True) -> Tensor:
    """Blur ``hr`` (1 or K images) with K kernels, pairing image i with kernel i."""
    stack = kernels.unsqueeze(0) if kernels.dim() == 2 else kernels
    count = stack.shape[0]
    if hr.shape[0] == 1:
        hr = hr.expand(count, -1, -1, -1)
    elif hr.shape[0] != count:
        raise InputError(
            f"degrade got {hr.shape[0]} HR images for {count} kernels;"
            " pass 1 image or one per kernel"
        )
    return blur(hr, stack, check=check)


Downsampler = str | Callable[[Tensor, int], Tensor] | DegradationSpec


def _steps(
    method: Downsampler,
) -> tuple[Callable[[Tensor, int], Tensor], Callable[[Tensor, int], Tensor] | None]:
    """The uint8 downsampler and (when it has one) the float LR before quantisation.

    Built-in names and third-party :class:`DegradationSpec` objects resolve the same way:
    a spec's ``float_downsample`` lets noise be added before its single rounding.
    """
    if isinstance(method, DegradationSpec):
        return method.downsample, method.float_downsample
    if callable(method):
        return method, None
    _check_method(method)
    spec = builtin_degradation(method)
    return spec.downsample, spec.float_downsample


def builtin_degradation(name: str) -> DegradationSpec:
    """The :class:`DegradationSpec` of a built-in downsampler (registered by the core plugin).

    Raises:
        UnknownNameError: For a name that is not one of :data:`DOWNSAMPLERS`.
    """
    _check_method(name)

    def down(blurred: Tensor, scale: int) -> Tensor:
        return downsample(blurred, scale, name)

    def float_lr(blurred: Tensor, scale: int) -> Tensor:
        _check_scale(scale)
        _check_blurred(blurred, scale)
        return _float_lr(blurred, scale, name)

    from bsrbench.builtin.data import BUILTIN_DOWNSAMPLERS

    summary, has_float = BUILTIN_DOWNSAMPLERS[name]
    return DegradationSpec(name, summary, down, float_lr if has_float else None)


def degrade_blurred(
    blurred: Tensor,
    scale: int,
    method: Downsampler,
    *,
    noise_sigma: float | Tensor = 0.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Downsample a blurred batch, add noise and quantise: the part of :func:`degrade`
    after the blur, shared by test-set building and training.

    Args:
        blurred: Float (B,C,H,W) in [0,1]; H, W multiples of ``scale``.
        scale: Integer downsampling factor.
        method: A built-in name, a :class:`DegradationSpec` or a bare uint8 downsampler.
        noise_sigma: 0..255 units: a float, or a (B,) tensor with one level per item (then
            not validated here, so the device is never synchronised).
        generator: Random source for the noise.

    Returns:
        uint8 (B,C,H/scale,W/scale).
    """
    down, float_down = _steps(method)
    if isinstance(noise_sigma, Tensor):
        noisy = True
    else:
        if not (math.isfinite(noise_sigma) and noise_sigma >= 0):
            raise InputError(f"noise_sigma must be a finite number >= 0, got {noise_sigma!r}")
        noisy = noise_sigma != 0
    if not noisy:
        lr_u8 = down(blurred, scale)
        _check_u8(lr_u8, blurred, scale)
        return lr_u8
    if float_down is None:
        lr_u8 = down(blurred, scale)
        _check_u8(lr_u8, blurred, scale)
        lr = lr_u8.to(torch.float64) / 255.0
    else:
        lr = float_down(blurred, scale)
    return _round_u8(lr + _noise(lr.shape, noise_sigma, lr, generator))


def _check_u8(lr_u8: Tensor, blurred: Tensor, scale: int) -> None:
    want = (*blurred.shape[:2], blurred.shape[2] // scale, blurred.shape[3] // scale)
    if lr_u8.dtype != torch.uint8 or tuple(lr_u8.shape) != want:
        raise InputError(f"downsampler returned {lr_u8.dtype} {tuple(lr_u8.shape)}, "
                         f"expected torch.uint8 {want}")


def degrade(
    hr: Tensor,
    kernels: Tensor | None,
    scale: int,
    method: Downsampler,
    *,
    noise_sigma: float = 0.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Make 8-bit LR images: blur with each kernel, downsample, add noise, quantise.

    Noise (std ``noise_sigma/255``) is added to the float LR just before the final
    quantisation, so it is clipped and rounded like the signal, as in a stored noisy LR
    PNG; that makes the LR the same whether a method reads it from disk or memory. A
    downsampler without a float stage (``pil-bicubic``, whose PIL resize works on 8-bit
    data, or a plugin's spec without ``float_downsample``) gets the noise on its uint8
    output (as float /255) and the sum is rounded again.

    Args:
        hr: Float HR (1,C,H,W) or (K,C,H,W) in [0,1]; H, W multiples of ``scale``.
        kernels: (K,k,k) kernels, one LR per kernel; None (or K=0) means no blur, the
            plain "bicubic" protocol.
        scale: Integer downsampling factor.
        method: One of :data:`DOWNSAMPLERS`, a :class:`DegradationSpec` (built-in or a
            plugin's, looked up in the registry), or a bare callable
            ``(blurred float, scale) -> uint8 LR``.
        noise_sigma: Noise level on the 0..255 scale; 0 disables noise.
        generator: Random source for the noise, for reproducible runs.

    Returns:
        uint8 LR (K,C,H/scale,W/scale), or (B,C,...) matching ``hr`` without kernels.

    Raises:
        InputError: For bad shapes, an unknown method or a negative noise level.
    """
    if isinstance(method, str):
        _check_method(method)
    _check_scale(scale)
    _check_blurred(hr, scale)
    no_blur = kernels is None or kernels.numel() == 0
    blurred = hr if no_blur else _blur_batch(hr, kernels)
    return degrade_blurred(blurred, scale, method, noise_sigma=noise_sigma, generator=generator)
