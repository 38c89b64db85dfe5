"""Tests for bsrbench.kernels: construction, blur, size conversion, checks, kernel PSNR."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage
from shared_bundle import shared_dir

from bsrbench.errors import InputError
from bsrbench.kernels import (
    blur,
    center_crop_kernel,
    check_kernel,
    gaussian_kernel,
    gaussian_kernels,
    kernel_psnr,
    pad_kernel,
    resize_kernel,
)


def _numpy_isotropic(sigma: float, size: int) -> np.ndarray:
    ax = np.arange(-(size // 2), size // 2 + 1, dtype=np.float64)
    xx, yy = np.meshgrid(ax, ax)
    k = np.exp(-(xx**2 + yy**2) / (2.0 * sigma**2))
    return (k / k.sum()).astype(np.float32)


# --- gaussian_kernel -------------------------------------------------------------------


@pytest.mark.parametrize(("sigma", "size"), [(2.6, 21), (0.7, 15), (4.0, 21), (1.3, 7)])
def test_gaussian_kernel_isotropic_matches_ikc_formula_exactly(sigma: float, size: int) -> None:
    k = gaussian_kernel(sigma, size=size)
    assert k.dtype == torch.float32 and k.shape == (size, size)
    assert torch.equal(k, torch.from_numpy(_numpy_isotropic(sigma, size)))


def test_gaussian_kernel_reproduces_golden_kernel() -> None:
    golden = torch.load(
        shared_dir() / "reference/ikc/golden_predictor_corrector.pt", weights_only=True
    )
    assert torch.equal(gaussian_kernel(2.6), golden["kernel"])


def test_gaussian_kernel_anisotropic_matches_covariance_density() -> None:
    sigma1, sigma2, theta, size = 3.0, 1.2, math.pi / 3, 15
    c, s = math.cos(theta), math.sin(theta)
    rot = np.array([[c, -s], [s, c]])
    inv = np.linalg.inv(rot @ np.diag([sigma1**2, sigma2**2]) @ rot.T)
    ax = np.arange(-7, 8, dtype=np.float64)
    xx, yy = np.meshgrid(ax, ax)
    pts = np.stack([xx, yy], axis=-1)
    density = np.exp(-0.5 * np.einsum("...i,ij,...j->...", pts, inv, pts))
    expected = torch.from_numpy((density / density.sum()).astype(np.float32))
    torch.testing.assert_close(
        gaussian_kernel(sigma1, sigma2, theta, size), expected, rtol=0, atol=1e-7
    )


def test_gaussian_kernel_theta_orients_first_axis() -> None:
    wide_x = gaussian_kernel(4.0, 1.0, 0.0, 21)
    centre = 10
    # sigma1 lies along the width axis at theta=0: the centre row is wider than the column.
    assert wide_x[centre, centre + 5] > 10 * wide_x[centre + 5, centre]
    torch.testing.assert_close(
        gaussian_kernel(4.0, 1.0, math.pi / 2, 21), wide_x.T, rtol=0, atol=1e-7
    )


def test_gaussian_kernel_equal_sigmas_is_isotropic() -> None:
    assert torch.equal(gaussian_kernel(2.0, 2.0, 0.4), gaussian_kernel(2.0))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"sigma1": 2.0, "size": 20}, "odd"),
        ({"sigma1": 2.0, "size": 0}, "odd"),
        ({"sigma1": 0.0}, "sigma1"),
        ({"sigma1": 2.0, "sigma2": -1.0}, "sigma2"),
        ({"sigma1": float("nan")}, "sigma1"),
    ],
)
def test_gaussian_kernel_rejects_bad_arguments(args: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        gaussian_kernel(**args)


def test_gaussian_kernels_stacks_isotropic_kernels() -> None:
    stack = gaussian_kernels([0.5, 1.5, 3.0], size=11)
    assert stack.shape == (3, 11, 11)
    for i, sigma in enumerate([0.5, 1.5, 3.0]):
        assert torch.equal(stack[i], gaussian_kernel(sigma, size=11))


# --- blur ------------------------------------------------------------------------------


def _delta(size: int, row: int | None = None, col: int | None = None) -> torch.Tensor:
    k = torch.zeros(size, size)
    k[size // 2 if row is None else row, size // 2 if col is None else col] = 1.0
    return k


def test_blur_with_delta_is_identity_and_keeps_shape() -> None:
    x = torch.rand(2, 3, 16, 12)
    out = blur(x, _delta(5))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.equal(out, x)


def test_blur_is_cross_correlation() -> None:
    # Correlation with a 1 right of centre reads the right neighbour: out[i, j] = x[i, j + 1].
    x = torch.rand(1, 1, 8, 8)
    out = blur(x, _delta(3, col=2))
    assert torch.equal(out[..., :, :-1], x[..., :, 1:])


def test_blur_matches_scipy_with_reflect_padding_that_skips_the_edge() -> None:
    rng = np.random.default_rng(0)
    img = rng.random((1, 2, 20, 17))
    kernel = gaussian_kernel(2.0, 0.8, 0.5, 9)
    got = blur(torch.from_numpy(img), kernel.double()).numpy()
    # scipy's 'mirror' mode is d c b | a b c d | c b a, the same as torch 'reflect'.
    ref = np.stack(
        [ndimage.correlate(img[0, c], kernel.double().numpy(), mode="mirror") for c in range(2)]
    )
    np.testing.assert_allclose(got[0], ref, atol=1e-12)


def test_blur_keeps_constant_image_constant() -> None:
    x = torch.full((1, 3, 30, 30), 0.25, dtype=torch.float64)
    torch.testing.assert_close(blur(x, gaussian_kernel(3.0).double()), x)


def test_blur_uses_one_kernel_per_batch_item() -> None:
    x = torch.rand(1, 3, 24, 24).expand(2, -1, -1, -1)
    g = gaussian_kernel(1.5, size=7)
    out = blur(x, torch.stack([_delta(7), g]))
    assert torch.equal(out[0], x[0])
    torch.testing.assert_close(out[1], blur(x[1:], g)[0])
    assert torch.equal(blur(x, g), blur(x, torch.stack([g, g])))


def test_blur_rejects_bad_input() -> None:
    with pytest.raises(InputError, match="2 kernels for a batch of 3"):
        blur(torch.rand(3, 1, 16, 16), torch.stack([_delta(3), _delta(3)]))
    with pytest.raises(InputError, match="too large"):
        blur(torch.rand(1, 1, 8, 8), _delta(21))
    with pytest.raises(InputError, match="float images"):
        blur(torch.rand(1, 8, 8), _delta(3))
    with pytest.raises(InputError, match="odd"):
        blur(torch.rand(1, 1, 8, 8), torch.ones(4, 4) / 16)


# --- crop / pad / resize ---------------------------------------------------------------


def test_center_crop_kernel_takes_centre_and_renormalises() -> None:
    k = gaussian_kernel(4.0)
    out = center_crop_kernel(k, 15)
    assert out.shape == (15, 15)
    torch.testing.assert_close(out, k[3:18, 3:18] / k[3:18, 3:18].sum())
    assert abs(float(out.sum()) - 1.0) < 1e-6


def test_pad_kernel_zero_pads_symmetrically_and_keeps_sum() -> None:
    k = gaussian_kernel(1.0, size=15)
    out = pad_kernel(k, 21)
    assert out.shape == (21, 21)
    assert torch.equal(out[:3].abs().sum() + out[-3:].abs().sum(), torch.tensor(0.0))
    torch.testing.assert_close(out[3:18, 3:18], k / k.sum())
    assert out.argmax() == 10 * 21 + 10  # centre stays at the centre


def test_resize_kernel_chooses_crop_or_pad_and_handles_batches() -> None:
    stack = gaussian_kernels([1.0, 2.0], size=15)
    assert resize_kernel(stack, 21).shape == (2, 21, 21)
    assert resize_kernel(stack, 11).shape == (2, 11, 11)
    torch.testing.assert_close(resize_kernel(stack, 11), center_crop_kernel(stack, 11))
    torch.testing.assert_close(resize_kernel(stack, 21), pad_kernel(stack, 21))
    torch.testing.assert_close(resize_kernel(stack[0], 15), stack[0])


def test_kernel_size_conversions_reject_bad_input() -> None:
    k = gaussian_kernel(1.0, size=15)
    with pytest.raises(InputError, match="odd"):
        center_crop_kernel(k, 10)
    with pytest.raises(InputError, match="odd"):
        pad_kernel(k, 20)
    with pytest.raises(InputError, match="larger"):
        center_crop_kernel(k, 21)
    with pytest.raises(InputError, match="smaller"):
        pad_kernel(k, 11)
    bad = k.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        resize_kernel(bad, 21)
    ring = pad_kernel(_delta(3), 15) * 0
    ring[0, 0] = 1.0
    with pytest.raises(InputError, match="sums to zero"):
        center_crop_kernel(ring, 3)


# --- check_kernel ----------------------------------------------------------------------


def test_check_kernel_accepts_valid_kernels() -> None:
    check_kernel(gaussian_kernel(2.0), size=21)
    check_kernel(gaussian_kernels([1.0, 2.0], size=15))
    check_kernel(_delta(3) - 1e-4 * (1 - _delta(3)) + 8e-4 * _delta(3))


@pytest.mark.parametrize(
    ("kernel", "kwargs", "message"),
    [
        (torch.ones(3, 5) / 15, {}, "square"),
        (torch.ones(4, 4) / 16, {}, "odd"),
        (torch.ones(2, 2, 3, 3), {}, "square"),
        (gaussian_kernel(1.0, size=15), {"size": 21}, "must be 21x21, got 15x15"),
        (2 * _delta(3) - torch.full((3, 3), 1 / 9), {}, "negative"),
        (0.9 * _delta(5), {}, "sum to 1"),
        (torch.full((3, 3), float("inf")), {}, "NaN or infinite"),
    ],
)
def test_check_kernel_explains_problem(kernel: torch.Tensor, kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        check_kernel(kernel, **kwargs)


def test_check_kernel_atol_controls_sum_tolerance() -> None:
    k = 1.005 * _delta(3)
    with pytest.raises(InputError):
        check_kernel(k)
    check_kernel(k, atol=1e-2)


# --- kernel_psnr -----------------------------------------------------------------------


def test_kernel_psnr_uses_gt_peak() -> None:
    gt = gaussian_kernels([1.0, 3.0], size=11)
    delta = 1e-4
    est = gt + delta
    peak = gt.double().amax(dim=(1, 2))
    expected = 10 * torch.log10(peak**2 / delta**2)
    got = kernel_psnr(est, gt)
    assert got.dtype == torch.float64 and got.shape == (2,)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-3)


def test_kernel_psnr_is_inf_for_exact_estimate_and_broadcasts_single_kernel() -> None:
    gt = gaussian_kernel(2.0, size=15)
    est = torch.stack([gt, pad_kernel(center_crop_kernel(gt, 7), 15)])
    out = kernel_psnr(est, gt)
    assert out.shape == (2,)
    assert math.isinf(out[0].item()) and out[1] < 60


def test_kernel_psnr_rejects_mismatched_sizes() -> None:
    with pytest.raises(InputError, match="kernel sizes differ"):
        kernel_psnr(gaussian_kernel(1.0, size=15), gaussian_kernel(1.0, size=21))
    with pytest.raises(InputError, match="batch sizes differ"):
        kernel_psnr(gaussian_kernels([1.0, 2.0], 15), gaussian_kernels([1.0, 2.0, 3.0], 15))
