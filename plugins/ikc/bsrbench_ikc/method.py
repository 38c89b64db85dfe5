"""IKC as bsrbench objects: the blind method, the non-blind SFTMD, and two estimators.

The test-time loop follows the official ``codes/test_IKC.py`` (FACTS.md, Appendix):

* step 0: ``code_0 = Predictor(LR)``, ``SR_0 = SFTMD(LR, code_0)``;
* step i = 1..t: ``code_i = Corrector(clamp(SR_{i-1}, 0, 1), code_{i-1})`` (the Corrector
  returns ``code + Δ``, which *is* the next code) and ``SR_i = SFTMD(LR, code_i)``, always
  from the original LR.

The number of steps counts as the official script does: its ``step: 7``
(``test_Corrector.yml``) saves seven SR images (the Predictor's, then six corrections) and
runs one last Corrector whose output it never uses. bsrbench's option ``steps`` (default 7)
is that count of SR images; every one is yielded and scored, and the unused last Corrector
pass is not run. The official script's pick of the step with the best PSNR against the
ground truth is an oracle and is not done here. The runner owns the grad mode (inference)
and the exact-math switches.

Tiles (``--tile``, or the runner's out-of-memory fallback; :mod:`bsrbench.tiling`): SFTMD,
the restoration network, runs on overlapping LR tiles (exact with the default overlap, its
receptive field of 105 LR pixels). The Predictor and the Corrector need the whole image:
their code is a global average over the LR (Predictor) or the whole SR image (Corrector),
and they still see the whole image, but that average is accumulated over tiles of it
(:func:`bsrbench.tiling.pooled_mean`, exact up to float rounding), so no part ever holds
the activations of the whole image.
Classes take ready-made modules, so tests inject small random nets; the ``build_*``
factories load real weights.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

import torch
from torch import Tensor

from bsrbench.errors import InputError
from bsrbench.interfaces import KernelEstimate, LRBatch, Step
from bsrbench.specs import BuildContext
from bsrbench.tiling import (
    Tiling,
    needs_tiles,
    pooled_mean,
    run_tiled,
    tile_area,
    tiling_from,
)
from bsrbench_ikc.archs import SFTMD, Corrector, Predictor
from bsrbench_ikc.checkpoints import (
    load_corrector,
    load_predictor,
    load_sftmd,
    resolve_weights,
)
from bsrbench_ikc.pca import KernelPCA, load_pca

__all__ = [
    "DEFAULT_STEPS",
    "IKCEstimator",
    "IKCMethod",
    "PredictorEstimator",
    "SFTMDModel",
    "build_ikc_estimator",
    "build_method",
    "build_predictor",
    "build_sftmd",
]

DEFAULT_STEPS = 7  # SR images per LR, as the official test_IKC.py's `step: 7` makes


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


def _check_steps(steps: int) -> int:
    if steps < 1:
        raise InputError(f"IKC steps (SR images per LR) must be >= 1, got {steps}: "
                         "-O steps=1 is the Predictor alone, the official script uses 7")
    return int(steps)


# Working memory in bytes per pixel, fitted on the CPU (float32, torch 2.13, peak RSS of
# one forward at 96² and 192² LR, ×2 and ×4): SFTMD per LR pixel 2048 (trunk) + 512·s²
# (tail, at SR resolution) for nf = 64, the Corrector per SR pixel 576, the Predictor per
# LR pixel 1536.
_SFTMD_BYTES = (2048, 512)
_CORRECTOR_BYTES = 576
_PREDICTOR_BYTES = 1536
# LR tile side for the parts with small receptive fields (SFTMD's tail: 3 LR pixels; the
# pooled Predictor and Corrector maps): little overlap, so small tiles cost little time
_SMALL_TILE = 128


def _restore(sftmd: SFTMD, lr: Tensor, code: Tensor, tiling: Tiling | None) -> Tensor:
    """``sftmd(lr, code)``, on tiles when ``tiling`` cuts the image: the trunk on tiles of
    ``tiling`` (overlap: its field, 102), then the tail, which holds most of the memory at
    SR resolution but sees 3 LR pixels, on tiles of at most :data:`_SMALL_TILE`."""
    if tiling is None or not needs_tiles(tiling, *lr.shape[-2:]):
        return sftmd(lr, code)
    fea = run_tiled(lambda t: sftmd.trunk(t, code), lr, 1, tiling, sftmd.trunk_field)
    return run_tiled(sftmd.tail, fea, sftmd.scale, tiling.capped(_SMALL_TILE),
                     sftmd.tail_field)


def _predict(predictor: Predictor, lr: Tensor, tiling: Tiling | None) -> Tensor:
    """The Predictor's code of the whole LR, averaged over tiles when ``tiling`` cuts it."""
    if tiling is None or not needs_tiles(tiling, *lr.shape[-2:]):
        return predictor(lr)
    radius, stride = predictor.field
    return pooled_mean(predictor.features, lr, stride=stride, receptive_field=radius,
                       size=tiling.capped(_SMALL_TILE).size)


