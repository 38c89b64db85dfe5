"""FKP's flow-based kernel prior (Liang et al., CVPR 2021, §3.1): a RealNVP-style normalising
flow between a kernel and a Gaussian latent, in the key layout of the released
``FKP_x{2,3,4}.pt`` so they load key for key.

``inverse`` maps a latent to kernel logits and ``post_process`` to a kernel, which is what
DIP-FKP and KernelGAN-FKP optimise through; ``forward``/``log_prob`` run the training
direction. Written from the facts in ``../shared/reference/fkp/FACTS.md`` §3.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import Tensor, nn

from bsrbench_fkp.loading import load_into
from bsrbench_fkp.weight_files import find_file, fkp_names

__all__ = ["KernelPrior", "fkp_kernel_size", "load_prior", "pre_process"]


def fkp_kernel_size(scale: int) -> int:
    """The kernel size FKP uses at ``scale``: min(4*sf + 3, 21) (11/15/19 for x2/x3/x4)."""
    return min(4 * scale + 3, 21)


class _Coupling(nn.Module):
    """Affine coupling: the masked half conditions a scale (tanh MLP) and shift (ReLU MLP)
    of the other half."""

    def __init__(self, size: int, hidden: int, n_hidden: int, mask: Tensor) -> None:
        super().__init__()
        self.register_buffer("mask", mask)

        layers: list[nn.Module] = [nn.Linear(size, hidden)]
        for _ in range(n_hidden):
            layers += [nn.Tanh(), nn.Linear(hidden, hidden)]
        layers += [nn.Tanh(), nn.Linear(hidden, size)]
        self.s_net = nn.Sequential(*layers)
        # t_net starts as a copy of s_net (as upstream: no extra random draws, so a seed
        # reproduces upstream's random stream) with ReLU activations.
        self.t_net = copy.deepcopy(self.s_net)
        for i, layer in enumerate(self.t_net):
            if not isinstance(layer, nn.Linear):
                self.t_net[i] = nn.ReLU()

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mx = x * self.mask
        s, t = self.s_net(mx), self.t_net(mx)
        u = mx + (1 - self.mask) * (x - t) * torch.exp(-s)
        return u, -(1 - self.mask) * s

    def inverse(self, u: Tensor) -> tuple[Tensor, Tensor]:
        mu = u * self.mask
        s, t = self.s_net(mu), self.t_net(mu)
        x = mu + (1 - self.mask) * (u * s.exp() + t)
        return x, (1 - self.mask) * s


class _BatchNorm(nn.Module):
    """Flow batch norm; FKP runs the prior in eval mode, so only running statistics are
    used (training-mode batch statistics are not needed by any bsrbench path)."""

    def __init__(self, size: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.log_gamma = nn.Parameter(torch.zeros(size))
        self.beta = nn.Parameter(torch.zeros(size))
        self.register_buffer("running_mean", torch.zeros(size))
        self.register_buffer("running_var", torch.ones(size))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        var = self.running_var + self.eps
        y = self.log_gamma.exp() * ((x - self.running_mean) / torch.sqrt(var)) + self.beta
        return y, (self.log_gamma - 0.5 * torch.log(var)).expand_as(x)

    def inverse(self, y: Tensor) -> tuple[Tensor, Tensor]:
        var = self.running_var + self.eps
        x = (y - self.beta) * torch.exp(-self.log_gamma) * torch.sqrt(var) + self.running_mean
        return x, (0.5 * torch.log(var) - self.log_gamma).expand_as(x)


class _FlowSequential(nn.Sequential):
    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        total: Tensor | float = 0.0
        for module in self:
            x, ladj = module(x)
            total = total + ladj
        return x, total  # type: ignore[return-value]

    def inverse(self, u: Tensor) -> tuple[Tensor, Tensor]:
        total: Tensor | float = 0.0
        for module in reversed(self):
            u, ladj = module.inverse(u)
            total = total + ladj
        return u, total  # type: ignore[return-value]


class KernelPrior(nn.Module):
    """The flow kernel prior: n_blocks x (coupling, batch norm) on flattened k*k kernels.

    Args:
        n_blocks: coupling blocks (5 in the release).
        input_size: k*k.
        hidden_size: width of the coupling MLPs (min((sf+1)*5, 25) in the release).
        n_hidden: hidden layers per MLP (1).
        kernel_size, alpha, normalization: the logit pre-processing constants; buffers
            overwritten by the released state dict.
    """

    def __init__(self, n_blocks: int, input_size: int, hidden_size: int, n_hidden: int,
                 kernel_size: int = 0, alpha: float = 1e-6,
                 normalization: float = 1.0) -> None:
        super().__init__()
        self.register_buffer("kernel_size", torch.ones(1) * kernel_size)
        self.register_buffer("alpha", torch.ones(1) * alpha)
        self.register_buffer("normalization", torch.ones(1) * normalization)
        self.register_buffer("base_dist_mean", torch.zeros(input_size))
        self.register_buffer("base_dist_var", torch.ones(input_size))
        mask = torch.arange(input_size).float() % 2
        modules: list[nn.Module] = []
        for _ in range(n_blocks):
            modules += [_Coupling(input_size, hidden_size, n_hidden, mask), _BatchNorm(input_size)]
            mask = 1 - mask
        self.net = _FlowSequential(*modules)

    @property
    def k(self) -> int:
        return int(self.kernel_size.item())

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Kernel logits (B, k*k) -> latent u and per-element log|det J|."""
        return self.net(x)

    def inverse(self, u: Tensor) -> tuple[Tensor, Tensor]:
        """Latent (B, k*k) -> kernel logits and per-element log|det J|."""
        return self.net.inverse(u)

    def log_prob(self, x: Tensor) -> Tensor:
        """log p(x) under the flow with a standard normal base (B,)."""
        u, ladj = self.forward(x)
        base = torch.distributions.Normal(self.base_dist_mean, self.base_dist_var)
        return torch.sum(base.log_prob(u) + ladj, dim=1)

    def post_process(self, x: Tensor) -> Tensor:
        """Logits -> kernels (B, 1, k, k). Not renormalised to sum 1 (FKP uses them as is)."""
        k = self.k
        x = x.view(x.shape[0], 1, k, k)
        return ((torch.sigmoid(x) - self.alpha) / (1 - 2 * self.alpha)) * self.normalization


def pre_process(prior: KernelPrior, kernel: Tensor) -> Tensor:
    """Kernels (B, k, k) -> flow input (B, k*k): FKP's dataloader transform without its
    random dequantisation term."""
    a = prior.alpha
    x = a + (1 - 2 * a) * kernel.reshape(kernel.shape[0], -1).clamp(min=0) / prior.normalization
    return torch.log(x / (1 - x))


def load_prior(scale: int, path: str | Path | None = None) -> KernelPrior:
    """Build FKP's released prior for ``scale`` and load its weights strictly.

    Args:
        scale: 2, 3 or 4.
        path: a weights file or folder (bundled ``fkp_x{s}.safetensors`` or the release's
            ``FKP_x{s}.pt``); None = bundled.

    Returns:
        The prior on the CPU, in eval mode, with gradients off for its parameters.
    """
    names = fkp_names(scale)
    k = fkp_kernel_size(scale)
    prior = KernelPrior(5, k * k, min((scale + 1) * 5, 25), 1, kernel_size=k)
    load_into(prior, find_file(path, names, f"FKP x{scale} prior"), f"FKP x{scale} prior")
    prior.eval()
    for p in prior.parameters():
        p.requires_grad_(False)
    return prior
