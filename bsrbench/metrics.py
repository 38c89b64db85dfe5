"""PSNR and SSIM with the conventions the papers actually used.

Published SR numbers differ by up to a few tenths of a dB depending on how the SR image
is quantised, which luma formula is used and whether it is rounded, and how the border
is shaved; the conventions below are named so a result always says which one produced
it:

* ``matlab-y`` (default): MATLAB ``rgb2ycbcr`` on uint8 images, Y rounded to an integer;
  the convention of the classic MATLAB evaluation scripts behind most tables.
* ``basicsr-y``: the same BT.601 luma left as a float, as BasicSR computes it.
* ``rgb``: all three channels.

A grey HR image (one channel) is always compared with the mean of the SR's three uint8
channels, never with a luma of replicated channels, since ``rgb2ycbcr`` of a grey image
rescales it to [16, 235] and changes the score.
"""

from __future__ import annotations

import torch
from torch import Tensor

from bsrbench.errors import InputError, UnknownNameError

__all__ = ["CONVENTIONS", "prepare", "psnr", "quantize", "rgb_to_y", "score", "ssim"]

CONVENTIONS = ("matlab-y", "basicsr-y", "rgb")

# BT.601 luma weights of MATLAB's rgb2ycbcr, for R, G, B on the 0..255 scale.
_Y_WEIGHTS = (65.481, 128.553, 24.966)

# Wang et al.'s ssim_index.m settings.
_SSIM_SIZE = 11
_SSIM_SIGMA = 1.5
_SSIM_K1, _SSIM_K2, _PEAK = 0.01, 0.03, 255.0


def quantize(sr: Tensor) -> Tensor:
    """Turn a float SR image in [0,1] into uint8 the way method code saves it.

    Clamp, multiply by 255 in float32 and round half to even (``torch.round``), exactly as
    the official IKC test script writes its PNGs; scores are computed on those 8-bit
    values because that is what the papers measured.
    """
    if not sr.is_floating_point():
        raise InputError(f"quantize needs a float image in [0,1], got dtype {sr.dtype}")
    return torch.round(sr.to(torch.float32).clamp(0.0, 1.0) * 255.0).to(torch.uint8)


def rgb_to_y(x_u8: Tensor, *, rounded: bool) -> Tensor:
    """BT.601 luma of MATLAB's ``rgb2ycbcr``: ``Y = 16 + (65.481 R + 128.553 G + 24.966 B)/255``.

    R, G, B are on the 0..255 scale in dim -3. The sum is formed as MATLAB's ``imlincomb``
    does for uint8 input (each weight divided by 255 first, then the offset added) in
    float64.

    Args:
        x_u8: (..., 3, H, W) values on the 0..255 scale, normally uint8.
        rounded: Round to an integer half away from zero (``floor(y + 0.5)``), as MATLAB
            does for uint8 input; False gives BasicSR's float luma.

    Returns:
        float64 (..., 1, H, W) luma on the 0..255 scale.
    """
    if x_u8.dim() < 3 or x_u8.shape[-3] != 3:
        raise InputError(f"rgb_to_y needs 3 channels in dim -3, got shape {tuple(x_u8.shape)}")
    rgb = x_u8.to(torch.float64)
    wr, wg, wb = (w / 255.0 for w in _Y_WEIGHTS)
    y = wr * rgb[..., 0:1, :, :] + wg * rgb[..., 1:2, :, :] + wb * rgb[..., 2:3, :, :] + 16.0
    return torch.floor(y + 0.5) if rounded else y


def _check_convention(convention: str) -> None:
    if convention not in CONVENTIONS:
        raise UnknownNameError("metric convention", convention, CONVENTIONS)


def _check_pair(sr: Tensor, hr_u8: Tensor, border: int) -> None:
    if sr.dim() != 4 or sr.shape[1] != 3 or not sr.is_floating_point():
        raise InputError(f"SR must be float (B,3,H,W) in [0,1], got {sr.dtype} {tuple(sr.shape)}")
    if hr_u8.dim() != 4 or hr_u8.shape[1] not in (1, 3) or hr_u8.dtype != torch.uint8:
        raise InputError(
            "HR must be uint8 (B,3,H,W) or (B,1,H,W) for grey,"
            f" got {hr_u8.dtype} {tuple(hr_u8.shape)}"
        )
    if hr_u8.shape[0] not in (1, sr.shape[0]):
        raise InputError(f"HR batch {hr_u8.shape[0]} does not match SR batch {sr.shape[0]}")
    if sr.shape[-2:] != hr_u8.shape[-2:]:
        raise InputError(
            f"SR size {tuple(sr.shape[-2:])} differs from HR size {tuple(hr_u8.shape[-2:])}"
        )
    if border < 0 or 2 * border >= min(sr.shape[-2:]):
        raise InputError(f"border {border} leaves nothing of a {tuple(sr.shape[-2:])} image")


