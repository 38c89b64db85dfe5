"""IKC as bsrbench objects: the blind method, the non-blind SFTMD, and two estimators.

The test-time loop follows the official ``codes/test_IKC.py`` (FACTS.md, Appendix):

* step 0: ``code_0 = Predictor(LR)``, ``SR_0 = SFTMD(LR, code_0)``;
* step i = 1..t: ``code_i = Corrector(clamp(SR_{i-1}, 0, 1), code_{i-1})`` (the Corrector
  returns ``code + Δ``, which *is* the next code) and ``SR_i = SFTMD(LR, code_i)``, always
  from the original LR.

Every step is yielded, so the runner scores all t + 1 of them; the official script's pick
of the step with the best PSNR against the ground truth is an oracle and is not done here.
Classes take ready-made modules, so tests inject small random nets; the ``build_*``
factories load real weights.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

import torch
from torch import Tensor

from bsrbench.device import exact_math
from bsrbench.errors import InputError
from bsrbench.interfaces import KernelEstimate, LRBatch, Step
from bsrbench.specs import BuildContext
from bsrbench_ikc.archs import SFTMD, Corrector, Predictor
from bsrbench_ikc.checkpoints import (
    load_corrector,
    load_predictor,
    load_sftmd,
    resolve_weights,
)
from bsrbench_ikc.pca import KernelPCA, load_pca

__all__ = [
    "DEFAULT_ITERATIONS",
    "IKCEstimator",
    "IKCMethod",
    "PredictorEstimator",
    "SFTMDModel",
    "build_ikc_estimator",
    "build_method",
    "build_predictor",
    "build_sftmd",
]

DEFAULT_ITERATIONS = 7  # t in the paper and in test_IKC.py


def _check_lr(lr: Tensor) -> None:
    if lr.dim() != 4 or lr.shape[1] != 3:
        raise InputError(f"IKC needs LR images of shape (B, 3, h, w), got {tuple(lr.shape)}")


def _out(t: Tensor) -> Tensor:
    """A float32 copy made outside inference mode: a normal tensor the runner may modify.

    Tensors created under ``inference_mode`` refuse in-place updates elsewhere, which a
    runner that clamps an SR image in place would trip over; the copy is cheap next to
    the networks.
    """
    return t.to(torch.float32, copy=True)


def _check_iterations(iterations: int) -> int:
    if iterations < 0:
        raise InputError(f"IKC iterations must be >= 0, got {iterations}")
    return int(iterations)


def _ikc_loop(
    sftmd: SFTMD, predictor: Predictor, corrector: Corrector, lr: Tensor, iterations: int
) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield ``(sr, code)`` for steps 0..iterations.

    Each step runs in its own ``inference_mode`` block that closes before the yield, so the
    mode never leaks into the caller's code while the generator is suspended.
    """
    with torch.inference_mode():
        code = predictor(lr)
        sr = sftmd(lr, code)
    yield sr, code
    for _ in range(iterations):
        with torch.inference_mode():
            code = corrector(sr.float().clamp(0.0, 1.0), code)
            sr = sftmd(lr, code)
        yield sr, code


class IKCMethod:
    """The blind IKC method: Predictor, then ``iterations`` Corrector steps (Method).

    Args:
        sftmd: the SR network, for the run's scale.
        predictor: the initial code estimator.
        corrector: the code corrector.
        pca: the kernel code space the three were trained with.
        iterations: Corrector steps t; runs yield t + 1 steps.
    """

    def __init__(
        self,
        sftmd: SFTMD,
        predictor: Predictor,
        corrector: Corrector,
        pca: KernelPCA,
        iterations: int = DEFAULT_ITERATIONS,
    ) -> None:
        self.sftmd = sftmd.eval()
        self.predictor = predictor.eval()
        self.corrector = corrector.eval()
        self.pca = pca
        self.iterations = _check_iterations(iterations)

    def run(self, batch: LRBatch) -> Iterator[Step]:
        """Yield one Step per IKC step (SR, code and the decoded kernel estimate)."""
        _check_lr(batch.lr)
        if batch.scale != self.sftmd.scale:
            raise InputError(f"this IKC is ×{self.sftmd.scale}, the batch asks for ×{batch.scale}")
        loop = _ikc_loop(self.sftmd, self.predictor, self.corrector, batch.lr, self.iterations)
        for sr, code in loop:
            code = _out(code)
            yield Step(sr=_out(sr), kernel=self.pca.decode(code), code=code)

    def encode_kernel(self, kernel: Tensor) -> Tensor:
        """Codes ``(B, 10)`` of kernels ``(B, 21, 21)`` (KernelCoder)."""
        return self.pca.encode(kernel)

    def to(self, device: str | torch.device) -> IKCMethod:
        """Move the networks to ``device`` (the PCA follows its inputs)."""
        for net in (self.sftmd, self.predictor, self.corrector):
            net.to(device)
        return self


