"""The DCLS network (Luo et al., CVPR 2022), written from the reference facts (FACTS.md §4).

Module names reproduce the upstream state-dict keys, so the released checkpoints load with
no renaming. What the released weights depend on, and is therefore kept exactly:

* the Estimator builds its kernel by convolving a delta with per-image filters decoded
  from a latent (sizes per setting, ``FILTERS``), flips it and normalises the channel mean
  by its sum: the kernel may have negative entries;
* the deconvolution (``CLS``) works in the Fourier domain on replicate-padded features and
  takes the real part the way torch < 1.8's ``irfft`` did: only the non-redundant half of
  the spectrum is read (``irfft2`` of the first ``W // 2 + 1`` columns);
* DPCAG groups output *twice* their blocks' output (in-place list updates upstream);
* the Restorer clamps its output to [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["DCLS", "FILTERS", "DCLSConfig", "psf2otf"]

# Filter sizes of the Estimator's kernel generator per kernel size (G_chan = 16).
FILTERS = {21: (11, 7, 5, 1), 11: (7, 3, 3, 1), 31: (11, 9, 7, 5, 3)}
G_CHAN = 16


@dataclass(frozen=True)
class DCLSConfig:
    """Constructor arguments of one DCLS network (FACTS.md §1 for the official ones)."""

    scale: int  # SR factor: 2, 3 or 4
    kernel_size: int = 21  # 21 (setting 1), 11 (setting 2 x2) or 31 (setting 2 x4)
    para: int = 256  # length of the Estimator's latent
    nf: int = 64  # Restorer width
    nb: int = 10  # blocks per group
    ng: int = 5  # groups


def _conv(cin: int, cout: int, k: int, pad: int | None = None) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, 1, k // 2 if pad is None else pad)


class _ResBlock(nn.Module):
    """``x + conv2(LReLU0.1(conv1(x)))`` (upstream ``ResidualBlock_noBN``)."""

    def __init__(self, nf: int) -> None:
        super().__init__()
        self.conv1 = _conv(nf, nf, 3)
        self.conv2 = _conv(nf, nf, 3)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.leaky_relu(self.conv1(x), 0.1))


class _Estimator(nn.Module):
    """LR -> latent -> per-image filters -> kernel (B, 1, k, k), summing to 1."""

    def __init__(self, cfg: DCLSConfig, blocks: int = 3) -> None:
        super().__init__()
        nf = cfg.nf
        if cfg.kernel_size not in FILTERS:
            raise ValueError(f"DCLS kernel_size must be one of {sorted(FILTERS)}")
        self.kernel_size = cfg.kernel_size
        self.filters = FILTERS[cfg.kernel_size]
        self.head = nn.Sequential(_conv(3, nf, 7))
        self.body = nn.Sequential(nn.Sequential(*[_ResBlock(nf) for _ in range(blocks)]))
        self.tail = nn.Sequential(_conv(nf, nf, 3, pad=0), nn.LeakyReLU(0.1),
                                  _conv(nf, nf, 3, pad=0), nn.AdaptiveAvgPool2d(1),
                                  nn.Conv2d(nf, cfg.para, 1), nn.Flatten())
        shapes = self._shapes()
        self.dec = nn.ModuleList(nn.Linear(cfg.para, o * i * f * f) for o, i, f in shapes)

    def _shapes(self) -> list[tuple[int, int, int]]:
        """(out, in, size) of each generator filter: 3 -> 16 -> ... -> 16 -> 3 channels."""
        n = len(self.filters)
        chans = [3] + [G_CHAN] * (n - 1) + [3]
        return [(chans[i + 1], chans[i], f) for i, f in enumerate(self.filters)]

    def forward(self, lr: Tensor) -> Tensor:
        f = self.head(lr)
        latent = self.tail(self.body(f) + f)
        b, k = lr.shape[0], self.kernel_size
        x = torch.ones(1, b * 3, 1, 1, dtype=lr.dtype, device=lr.device)
        for i, ((o, c, s), dec) in enumerate(zip(self._shapes(), self.dec)):
            w = dec(latent).view(b * o, c, s, s)
            x = F.conv2d(x, w, padding=k - 1 if i == 0 else 0, groups=b)
        kernel = x.view(b, 3, k, k).flip(2, 3).mean(dim=1, keepdim=True)
        return kernel / kernel.sum(dim=(2, 3), keepdim=True)


class _CALayer(nn.Module):
    """Channel attention with reduction 4, ReLU and sigmoid."""

    def __init__(self, nf: int, reduction: int = 4) -> None:
        super().__init__()
        self.conv_du = nn.Sequential(nn.Conv2d(nf, nf // reduction, 1), nn.ReLU(),
                                     nn.Conv2d(nf // reduction, nf, 1), nn.Sigmoid())

    def forward(self, x: Tensor) -> Tensor:
        return x * self.conv_du(x.mean(dim=(2, 3), keepdim=True))


class _DPCAB(nn.Module):
    def __init__(self, nf1: int, nf2: int) -> None:
        super().__init__()
        self.body1 = nn.Sequential(_conv(nf1, nf1, 3), nn.LeakyReLU(0.1), _conv(nf1, nf1, 3))
        self.body2 = nn.Sequential(_conv(nf2, nf2, 3), nn.LeakyReLU(0.1), _conv(nf2, nf2, 3))
        self.CA_body1 = nn.Sequential(nn.LeakyReLU(0.1), _conv(nf1 + nf2, nf1, 3),
                                      _CALayer(nf1))
        self.CA_body2 = _CALayer(nf2)

    def forward(self, x: list[Tensor]) -> list[Tensor]:
        f1, f2 = self.body1(x[0]), self.body2(x[1])
        return [x[0] + self.CA_body1(torch.cat([f1, f2], dim=1)), x[1] + self.CA_body2(f2)]


class _DPCAG(nn.Module):
    """Blocks whose group output is twice their output (upstream's in-place quirk)."""

    def __init__(self, nf1: int, nf2: int, nb: int) -> None:
        super().__init__()
        self.body = nn.Sequential(*[_DPCAB(nf1, nf2) for _ in range(nb)])

    def forward(self, x: list[Tensor]) -> list[Tensor]:
        y = self.body(x)
        return [2 * y[0], 2 * y[1]]


def psf2otf(psf: Tensor, size: tuple[int, int]) -> Tensor:
    """FFT of ``psf`` (B, C, k, k) zero-padded to ``size`` with its centre moved to (0, 0)."""
    k = psf.shape[-1]
    padded = psf.new_zeros(*psf.shape[:-2], *size)
    padded[..., :k, :k] = psf
    return torch.fft.fft2(torch.roll(padded, shifts=(-(k // 2), -(k // 2)), dims=(-2, -1)))


class _CLS(nn.Module):
    """Deep constrained least squares: Wiener-like deconvolution of features, per channel."""

    def __init__(self, nf: int, kernel_size: int, reduction: int = 4) -> None:
        super().__init__()
        c = nf // reduction
        self.kernel_size = kernel_size
        self.reduce_feature = nn.Conv2d(nf, c, 1)
        self.grad_filter = nn.Sequential(
            _conv(c, c, 3, pad=0), nn.LeakyReLU(0.1), _conv(c, c, 3, pad=0), nn.LeakyReLU(0.1),
            _conv(c, c, 3, pad=0), nn.AdaptiveAvgPool2d((3, 3)), nn.Conv2d(c, c, 1))
        self.expand_feature = nn.Conv2d(c, nf, 1)

    def deconvolve(self, feature: Tensor, kernel: Tensor) -> tuple[Tensor, Tensor]:
        """Return (clear features (B, nf/4, H, W), regulariser P (B, nf/4, 3, 3))."""
        c = self.reduce_feature(feature)
        p = torch.exp(self.grad_filter(c))
        p = p - p.mean(dim=(2, 3), keepdim=True)
        k = self.kernel_size
        c_pad = F.pad(c, (k, k, k, k), mode="replicate")
        hp, wp = c_pad.shape[-2:]
        otf_k = psf2otf(kernel, (hp, wp))  # (B, 1, Hp, Wp)
        otf_p = psf2otf(p, (hp, wp))  # (B, C, Hp, Wp)
        numerator = otf_k.conj() * torch.fft.fft2(c_pad)
        ratio = numerator / (otf_k.abs().square() + otf_p.abs().square())
        # torch<1.8 irfft (onesided=False) read only the first Wp//2+1 columns.
        clear = torch.fft.irfft2(ratio[..., : wp // 2 + 1], s=(hp, wp))
        return clear[..., k:-k, k:-k], p

    def forward(self, feature: Tensor, kernel: Tensor) -> Tensor:
        return self.expand_feature(self.deconvolve(feature, kernel)[0])


class _Restorer(nn.Module):
    def __init__(self, cfg: DCLSConfig) -> None:
        super().__init__()
        nf, q = cfg.nf, cfg.nf // 4
        self.conv_first = _conv(3, nf, 3)
        self.feature_block = nn.Sequential(*[_ResBlock(nf) for _ in range(3)])
        self.head1 = _conv(nf, q, 3)
        self.head2 = _CLS(nf, cfg.kernel_size)
        self.body = nn.Sequential(*[_DPCAG(nf, q, cfg.nb) for _ in range(cfg.ng)])
        self.fusion = _conv(nf + q, nf, 3)
        if cfg.scale == 4:
            self.upscale = nn.Sequential(_conv(nf, 4 * nf, 3), nn.PixelShuffle(2),
                                         _conv(nf, 4 * nf, 3), nn.PixelShuffle(2),
                                         _conv(nf, 3, 3))
        else:
            s = cfg.scale
            self.upscale = nn.Sequential(_conv(nf, s * s * nf, 3), nn.PixelShuffle(s),
                                         _conv(nf, 3, 3))

    def forward_unclamped(self, lr: Tensor, kernel: Tensor) -> Tensor:
        f = self.conv_first(lr)
        feature = self.feature_block(f)
        x = self.body([self.head2(feature, kernel), self.head1(feature)])
        return self.upscale(self.fusion(torch.cat([x[1], x[0]], dim=1)) + f)

    def forward(self, lr: Tensor, kernel: Tensor) -> Tensor:
        return self.forward_unclamped(lr, kernel).clamp(0, 1)


class DCLS(nn.Module):
    """Estimator + Restorer, as upstream's ``DCLS`` class: ``sr = R(lr, E(lr))``."""

    def __init__(self, cfg: DCLSConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.Restorer = _Restorer(cfg)
        self.Estimator = _Estimator(cfg)

    def forward(self, lr: Tensor) -> tuple[Tensor, Tensor]:
        """Return (SR clamped to [0, 1], kernel (B, 1, k, k))."""
        kernel = self.Estimator(lr)
        return self.Restorer(lr, kernel.detach()), kernel
