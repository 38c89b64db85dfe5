"""bsrbench feeds and scores DAN and DCLS as their official test scripts do (FACTS.md §2).

* gaussian8's kernel for sigma = 2.6 is upstream's ``stable_batch_kernel``;
* bsrbench's ``matlab-bicubic`` degradation (reflect-padded blur, MATLAB imresize,
  rounding) reproduces every golden LR image of both bundles exactly;
* upstream ``test.py``'s PSNR_Y/SSIM_Y (float BT.601 luma, border = scale) are bsrbench's
  ``basicsr-y`` convention, so the papers' tables compare with ``--convention basicsr-y``.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from shared_bundle import shared_dir

from bsrbench.degradations import degrade
from bsrbench.kernels import gaussian_kernel
from bsrbench.metrics import score

CASES = ["dan/golden_danv1_x4_s1.pt", "dan/golden_danv1_x2_s1.pt",
         "dcls/golden_dcls_x4_s1.pt", "dcls/golden_dcls_x4_s2.pt"]


def _golden(rel: str) -> dict:
    return torch.load(shared_dir("reference", *rel.split("/")), weights_only=True)


def test_gaussian8_kernel_is_upstreams() -> None:
    golden = _golden("dan/golden_danv1_x4_s1.pt")
    assert golden["meta"]["sig"] == 2.6
    torch.testing.assert_close(gaussian_kernel(2.6, size=21), golden["cases"][0]["kernel"],
                               atol=0, rtol=0)


@pytest.mark.parametrize("rel", CASES)
def test_matlab_bicubic_degradation_reproduces_the_official_lr(rel: str) -> None:
    golden = _golden(rel)
    scale = golden["config"]["upscale"]
    for case in golden["cases"]:
        kernel = case["kernel"] if "dan/" in rel else case["true_kernel"]
        lr = degrade(case["hr_u8"].float()[None] / 255, kernel[None], scale, "matlab-bicubic")
        assert torch.equal(lr[0], case["lr_u8"]), case["image"]


def _upstream_y(img_u8: torch.Tensor) -> torch.Tensor:
    """``bgr2ycbcr(only_y=True)`` on the float image, back on the 0..255 scale."""
    r, g, b = img_u8.double()
    return (24.966 * b + 128.553 * g + 65.481 * r) / 255 + 16


def _upstream_ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    k = torch.tensor([math.exp(-((i - 5) ** 2) / (2 * 1.5**2)) for i in range(11)],
                     dtype=torch.float64)
    w = torch.outer(k / k.sum(), k / k.sum())[None, None]
    x, y = a[None, None], b[None, None]
    mx, my = F.conv2d(x, w), F.conv2d(y, w)
    vx, vy = F.conv2d(x * x, w) - mx**2, F.conv2d(y * y, w) - my**2
    cxy = F.conv2d(x * y, w) - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    return float((((2 * mx * my + c1) * (2 * cxy + c2))
                  / ((mx**2 + my**2 + c1) * (vx + vy + c2))).mean())


@pytest.mark.parametrize("rel", CASES[::2])
def test_upstream_psnr_y_is_basicsr_y(rel: str) -> None:
    golden = _golden(rel)
    s = golden["config"]["upscale"]
    for case in golden["cases"]:
        a = _upstream_y(case["sr_u8"])[s:-s, s:-s]
        b = _upstream_y(case["hr_u8"])[s:-s, s:-s]
        psnr_y = 20 * math.log10(255 / math.sqrt(float(((a - b) ** 2).mean())))
        ours = score(case["sr_u8"][None].float() / 255, case["hr_u8"][None], scale=s,
                     convention="basicsr-y")
        assert float(ours["psnr"][0]) == pytest.approx(psnr_y, abs=1e-9)
        assert float(ours["ssim"][0]) == pytest.approx(_upstream_ssim(a, b), abs=1e-9)
