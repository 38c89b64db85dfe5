"""DANv1/DANv2 as bsrbench objects: the blind methods and the loop as a kernel estimator.

Every loop iteration is one step, as upstream's ``DAN.forward`` runs it (FACTS.md §3):
iteration i restores ``sr_i`` with the current code and then estimates a new code from
``sr_i``. The step pairs ``sr_i`` with the estimate made from it, so the final step carries
exactly what upstream reports (``srs[-1]`` and ``ker_maps[-1]``/``kernels[-1]``).

Kernels for scoring: DANv2 estimates the kernel itself (a softmax over k²), which is the
step's kernel. DANv1 estimates only a code, so its kernel is the code mapped back through
the released PCA: the smallest kernel (least squares) whose code is the estimate and
whose entries sum to 1, with negative lobes clipped and the rest renormalised.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import torch
from torch import Tensor

from bsrbench.errors import InputError
from bsrbench.interfaces import KernelEstimate, LRBatch, Step
from bsrbench.specs import BuildContext
from bsrbench_dan.arch import DAN
from bsrbench_dan.checkpoint import load_dan
from bsrbench_dan.configs import LOOP, find_checkpoint, official

__all__ = ["DANEstimator", "DANMethod", "build_estimator", "build_method"]


class DANMethod:
    """A loaded DAN network as a blind, iterative :class:`~bsrbench.interfaces.Method`.

    Args:
        net: the network (checkpoint loaded, on its device, in eval mode).
    """

    # how it treats --tile (bsrbench.tiling)
    whole_image = ("its estimator pools the whole image into one kernel code between "
                   "restorer passes; pooled tiling is not implemented for it")

    def __init__(self, net: DAN) -> None:
        self.net = net.eval()
        cfg = net.cfg
        self.scale, self.kernel_size = cfg.scale, cfg.kernel_size
        p = net.encoder[0].detach().to(torch.float64)  # (k², para)
        ones = torch.ones(p.shape[0], 1, dtype=torch.float64, device=p.device)
        # Minimum-norm solution of [Pᵀ; 1ᵀ] k = [c; 1], for every code c at once.
        self._decoder = torch.linalg.pinv(torch.cat([p, ones], dim=1).T)  # (k², para + 1)
        digest = hashlib.sha256(p.cpu().numpy().tobytes()).hexdigest()[:16]
        self.code_space = f"dan-pca-{digest}"

    def _steps(self, lr: Tensor) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        if lr.dim() != 4 or lr.shape[1] != 3:
            raise InputError(f"DAN needs LR images (B, 3, h, w), got {tuple(lr.shape)}")
        for sr, code, kernel in self.net.iterate(lr):
            flat = kernel if kernel is not None else self.decode(code)
            yield sr, code, flat.view(-1, self.kernel_size, self.kernel_size)

    def run(self, batch: LRBatch) -> Iterator[Step]:
        """Yield one Step per loop iteration; the last is DAN's result."""
        if batch.scale != self.scale:
            raise InputError(f"this DAN is x{self.scale}, the batch asks for x{batch.scale}")
        for sr, code, kernel in self._steps(batch.lr):
            yield Step(sr=sr, kernel=kernel, code=code)

    def decode(self, code: Tensor) -> Tensor:
        """Kernels ``(B, k²)`` for codes ``(B, para)`` (non-negative, summing to 1)."""
        code = code.to(torch.float64)
        rhs = torch.cat([code, torch.ones_like(code[:, :1])], dim=1)
        flat = (rhs @ self._decoder.to(code.device).T).clamp(min=0.0)
        total = flat.sum(dim=1, keepdim=True)
        delta = torch.zeros_like(flat)
        delta[:, flat.shape[1] // 2] = 1.0  # a code far off the kernel set clips to nothing
        return torch.where(total > 1e-12, flat / total.clamp(min=1e-12), delta).float()

    def encode_kernel(self, kernel: Tensor) -> Tensor:
        """Codes ``(B, para)`` of kernels ``(B, s, s)`` (KernelCoder), as upstream: ``k @ P``.

        Kernels of another odd size are centre-cropped or zero-padded to the PCA's size
        and renormalised first.
        """
        k = self.kernel_size
        s = kernel.shape[-1]
        if s > k:
            off = (s - k) // 2
            kernel = kernel[..., off:off + k, off:off + k]
        elif s < k:
            pad = (k - s) // 2
            kernel = torch.nn.functional.pad(kernel, (pad, pad, pad, pad))
        kernel = kernel / kernel.sum(dim=(-2, -1), keepdim=True)
        flat = kernel.reshape(kernel.shape[0], -1).to(self.net.encoder.device, torch.float32)
        return self.net.encode(flat)

    def to(self, device: str | torch.device) -> DANMethod:
        """Move the network to ``device``."""
        self.net.to(device)
        return self


class DANEstimator(DANMethod):
    """DAN's whole loop as a kernel estimator: one estimate per iteration.

    DAN's Estimator reads the SR image its own Restorer made, so it cannot run alone: this
    estimator runs the Restorer internally and yields the iteration's kernel estimates.
    """

    def estimate(self, batch: LRBatch) -> Iterator[KernelEstimate]:
        """Yield the estimate of every loop iteration, last one final."""
        for _, code, kernel in self._steps(batch.lr):
            yield KernelEstimate(kernel=kernel, code=code, space=self.code_space)


def _load(ctx: BuildContext, version: int) -> DAN:
    setting = int(ctx.options.get("setting", 1))
    loop = int(ctx.options.get("loop", LOOP))
    if loop < 1:
        raise InputError(f"DAN's loop must be >= 1, got {loop}")
    cfg = official(version, ctx.scale, setting)
    return load_dan(find_checkpoint(ctx.weights, cfg), cfg, loop).to(ctx.device)


def build_method(ctx: BuildContext, version: int) -> DANMethod:
    """Factory of the ``danv1``/``danv2`` methods (options ``setting``, ``loop``)."""
    return DANMethod(_load(ctx, version))


def build_estimator(ctx: BuildContext, version: int) -> DANEstimator:
    """Factory of the ``danv1``/``danv2`` kernel estimators (setting 1)."""
    return DANEstimator(_load(ctx, version))
