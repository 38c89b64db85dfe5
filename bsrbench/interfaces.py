"""What plugins implement: methods, kernel estimators and non-blind models.

One abstraction carries every method: a *run* turns a batch of LR images into a sequence
of :class:`Step` values. A one-shot method yields one step; IKC yields ``t + 1``. The runner,
not the plugin, scores every step, so iterative methods get metrics per step for free.

Kernel estimators and non-blind models are separate interfaces that the core composes
(``srmd`` with ``oracle``, ``ikc.predictor``, ...): an estimator yields one or more kernel
estimates and the composition restores the LR once with each of them.

Tensors follow one contract everywhere: images are float32 ``(B, 3, H, W)`` in ``[0, 1]`` on
the run's device, kernels are float32 ``(B, k, k)`` with odd ``k`` and each summing to 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from torch import Tensor

__all__ = [
    "KernelCoder",
    "KernelEstimate",
    "KernelEstimator",
    "LRBatch",
    "Method",
    "NonBlindModel",
    "Step",
]


@dataclass(frozen=True)
class LRBatch:
    """A batch of LR images of one size, as the runner hands it to a method."""

    lr: Tensor  # (B, 3, h, w) float32 in [0, 1], on the run's device
    scale: int  # the SR factor the method must produce
    noise: Tensor | None = None  # (B,) known noise std in 0..255 units; None when noise-free
    # (B, k, k) ground-truth kernels. Only estimators whose spec says uses_ground_truth=True
    # ever see them; blind methods always get None.
    kernels: Tensor | None = None


@dataclass(frozen=True)
class KernelEstimate:
    """One kernel estimate per batch item."""

    kernel: Tensor  # (B, k, k) float32, non-negative, each summing to 1
    code: Tensor | None = None  # (B, d) the estimator's own kernel code (e.g. IKC's PCA code)
    # Name of the code space ``code`` lives in (e.g. IKC's PCA basis by its hash); a model
    # whose own space has the same name uses the code directly instead of the kernel.
    space: str | None = None


@dataclass(frozen=True)
class Step:
    """One output of a method run: the SR images and, optionally, the kernel behind them."""

    sr: Tensor  # (B, 3, scale*h, scale*w) float32; the runner clamps to [0, 1] to score
    kernel: Tensor | None = None  # (B, k, k) the kernel estimate this SR used, if any
    code: Tensor | None = None  # (B, d) that estimate's code, if the method has a code space


@runtime_checkable
class Method(Protocol):
    """A blind SR method: LR in, one or more SR steps out."""

    def run(self, batch: LRBatch) -> Iterator[Step]:
        """Yield the steps of restoring ``batch``; the last one is the method's result."""
        ...


@runtime_checkable
class KernelEstimator(Protocol):
    """Estimates blur kernels from LR images (iterative estimators yield several)."""

    def estimate(self, batch: LRBatch) -> Iterator[KernelEstimate]:
        """Yield one or more estimates; the last one is the estimator's result."""
        ...


@runtime_checkable
class NonBlindModel(Protocol):
    """Restores an LR image given its kernel (and noise level, for noise-aware models)."""

    kernel_size: int | None  # the kernel size restore() accepts (None: any odd size)

    def restore(self, lr: Tensor, estimate: KernelEstimate,
                noise: Tensor | None = None) -> Tensor:
        """Return SR ``(B, 3, s*h, s*w)`` for LR ``(B, 3, h, w)``.

        ``estimate`` is the estimator's output: ``kernel`` (B, k, k) already converted to
        ``kernel_size`` and, when the estimator has one, ``code`` with its ``space``. A model
        with a code space of its own (``code_space`` attribute) uses a code of the same
        space directly; otherwise it reads the kernel. ``noise`` is the known noise level
        (0..255) and reaches only models whose spec declares ``uses_noise_level``.
        """
        ...


@runtime_checkable
class KernelCoder(Protocol):
    """Optional: a method or estimator with a kernel code space (IKC's PCA codes).

    When the object the factory returns also has ``encode_kernel``, the runner reports the
    L2 distance between each step's code and the code of the ground-truth kernel.
    """

    def encode_kernel(self, kernel: Tensor) -> Tensor:
        """Map kernels ``(B, k, k)`` to codes ``(B, d)``."""
        ...