def prepare(sr: Tensor, hr_u8: Tensor, *, border: int, convention: str) -> tuple[Tensor, Tensor]:
    """Bring SR and HR into the form a convention compares, with the border shaved.

    Args:
        sr: Float SR (B,3,H,W) in [0,1]; quantised with :func:`quantize` first.
        hr_u8: uint8 HR (B or 1, C, H, W); C=3 colour or C=1 grey.
        border: Pixels removed from each side (papers use the scale factor).
        convention: One of :data:`CONVENTIONS`.

    Returns:
        float64 ``(sr, hr)`` of shape (B, c, H-2·border, W-2·border) on the 0..255 scale,
        with c = 1 for luma and grey, 3 for ``rgb``.

    Raises:
        InputError: For an unknown convention or mismatched shapes.
    """
    _check_convention(convention)
    _check_pair(sr, hr_u8, border)
    sr_u8 = quantize(sr)
    hr_u8 = hr_u8.to(sr.device)
    if hr_u8.shape[1] == 1:
        sr_c, hr_c = sr_u8.to(torch.float64).mean(dim=1, keepdim=True), hr_u8.to(torch.float64)
    elif convention == "rgb":
        sr_c, hr_c = sr_u8.to(torch.float64), hr_u8.to(torch.float64)
    else:
        rounded = convention == "matlab-y"
        sr_c, hr_c = rgb_to_y(sr_u8, rounded=rounded), rgb_to_y(hr_u8, rounded=rounded)
    height, width = sr.shape[-2:]
    crop = (..., slice(border, height - border), slice(border, width - border))
    return sr_c[crop], hr_c.expand(sr.shape[0], -1, -1, -1)[crop]


def _check_same(x: Tensor, y: Tensor) -> None:
    if x.dim() != 4 or x.shape != y.shape:
        raise InputError(
            "expected two (B,C,H,W) images of the same shape,"
            f" got {tuple(x.shape)} and {tuple(y.shape)}"
        )


def psnr(x: Tensor, y: Tensor) -> Tensor:
    """PSNR in dB with peak 255, per batch item, float64; ``inf`` for identical images."""
    _check_same(x, y)
    mse = ((x.to(torch.float64) - y.to(torch.float64)) ** 2).mean(dim=(1, 2, 3))
    return 10.0 * torch.log10(_PEAK**2 / mse)


def _gaussian_1d() -> list[float]:
    """1-D factor of MATLAB's ``fspecial('gaussian', 11, 1.5)``, normalised.

    The 2-D window is the outer product of this vector with itself, so filtering can be
    done separably; that is an order of magnitude faster in float64 on CPU and agrees with
    the 2-D filter to ~1e-13.
    """
    half = _SSIM_SIZE // 2
    ax = torch.arange(-half, half + 1, dtype=torch.float64)
    g = torch.exp(-(ax**2) / (2.0 * _SSIM_SIGMA**2))
    return (g / g.sum()).tolist()


def _filter_valid(t: Tensor, taps: list[float]) -> Tensor:
    """'valid' separable filtering of the last two dims with ``taps``, as shifted
    multiply-adds: one pass over the image per tap, no window copies, so the time per
    image does not grow with the batch (a sliding-window view times the taps copies
    each window and was 3x slower per image at a batch of 8)."""
    n = len(taps)
    height, width = t.shape[-2:]
    rows = t[..., : height - n + 1, :] * taps[0]
    for k in range(1, n):
        rows.add_(t[..., k : k + height - n + 1, :], alpha=taps[k])
    out = rows[..., : width - n + 1] * taps[0]
    for k in range(1, n):
        out.add_(rows[..., k : k + width - n + 1], alpha=taps[k])
    return out


def _is_expanded(t: Tensor) -> bool:
    """One image broadcast over the batch (``expand``): its statistics need one pass."""
    return t.shape[0] > 1 and t.stride(0) == 0


def ssim(x: Tensor, y: Tensor) -> Tensor:
    """SSIM of Wang et al. (``ssim_index.m``), per batch item, float64.

    Gaussian 11×11 window with σ=1.5, K1=0.01, K2=0.03, L=255, 'valid' filtering (no
    padding, so the map is 10 pixels smaller per axis) and no automatic downsampling; the
    map is averaged per channel and the channel means are averaged. When ``y`` is one image
    expanded over the batch (the runner scores the SR images of one HR image this way), its
    local means and variances are computed once.
    """
    _check_same(x, y)
    height, width = x.shape[-2:]
    if height < _SSIM_SIZE or width < _SSIM_SIZE:
        raise InputError(
            f"SSIM needs images of at least {_SSIM_SIZE}x{_SSIM_SIZE}, got {height}x{width}"
        )
    x64, y64 = x.to(torch.float64), y.to(torch.float64)
    taps = _gaussian_1d()

    def filt(t: Tensor) -> Tensor:
        return _filter_valid(t, taps)

    y_one = y64[:1] if _is_expanded(y) else y64
    mu_x, mu_y = filt(x64), filt(y_one)
    var_x = filt(x64 * x64) - mu_x**2
    var_y = filt(y_one * y_one) - mu_y**2
    cov = filt(x64 * y64) - mu_x * mu_y
    c1, c2 = (_SSIM_K1 * _PEAK) ** 2, (_SSIM_K2 * _PEAK) ** 2
    num = (2.0 * mu_x * mu_y + c1) * (2.0 * cov + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    return (num / den).mean(dim=(2, 3)).mean(dim=1)


def score(
    sr: Tensor, hr_u8: Tensor, *, scale: int, convention: str = "matlab-y"
) -> dict[str, Tensor]:
    """PSNR and SSIM of an SR batch against its HR images, shaving ``scale`` pixels.

    Returns:
        ``{"psnr": (B,), "ssim": (B,)}``, float64.
    """
    sr_c, hr_c = prepare(sr, hr_u8, border=scale, convention=convention)
    return {"psnr": psnr(sr_c, hr_c), "ssim": ssim(sr_c, hr_c)}
