"""DIP-FKP: the DIP generator's layout and seeded init, upstream's first iterations from the
recorded initial state, and the estimator API (steps, batches, determinism)."""

from __future__ import annotations

import functools

import pytest
import torch
from bsrbench_fkp.dip_net import build_skip
from bsrbench_fkp.dipfkp import DIPFKPRun, fit_size
from bsrbench_fkp.flow import KernelPrior, load_prior
from shared_bundle import shared_dir

from bsrbench.errors import InputError, PluginError
from bsrbench.interfaces import LRBatch
from bsrbench.specs import BuildContext, resolve_options

DIR = ("reference", "fkp", "dipfkp")


@functools.cache
def _init() -> dict:
    return torch.load(shared_dir(*DIR, "init_state_x4_lr16.pt"), weights_only=True)


@functools.cache
def _golden() -> dict:
    return torch.load(shared_dir(*DIR, "golden_dipfkp_x4_lr16.pt"), weights_only=True)


def test_dipfkp_seeded_init_reproduces_upstream_state() -> None:
    """Seed 1 -> input noise and DIP weights, seed 5 -> latent: as the recorded state."""
    init = _init()
    run = DIPFKPRun(torch.zeros(1, 3, 16, 16), 4, load_prior(4), seed=1)
    assert torch.equal(run.input, init["input_dip"])
    assert torch.equal(run.code, init["kernel_code_init"])
    state = run.net.state_dict()
    assert list(state) == list(init["dip_state_dict"])
    for key, value in init["dip_state_dict"].items():
        assert torch.equal(state[key], value), key


def test_dipfkp_first_iterations_follow_upstream() -> None:
    """FACTS.md §8: iteration 1 (DIP output, loss, kernel) to 1e-5; iteration 2 to 5e-2 on
    the output and 5e-3 relative on the loss; kernels to 1e-6 (independent of the DIP)."""
    g = _golden()
    run = DIPFKPRun(g["lr"], 4, load_prior(4), state=_init())
    steps = list(run.iterate(4))
    k1, sr1, loss1 = steps[0]
    assert float((sr1 - g["sr_traj"][0]).abs().max()) <= 1e-5
    assert abs(float(loss1) - float(g["loss_traj"][0])) <= 1e-5
    assert float((k1 - g["kernel_traj"][0]).abs().max()) <= 1e-5
    _, sr2, loss2 = steps[1]
    assert float((sr2 - g["sr_traj"][1]).abs().max()) <= 5e-2
    assert abs(float(loss2) / float(g["loss_traj"][1]) - 1) <= 5e-3
    for t, (k, _, _) in enumerate(steps):
        assert float((k - g["kernel_traj"][t]).abs().max()) <= 1e-6, t
    # iterations 2.. use the projected latent (radius 18), unchanged while it is frozen
    assert torch.equal(steps[1][0], steps[3][0])
    assert torch.allclose(run.code, g["latent"][1], atol=1e-5)
    assert abs(float(run.code.norm()) - 18.0) < 1e-3


def test_dipfkp_frozen_kernel_equals_projected_latent_kernel() -> None:
    """kernel_traj[1:77] is the kernel of the projected initial latent (FACTS.md §4.6)."""
    g, prior = _golden(), load_prior(4)
    code = _init()["kernel_code_init"]
    code = code / (code.pow(2).sum(2, keepdim=True) + 1e-9).sqrt() * 18
    with torch.no_grad():
        k = prior.post_process(prior.inverse(code)[0])[0, 0]
    assert float((g["kernel_traj"][1:77] - k).abs().max()) <= 1e-6


def _estimator(registry, scale: int = 4, **options):
    spec = registry.get("estimator", "dipfkp")
    opts = resolve_options(spec.options, options, "dipfkp")
    return spec, spec.factory(BuildContext(scale, "cpu", None, opts))


