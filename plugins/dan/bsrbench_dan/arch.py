"""DANv1 and DANv2 networks, written from the reference facts (FACTS.md §3).

Module and parameter names reproduce the upstream state-dict keys (``Restorer.body.0.body.3
.body.0.weight`` ...) so the released checkpoints load with no renaming. Two upstream quirks
are kept on purpose because the released weights were trained with them:

* DAN never clamps the SR inside its loop (only the PNG writer does);
* DANv2's group of blocks (``DPCG``) "adds its input" through a list that its blocks have
  already updated in place, so the group output is *twice* the blocks' output.

Blocks pass ``[features, condition]`` lists like upstream; nothing here mutates a list
the caller still reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["DAN", "DANConfig"]


@dataclass(frozen=True)
class DANConfig:
    """The constructor arguments of one DAN network (FACTS.md §1 for the official ones)."""

    version: int  # 1 (DANv1, NeurIPS 2020) or 2 (DANv2, 2021)
    scale: int  # SR factor: 2, 3 or 4
    kernel_size: int = 21  # side of the kernels the PCA encodes (21, 11 or 31)
    para: int = 10  # length of the kernel code (PCA components)
    nf: int = 64  # Restorer width
    nb: int = 40  # v1: CRBs in the Restorer; v2: blocks per group
    ng: int = 5  # v2 only: groups in the Restorer
    loop: int = 4  # alternations at test time (4 in every official test yml)


def _conv(cin: int, cout: int, k: int, stride: int = 1, pad: int | None = None) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride, k // 2 if pad is None else pad)


def _upscale(nf: int, scale: int) -> nn.Sequential:
    """Conv + PixelShuffle stages, then a conv to RGB; no activations (as upstream)."""
    if scale == 4:
        return nn.Sequential(_conv(nf, 4 * nf, 3), nn.PixelShuffle(2),
                             _conv(nf, 4 * nf, 3), nn.PixelShuffle(2), _conv(nf, 3, 3))
    return nn.Sequential(_conv(nf, scale * scale * nf, 3), nn.PixelShuffle(scale),
                         _conv(nf, 3, 3))


# ---- DANv1 ------------------------------------------------------------------------------

class _CALayer(nn.Module):
    """Channel attention: global mean, 1x1 down by 16, LReLU 0.2, 1x1 up, sigmoid."""

    def __init__(self, nf: int, reduction: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(nf, nf // reduction, 1), nn.LeakyReLU(0.2),
                                  nn.Conv2d(nf // reduction, nf, 1), nn.Sigmoid())

    def forward(self, x: Tensor) -> Tensor:
        return x * self.body(x.mean(dim=(2, 3), keepdim=True))


class _CRB(nn.Module):
    """Conditional residual block: ``f + CA(conv(LReLU(conv(cat[f, cond]))))``."""

    def __init__(self, nf: int, para: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv(nf + para, nf + para, 3), nn.LeakyReLU(0.2),
                                  _conv(nf + para, nf, 3), _CALayer(nf))

    def forward(self, x: list[Tensor]) -> list[Tensor]:
        f, cond = x
        return [f + self.body(torch.cat([f, cond], dim=1)), cond]


class _RestorerV1(nn.Module):
    def __init__(self, cfg: DANConfig) -> None:
        super().__init__()
        self.head = _conv(3, cfg.nf, 3)
        self.body = nn.Sequential(*[_CRB(cfg.nf, cfg.para) for _ in range(cfg.nb)])
        self.fusion = _conv(cfg.nf, cfg.nf, 3)
        self.upscale = _upscale(cfg.nf, cfg.scale)

    def forward(self, lr: Tensor, code: Tensor) -> Tensor:
        b, _, h, w = lr.shape
        code_map = code.view(b, -1, 1, 1).expand(b, code.shape[1], h, w)
        f = self.body([self.head(lr), code_map])[0]
        return self.upscale(self.fusion(f))


class _EstimatorV1(nn.Module):
    """Regresses the code from (SR, LR); its width is 32 whatever the Restorer's."""

    def __init__(self, cfg: DANConfig, nf: int = 32, blocks: int = 5) -> None:
        super().__init__()
        s = cfg.scale
        self.head_LR = _conv(3, nf, 1)
        self.head_HR = _conv(3, nf, 9, stride=s, pad=4)
        self.body = nn.Sequential(*[_CRB(nf, nf) for _ in range(blocks)])
        self.out = _conv(nf, cfg.para, 3)

    def forward(self, sr: Tensor, lr: Tensor) -> Tensor:
        f = self.body([self.head_LR(lr), self.head_HR(sr)])[0]
        return self.out(f).mean(dim=(2, 3))


# ---- DANv2 ------------------------------------------------------------------------------

class _DPCB(nn.Module):
    """Dual-path conditional block: ``x0 += body1(x0) * body2(x1)``, ``x1 += body2(x1)``."""

    def __init__(self, nf1: int, nf2: int, ks1: int, ks2: int) -> None:
        super().__init__()
        self.body1 = nn.Sequential(_conv(nf1, nf1, ks1), nn.LeakyReLU(0.2),
                                   _conv(nf1, nf1, ks1))
        self.body2 = nn.Sequential(_conv(nf2, nf2, ks2), nn.LeakyReLU(0.2),
                                   _conv(nf2, nf2, ks2))

    def forward(self, x: list[Tensor]) -> list[Tensor]:
        f2 = self.body2(x[1])
        return [x[0] + self.body1(x[0]) * f2, x[1] + f2]


