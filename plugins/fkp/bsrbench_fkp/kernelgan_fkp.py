"""KernelGAN-FKP (Liang et al., CVPR 2021, §3.4): KernelGAN whose generator is the flow
kernel prior, so the GAN optimises an 11x11 kernel's latent instead of a deep linear net.

Per image (x2 kernel; x4 = the analytic composition of the x2 kernel, shifted): a WGAN-GP
discriminator (5 valid 3x3 conv layers, 32 channels, BatchNorm, LeakyReLU 0.2) tells real
27x27 LR crops from 64x64 LR crops blurred by the kernel and subsampled by 2. Every
iteration takes one batch of 64 crop pairs: 3 discriminator steps (Adam 5e-4, betas 0.5/
0.999, gradient penalty 0.1), then 3 latent steps on the last D step's fake batch
(SphericalOptimizer: Adam 5e-4 and projection to radius 10). 1000 iterations at x2, 4000 at
x4; seeds as upstream (1 for the latent, D and crops). FACTS.md §5 and the FKP repository's
``KernelGANFKP`` are the sources.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bsrbench.errors import InputError
from bsrbench.interfaces import KernelEstimate, LRBatch
from bsrbench.specs import BuildContext
from bsrbench_fkp.crops import CropSampler, fit, shave
from bsrbench_fkp.flow import KernelPrior, load_prior
from bsrbench_fkp.kernel_ops import analytic_kernel, kernel_shift
from bsrbench_fkp.zeroshot import ZeroShotOptions, lockstep, per_image, require_grad

__all__ = ["Discriminator", "KernelGANFKPRun", "build_kernelgan_fkp", "iterations_for"]

G_SIZE = 64  # G's input crop (input_crop_size)
K = 11  # the x2 kernel size G estimates
BATCH = 64  # DataLoader batch size
SAMPLES = 280000  # max_sampling: pre-drawn crop centres


def iterations_for(scale: int) -> int:
    """Upstream's iteration count: 1000 at x2, 4000 at x4 (``KernelGANFKP/main.py``)."""
    return 4000 if scale == 4 else 1000


class Discriminator(nn.Module):
    """Discriminator_KP: head + 3 body blocks (conv3x3 valid, BN, LeakyReLU 0.2) + conv3x3."""

    def __init__(self, chan: int = 32, layers: int = 5) -> None:
        super().__init__()

        self.head = OrderedBlock(3, chan)
        self.body = nn.Sequential()
        for i in range(layers - 2):
            self.body.add_module(f"block{i + 1}", OrderedBlock(chan, chan))
        self.tail = nn.Conv2d(chan, 1, 3)

    def forward(self, x: Tensor) -> Tensor:
        return self.tail(self.body(self.head(x * 2 - 1)))