class SFTMDModel:
    """SFTMD as a non-blind model: ``restore(lr, kernel) = SFTMD(lr, encode(kernel))``.

    IKC's SFTMD is trained noise-free, so a known noise level is not an input and is
    ignored.
    """

    def __init__(self, sftmd: SFTMD, pca: KernelPCA) -> None:
        self.sftmd = sftmd.eval()
        self.pca = pca
        self.kernel_size = pca.kernel_size

    def restore(self, lr: Tensor, kernel: Tensor, noise: Tensor | None = None) -> Tensor:
        """Return SR ``(B, 3, s*h, s*w)`` for LR ``(B, 3, h, w)`` and kernels ``(B, 21, 21)``."""
        _check_lr(lr)
        if kernel.shape[0] != lr.shape[0]:
            raise InputError(f"got {lr.shape[0]} LR images but {kernel.shape[0]} kernels")
        with torch.inference_mode():
            sr = self.sftmd(lr, self.pca.encode(kernel))
        return _out(sr)

    def encode_kernel(self, kernel: Tensor) -> Tensor:
        """Codes of kernels (KernelCoder)."""
        return self.pca.encode(kernel)

    def to(self, device: str | torch.device) -> SFTMDModel:
        """Move the network to ``device``."""
        self.sftmd.to(device)
        return self


class PredictorEstimator:
    """IKC's Predictor alone as a kernel estimator (one estimate, no correction)."""

    def __init__(self, predictor: Predictor, pca: KernelPCA) -> None:
        self.predictor = predictor.eval()
        self.pca = pca

    def estimate(self, batch: LRBatch) -> Iterator[KernelEstimate]:
        """Yield the Predictor's estimate for each image of ``batch``."""
        _check_lr(batch.lr)
        with torch.inference_mode():
            code = self.predictor(batch.lr)
        code = _out(code)
        yield KernelEstimate(kernel=self.pca.decode(code), code=code)

    def encode_kernel(self, kernel: Tensor) -> Tensor:
        """Codes of kernels (KernelCoder)."""
        return self.pca.encode(kernel)

    def to(self, device: str | torch.device) -> PredictorEstimator:
        """Move the network to ``device``."""
        self.predictor.to(device)
        return self


class IKCEstimator(IKCMethod):
    """The full IKC loop as a kernel estimator: yields t + 1 estimates.

    It runs its own SFTMD internally (the Corrector needs SR images); composing it with
    another non-blind model then restores the LR once per estimate. Same constructor as
    :class:`IKCMethod`, whose loop it reuses.
    """

    def estimate(self, batch: LRBatch) -> Iterator[KernelEstimate]:
        """Yield the kernel estimate of every IKC step, last one best."""
        for step in self.run(batch):
            yield KernelEstimate(kernel=step.kernel, code=step.code)


# ---------------------------------------------------------------------------- factories


def _iterations(ctx: BuildContext) -> int:
    return _check_iterations(ctx.options.get("iterations", DEFAULT_ITERATIONS))


_Loop = TypeVar("_Loop", bound=IKCMethod)


def _build_loop(cls: type[_Loop], ctx: BuildContext) -> _Loop:
    exact_math(ctx.device)
    paths = resolve_weights(ctx.weights, ctx.scale)
    loop = cls(
        load_sftmd(paths.sftmd, ctx.scale),
        load_predictor(paths.predictor),
        load_corrector(paths.corrector),
        load_pca(paths.pca),
        _iterations(ctx),
    )
    return loop.to(ctx.device)


def build_method(ctx: BuildContext) -> IKCMethod:
    """Factory of the ``ikc`` method: all four parts from ``ctx.weights`` or the bundle."""
    return _build_loop(IKCMethod, ctx)


def build_sftmd(ctx: BuildContext) -> SFTMDModel:
    """Factory of the ``sftmd`` non-blind model (needs the SFTMD and the PCA)."""
    exact_math(ctx.device)
    paths = resolve_weights(ctx.weights, ctx.scale, ("sftmd", "pca"))
    return SFTMDModel(load_sftmd(paths.sftmd, ctx.scale), load_pca(paths.pca)).to(ctx.device)


def build_predictor(ctx: BuildContext) -> PredictorEstimator:
    """Factory of the ``ikc.predictor`` estimator (needs the Predictor and the PCA)."""
    exact_math(ctx.device)
    paths = resolve_weights(ctx.weights, ctx.scale, ("predictor", "pca"))
    estimator = PredictorEstimator(load_predictor(paths.predictor), load_pca(paths.pca))
    return estimator.to(ctx.device)


def build_ikc_estimator(ctx: BuildContext) -> IKCEstimator:
    """Factory of the ``ikc`` estimator: the full loop, yielding t + 1 estimates."""
    return _build_loop(IKCEstimator, ctx)