def _correct(corrector: Corrector, sr: Tensor, code: Tensor, scale: int,
             tiling: Tiling | None) -> Tensor:
    """The Corrector's next code from the whole SR image; when ``tiling`` cuts the image,
    averaged over SR tiles of ``scale`` times at most :data:`_SMALL_TILE` LR pixels."""
    if tiling is None or not needs_tiles(tiling, *(n // scale for n in sr.shape[-2:])):
        return corrector(sr, code)
    radius, stride = corrector.field
    delta = pooled_mean(lambda t: corrector.delta_map(t, code), sr, stride=stride,
                        receptive_field=radius, size=tiling.capped(_SMALL_TILE).size * scale)
    return code + delta.to(code.dtype)


def _ikc_loop(
    sftmd: SFTMD, predictor: Predictor, corrector: Corrector, lr: Tensor, steps: int,
    tiling: Tiling | None = None,
) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield ``(sr, code)`` for steps 0..steps-1 (the Predictor's, then corrections)."""
    code = _predict(predictor, lr, tiling)
    sr = _restore(sftmd, lr, code, tiling)
    yield sr, code
    for _ in range(steps - 1):
        code = _correct(corrector, sr.float().clamp(0.0, 1.0), code, sftmd.scale, tiling)
        sr = _restore(sftmd, lr, code, tiling)
        yield sr, code


def _sftmd_bytes(sftmd: SFTMD, h: int, w: int, tiling: Tiling | None) -> int:
    """Peak working bytes of :func:`_restore` for one LR image of ``h`` x ``w``."""
    nf, s = sftmd.config["nf"] / 64, sftmd.scale
    out = 3 * 4 * s**2 * h * w * 3  # SR, its clamped copy, the step's copy
    if tiling is None or not needs_tiles(tiling, h, w):
        return int(nf * (_SFTMD_BYTES[0] + _SFTMD_BYTES[1] * s**2) * h * w) + out
    small = tiling.capped(_SMALL_TILE)
    trunk = nf * _SFTMD_BYTES[0] * tile_area(h, w, tiling,
                                             tiling.overlap_for(sftmd.trunk_field))
    tail = nf * _SFTMD_BYTES[1] * s**2 * tile_area(h, w, small,
                                                   small.overlap_for(sftmd.tail_field))
    fea = 4 * sftmd.config["nf"] * h * w  # the trunk's stitched features
    return int(max(trunk, tail) + fea) + out


class IKCMethod:
    """The blind IKC method: Predictor, then ``steps - 1`` Corrector steps (Method).

    Args:
        sftmd: the SR network, for the run's scale.
        predictor: the initial code estimator.
        corrector: the code corrector.
        pca: the kernel code space the three were trained with.
        steps: SR images per LR (the official ``step``): the Predictor's, then
            ``steps - 1`` Corrector corrections.
        tiling: tiles for SFTMD and the pooled codes (None: whole images); the core may
            change it between batches (``tiling`` attribute, see :mod:`bsrbench.tiling`).
    """

    def __init__(
        self,
        sftmd: SFTMD,
        predictor: Predictor,
        corrector: Corrector,
        pca: KernelPCA,
        steps: int = DEFAULT_STEPS,
        tiling: Tiling | None = None,
    ) -> None:
        self.sftmd = sftmd.eval()
        self.predictor = predictor.eval()
        self.corrector = corrector.eval()
        self.pca = pca
        self.steps = _check_steps(steps)
        self.tiling = tiling

    @property
    def receptive_field(self) -> int:
        """SFTMD's receptive field in LR pixels: the default tile overlap."""
        return self.sftmd.receptive_field

    def memory_estimate(self, shape: tuple[int, int, int, int], tiling: Tiling | None) -> int:
        """Peak working bytes for an LR batch of ``shape`` under ``tiling`` (the largest of
        SFTMD's, the Corrector's and the Predictor's, from the fitted per-pixel costs)."""
        b, _, h, w = shape
        s = self.sftmd.scale
        nf_c = self.corrector.config["nf"] / 64
        nf_p = self.predictor.config["nf"] / 64
        small = None if tiling is None or not needs_tiles(tiling, h, w) else \
            tiling.capped(_SMALL_TILE)
        sr_tiles = None if small is None else Tiling(small.size * s)
        corr = _CORRECTOR_BYTES * nf_c * tile_area(s * h, s * w, sr_tiles,
                                                   sum(self.corrector.field), 4)
        pred = _PREDICTOR_BYTES * nf_p * tile_area(h, w, small, sum(self.predictor.field), 2)
        return b * max(_sftmd_bytes(self.sftmd, h, w, tiling), int(corr), int(pred))

    def run(self, batch: LRBatch) -> Iterator[Step]:
        """Yield one Step per IKC step (SR, code and the decoded kernel estimate)."""
        _check_lr(batch.lr)
        if batch.scale != self.sftmd.scale:
            raise InputError(f"this IKC is ×{self.sftmd.scale}, the batch asks for ×{batch.scale}")
        loop = _ikc_loop(self.sftmd, self.predictor, self.corrector, batch.lr, self.steps,
                         self.tiling)
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
    """SFTMD as a non-blind model: ``SFTMD(lr, code)``.

    The code is the estimator's own when it lives in this model's PCA space
    (``code_space``, e.g. ``ikc.predictor`` with the same PCA), else the PCA code of the
    estimate's kernel. IKC's SFTMD is trained noise-free, so a known noise level is not an
    input and is ignored. With ``tiling`` (see :mod:`bsrbench.tiling`) SFTMD runs on
    overlapping LR tiles, exact with the default overlap (``receptive_field``).
    """

    def __init__(self, sftmd: SFTMD, pca: KernelPCA, tiling: Tiling | None = None) -> None:
        self.sftmd = sftmd.eval()
        self.pca = pca
        self.kernel_size = pca.kernel_size
        self.code_space = pca.space
        self.tiling = tiling

    @property
    def receptive_field(self) -> int:
        """SFTMD's receptive field in LR pixels: the default tile overlap."""
        return self.sftmd.receptive_field

    def memory_estimate(self, shape: tuple[int, int, int, int], tiling: Tiling | None) -> int:
        """Peak working bytes of SFTMD for an LR batch of ``shape`` under ``tiling``."""
        return shape[0] * _sftmd_bytes(self.sftmd, shape[2], shape[3], tiling)

    def restore(self, lr: Tensor, estimate: KernelEstimate | Tensor,
                noise: Tensor | None = None) -> Tensor:
        """Return SR ``(B, 3, s*h, s*w)`` for LR ``(B, 3, h, w)`` and an estimate whose
        code (same space) or kernel ``(B, 21, 21)`` drives the network (a bare kernel
        tensor is accepted too, for direct calls)."""
        _check_lr(lr)
        if not isinstance(estimate, KernelEstimate):
            estimate = KernelEstimate(kernel=estimate)
        if estimate.kernel.shape[0] != lr.shape[0]:
            raise InputError(f"got {lr.shape[0]} LR images but {estimate.kernel.shape[0]} "
                             "kernels")
        if estimate.code is not None and estimate.space == self.code_space:
            code = estimate.code
        else:
            code = self.pca.encode(estimate.kernel)
        return _out(_restore(self.sftmd, lr, code, self.tiling))

    def encode_kernel(self, kernel: Tensor) -> Tensor:
        """Codes of kernels (KernelCoder)."""
        return self.pca.encode(kernel)

    def to(self, device: str | torch.device) -> SFTMDModel:
        """Move the network to ``device``."""
        self.sftmd.to(device)
        return self


class PredictorEstimator:
    """IKC's Predictor alone as a kernel estimator (one estimate, no correction).

    It needs the whole LR (its code is a global average) and sees it; under ``tiling``
    that average is accumulated over tiles (exact up to float rounding).
    """

    def __init__(self, predictor: Predictor, pca: KernelPCA,
                 tiling: Tiling | None = None) -> None:
        self.predictor = predictor.eval()
        self.pca = pca
        self.tiling = tiling

    @property
    def receptive_field(self) -> int:
        """The Predictor's receptive field in LR pixels (its feature map's)."""
        return self.predictor.field[0]

    def estimate(self, batch: LRBatch) -> Iterator[KernelEstimate]:
        """Yield the Predictor's estimate for each image of ``batch``."""
        _check_lr(batch.lr)
        code = _out(_predict(self.predictor, batch.lr, self.tiling))
        yield KernelEstimate(kernel=self.pca.decode(code), code=code, space=self.pca.space)

    def encode_kernel(self, kernel: Tensor) -> Tensor:
        """Codes of kernels (KernelCoder)."""
        return self.pca.encode(kernel)

    def to(self, device: str | torch.device) -> PredictorEstimator:
        """Move the network to ``device``."""
        self.predictor.to(device)
        return self


class IKCEstimator(IKCMethod):
    """The full IKC loop as a kernel estimator: one estimate per step (``steps``).

    It runs its own SFTMD internally (the Corrector needs SR images); composing it with
    another non-blind model then restores the LR once per estimate. Same constructor as
    :class:`IKCMethod`, whose loop it reuses.
    """

    def estimate(self, batch: LRBatch) -> Iterator[KernelEstimate]:
        """Yield the kernel estimate of every IKC step, last one best."""
        for step in self.run(batch):
            yield KernelEstimate(kernel=step.kernel, code=step.code, space=self.pca.space)


# ---------------------------------------------------------------------------- factories


def _steps(ctx: BuildContext) -> int:
    return _check_steps(ctx.options.get("steps", DEFAULT_STEPS))


_Loop = TypeVar("_Loop", bound=IKCMethod)


def _build_loop(cls: type[_Loop], ctx: BuildContext) -> _Loop:
    paths = resolve_weights(ctx.weights, ctx.scale)
    loop = cls(
        load_sftmd(paths.sftmd, ctx.scale),
        load_predictor(paths.predictor),
        load_corrector(paths.corrector),
        load_pca(paths.pca),
        _steps(ctx),
        tiling_from(ctx),
    )
    return loop.to(ctx.device)


def build_method(ctx: BuildContext) -> IKCMethod:
    """Factory of the ``ikc`` method: all four parts from ``ctx.weights`` or the bundle."""
    return _build_loop(IKCMethod, ctx)


def build_sftmd(ctx: BuildContext) -> SFTMDModel:
    """Factory of the ``sftmd`` non-blind model (needs the SFTMD and the PCA)."""
    paths = resolve_weights(ctx.weights, ctx.scale, ("sftmd", "pca"))
    return SFTMDModel(load_sftmd(paths.sftmd, ctx.scale), load_pca(paths.pca),
                      tiling_from(ctx)).to(ctx.device)


def build_predictor(ctx: BuildContext) -> PredictorEstimator:
    """Factory of the ``ikc.predictor`` estimator (needs the Predictor and the PCA)."""
    paths = resolve_weights(ctx.weights, ctx.scale, ("predictor", "pca"))
    estimator = PredictorEstimator(load_predictor(paths.predictor), load_pca(paths.pca),
                                   tiling_from(ctx))
    return estimator.to(ctx.device)


def build_ikc_estimator(ctx: BuildContext) -> IKCEstimator:
    """Factory of the ``ikc`` estimator: the full loop, one estimate per SR step."""
    return _build_loop(IKCEstimator, ctx)
