"""DCLS as bsrbench objects: the blind method and its Estimator as a kernel estimator.

DCLS runs once (``kernel = Estimator(lr)``, ``sr = Restorer(lr, kernel)``), so the method
yields one step. The Estimator's kernel sums to 1 but may have negative entries, which
the Restorer uses as they are; the kernel *reported* with the step (for kernel PSNR, or
handed to another model as a ``--kernel`` estimate) is its non-negative part renormalised
to sum 1, the form bsrbench's kernel contract requires.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from bsrbench.errors import InputError
from bsrbench.interfaces import KernelEstimate, LRBatch, Step
from bsrbench.specs import BuildContext
from bsrbench_dcls.arch import DCLS
from bsrbench_dcls.checkpoint import load_dcls
from bsrbench_dcls.configs import find_checkpoint, official

__all__ = ["DCLSEstimator", "DCLSMethod", "as_kernel", "build_estimator", "build_method"]


def as_kernel(raw: Tensor) -> Tensor:
    """``(B, 1, k, k)`` raw estimates to ``(B, k, k)`` kernels: clip below 0, renormalise.

    An estimate with no positive mass becomes the delta kernel.
    """
    k = raw.shape[-1]
    flat = raw.reshape(raw.shape[0], -1).clamp(min=0.0)
    total = flat.sum(dim=1, keepdim=True)
    delta = torch.zeros_like(flat)
    delta[:, flat.shape[1] // 2] = 1.0
    return torch.where(total > 1e-12, flat / total.clamp(min=1e-12), delta).view(-1, k, k)


def _check(lr: Tensor) -> None:
    if lr.dim() != 4 or lr.shape[1] != 3:
        raise InputError(f"DCLS needs LR images (B, 3, h, w), got {tuple(lr.shape)}")


class DCLSMethod:
    """A loaded DCLS network as a blind :class:`~bsrbench.interfaces.Method` (one step)."""

    # how it treats --tile (bsrbench.tiling)
    whole_image = ("its estimator pools the whole image into one kernel and its deconvolution "
                   "step works by FFT over the whole feature map")

    def __init__(self, net: DCLS) -> None:
        self.net = net.eval()
        self.scale, self.kernel_size = net.cfg.scale, net.cfg.kernel_size

    def run(self, batch: LRBatch) -> Iterator[Step]:
        """Yield the single step: the SR (clamped to [0, 1] as upstream) and its kernel."""
        _check(batch.lr)
        if batch.scale != self.scale:
            raise InputError(f"this DCLS is x{self.scale}, the batch asks for x{batch.scale}")
        sr, raw = self.net(batch.lr)
        yield Step(sr=sr, kernel=as_kernel(raw))

    def to(self, device: str | torch.device) -> DCLSMethod:
        """Move the network to ``device``."""
        self.net.to(device)
        return self


class DCLSEstimator(DCLSMethod):
    """DCLS's Estimator alone (it reads only the LR image) as a kernel estimator."""

    def estimate(self, batch: LRBatch) -> Iterator[KernelEstimate]:
        """Yield the one estimate per image."""
        _check(batch.lr)
        yield KernelEstimate(kernel=as_kernel(self.net.Estimator(batch.lr)))


def _load(ctx: BuildContext) -> DCLS:
    cfg = official(ctx.scale, int(ctx.options.get("setting", 1)))
    return load_dcls(find_checkpoint(ctx.weights, cfg), cfg).to(ctx.device)


def build_method(ctx: BuildContext) -> DCLSMethod:
    """Factory of the ``dcls`` method (option ``setting``)."""
    return DCLSMethod(_load(ctx))


def build_estimator(ctx: BuildContext) -> DCLSEstimator:
    """Factory of the ``dcls`` kernel estimator (setting 1: 21x21 kernels)."""
    return DCLSEstimator(_load(ctx))
