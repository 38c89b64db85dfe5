"""USRNet (Zhang, Van Gool, Timofte, "Deep Unfolding Network for Image Super-Resolution",
CVPR 2020) in the layout of KAIR's ``usrnet.py``, so the released ``usrnet_tiny.pth`` loads
key for key.

The network alternates a closed-form FFT data step (the kernel enters only there, so any
kernel size up to the HR size works) with a small ResUNet prior step; a hyper-network maps
(noise level, scale) to the per-iteration weights. Written from the paper's equations and
the facts in ``../shared/reference/fkp/FACTS.md`` §2 (the old ``torch.rfft`` calls are
plain complex FFTs here).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ResUNet", "USRNet", "hyper_input", "p2o"]


def p2o(psf: Tensor, shape: tuple[int, int]) -> Tensor:
    """Optical transfer function of ``psf`` (B,1,kh,kw) for an image of ``shape``.

    The kernel sits at the top-left of a zero array, is rolled so its centre (index k//2)
    is at the origin, and is transformed; tiny imaginary parts are zeroed as KAIR does
    (threshold n_ops * eps with n_ops = sum(s * log2(s)) over the psf's shape).
    """
    otf = psf.new_zeros((*psf.shape[:-2], *shape))
    kh, kw = psf.shape[-2:]
    otf[..., :kh, :kw] = psf
    otf = torch.roll(otf, shifts=(-(kh // 2), -(kw // 2)), dims=(-2, -1))
    otf = torch.fft.fftn(otf, dim=(-2, -1))
    dims = torch.tensor(psf.shape, dtype=psf.dtype)
    n_ops = float(torch.sum(dims * torch.log2(dims)))
    imag = otf.imag
    imag = torch.where(imag.abs() < n_ops * 2.22e-16, torch.zeros_like(imag), imag)
    return torch.complex(otf.real, imag)


def _block_mean(a: Tensor, sf: int) -> Tensor:
    """Mean over the sf*sf blocks, reduced over the same axis of the (..., 2) real view
    as KAIR (the reduction order changes the last bits, which sigma=0 amplifies)."""
    r = torch.view_as_real(a)  # (B, C, H, W, 2)
    b = torch.stack(torch.chunk(r, sf, dim=2), dim=5)
    b = torch.cat(torch.chunk(b, sf, dim=3), dim=5)  # (B, C, H/sf, W/sf, 2, sf*sf)
    return torch.view_as_complex(torch.mean(b, dim=-1).contiguous())


def _cdiv(x: Tensor, y: Tensor) -> Tensor:
    """Complex division written out as KAIR's ``cdiv`` (torch's own uses Smith's
    algorithm, whose rounding differs; the sigma=0 case is ill-conditioned enough to show it).
    """
    a, b, c, d = x.real, x.imag, y.real, y.imag
    cd2 = c ** 2 + d ** 2
    return torch.complex((a * c + b * d) / cd2, (b * c - a * d) / cd2)


def _data_step(x: Tensor, fb: Tensor, fbc: Tensor, f2b: Tensor, fbfy: Tensor,
               alpha: Tensor, sf: int) -> Tensor:
    """Closed-form solution of the data subproblem (USRNet eq. 7) in the Fourier domain."""
    fr = fbfy + torch.fft.fftn(alpha * x, dim=(-2, -1))
    x1 = fb * fr
    fbr = _block_mean(x1, sf)
    inv_w = _block_mean(f2b, sf)
    inv_wbr = _cdiv(fbr, inv_w + alpha)
    fcb_inv_wbr = fbc * inv_wbr.repeat(1, 1, sf, sf)
    fx = fr - fcb_inv_wbr
    fx = torch.complex(fx.real / alpha, fx.imag / alpha)  # real division, as KAIR
    return torch.fft.ifftn(fx, dim=(-2, -1)).real


class _ResBlock(nn.Module):
    """conv3x3 - ReLU - conv3x3 with an identity skip (KAIR ``ResBlock``, mode 'CRC')."""

    def __init__(self, nc: int) -> None:
        super().__init__()
        self.res = nn.Sequential(nn.Conv2d(nc, nc, 3, 1, 1, bias=False), nn.ReLU(inplace=True),
                                 nn.Conv2d(nc, nc, 3, 1, 1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.res(x)


class ResUNet(nn.Module):
    """The prior step: a 4-level residual U-Net without biases (strided conv down,
    transposed conv up), replicate-padding its input to a multiple of 8."""

    def __init__(self, in_nc: int = 4, out_nc: int = 3,
                 nc: tuple[int, ...] = (16, 32, 64, 64), nb: int = 2) -> None:
        super().__init__()

        def blocks(c: int) -> list[nn.Module]:
            return [_ResBlock(c) for _ in range(nb)]

        self.m_head = nn.Conv2d(in_nc, nc[0], 3, 1, 1, bias=False)
        self.m_down1 = nn.Sequential(*blocks(nc[0]), nn.Conv2d(nc[0], nc[1], 2, 2, 0, bias=False))
        self.m_down2 = nn.Sequential(*blocks(nc[1]), nn.Conv2d(nc[1], nc[2], 2, 2, 0, bias=False))
        self.m_down3 = nn.Sequential(*blocks(nc[2]), nn.Conv2d(nc[2], nc[3], 2, 2, 0, bias=False))
        self.m_body = nn.Sequential(*blocks(nc[3]))
        self.m_up3 = nn.Sequential(nn.ConvTranspose2d(nc[3], nc[2], 2, 2, 0, bias=False),
                                   *blocks(nc[2]))
        self.m_up2 = nn.Sequential(nn.ConvTranspose2d(nc[2], nc[1], 2, 2, 0, bias=False),
                                   *blocks(nc[1]))
        self.m_up1 = nn.Sequential(nn.ConvTranspose2d(nc[1], nc[0], 2, 2, 0, bias=False),
                                   *blocks(nc[0]))
        self.m_tail = nn.Conv2d(nc[0], out_nc, 3, 1, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        x = F.pad(x, (0, math.ceil(w / 8) * 8 - w, 0, math.ceil(h / 8) * 8 - h),
                  mode="replicate")
        x1 = self.m_head(x)
        x2 = self.m_down1(x1)
        x3 = self.m_down2(x2)
        x4 = self.m_down3(x3)
        x = self.m_body(x4)
        x = self.m_up3(x + x4)
        x = self.m_up2(x + x3)
        x = self.m_up1(x + x2)
        x = self.m_tail(x + x1)
        return x[..., :h, :w]


class _HyPaNet(nn.Module):
    """(noise level, scale) -> 2*n_iter positive weights (alpha_i, beta_i)."""

    def __init__(self, in_nc: int = 2, out_nc: int = 12, channel: int = 32) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Conv2d(in_nc, channel, 1, bias=True), nn.ReLU(inplace=True),
            nn.Conv2d(channel, channel, 1, bias=True), nn.ReLU(inplace=True),
            nn.Conv2d(channel, out_nc, 1, bias=True), nn.Softplus())

    def forward(self, x: Tensor) -> Tensor:
        return self.mlp(x) + 1e-6


def hyper_input(sigma: Tensor, sf: int) -> Tensor:
    """The hyper-network's input: noise level sigma (B,1,1,1) in [0,1] units, and sf."""
    return torch.cat((sigma, torch.full_like(sigma, float(sf))), dim=1)


class USRNet(nn.Module):
    """Deep unfolding SR network (keys ``p.*`` prior ResUNet, ``h.mlp.*`` HyPaNet).

    ``forward(x, k, sf, sigma)``: x LR (B,C,h,w); k the *convolution* kernel (B,1,kh,kw),
    i.e. the FKP/correlation kernel flipped in both axes; sigma (B,1,1,1) noise std in
    [0, 1] units. The output is not clamped.
    """

    def __init__(self, n_iter: int = 6, h_nc: int = 32, in_nc: int = 4, out_nc: int = 3,
                 nc: tuple[int, ...] = (16, 32, 64, 64), nb: int = 2) -> None:
        super().__init__()
        self.n = n_iter
        self.p = ResUNet(in_nc, out_nc, nc, nb)
        self.h = _HyPaNet(2, n_iter * 2, h_nc)

    def forward(self, x: Tensor, k: Tensor, sf: int, sigma: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        fb = p2o(k, (h * sf, w * sf))
        fbc = torch.conj(fb)
        f2b = (fb.real ** 2 + fb.imag ** 2).to(fb.dtype)
        sty = x.new_zeros((*x.shape[:-2], h * sf, w * sf))
        sty[..., ::sf, ::sf] = x
        fbfy = fbc * torch.fft.fftn(sty, dim=(-2, -1))
        x = F.interpolate(x, scale_factor=sf, mode="nearest")
        ab = self.h(hyper_input(sigma, sf))
        for i in range(self.n):
            x = _data_step(x, fb, fbc, f2b, fbfy, ab[:, i:i + 1], sf)
            beta = ab[:, i + self.n:i + self.n + 1].expand(-1, -1, x.shape[2], x.shape[3])
            x = self.p(torch.cat((x, beta), dim=1))
        return x