class _DPCG(nn.Module):
    """A group of DPCBs whose output is *twice* the blocks' output (upstream quirk)."""

    def __init__(self, nf1: int, nf2: int, ks1: int, ks2: int, nb: int) -> None:
        super().__init__()
        self.body = nn.Sequential(*[_DPCB(nf1, nf2, ks1, ks2) for _ in range(nb)])

    def forward(self, x: list[Tensor]) -> list[Tensor]:
        y = self.body(x)
        # Upstream writes y[0] = x[0] + y[0] where x is y (in-place list updates).
        return [2 * y[0], 2 * y[1]]


class _RestorerV2(nn.Module):
    def __init__(self, cfg: DANConfig) -> None:
        super().__init__()
        self.head1 = _conv(3, cfg.nf, 3)
        self.head2 = _conv(cfg.para, cfg.nf, 1)
        self.body = nn.Sequential(*[_DPCG(cfg.nf, cfg.nf, 3, 1, cfg.nb) for _ in range(cfg.ng)])
        self.fusion = _conv(cfg.nf, cfg.nf, 3)
        self.upscale = _upscale(cfg.nf, cfg.scale)

    def forward(self, lr: Tensor, code: Tensor) -> Tensor:
        cond = self.head2(code.view(code.shape[0], -1, 1, 1))
        f = self.body([self.head1(lr), cond])[0]
        return self.upscale(self.fusion(f))


class _EstimatorV2(nn.Module):
    """Predicts the kernel itself (softmax over k²) from (SR, LR)."""

    def __init__(self, cfg: DANConfig, nf: int = 32, blocks: int = 5) -> None:
        super().__init__()
        s, k = cfg.scale, cfg.kernel_size
        self.head_LR = nn.Sequential(_conv(3, nf, 5))
        self.head_HR = nn.Sequential(_conv(3, nf, 4 * s + 1, stride=s, pad=2 * s))
        self.body = _DPCG(nf, nf, 3, 3, blocks)
        self.tail = nn.Sequential(_conv(nf, 2 * nf, 3), nn.AdaptiveAvgPool2d(1),
                                  nn.Conv2d(2 * nf, k * k, 1), nn.Softmax(dim=1))

    def forward(self, sr: Tensor, lr: Tensor) -> Tensor:
        f = self.body([self.head_LR(lr), self.head_HR(sr)])[0]
        return self.tail(f).flatten(1)


# ---- the whole network ----------------------------------------------------------------

class DAN(nn.Module):
    """Restorer + Estimator with the PCA buffers, as upstream's ``DAN`` class.

    ``encoder`` (1, k², para) is the released PCA matrix, ``init_kernel`` the delta kernel
    and ``init_ker_map`` its code; checkpoints carry all three.
    """

    def __init__(self, cfg: DANConfig, pca: Tensor | None = None) -> None:
        super().__init__()
        if cfg.version not in (1, 2):
            raise ValueError(f"DAN version must be 1 or 2, got {cfg.version}")
        self.cfg = cfg
        k = cfg.kernel_size
        restorer, estimator = ((_RestorerV1, _EstimatorV1) if cfg.version == 1
                               else (_RestorerV2, _EstimatorV2))
        self.Restorer = restorer(cfg)
        self.Estimator = estimator(cfg)
        encoder = (torch.zeros(k * k, cfg.para) if pca is None else pca.float()).view(
            1, k * k, cfg.para)
        init_kernel = torch.zeros(1, k, k)
        init_kernel[0, k // 2, k // 2] = 1.0
        self.register_buffer("encoder", encoder.clone())
        self.register_buffer("init_kernel", init_kernel)
        self.register_buffer("init_ker_map", init_kernel.view(1, 1, k * k).bmm(encoder)[:, 0])

    def encode(self, kernel_flat: Tensor) -> Tensor:
        """Codes ``(B, para)`` of flattened kernels ``(B, k²)``: ``k @ P`` by bmm."""
        b = kernel_flat.shape[0]
        return kernel_flat.view(b, 1, -1).bmm(self.encoder.expand(b, -1, -1)).view(b, -1)

    def iterate(self, lr: Tensor) -> Iterator[tuple[Tensor, Tensor, Tensor | None]]:
        """Run the test-time loop, yielding ``(sr, code, kernel)`` per iteration.

        ``sr`` of iteration i is restored with the code estimated at iteration i - 1 (the
        delta kernel's code at i = 0); ``code`` (and, for v2, ``kernel``) is the estimate
        made from that ``sr``. The last iteration's ``sr`` is DAN's result. A generator,
        so a caller sees (and times) each iteration as it finishes.
        """
        ker_map = self.init_ker_map.repeat(lr.shape[0], 1)
        for _ in range(self.cfg.loop):
            sr = self.Restorer(lr, ker_map)
            kernel = None
            if self.cfg.version == 1:
                ker_map = self.Estimator(sr, lr)
            else:
                kernel = self.Estimator(sr, lr)
                ker_map = self.encode(kernel)
            yield sr, ker_map, kernel

    def forward(self, lr: Tensor) -> Tensor:
        """The final SR (upstream ``srs[-1]``)."""
        return list(self.iterate(lr))[-1][0]

