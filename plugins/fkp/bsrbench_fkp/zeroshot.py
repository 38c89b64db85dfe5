"""What the zero-shot estimators (DIP-FKP, KernelGAN, KernelGAN-FKP) share: the options,
the batch loop, the kernel hand-over and the SSIM loss.

A zero-shot estimator optimises each LR image on its own (autograd), so a batch is a set of
independent optimisations run in lock-step: iteration t of every image, then the next, so
that the runner's per-step time is real. Every ``step_every`` iterations (and always at the
last one) the current kernels are yielded as a :class:`~bsrbench.interfaces.KernelEstimate`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from bsrbench.errors import InputError, PluginError

__all__ = ["OUT_SIZE", "ZeroShotOptions", "lockstep", "per_image", "require_grad", "ssim",
           "to_estimate"]

OUT_SIZE = 21  # every estimate is handed over as 21x21 (the protocols' size), zero-padded


@dataclass(frozen=True)
class ZeroShotOptions:
    """The user-facing options every zero-shot estimator takes."""

    iterations: int  # optimisation steps per image (the upstream default unless overridden)
    step_every: int  # yield the current kernel every N iterations (the last one always)
    seed: int  # seeds the random initialisation (the upstream default reproduces upstream)
    # px to move every estimate down/right: (s - 1) / 2 turns FKP's alignment (centre of
    # mass at (k - s) / 2) into bsrbench's centred one; 0 keeps upstream's kernels
    shift: float = 0.0

    def __post_init__(self) -> None:
        if self.iterations < 1:
            raise InputError(f"iterations must be >= 1, got {self.iterations}")
        if self.step_every < 1:
            raise InputError(f"step_every must be >= 1, got {self.step_every}")

    @classmethod
    def from_context(cls, ctx: Any, default_iterations: int | None = None) -> ZeroShotOptions:
        """Read the options; ``iterations`` 0 means ``default_iterations`` when one is given
        (an upstream default that depends on the scale)."""
        iterations = int(ctx.option("iterations"))
        if iterations == 0 and default_iterations is not None:
            iterations = default_iterations
        shift = (ctx.scale - 1) / 2 if bool(ctx.option("recentre")) else 0.0
        return cls(iterations, int(ctx.option("step_every")), int(ctx.option("seed")), shift)


def require_grad(name: str) -> None:
    """Refuse to run under no_grad/inference_mode with a one-line message (the runner, not
    the plugin, switches grad on for specs that declare ``needs_grad``)."""
    if torch.is_inference_mode_enabled() or not torch.is_grad_enabled():
        raise PluginError(f"{name} optimises each image with autograd but was called with "
                          "grad disabled: run it through a runner that honours needs_grad=True")


def to_estimate(kernels: list[Tensor], shift: float = 0.0) -> Tensor:
    """(k, k) kernels (one per image) -> (B, 21, 21) float32, zero-padded symmetrically
    (the centre stays where it was), optionally moved by ``shift`` px down and right (cubic
    spline, as upstream's ``kernel_shift``), and renormalised to sum 1 (FKP's kernels sum
    to 0.87-1.06; bsrbench's estimate contract needs 1)."""
    out = []
    for k in kernels:
        k = k.detach().to(device="cpu", dtype=torch.float64).clamp(min=0)
        n = k.shape[-1]
        lo = (OUT_SIZE - n) // 2
        if n <= OUT_SIZE:
            k = F.pad(k, (lo, OUT_SIZE - n - lo, lo, OUT_SIZE - n - lo))
        else:
            k = k[-lo:-lo + OUT_SIZE, -lo:-lo + OUT_SIZE]
        if shift:
            from scipy import ndimage

            k = torch.from_numpy(ndimage.shift(k.numpy(), (shift, shift))).clamp(min=0)
        out.append((k / k.sum()).to(torch.float32))
    return torch.stack(out)


def lockstep(runs: list[Iterator[Tensor]], opts: ZeroShotOptions) -> Iterator[Tensor]:
    """Advance per-image optimisations together; yield (B, 21, 21) kernels every
    ``step_every`` iterations and after the last.

    Each run yields its current (k, k) kernel once per iteration.
    """
    current: list[Tensor] = []
    for t in range(1, opts.iterations + 1):
        current = [next(run) for run in runs]
        if t % opts.step_every == 0 or t == opts.iterations:
            yield to_estimate(current, opts.shift)


def per_image(batch_lr: Tensor,
              start: Callable[[Tensor], Iterator[Tensor]]) -> list[Iterator[Tensor]]:
    """One optimisation per LR image ``(1, 3, h, w)``."""
    return [start(batch_lr[i:i + 1]) for i in range(batch_lr.shape[0])]


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> Tensor:
    g = torch.tensor([math.exp(-(x - size // 2) ** 2 / float(2 * sigma ** 2))
                      for x in range(size)])
    g = (g / g.sum()).unsqueeze(1)
    return g.mm(g.t()).float()[None, None]


def ssim(a: Tensor, b: Tensor) -> Tensor:
    """Mean SSIM as DIP-FKP's loss computes it: 11x11 Gaussian window (sigma 1.5), zero
    padding 5, C1 = 0.01^2, C2 = 0.03^2, mean over pixels and channels (images in [0, 1])."""
    c = a.shape[1]
    w = _gaussian_window().to(a).expand(c, 1, 11, 11).contiguous()

    def blur(x: Tensor) -> Tensor:
        return F.conv2d(x, w, padding=5, groups=c)

    mu1, mu2 = blur(a), blur(b)
    mu1_sq, mu2_sq, mu12 = mu1.pow(2), mu2.pow(2), mu1 * mu2
    s1 = blur(a * a) - mu1_sq
    s2 = blur(b * b) - mu2_sq
    s12 = blur(a * b) - mu12
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    m = ((2 * mu12 + c1) * (2 * s12 + c2)) / ((mu1_sq + mu2_sq + c1) * (s1 + s2 + c2))
    return m.mean()
