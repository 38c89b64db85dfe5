"""usrnet composed with the plugin's zero-shot estimators and with oracle, through the core's
composition (the runner enables grad for needs_grad parts; here the test does)."""

from __future__ import annotations

import pytest
import torch

from bsrbench.compose import plan_method
from bsrbench.interfaces import LRBatch


@pytest.mark.parametrize("kernel", ["dipfkp", "kernelgan"])
def test_usrnet_composes_with_zero_shot_estimators(registry, kernel: str) -> None:
    plan = plan_method(registry, "usrnet", kernel, {"iterations": 2, "step_every": 1}, scale=4)
    assert plan.label == f"usrnet+{kernel}" and plan.needs_grad
    method = plan.build(4, "cpu")
    lr = torch.rand(1, 3, 12, 14, generator=torch.Generator().manual_seed(0))
    with torch.enable_grad():
        steps = list(method.run(LRBatch(lr=lr, scale=4)))
    assert len(steps) == 2
    for step in steps:
        assert step.sr.shape == (1, 3, 48, 56) and not step.sr.requires_grad
        assert step.kernel.shape == (1, 21, 21)
        assert float(step.sr.min()) >= 0.0 and float(step.sr.max()) <= 1.0


def test_usrnet_oracle_restores_a_direct_downsampled_image(registry) -> None:
    """With the true kernel and a direct (top-left) degradation, USRNet beats nearest
    upsampling by a wide margin: a check that the flip/convention is right end to end."""
    import torch.nn.functional as F

    from bsrbench.kernels import gaussian_kernel

    g = torch.Generator().manual_seed(1)
    hr = F.interpolate(torch.rand(1, 3, 12, 12, generator=g), size=(64, 64), mode="bicubic",
                       align_corners=False).clamp(0, 1)
    k = gaussian_kernel(2.0, size=21).float()
    blurred = F.conv2d(F.pad(hr, (10, 10, 10, 10), mode="circular"),
                       k.expand(3, 1, 21, 21), groups=3)
    lr = blurred[:, :, ::4, ::4]
    method = plan_method(registry, "usrnet", "oracle", {}, scale=4).build(4, "cpu")
    with torch.inference_mode():
        sr = list(method.run(LRBatch(lr=lr, scale=4, kernels=k[None])))[-1].sr
    near = F.interpolate(lr, scale_factor=4, mode="nearest")
    mse_sr, mse_near = F.mse_loss(sr, hr).item(), F.mse_loss(near, hr).item()
    assert mse_sr < 0.25 * mse_near
