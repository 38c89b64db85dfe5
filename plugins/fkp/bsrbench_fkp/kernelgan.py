"""KernelGAN (Bell-Kligler, Shocher, Irani, "Blind Super-Resolution Kernel Estimation using
an Internal-GAN", NeurIPS 2019), as the FKP repository runs it (its ``KernelGANFKP/model``).

Per image: a deep linear generator (convs 7-5-3-1-1-1, 64 channels, no bias, the last with
stride 2) learns to downscale 64x64 crops of the LR image by 2 so that a patch discriminator
(spectral-normalised 7x7 conv then five 1x1 conv-BN-ReLU, sigmoid) cannot tell its 26x26
output from real crops. The generator's kernel (13x13, by passing a delta through it) is
regularised towards sum 1, small boundaries and, early on, bicubic downscaling; a Learner
decays the bicubic weight and switches on centring and sparsity. 3000 iterations, Adam 2e-4
(betas 0.5/0.999), learning rates /10 every 750 iterations. The final kernel is cropped to
11x11, small values are zeroed, and it is shifted (x4: analytic kernel of the x2 one).
Facts from FACTS.md §5 and the FKP repository; upstream quirks are kept and commented.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bsrbench.errors import InputError
from bsrbench.interfaces import KernelEstimate, LRBatch
from bsrbench.specs import BuildContext
from bsrbench_fkp.crops import CropSampler, fit, shave
from bsrbench_fkp.kernel_ops import analytic_kernel, kernel_shift
from bsrbench_fkp.zeroshot import ZeroShotOptions, lockstep, per_image, require_grad

__all__ = ["ITERATIONS", "KernelGANRun", "build_kernelgan", "post_process"]

ITERATIONS = 3000  # configs.py max_iters
G_SIZE, G_KERNEL, G_STRUCT, G_CHAN = 64, 13, (7, 5, 3, 1, 1, 1), 64
D_CHAN, D_LAYERS, D_KERNEL = 64, 7, 7
N_FILTERING = 40
# KernelGAN's 8x8 bicubic x2 downscaling kernel (DownScaleLoss), with the released values
# (two entries differ from their mirror images in the last digits; kept as released).
_A, _B, _C, _D = 0.0001373291015625, 0.0004119873046875, -0.0013275146484375, -0.0050811767578125
_E, _F, _G, _H = 0.0012359619140625, -0.0039825439453125, -0.0152435302734375, 0.0128326416015625
_I, _J = 0.0491180419921875, 0.1880035400390630
BICUBIC_X2 = (
    (_A, _B, _C, _D, _D, _C, _B, _A),
    (_B, _E, _F, _G, _G, _F, _E, _B),
    (_C, -0.0039825439453130, _H, _I, _I, _H, _F, _C),
    (_D, _G, _I, _J, _J, _I, _G, _D),
    (_D, _G, _I, _J, _J, _I, _G, _D),
    (-0.0013275146484380, _F, _H, _I, _I, _H, _F, _C),
    (_B, _E, _F, _G, _G, _F, _E, _B),
    (_A, _B, _C, _D, _D, _C, _B, _A),
)


class Generator(nn.Module):
    """Deep linear generator; works on each colour channel as a batch item."""

    def __init__(self) -> None:
        super().__init__()
        self.first_layer = nn.Conv2d(1, G_CHAN, G_STRUCT[0], bias=False)
        self.feature_block = nn.Sequential(*[
            nn.Conv2d(G_CHAN, G_CHAN, k, bias=False) for k in G_STRUCT[1:-1]])
        self.final_layer = nn.Conv2d(G_CHAN, 1, G_STRUCT[-1], stride=2, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        x = x.transpose(0, 1)
        return self.final_layer(self.feature_block(self.first_layer(x))).transpose(0, 1)

    def kernel(self) -> Tensor:
        """The 13x13 kernel G imitates: a delta passed through every layer (no stride)."""
        k = torch.ones(1, 1, 1, 1, device=self.first_layer.weight.device)
        for i, w in enumerate(self.parameters()):
            k = F.conv2d(k, w, padding=G_KERNEL - 1) if i == 0 else F.conv2d(k, w)
        return k.squeeze()


class Discriminator(nn.Module):
    """Patch discriminator: SN conv 7x7, then 5 x (SN conv 1x1, BN, ReLU), SN conv 1x1, sigmoid."""

    def __init__(self) -> None:
        super().__init__()
        sn = nn.utils.spectral_norm
        self.first_layer = sn(nn.Conv2d(3, D_CHAN, D_KERNEL, bias=True))
        block: list[nn.Module] = []
        for _ in range(1, D_LAYERS - 1):
            block += [sn(nn.Conv2d(D_CHAN, D_CHAN, 1, bias=True)), nn.BatchNorm2d(D_CHAN),
                      nn.ReLU(True)]
        self.feature_block = nn.Sequential(*block)
        self.final_layer = nn.Sequential(sn(nn.Conv2d(D_CHAN, 1, 1, bias=True)), nn.Sigmoid())

    def forward(self, x: Tensor) -> Tensor:
        return self.final_layer(self.feature_block(self.first_layer(x)))


def _init_g(m: nn.Module) -> None:
    if isinstance(m, nn.Conv2d):
        nn.init.xavier_normal_(m.weight, 0.1)


def _init_d(m: nn.Module) -> None:
    # Upstream's xavier init of a spectral-normalised conv writes into the stale ``weight``
    # attribute left by the shape probe, so only its random draws and the bias fill count.
    if isinstance(m, nn.Conv2d):
        nn.init.xavier_normal_(m.weight, 0.1)
        if m.bias is not None:
            m.bias.data.fill_(0)
    elif isinstance(m, nn.BatchNorm2d):
        m.weight.data.normal_(1.0, 0.02)
        m.bias.data.fill_(0)


def penalty_mask(k: int = G_KERNEL, scale: float = 30.0) -> np.ndarray:
    """Weights that penalise kernel mass near the border (KernelGAN's boundaries loss)."""
    z = np.arange(-k // 2 + 1, k // 2 + 1)
    g = np.exp(-z ** 2 / (2 * k ** 2)) / np.sqrt(2 * np.pi * k ** 2)
    mask = np.outer(g, g)
    mask = 1 - mask / np.max(mask)
    centre = k // 2 + k % 2
    margin = (k - centre) // 2 - 1
    mask[margin:-margin, margin:-margin] = 0
    return scale * mask


@dataclass
class Lambdas:
    """Loss weights, updated by the Learner schedule."""

    bicubic: float = 5.0
    sum2one: float = 0.5
    boundaries: float = 0.5
    centralized: float = 0.0
    sparse: float = 0.0
    state: dict = field(default_factory=lambda: {"counter": 0, "similar": False,
                                                 "insert": True})


def learner_update(it: int, lam: Lambdas, loss_bicubic: float,
                   optimizers: tuple[torch.optim.Optimizer, ...]) -> None:
    """KernelGAN's Learner, called after iteration ``it`` (0-based)."""
    if it == 0:
        return
    if it % 750 == 0:
        for opt in optimizers:
            for group in opt.param_groups:
                group["lr"] /= 10.0
    s = lam.state
    if not s["similar"]:
        if loss_bicubic < 0.4:
            if s["counter"] >= 2:
                s["similar"] = True
            else:
                s["counter"] += 1
        else:
            s["counter"] = 0
    elif it % 200 == 0 and lam.bicubic > 5e-6:
        lam.bicubic = max(lam.bicubic / 100.0, 5e-6)
        if s["insert"] and lam.bicubic < 5e-3:
            lam.centralized, lam.sparse, s["insert"] = 1.0, 5.0, False


class KernelGANRun:
    """One image's KernelGAN; :meth:`iterate` yields ``curr_k`` (13x13) per iteration.

    Args:
        lr: (1, 3, h, w) float LR in [0, 1].
        seed: upstream 0 (main.py seeds numpy and torch with 0).
        state: optional recorded init (``G``, ``D`` state dicts) for replays.
    """

    def __init__(self, lr: Tensor, seed: int = 0, iterations: int = ITERATIONS,
                 border: int = 10, state: dict | None = None) -> None:
        device = lr.device
        image = lr[0].detach().double().cpu().numpy().transpose(1, 2, 0)
        image = shave(fit(image, G_SIZE, border), 2, border)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.G = Generator()
            self.G(torch.ones(1, 3, G_SIZE, G_SIZE))
            self.D = Discriminator()
            self.D(torch.ones(1, 3, G_SIZE, G_SIZE))  # upstream's shape probe
            self.G.apply(_init_g)
            self.D.apply(_init_d)
            self.gen = torch.Generator()
            self.gen.set_state(torch.get_rng_state())
        if state is not None:
            self.G.load_state_dict(state["G"])
            self.D.load_state_dict(state["D"])
        self.G.to(device).train()
        self.D.to(device).train()
        self.d_size = G_SIZE // 2 - 6  # G shaves 6 px: 26
        self.rng = np.random.RandomState(seed)
        self.image = image
        self.sampler = CropSampler(image, G_SIZE, self.d_size, max(iterations, ITERATIONS),
                                   self.rng)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.lam = Lambdas()
        self.mask = torch.from_numpy(penalty_mask()).float().to(device)
        self.bicubic = torch.tensor(BICUBIC_X2, dtype=torch.float32).to(device)
        self.device = device
        self.curr_k: Tensor | None = None

    def crops(self, it: int) -> tuple[Tensor, Tensor]:
        """Crop pair ``it`` in [-1, 1]; the D crop gets N(0, 1/255) noise, added *in place*
        to the stored image as upstream does (the noise accumulates over iterations)."""
        g = self.sampler.crop(it, True).copy()
        top, left = self.sampler.top_left(it, False)
        view = self.image[top:top + self.d_size, left:left + self.d_size, :]
        view += self.rng.randn(*view.shape) / 255.0
        d = view.copy()

        def t(a: np.ndarray) -> Tensor:
            return torch.from_numpy(a.transpose(2, 0, 1) * 2.0 - 1.0).float()[None].to(self.device)

        return t(g), t(d)

    def _constraints(self, g_in: Tensor, g_out: Tensor) -> tuple[Tensor, Tensor]:
        k = self.G.kernel()
        self.curr_k = k
        w = self.bicubic.expand(3, 3, 8, 8)  # upstream expands over both channel axes
        down = F.conv2d(g_in, w, stride=2, padding=3)
        sh = down.shape[-1] - g_out.shape[-1]
        down = down[:, :, sh // 2:down.shape[-2] - sh // 2 - sh % 2,
                    sh // 2:down.shape[-1] - sh // 2 - sh % 2]
        loss_bic = F.mse_loss(g_out, down)
        loss_bound = F.l1_loss(k * self.mask, torch.zeros(G_KERNEL, device=k.device)
                               .expand_as(k))
        loss_sum = F.l1_loss(torch.ones(1, device=k.device), torch.sum(k).reshape(1))
        idx = torch.arange(0.0, float(G_KERNEL), device=k.device)
        centre = G_KERNEL // 2 + 0.5 * (2 - G_KERNEL % 2)
        r_sum, c_sum = k.sum(1).reshape(1, -1), k.sum(0).reshape(1, -1)
        com = torch.stack((r_sum @ idx / k.sum(), c_sum @ idx / k.sum()))
        loss_cent = F.mse_loss(com, torch.tensor([[centre], [centre]], device=k.device)
                               .reshape(com.shape))
        loss_sparse = F.l1_loss(k.abs() ** 0.2, torch.zeros_like(k))
        lam = self.lam
        total = (loss_bic * lam.bicubic + loss_sum * lam.sum2one
                 + loss_bound * lam.boundaries + loss_cent * lam.centralized
                 + loss_sparse * lam.sparse)
        return total, loss_bic

    def step(self, g_in: Tensor, d_in: Tensor, noise: Tensor | None = None) -> dict[str, float]:
        """One iteration: a G step, then a D step (``noise``: the fake's N(0,1)/255 draw)."""
        self.opt_g.zero_grad()
        g_pred = self.G(g_in)
        d_fake = self.D(g_pred)
        loss_g = F.l1_loss(d_fake, torch.ones_like(d_fake))
        extra, loss_bic = self._constraints(g_in, g_pred)
        total = loss_g + extra
        total.backward()
        self.opt_g.step()
        self.opt_d.zero_grad()
        d_real = self.D(d_in)
        g_out = self.G(g_in)
        if noise is None:
            noise = torch.randn(g_out.shape, generator=self.gen).to(g_out.device) / 255.0
        d_fake = self.D((g_out + noise).detach())
        loss_d = (F.l1_loss(d_fake, torch.zeros_like(d_fake))
                  + F.l1_loss(d_real, torch.ones_like(d_real))) * 0.5
        loss_d.backward()
        self.opt_d.step()
        return {"total_loss_g": total.item(), "loss_g": loss_g.item(), "loss_d": loss_d.item(),
                "loss_bicubic": loss_bic.item()}

    def iterate(self, iterations: int) -> Iterator[Tensor]:
        """Run ``iterations`` steps (with the Learner); yield ``curr_k`` after each."""
        for it in range(iterations):
            g_in, d_in = self.crops(it)
            losses = self.step(g_in, d_in)
            learner_update(it, self.lam, losses["loss_bicubic"], (self.opt_g, self.opt_d))
            assert self.curr_k is not None
            yield self.curr_k.detach()


def post_process(k13: Tensor, scale: int) -> Tensor:
    """``finish()``: crop 13 -> 11 (drop the last 2 rows/cols), zero values below 0.75x the
    41st largest, renormalise, shift for x2; at x4 the analytic kernel, shifted for x4."""
    k = k13.detach().double().cpu().numpy()[:-2, :-2]
    floor = 0.75 * np.sort(k.flatten())[-N_FILTERING - 1]
    k = np.clip(k - floor, 0, 100)
    k = kernel_shift(k / k.sum(), 2)
    if scale == 4:
        k = kernel_shift(analytic_kernel(k), 4)
    return torch.from_numpy(k)


class KernelGANEstimator:
    """The ``kernelgan`` estimator (x2, and x4 through the analytic kernel)."""

    whole_image = "zero-shot: it trains on crops drawn from the whole LR image"

    def __init__(self, scale: int, opts: ZeroShotOptions) -> None:
        self.scale, self.opts = scale, opts

    def estimate(self, batch: LRBatch) -> Iterator[KernelEstimate]:
        require_grad("kernelgan")
        if batch.scale != self.scale:
            raise InputError(f"kernelgan was built for x{self.scale}, got x{batch.scale}")

        def start(lr: Tensor) -> Iterator[Tensor]:
            run = KernelGANRun(lr.float().clone(), self.opts.seed, self.opts.iterations)
            return (post_process(k, self.scale) for k in run.iterate(self.opts.iterations))

        for kernels in lockstep(per_image(batch.lr, start), self.opts):
            yield KernelEstimate(kernel=kernels.to(batch.lr.device))


def build_kernelgan(ctx: BuildContext) -> KernelGANEstimator:
    """Factory for ``kernelgan`` (no weights: everything is learnt per image)."""
    if ctx.scale not in (2, 4):
        raise InputError(f"kernelgan supports x2 and x4 (x4 via the analytic kernel), "
                         f"not x{ctx.scale}")
    return KernelGANEstimator(ctx.scale, ZeroShotOptions.from_context(ctx))
