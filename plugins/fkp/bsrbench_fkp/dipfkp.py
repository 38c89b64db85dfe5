"""DIP-FKP (Liang et al., CVPR 2021, §3.3): blind kernel estimation by optimising a Deep
Image Prior generator and a latent of the flow kernel prior on the LR image alone.

Per image: the DIP net maps fixed noise to an HR guess; the kernel is
``post_process(inverse(code))``; the HR guess blurred with it (circular padding, ``conv2d``,
``[::sf, ::sf]``) must match the LR: 1 - SSIM for the first 80 iterations, then MSE. The
DIP net is optimised with Adam (5e-3) from the start; the latent with Adam (0.5) projected
back to the sphere of radius k - 1 after every step, and only receives gradients after
iteration 75. 1000 iterations, seeds 1 (noise and network) and 5 (latent). All of it as
FACTS.md §4 of ``../shared/reference/fkp`` records it, including torch 2.x's zero_grad.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bsrbench.errors import InputError
from bsrbench.interfaces import KernelEstimate, LRBatch
from bsrbench.specs import BuildContext
from bsrbench_fkp.dip_net import MIN_SIZE, build_skip
from bsrbench_fkp.flow import KernelPrior, load_prior
from bsrbench_fkp.zeroshot import ZeroShotOptions, lockstep, per_image, require_grad, ssim

__all__ = ["DIPFKPConfig", "DIPFKPEstimator", "DIPFKPRun", "build_dipfkp"]

ITERATIONS = 1000  # DIPFKP/config/configs.py max_iters


@dataclass(frozen=True)
class DIPFKPConfig:
    """Upstream's hyper-parameters (``DIPFKP/config/configs.py`` defaults)."""

    dip_lr: float = 5e-3  # Adam on the DIP network
    kp_lr: float = 0.5  # Adam on the FKP latent (then projected to the sphere)
    ssim_iters: int = 80  # loss 1 - SSIM up to here, MSE after
    kp_frozen_iters: int = 75  # the latent gets gradients only for iterations > this
    input_scale: float = 0.1  # DIP input noise: U[0, 1) * 0.1


class DIPFKPRun:
    """One image's optimisation; :meth:`iterate` yields after every iteration.

    Args:
        lr: (1, 3, h, w) float LR in [0, 1], h and w already large enough for the DIP.
        scale: SR factor.
        prior: the FKP prior for ``scale`` (eval mode, frozen).
        seed: seeds the DIP input and network (upstream 1); the latent uses seed + 4
            (upstream 5).
        state: optional recorded initial state (``dip_state_dict``, ``input_dip``,
            ``kernel_code_init``), used instead of seeding (tests replay upstream runs).
    """

    def __init__(self, lr: Tensor, scale: int, prior: KernelPrior, seed: int = 1,
                 config: DIPFKPConfig | None = None, state: dict | None = None) -> None:
        self.cfg = config or DIPFKPConfig()
        self.lr, self.scale, self.prior = lr, scale, prior
        self.k = prior.k
        device = lr.device
        h, w = lr.shape[-2:]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            noise = torch.zeros(1, 3, scale * h, scale * w).uniform_() * self.cfg.input_scale
            self.net: nn.Module = build_skip()
            torch.manual_seed(seed + 4)
            # upstream builds its KernelPrior here (random Linear init, then overwritten by
            # the release): build a twin so the latent is drawn from the same stream
            KernelPrior(5, self.k * self.k, prior.net[0].s_net[0].out_features, 1)
            code = torch.distributions.Normal(
                torch.zeros(self.k * self.k), torch.ones(self.k * self.k)).sample((1, 1))
        if state is not None:
            self.net.load_state_dict(state["dip_state_dict"])
            noise, code = state["input_dip"], state["kernel_code_init"]
        self.net.to(device).train()  # upstream never calls eval(): BatchNorm on batch stats
        self.input = noise.to(device)
        self.code = code.clone().to(device)
        self.opt_dip = torch.optim.Adam(self.net.parameters(), lr=self.cfg.dip_lr)
        self.opt_kp = torch.optim.Adam([self.code], lr=self.cfg.kp_lr)
        self.radius = float(self.k - 1)

    def kernel(self) -> Tensor:
        """The kernel of the current latent, (1, 1, k, k) (not renormalised)."""
        return self.prior.post_process(self.prior.inverse(self.code)[0])

    def iterate(self, iterations: int) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        """Run ``iterations`` steps; yield (kernel used in the forward, DIP output, loss)."""
        pad = self.k // 2
        for t in range(1, iterations + 1):
            self.opt_dip.zero_grad()
            self.opt_kp.zero_grad()
            sr = self.net(self.input)
            kernel = self.kernel()
            blurred = F.conv2d(F.pad(sr, (pad, pad, pad, pad), mode="circular"),
                               kernel.expand(3, -1, -1, -1), groups=3)
            out = blurred[:, :, ::self.scale, ::self.scale]
            # Set after the forward, as upstream: the latent's first gradient is at t = 77.
            self.code.requires_grad_(t > self.cfg.kp_frozen_iters)
            if t <= self.cfg.ssim_iters:
                loss = 1 - ssim(out, self.lr)
            else:
                loss = F.mse_loss(out, self.lr)
            loss.backward()
            self.opt_dip.step()
            self.opt_kp.step()
            with torch.no_grad():  # SphericalOptimizer's projection (parameter update)
                self.code.div_((self.code.pow(2).sum(2, keepdim=True) + 1e-9).sqrt())
                self.code.mul_(self.radius)
            yield kernel.detach()[0, 0], sr.detach(), loss.detach()


def fit_size(lr: Tensor, scale: int) -> Tensor:
    """Replicate-pad the LR at the bottom/right so the 5-level DIP accepts its HR size
    (>= 33 px per side); images that are large enough are returned unchanged."""
    need = -(-MIN_SIZE // scale)
    h, w = lr.shape[-2:]
    if h >= need and w >= need:
        return lr
    return F.pad(lr, (0, max(need - w, 0), 0, max(need - h, 0)), mode="replicate")


class DIPFKPEstimator:
    """The ``dipfkp`` kernel estimator: one DIP-FKP optimisation per LR image."""

    whole_image = "zero-shot: it optimises a DIP network and the kernel on the whole LR image"

    def __init__(self, scale: int, prior: KernelPrior, opts: ZeroShotOptions) -> None:
        self.scale, self.prior, self.opts = scale, prior, opts

    def estimate(self, batch: LRBatch) -> Iterator[KernelEstimate]:
        require_grad("dipfkp")
        if batch.scale != self.scale:
            raise InputError(f"dipfkp was built for x{self.scale}, got an x{batch.scale} batch")
        prior = self.prior.to(batch.lr.device)

        def start(lr: Tensor) -> Iterator[Tensor]:
            run = DIPFKPRun(fit_size(lr.float(), self.scale), self.scale, prior, self.opts.seed)
            return (k for k, _, _ in run.iterate(self.opts.iterations))

        for kernels in lockstep(per_image(batch.lr, start), self.opts):
            yield KernelEstimate(kernel=kernels.to(batch.lr.device))


def build_dipfkp(ctx: BuildContext) -> DIPFKPEstimator:
    """Factory for ``dipfkp``: the bundled FKP prior of the run's scale, or
    ``--kernel-weights`` (a file or folder with ``FKP_x{s}.pt`` / ``fkp_x{s}.safetensors``)."""
    prior = load_prior(ctx.scale, ctx.weights)
    return DIPFKPEstimator(ctx.scale, prior, ZeroShotOptions.from_context(ctx))
