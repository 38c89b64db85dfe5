"""The flow kernel prior: released weights, inverse/forward goldens, the analytic x4 kernel."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from bsrbench_fkp.flow import fkp_kernel_size, load_prior, pre_process
from bsrbench_fkp.kernel_ops import analytic_kernel, kernel_shift
from bsrbench_fkp.weight_files import BUNDLED_DIR
from shared_bundle import shared_dir

from bsrbench.errors import InputError, WeightsError

REF = ("reference", "fkp")
SCALES = (2, 3, 4)


@functools.cache
def _golden() -> dict:
    return torch.load(shared_dir(*REF, "golden_fkp.pt"), weights_only=True)


def _close(a: torch.Tensor, b: torch.Tensor, atol: float, rtol: float = 0.0) -> bool:
    return bool(torch.allclose(a, b, atol=atol, rtol=rtol))


@pytest.mark.parametrize("scale", SCALES)
def test_fkp_inverse_matches_upstream(scale: int) -> None:
    """latent -> kernel, the direction DIP-FKP and KernelGAN-FKP use (FACTS.md §3, §8:
    kernels 1e-5, latents/log-dets 1e-4 or relative 1e-5)."""
    g, prior = _golden()[f"x{scale}"], load_prior(scale)
    assert prior.k == g["kernel_size"] == fkp_kernel_size(scale)
    with torch.no_grad():
        x, ladj = prior.inverse(g["latent_in"])
        kernel = prior.post_process(x)
    assert _close(x, g["inverse_x"], 1e-4, 1e-5)
    assert _close(ladj.sum(1), g["inverse_logdet"], 1e-4, 1e-5)
    assert kernel.shape == (6, 1, g["kernel_size"], g["kernel_size"])
    assert _close(kernel, g["inverse_kernel"], 1e-5)


@pytest.mark.parametrize("scale", SCALES)
def test_fkp_forward_and_log_prob_match_upstream(scale: int) -> None:
    g, prior = _golden()[f"x{scale}"], load_prior(scale)
    with torch.no_grad():
        x_in = pre_process(prior, g["kernel_in"].float())
        u, ladj = prior(g["forward_x_in"])
        log_prob = prior.log_prob(g["forward_x_in"])
        back = prior.post_process(prior.inverse(g["forward_u"])[0])
    assert _close(x_in, g["forward_x_in"], 1e-4, 1e-5)
    assert _close(u, g["forward_u"], 1e-4, 1e-5)
    assert _close(ladj.sum(1), g["forward_logdet"], 1e-4, 1e-5)
    assert _close(log_prob, g["log_prob"], 1e-4, 1e-5)
    assert _close(back, g["roundtrip_kernel"], 1e-5)


@pytest.mark.parametrize("scale", SCALES)
def test_fkp_weights_tensor_identical_to_release(scale: int) -> None:
    release = torch.load(shared_dir(*REF, "official", f"FKP_x{scale}.pt"),
                         map_location="cpu", weights_only=True)["model_state"]
    bundled = load_prior(scale).state_dict()
    assert list(bundled) == list(release)
    for key, value in release.items():
        assert torch.equal(bundled[key], value), key
    assert (BUNDLED_DIR / f"fkp_x{scale}.safetensors").stat().st_size < 20_000_000
    from_release = load_prior(scale, shared_dir(*REF, "official", f"FKP_x{scale}.pt"))
    assert all(torch.equal(a, b) for a, b in zip(
        from_release.state_dict().values(), bundled.values(), strict=True))


def test_fkp_prior_refuses_wrong_scale_and_file() -> None:
    with pytest.raises(InputError, match="x2, x3 and x4"):
        load_prior(8)
    with pytest.raises(WeightsError, match=r"FKP x3 prior"):
        load_prior(3, BUNDLED_DIR / "fkp_x4.safetensors")


def test_fkp_analytic_x4_kernel_matches_upstream() -> None:
    """KernelGAN's x2 -> x4 kernel and its shift (FACTS.md §5, §8: 1e-12 in float64)."""
    golden = torch.load(shared_dir(*REF, "golden_analytic_kernel.pt"), weights_only=True)
    for case in golden.values():
        k4 = analytic_kernel(case["k2"].numpy())
        assert np.abs(k4 - case["k4_analytic"].numpy()).max() <= 1e-12
        shifted = kernel_shift(k4, 4)
        assert np.abs(shifted - case["k4_analytic_shifted"].numpy()).max() <= 1e-12
