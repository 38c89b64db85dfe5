"""Tests for bsrbench.degradations, including the bit-exact IKC LR pipeline (FACTS §4)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from shared_bundle import shared_dir

from bsrbench.degradations import DOWNSAMPLERS, degrade, downsample, modcrop
from bsrbench.errors import InputError
from bsrbench.kernels import blur, gaussian_kernel, gaussian_kernels
from bsrbench.resize import imresize, pil_bicubic


@pytest.fixture(scope="module")
def ikc_case() -> tuple[torch.Tensor, dict]:
    shared = shared_dir()
    golden = torch.load(shared / "reference/ikc/golden_predictor_corrector.pt", weights_only=True)
    rgb = np.array(Image.open(shared / "data/Set5/baby.png").convert("RGB"))
    hr = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
    return hr, golden


def test_ikc_blurred_u8_is_bit_exact(ikc_case: tuple[torch.Tensor, dict]) -> None:
    hr, golden = ikc_case
    blurred = blur(hr, gaussian_kernel(2.6))
    blurred_u8 = (blurred.clamp(0, 1) * 255).to(torch.uint8)  # IKC truncates
    assert torch.equal(blurred_u8[0], golden["blurred_u8"])


def test_ikc_lr_u8_is_bit_exact(ikc_case: tuple[torch.Tensor, dict]) -> None:
    hr, golden = ikc_case
    lr = degrade(hr, gaussian_kernel(2.6)[None], 4, "pil-bicubic")
    assert lr.dtype == torch.uint8 and lr.shape == (1, 3, 128, 128)
    assert torch.equal(lr[0], golden["lr_u8"])
    assert torch.equal(
        downsample(blur(hr, gaussian_kernel(2.6)), 4, "pil-bicubic")[0], golden["lr_u8"]
    )


# --- downsample ------------------------------------------------------------------------


def test_downsample_matlab_bicubic_rounds_imresize() -> None:
    x = torch.rand(2, 3, 24, 18)
    out = downsample(x, 3, "matlab-bicubic")
    assert out.dtype == torch.uint8 and out.shape == (2, 3, 8, 6)
    expected = torch.floor(imresize(x.double(), 1 / 3).clamp(0, 1) * 255 + 0.5).to(torch.uint8)
    assert torch.equal(out, expected)


def test_downsample_rounds_half_away_from_zero_not_truncates() -> None:
    x = torch.full((1, 1, 8, 8), 100.6 / 255, dtype=torch.float64)
    assert downsample(x, 2, "matlab-bicubic").unique().tolist() == [101]
    assert downsample(x, 2, "direct").unique().tolist() == [101]
    tie = torch.full((1, 1, 8, 8), 100.5 / 255, dtype=torch.float64)
    assert downsample(tie, 2, "direct").unique().tolist() == [101]
    # pil-bicubic truncates first (100.6 -> 100), as IKC does.
    assert downsample(x, 2, "pil-bicubic").unique().tolist() == [100]


def test_downsample_pil_bicubic_truncates_then_resizes_with_pil() -> None:
    x = torch.rand(1, 3, 16, 20)
    trunc = (x * 255).to(torch.uint8)
    assert torch.equal(downsample(x, 4, "pil-bicubic"), pil_bicubic(trunc, (4, 5)))


def test_downsample_direct_takes_top_left_of_each_cell() -> None:
    x = torch.arange(36, dtype=torch.float64).reshape(1, 1, 6, 6) / 255
    out = downsample(x, 3, "direct")
    assert out[0, 0].tolist() == [[0, 3], [18, 21]]


def test_downsample_clamps_out_of_range_values() -> None:
    x = torch.tensor([-0.5, 1.5]).reshape(2, 1, 1, 1).expand(2, 1, 4, 4).contiguous()
    for method in DOWNSAMPLERS:
        out = downsample(x, 2, method)
        assert out[0].unique().tolist() == [0] and out[1].unique().tolist() == [255], method


def test_downsample_rejects_bad_input() -> None:
    x = torch.rand(1, 3, 8, 8)
    with pytest.raises(InputError, match="matlab-bicubic, pil-bicubic"):
        downsample(x, 2, "bicubic")
    with pytest.raises(InputError, match="not a multiple of scale 3"):
        downsample(x, 3, "direct")
    with pytest.raises(InputError, match="positive integer"):
        downsample(x, 0, "direct")
    with pytest.raises(InputError, match="float images"):
        downsample((x * 255).to(torch.uint8), 2, "direct")


# --- degrade ---------------------------------------------------------------------------


def test_degrade_without_kernels_is_plain_downsample() -> None:
    hr = torch.rand(1, 3, 12, 12)
    expected = downsample(hr, 2, "matlab-bicubic")
    assert torch.equal(degrade(hr, None, 2, "matlab-bicubic"), expected)
    assert torch.equal(degrade(hr, torch.empty(0, 21, 21), 2, "matlab-bicubic"), expected)
    assert degrade(torch.rand(2, 3, 12, 12), None, 2, "direct").shape == (2, 3, 6, 6)


def test_degrade_blurs_one_image_with_every_kernel() -> None:
    hr = torch.rand(1, 3, 32, 32)
    kernels = gaussian_kernels([0.8, 2.0, 3.2], size=11)
    out = degrade(hr, kernels, 4, "pil-bicubic")
    assert out.shape == (3, 3, 8, 8) and out.dtype == torch.uint8
    for i in range(3):
        assert torch.equal(out[i], downsample(blur(hr, kernels[i]), 4, "pil-bicubic")[0])


def test_degrade_pairs_images_with_kernels() -> None:
    hr = torch.rand(2, 3, 24, 24)
    kernels = gaussian_kernels([1.0, 2.5], size=7)
    out = degrade(hr, kernels, 2, "direct")
    assert torch.equal(out[1], degrade(hr[1:], kernels[1:], 2, "direct")[0])
    with pytest.raises(InputError, match="2 HR images for 3 kernels"):
        degrade(hr, gaussian_kernels([1.0, 2.0, 3.0], size=7), 2, "direct")


@pytest.mark.parametrize("method", DOWNSAMPLERS)
def test_degrade_noise_is_seeded_and_has_requested_level(method: str) -> None:
    hr = torch.full((1, 1, 256, 256), 0.5)

    def run(seed: int) -> torch.Tensor:
        return degrade(
            hr, None, 2, method, noise_sigma=10.0, generator=torch.Generator().manual_seed(seed)
        )

    first, again, other = run(0), run(0), run(1)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    clean = degrade(hr, None, 2, method).double()
    std = (first.double() - clean).std().item()
    assert std == pytest.approx(10.0, rel=0.05)


def test_degrade_zero_noise_equals_clean_and_rejects_negative() -> None:
    hr = torch.rand(1, 3, 8, 8)
    assert torch.equal(degrade(hr, None, 2, "direct", noise_sigma=0.0), downsample(hr, 2, "direct"))
    with pytest.raises(InputError, match="noise_sigma"):
        degrade(hr, None, 2, "direct", noise_sigma=-1.0)
    with pytest.raises(InputError, match="did you mean"):
        degrade(hr, None, 2, "pil_bicubic")


# --- modcrop ---------------------------------------------------------------------------


def test_modcrop_keeps_top_left_multiple_of_scale() -> None:
    x = torch.arange(7 * 10).reshape(1, 1, 7, 10)
    out = modcrop(x, 3)
    assert out.shape == (1, 1, 6, 9)
    assert torch.equal(out, x[..., :6, :9])
    assert modcrop(torch.zeros(3, 9, 8), 4).shape == (3, 8, 8)
    assert modcrop(torch.zeros(9, 8), 2).shape == (8, 8)


def test_modcrop_rejects_bad_scale() -> None:
    with pytest.raises(InputError, match="positive integer"):
        modcrop(torch.zeros(4, 4), 0)
    with pytest.raises(InputError, match="positive integer"):
        modcrop(torch.zeros(4, 4), 2.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("method", DOWNSAMPLERS)
def test_degrade_registry_spec_matches_builtin_name(registry, method: str) -> None:
    """Building through the registry's DegradationSpec gives the same bytes as the name."""
    hr = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(1))
    k = gaussian_kernels([1.5, 2.5])
    spec = registry.get("degradation", method)
    for noise in (0.0, 7.5):
        a = degrade(hr, k, 4, method, noise_sigma=noise,
                    generator=torch.Generator().manual_seed(3))
        b = degrade(hr, k, 4, spec, noise_sigma=noise,
                    generator=torch.Generator().manual_seed(3))
        assert torch.equal(a, b)


