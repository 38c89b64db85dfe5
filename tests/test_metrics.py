"""Tests for bsrbench.metrics: quantisation, luma, conventions, PSNR and SSIM."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.color import rgb2ycbcr
from skimage.metrics import structural_similarity

from bsrbench.errors import InputError
from bsrbench.metrics import CONVENTIONS, prepare, psnr, quantize, rgb_to_y, score, ssim


def _rand_u8(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(
        0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(seed)
    )


# --- quantize --------------------------------------------------------------------------


def test_quantize_clamps_and_rounds_to_uint8() -> None:
    sr = torch.tensor([-0.2, 0.0, 0.3, 1.0, 1.7])
    out = quantize(sr)
    assert out.dtype == torch.uint8
    assert out.tolist() == [0, 0, round(0.3 * 255), 255, 255]


def test_quantize_rounds_half_to_even_in_float32() -> None:
    # Find values whose float32 product with 255 is exactly k + 0.5.
    ties = [k for k in range(254) if float(torch.tensor((k + 0.5) / 255) * 255) == k + 0.5]
    assert len(ties) > 20
    x = torch.tensor([(k + 0.5) / 255 for k in ties], dtype=torch.float32)
    expected = [k if k % 2 == 0 else k + 1 for k in ties]
    assert quantize(x).tolist() == expected


def test_quantize_rejects_integer_input() -> None:
    with pytest.raises(InputError, match="float"):
        quantize(torch.zeros(3, dtype=torch.uint8))


# --- rgb_to_y --------------------------------------------------------------------------


def test_rgb_to_y_known_values() -> None:
    px = torch.tensor(
        [[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]], dtype=torch.uint8
    )
    img = px.T.reshape(3, 1, 5)
    y = rgb_to_y(img, rounded=False).flatten()
    torch.testing.assert_close(
        y, torch.tensor([16.0, 235.0, 81.481, 144.553, 40.966], dtype=torch.float64)
    )
    assert rgb_to_y(img, rounded=True).flatten().tolist() == [16.0, 235.0, 81.0, 145.0, 41.0]


def test_rgb_to_y_float_matches_skimage_and_rounded_is_integer() -> None:
    img = _rand_u8(2, 3, 8, 9)
    y = rgb_to_y(img, rounded=False)
    assert y.shape == (2, 1, 8, 9) and y.dtype == torch.float64
    ref = rgb2ycbcr(img[0].permute(1, 2, 0).numpy())[..., 0]
    np.testing.assert_allclose(y[0, 0].numpy(), ref, atol=1e-9)
    yr = rgb_to_y(img, rounded=True)
    assert torch.equal(yr, torch.floor(y + 0.5))


def test_rgb_to_y_rejects_wrong_channels() -> None:
    with pytest.raises(InputError, match="3 channels"):
        rgb_to_y(_rand_u8(1, 4, 5, 5), rounded=True)


# --- prepare ---------------------------------------------------------------------------


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_prepare_shapes_dtype_and_border(convention: str) -> None:
    sr = torch.rand(2, 3, 20, 24)
    hr = _rand_u8(1, 3, 20, 24)
    a, b = prepare(sr, hr, border=3, convention=convention)
    channels = 3 if convention == "rgb" else 1
    assert a.shape == b.shape == (2, channels, 14, 18)
    assert a.dtype == b.dtype == torch.float64


def test_prepare_conventions_compute_documented_values() -> None:
    sr = torch.rand(1, 3, 12, 12)
    hr = _rand_u8(1, 3, 12, 12)
    sr_u8 = quantize(sr)
    a, b = prepare(sr, hr, border=2, convention="matlab-y")
    assert torch.equal(a, rgb_to_y(sr_u8, rounded=True)[..., 2:10, 2:10])
    assert torch.equal(b, rgb_to_y(hr, rounded=True)[..., 2:10, 2:10])
    a, b = prepare(sr, hr, border=2, convention="basicsr-y")
    assert torch.equal(a, rgb_to_y(sr_u8, rounded=False)[..., 2:10, 2:10])
    a, b = prepare(sr, hr, border=0, convention="rgb")
    assert torch.equal(a, sr_u8.double()) and torch.equal(b, hr.double())


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_prepare_grey_hr_scores_against_mean_of_sr_channels(convention: str) -> None:
    sr = torch.rand(1, 3, 10, 10)
    hr = _rand_u8(1, 1, 10, 10)
    a, b = prepare(sr, hr, border=1, convention=convention)
    assert a.shape == (1, 1, 8, 8)
    expected = quantize(sr).double().mean(dim=1, keepdim=True)[..., 1:9, 1:9]
    assert torch.equal(a, expected)
    assert torch.equal(b, hr.double()[..., 1:9, 1:9])


def test_prepare_rejects_bad_input() -> None:
    sr, hr = torch.rand(2, 3, 10, 10), _rand_u8(2, 3, 10, 10)
    with pytest.raises(InputError, match="matlab-y"):
        prepare(sr, hr, border=2, convention="matlab")
    with pytest.raises(InputError, match="differs from HR size"):
        prepare(sr, _rand_u8(2, 3, 10, 12), border=2, convention="rgb")
    with pytest.raises(InputError, match="batch"):
        prepare(sr, _rand_u8(3, 3, 10, 10), border=2, convention="rgb")
    with pytest.raises(InputError, match="HR must be uint8"):
        prepare(sr, hr.float(), border=2, convention="rgb")
    with pytest.raises(InputError, match="SR must be float"):
        prepare(sr[:, :1], hr, border=2, convention="rgb")
    with pytest.raises(InputError, match="border"):
        prepare(sr, hr, border=5, convention="rgb")


# --- psnr / ssim -----------------------------------------------------------------------


def test_psnr_known_value_per_item_and_inf_for_identical() -> None:
    x = torch.rand(2, 1, 8, 8, dtype=torch.float64) * 200
    y = x.clone()
    y[1] += 1.0
    out = psnr(x, y)
    assert out.dtype == torch.float64 and out.shape == (2,)
    assert math.isinf(out[0].item())
    assert out[1].item() == pytest.approx(20 * math.log10(255), abs=1e-9)


def test_psnr_and_ssim_reject_mismatched_shapes() -> None:
    with pytest.raises(InputError, match="same shape"):
        psnr(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 9))
    with pytest.raises(InputError, match="same shape"):
        ssim(torch.zeros(1, 1, 16, 16), torch.zeros(1, 3, 16, 16))
    with pytest.raises(InputError, match="at least 11x11"):
        ssim(torch.zeros(1, 1, 10, 30), torch.zeros(1, 1, 10, 30))


def test_ssim_matches_skimage_gaussian_wang_settings() -> None:
    # skimage with these options is Wang et al.'s ssim_index: its border crop equals 'valid'.
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (40, 33)).astype(np.float64)
    b = np.clip(a + rng.normal(0, 20, a.shape), 0, 255)
    ref = structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
    )
    got = ssim(torch.from_numpy(a)[None, None], torch.from_numpy(b)[None, None])
    assert got.item() == pytest.approx(ref, abs=1e-10)


def test_ssim_is_one_for_identical_and_averages_channels() -> None:
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64) * 255
    torch.testing.assert_close(ssim(x, x), torch.ones(2, dtype=torch.float64))
    y = x + torch.randn_like(x) * 10
    per_channel = torch.stack([ssim(x[:, c : c + 1], y[:, c : c + 1]) for c in range(3)], dim=1)
    torch.testing.assert_close(ssim(x, y), per_channel.mean(dim=1))


# --- score -----------------------------------------------------------------------------


def test_score_shaves_scale_pixels() -> None:
    hr = _rand_u8(1, 3, 20, 20)
    sr = hr.double() / 255
    sr[..., :3, :] = 0.0  # damage only the 3-pixel border
    sr[..., :, -3:] = 1.0
    out = score(sr, hr, scale=3)
    assert set(out) == {"psnr", "ssim"}
    assert math.isinf(out["psnr"].item())
    assert out["ssim"].item() == pytest.approx(1.0)
    assert score(sr, hr, scale=2)["psnr"].item() < 40


def test_score_default_convention_is_matlab_y() -> None:
    hr = _rand_u8(2, 3, 24, 24)
    sr = torch.rand(2, 3, 24, 24)
    default = score(sr, hr, scale=2)
    a, b = prepare(sr, hr, border=2, convention="matlab-y")
    torch.testing.assert_close(default["psnr"], psnr(a, b))
    torch.testing.assert_close(default["ssim"], ssim(a, b))
    assert not torch.allclose(default["psnr"], score(sr, hr, scale=2, convention="rgb")["psnr"])


def test_ssim_of_an_expanded_reference_equals_the_copied_one() -> None:
    # the runner scores a batch of SR images against one HR expanded over the batch; the
    # reference's statistics are then computed once and must give the same values
    g = torch.Generator().manual_seed(3)
    ref = torch.randint(0, 256, (1, 1, 37, 41), generator=g).double()
    sr = (ref + torch.randn(4, 1, 37, 41, generator=g) * 9).clamp(0, 255).round()
    expanded = ref.expand(4, -1, -1, -1)
    copied = ref.repeat(4, 1, 1, 1)
    assert expanded.stride(0) == 0 and copied.stride(0) != 0
    a, b = ssim(sr, expanded), ssim(sr, copied)
    assert torch.allclose(a, b, rtol=0, atol=1e-14)
    assert len(set(a.tolist())) == 4  # four different images, four values