def test_dipfkp_estimator_yields_every_n_and_the_last(registry) -> None:
    spec, est = _estimator(registry, iterations=3, step_every=2)
    assert spec.needs_grad and spec.iterative and spec.kernel_size == 21
    assert {o.name: o.default for o in spec.options} == {
        "iterations": 1000, "step_every": 100, "seed": 1, "recentre": False}
    lr = torch.rand(2, 3, 10, 9, generator=torch.Generator().manual_seed(0))
    with torch.enable_grad():
        steps = list(est.estimate(LRBatch(lr=lr, scale=4)))
        single = list(est.estimate(LRBatch(lr=lr[1:], scale=4)))
    assert len(steps) == 2  # iterations 2 and 3
    for s in steps:
        assert s.kernel.shape == (2, 21, 21) and s.kernel.dtype == torch.float32
        assert torch.allclose(s.kernel.sum((1, 2)), torch.ones(2), atol=1e-5)
        assert float(s.kernel.min()) >= 0
    assert torch.equal(steps[-1].kernel[1:], single[-1].kernel)  # batch == single, seeded


def test_dipfkp_refuses_grad_disabled_and_bad_options(registry) -> None:
    _, est = _estimator(registry, iterations=1)
    with torch.inference_mode(), pytest.raises(PluginError, match="needs_grad"):
        next(est.estimate(LRBatch(lr=torch.rand(1, 3, 16, 16), scale=4)))
    with pytest.raises(InputError, match="step_every"):
        _estimator(registry, step_every=0)


def test_dipfkp_small_lr_is_padded_to_the_dip_minimum() -> None:
    lr = torch.rand(1, 3, 12, 40)
    assert fit_size(lr, 2).shape == (1, 3, 17, 40)
    assert fit_size(lr, 4) is lr
    net = build_skip()
    assert net(torch.rand(1, 3, 34, 34)).shape[-2:] == (34, 34)
    assert isinstance(load_prior(2), KernelPrior)


@pytest.mark.slow
def test_dipfkp_seeded_run_through_the_latent_release() -> None:
    """100 seeded iterations (~25 s): past the latent's first gradient (t = 77) and the
    switch to MSE (t = 81). Kernels up to 77 are DIP-independent (1e-6); afterwards the
    run is chaotic (FACTS.md §8), so only the kernel's quality is compared (1 dB)."""
    import math

    g = _golden()
    run = DIPFKPRun(g["lr"], 4, load_prior(4), seed=1)
    with torch.enable_grad():
        kernels = torch.stack([k for k, _, _ in run.iterate(100)])
    assert float((kernels[:77] - g["kernel_traj"][:77]).abs().max()) <= 1e-6
    assert not torch.equal(kernels[77], kernels[76])  # the latent moves at iteration 78

    def kpsnr(k: torch.Tensor) -> float:
        mse = float(((k.double() - g["kernel_gt"].double()) ** 2).mean())
        return 20 * math.log10(1 / math.sqrt(mse))

    assert abs(kpsnr(kernels[-1]) - kpsnr(g["kernel_traj"][99])) <= 1.0


def test_dipfkp_recentre_moves_fkp_alignment_to_the_centre() -> None:
    """FKP's kernels have their centre of mass at (k - s) / 2; ``recentre`` moves them by
    (s - 1) / 2 px to bsrbench's centred convention (index 10 of the 21x21 estimate)."""
    import numpy as np
    from bsrbench_fkp.kernel_ops import kernel_shift
    from bsrbench_fkp.zeroshot import to_estimate
    from scipy import ndimage

    from bsrbench.kernels import gaussian_kernel

    fkp = kernel_shift(gaussian_kernel(2.0, size=19).double().numpy(), 4)
    assert np.allclose(ndimage.center_of_mass(fkp), (7.5, 7.5), atol=1e-3)
    kept, moved = to_estimate([torch.from_numpy(fkp)]), to_estimate([torch.from_numpy(fkp)], 1.5)
    assert np.allclose(ndimage.center_of_mass(kept[0].double().numpy()), (8.5, 8.5), atol=1e-3)
    assert np.allclose(ndimage.center_of_mass(moved[0].double().numpy()), (10, 10), atol=1e-2)
    assert abs(float(moved.sum()) - 1) < 1e-6