@pytest.mark.parametrize("method", DOWNSAMPLERS)
def test_training_pairs_are_the_core_degradation(method: str) -> None:
    """Training's noisy pairs are bit-identical to the core's degrade, item by item."""
    from bsrbench.training.degradation import make_pairs

    hr_u8 = (torch.rand(2, 3, 24, 24, generator=torch.Generator().manual_seed(2)) * 255).to(
        torch.uint8)
    k = gaussian_kernels([1.2, 2.8])
    noise = torch.tensor([0.0, 12.0])
    pairs = make_pairs(hr_u8, k, 4, method, noise=noise,
                       generator=torch.Generator().manual_seed(5))
    gen = torch.Generator().manual_seed(5)
    draw = torch.randn((2, 3, 6, 6), generator=gen, dtype=torch.float64)
    for i in range(2):
        hr = hr_u8[i:i + 1].float() / 255
        # the core path, with the same noise draw replayed for item i
        core = degrade(hr, k[i:i + 1], 4, method)
        if noise[i] > 0:
            from bsrbench.degradations import builtin_degradation

            spec = builtin_degradation(method)
            blurred = blur(hr, k[i:i + 1])
            lr = (spec.float_downsample(blurred, 4) if spec.float_downsample
                  else spec.downsample(blurred, 4).double() / 255)
            core = torch.floor((lr + draw[i:i + 1] * (12.0 / 255)).clamp(0, 1) * 255 + 0.5)
            core = core.to(torch.uint8)
        assert torch.equal((pairs.lr[i:i + 1] * 255).round().to(torch.uint8), core)


def test_degrade_rejects_non_finite_noise() -> None:
    with pytest.raises(InputError, match="finite"):
        degrade(torch.rand(1, 3, 8, 8), None, 2, "direct", noise_sigma=float("inf"))
