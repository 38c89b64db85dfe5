"""SRMD as a bsrbench non-blind model: weights loading, input building and restore().

SRMD (Zhang, Zuo and Zhang, CVPR 2018) restores an LR image given its blur kernel's PCA
code and, for the noise-aware ``srmd`` models, its noise level; ``srmdnf`` models are
noise-free. Weights are KAIR's released ``.pth`` files (``cszn/KAIR``, MIT) or bsrbench
safetensors. Loading is strict, unlike KAIR's test script, because a non-strict load
that misses a key silently leaves random weights in place.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from bsrbench.errors import InputError, WeightsError
from bsrbench.interfaces import KernelEstimate
from bsrbench.kernels import check_kernel
from bsrbench.specs import BuildContext
from bsrbench.tiling import Tiling, chain_receptive_field, run_tiled, tile_area, tiling_from
from bsrbench.weights import load_state_dict
from bsrbench_srmd.arch import SRMD
from bsrbench_srmd.kernel_map import (
    KERNEL_SIZE,
    degradation_vector,
    load_pca,
    network_input,
)
from bsrbench_srmd.weight_files import (
    IN_CHANNELS,
    bundled_sha256,
    check_scale,
    check_variant,
    find_weights,
    weights_available,
)

__all__ = [
    "SRMDModel",
    "build_srmd",
    "build_srmdnf",
    "check_state_dict",
    "find_weights",
    "load_network",
    "weights_available",
]


class SRMDModel:
    """A loaded SRMD network behind the :class:`~bsrbench.interfaces.NonBlindModel` API.

    Args:
        net: The network, already on its device and in eval mode.
        pca: KAIR's PCA matrix ``P`` (15, 225).
        noise_aware: True for srmd (19 inputs, noise plane), False for srmdnf (18 inputs).
        tiling: run the network on overlapping LR tiles (see :mod:`bsrbench.tiling`); the
            degradation maps are constant planes, so tiles with the default overlap
            (``receptive_field``: one LR pixel per 3×3 conv, 12) are exact.
    """

    kernel_size = KERNEL_SIZE

    def __init__(self, net: SRMD, pca: Tensor, *, noise_aware: bool,
                 tiling: Tiling | None = None) -> None:
        expected = IN_CHANNELS["srmd" if noise_aware else "srmdnf"]
        if net.in_nc != expected:
            raise InputError(
                f"a {'noise-aware' if noise_aware else 'noise-free'} SRMD needs {expected} "
                f"input channels, the network has {net.in_nc}"
            )
        self.net, self.pca, self.noise_aware = net, pca, noise_aware
        self.scale = net.scale
        self.tiling = tiling
        self.receptive_field = chain_receptive_field(
            m for m in net.model if isinstance(m, torch.nn.Conv2d))[0]

    def memory_estimate(self, shape: tuple[int, int, int, int], tiling: Tiling | None) -> int:
        """Peak working bytes for an LR batch of ``shape`` under ``tiling``: about four
        feature maps of the conv width per LR pixel (fitted on the CPU, float32), and the
        SR output."""
        b, _, h, w = shape
        width = self.net.model[0].out_channels
        per_px = 4 * (4 * width + self.net.in_nc + 2 * 3 * self.scale**2)
        area = tile_area(h, w, tiling, tiling.overlap_for(self.receptive_field)
                         if tiling else 0)
        return b * (per_px * area + 4 * 3 * self.scale**2 * h * w)

    def restore(self, lr: Tensor, estimate: KernelEstimate | Tensor,
                noise: Tensor | None = None) -> Tensor:
        """Return the raw SR ``(B, 3, s*h, s*w)`` for LR ``(B, 3, h, w)`` and kernels.

        Args:
            lr: float LR images in [0, 1].
            estimate: the estimator's output; its ``kernel`` (B, 15, 15), each summing
                to 1, is used (a bare kernel tensor is accepted too, for direct calls).
            noise: (B,) noise std in 0..255 units. Noise-free models ignore it; noise-aware
                ones treat None as 0.

        Raises:
            InputError: Bad shapes, a kernel that is not 15×15 or does not sum to 1.
        """
        kernel = estimate.kernel if isinstance(estimate, KernelEstimate) else estimate
        if lr.dim() != 4 or lr.shape[1] != 3 or not lr.is_floating_point():
            raise InputError(
                f"SRMD needs float LR images (B, 3, h, w), got {lr.dtype} {tuple(lr.shape)}"
            )
        if kernel.dim() != 3 or kernel.shape[-2:] != (KERNEL_SIZE, KERNEL_SIZE):
            raise InputError(
                f"SRMD needs (B, 15, 15) kernels, got {tuple(kernel.shape)}: compose it with "
                'the explicit "center-crop" kernel conversion, which converts 21x21 estimates'
            )
        check_kernel(kernel, size=KERNEL_SIZE)
        if kernel.shape[0] != lr.shape[0]:
            raise InputError(f"SRMD got {kernel.shape[0]} kernels for {lr.shape[0]} LR images")
        if self.noise_aware:
            sigma = torch.zeros(lr.shape[0], dtype=torch.float64) if noise is None else noise
            vector = degradation_vector(kernel, self.pca, sigma)
        else:
            vector = degradation_vector(kernel, self.pca)
        device = next(self.net.parameters()).device
        lr = lr.to(device=device, dtype=torch.float32)
        return run_tiled(lambda t: self.net(network_input(t, vector)), lr, self.scale,
                         self.tiling, self.receptive_field)


def check_state_dict(
    state: Mapping[str, Tensor], net: SRMD, source: str | Path, variant: str
) -> None:
    """Raise a WeightsError naming the first key that is missing, extra or mis-shaped.

    torch's own strict-load error is a multi-line dump; this one names the key and, for a
    shape mismatch, which variant and scale the checkpoint looks like.
    """
    expected = net.state_dict()
    what = f"{variant} x{net.scale}"
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    hint = "pass a KAIR SRMD checkpoint or one saved by bsrbench"
    if missing:
        raise WeightsError(f"{source} lacks {_listing(missing)}, needed by {what}: {hint}")
    if extra:
        raise WeightsError(f"{source} has unexpected {_listing(extra)} for {what}: {hint}")
    for key, want in expected.items():
        got = state[key]
        if got.shape != want.shape:
            raise WeightsError(
                f"{source}: {key} has shape {tuple(got.shape)}, {what} expects "
                f"{tuple(want.shape)}{_looks_like(state)}"
            )


def load_network(path: str | Path, scale: int, variant: str = "srmd") -> SRMD:
    """Build the released SRMD layout for ``variant``/``scale`` and load ``path`` strictly.

    Bundled files pinned in ``weights/sha256.json`` are hash-checked; ``.pth`` files are read
    with ``weights_only=True`` (by :func:`bsrbench.weights.load_state_dict`).

    Returns:
        The network on the CPU, in eval mode.

    Raises:
        WeightsError: Unreadable file, hash mismatch, or keys/shapes that do not match.
    """
    net = SRMD(in_nc=IN_CHANNELS[check_variant(variant)], scale=check_scale(scale))
    return load_weights_into(net, path, variant).eval()


def load_weights_into(net: SRMD, path: str | Path, variant: str) -> SRMD:
    """Load ``path`` strictly into ``net`` (any size) and return it.

    Bundled files are hash-checked against ``weights/sha256.json``; keys and shapes are
    checked first so a mismatch is a one-line :class:`WeightsError`.
    """
    path = Path(path)
    state = load_state_dict(path, sha256=bundled_sha256(path))
    check_state_dict(state, net, path, variant)
    net.load_state_dict(state, strict=True)
    return net


def build_srmd(ctx: BuildContext) -> SRMDModel:
    """Factory for the noise-aware ``srmd`` model (19 inputs)."""
    return _build(ctx, "srmd")


def build_srmdnf(ctx: BuildContext) -> SRMDModel:
    """Factory for the noise-free ``srmdnf`` model (18 inputs)."""
    return _build(ctx, "srmdnf")


def _build(ctx: BuildContext, variant: str) -> SRMDModel:
    scale = check_scale(ctx.scale)
    net = load_network(find_weights(ctx.weights, scale, variant), scale, variant)
    return SRMDModel(net.to(ctx.device), load_pca(), noise_aware=variant == "srmd",
                     tiling=tiling_from(ctx))


def _listing(keys: list[str]) -> str:
    shown = ", ".join(repr(k) for k in keys[:3])
    more = f" (+{len(keys) - 3} more)" if len(keys) > 3 else ""
    return f"key{'s' if len(keys) > 1 else ''} {shown}{more}"


def _looks_like(state: Mapping[str, Tensor]) -> str:
    """Guess variant and scale from the head and tail shapes, for the error message."""
    head, tail = state.get("model.0.weight"), state.get("model.22.weight")
    if head is None or tail is None or head.dim() != 4 or tail.dim() != 4:
        return ""
    variants = {v for v, n in IN_CHANNELS.items() if n == head.shape[1]}
    scales = [s for s in (1, 2, 3, 4, 5, 6, 8) if 3 * s * s == tail.shape[0]]
    if not variants or not scales:
        return ""
    return f" (the file looks like {variants.pop()} x{scales[0]})"