class OrderedBlock(nn.Sequential):
    """conv (3x3, valid) -> norm (BatchNorm) -> LeakyReLU(0.2), keys ``conv``/``norm``."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.add_module("conv", nn.Conv2d(c_in, c_out, 3))
        self.add_module("norm", nn.BatchNorm2d(c_out))
        self.add_module("act", nn.LeakyReLU(0.2, inplace=True))


def _init_d(m: nn.Module) -> None:
    """weights_init_D_KP: conv weights N(0, 0.02) (biases keep torch's init); norm N(1, 0.02)."""
    if isinstance(m, nn.Conv2d):
        m.weight.data.normal_(0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        m.weight.data.normal_(1.0, 0.02)
        m.bias.data.fill_(0)


@dataclass(frozen=True)
class GANConfig:
    """Upstream hyper-parameters (``configs_FKP.py``, ``model_FKP.py``)."""

    g_lr: float = 5e-4
    d_lr: float = 5e-4
    beta1: float = 0.5
    gp_weight: float = 0.1
    d_steps: int = 3
    g_steps: int = 3


class KernelGANFKPRun:
    """One image's KernelGAN-FKP; :meth:`iterate` yields the x2 kernel after every iteration.

    Args:
        lr: (1, 3, h, w) float LR in [0, 1].
        prior: the FKP x2 prior (eval, frozen).
        seed: upstream 1: seeds the latent, D's init, the crop centres and the shuffling.
        border: pixels shaved on each side before cropping (10 for synthetic images).
        state: optional recorded init (``D`` state dict, ``kernel_code``) for replays.
    """

    def __init__(self, lr: Tensor, prior: KernelPrior, seed: int = 1, border: int = 10,
                 config: GANConfig | None = None, state: dict | None = None) -> None:
        self.cfg = config or GANConfig()
        self.prior = prior
        device = lr.device
        image = lr[0].detach().double().cpu().numpy().transpose(1, 2, 0)
        image = shave(fit(image, G_SIZE, border), 2, border)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            KernelPrior(5, K * K, 15, 1)  # upstream builds its prior here (random init)
            code = torch.distributions.Normal(torch.zeros(K * K), torch.ones(K * K)).sample((1, 1))
            self.d_size = G_SIZE // 2 - K // 2  # 64 -> valid conv 54 -> ::2 -> 27
            self.D = Discriminator()
            self.D(torch.ones(1, 3, self.d_size, self.d_size))  # upstream's output-size probe
            self.D.apply(_init_d)
            self.gen = torch.Generator()
            self.gen.set_state(torch.get_rng_state())
        if state is not None:
            self.D.load_state_dict(state["D"])
            code = state["kernel_code"]
        self.D.to(device).train()
        self.code = code.clone().to(device).requires_grad_(True)
        self.image = image
        self.sampler = CropSampler(image, G_SIZE, self.d_size, SAMPLES,
                                   np.random.RandomState(seed))
        self.opt_g = torch.optim.Adam([self.code], lr=self.cfg.g_lr, betas=(self.cfg.beta1, 0.999))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=self.cfg.d_lr,
                                      betas=(self.cfg.beta1, 0.999))
        self.device = device

    def order(self) -> Iterator[int]:
        """Sample indices in DataLoader(shuffle=True) order: its iterator draws a base seed,
        then the sampler's seed, from the global stream; then one randperm."""
        torch.empty((), dtype=torch.int64).random_(generator=self.gen)  # _base_seed
        seed = int(torch.empty((), dtype=torch.int64).random_(generator=self.gen).item())
        perm = torch.Generator()
        perm.manual_seed(seed)
        yield from torch.randperm(SAMPLES, generator=perm).tolist()

    def batch(self, indices: list[int]) -> tuple[Tensor, Tensor]:
        def stack(for_g: bool) -> Tensor:
            crops = [self.sampler.crop(i, for_g) for i in indices]
            arr = np.stack([c.transpose(2, 0, 1) for c in crops])
            return torch.from_numpy(arr).float().to(self.device)

        return stack(True), stack(False)

    def generate(self, g_in: Tensor) -> tuple[Tensor, Tensor]:
        """Blur the G crops with the current kernel (valid conv) and keep every 2nd pixel."""
        kernel = self.prior.post_process(self.prior.inverse(self.code)[0])
        out = F.conv2d(g_in, kernel.expand(3, -1, -1, -1), groups=3)
        return out[:, :, ::2, ::2], kernel[0, 0]

    def _penalty(self, real: Tensor, fake: Tensor, alpha: Tensor) -> Tensor:
        inter = (alpha * real + (1 - alpha) * fake).detach().requires_grad_(True)
        out = self.D(inter)
        grads = torch.autograd.grad(out, inter, torch.ones_like(out), create_graph=True,
                                    retain_graph=True, only_inputs=True)[0]
        return ((grads.norm(2, dim=1) - 1) ** 2).mean() * self.cfg.gp_weight

    def iterate(self, iterations: int, batches: Iterator[tuple[Tensor, Tensor]] | None = None,
                alphas: Iterator[float] | None = None) -> Iterator[Tensor]:
        """Run ``iterations`` steps; yield ``curr_k`` (11x11, the kernel of the last D
        step's G forward) after each. ``batches``/``alphas`` replace the sampler and the
        penalty draws (tests replay recorded ones)."""
        if batches is None:
            order = self.order()
            batches = (self.batch([next(order) for _ in range(BATCH)])
                       for _ in range(iterations))
        for _, (g_in, d_in) in zip(range(iterations), batches, strict=False):
            g_out = curr_k = None
            for _ in range(self.cfg.d_steps):
                self.opt_d.zero_grad()
                loss_real = -self.D(d_in).mean()
                loss_real.backward(retain_graph=True)
                g_out, curr_k = self.generate(g_in)
                loss_fake = self.D(g_out.detach()).mean()
                loss_fake.backward(retain_graph=True)
                a = next(alphas) if alphas is not None else float(
                    torch.rand(1, 1, generator=self.gen))
                alpha = torch.full_like(d_in, a)
                self._penalty(d_in, g_out, alpha).backward()
                self.opt_d.step()
            for _ in range(self.cfg.g_steps):
                self.opt_g.zero_grad()
                loss_g = -self.D(g_out).mean()
                loss_g.backward(retain_graph=True)
                self.opt_g.step()
                with torch.no_grad():  # SphericalOptimizer: back to radius k - 1 = 10
                    self.code.div_((self.code.pow(2).sum(2, keepdim=True) + 1e-9).sqrt())
                    self.code.mul_(float(K - 1))
            assert curr_k is not None
            yield curr_k.detach()


def final_kernel(k2: Tensor, scale: int) -> Tensor:
    """The estimate upstream's ``finish()`` returns: the x2 kernel, or at x4
    ``kernel_shift(analytic_kernel(k2), 4)`` (21x21)."""
    if scale == 2:
        return k2
    k4 = kernel_shift(analytic_kernel(k2.double().cpu().numpy()), 4)
    return torch.from_numpy(k4).to(k2.device)


class KernelGANFKPEstimator:
    """The ``kernelgan-fkp`` estimator (x2, and x4 through the analytic kernel)."""

    whole_image = "zero-shot: it trains on crops drawn from the whole LR image"

    def __init__(self, scale: int, prior: KernelPrior, opts: ZeroShotOptions) -> None:
        self.scale, self.prior, self.opts = scale, prior, opts

    def estimate(self, batch: LRBatch) -> Iterator[KernelEstimate]:
        require_grad("kernelgan-fkp")
        if batch.scale != self.scale:
            raise InputError(f"kernelgan-fkp was built for x{self.scale}, got x{batch.scale}")
        prior = self.prior.to(batch.lr.device)

        def start(lr: Tensor) -> Iterator[Tensor]:
            run = KernelGANFKPRun(lr.float().clone(), prior, self.opts.seed)
            return (final_kernel(k, self.scale) for k in run.iterate(self.opts.iterations))

        for kernels in lockstep(per_image(batch.lr, start), self.opts):
            yield KernelEstimate(kernel=kernels.to(batch.lr.device))


def build_kernelgan_fkp(ctx: BuildContext) -> KernelGANFKPEstimator:
    """Factory for ``kernelgan-fkp``: always the FKP x2 prior (as upstream, also at x4)."""
    if ctx.scale not in (2, 4):
        raise InputError(f"kernelgan-fkp supports x2 and x4 (x4 via the analytic kernel), "
                         f"not x{ctx.scale}")
    opts = ZeroShotOptions.from_context(ctx, default_iterations=iterations_for(ctx.scale))
    return KernelGANFKPEstimator(ctx.scale, load_prior(2, ctx.weights), opts)
