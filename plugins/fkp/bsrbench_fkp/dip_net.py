"""The DIP generator of DIP-FKP: Ulyanov et al.'s ``skip`` encoder-decoder ("Deep Image
Prior", CVPR 2018) with the non-local blocks DIP-FKP adds at levels 2-4.

Layout and construction order follow the upstream ``skip()`` so that (a) the recorded
initial state of ``../shared/reference/fkp/dipfkp`` loads key for key (upstream numbers
sub-modules from 1, hence the index offset) and (b) seeding torch and building the network
reproduces upstream's initial weights. Written from FACTS.md §4.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MIN_SIZE", "NonLocalBlock", "build_skip"]

# Smallest input side the 5-level network accepts: every 3x3 reflection pad needs >= 2 px.
MIN_SIZE = 33


class _Seq(nn.Sequential):
    """A Sequential whose children are named "1", "2", ... as upstream's ``Module.add``."""

    def add(self, module: nn.Module) -> _Seq:
        self.add_module(str(len(self) + 1), module)
        return self


class _Concat(nn.Module):
    """Run branches on one input and concatenate on channels, centre-cropping to the
    smallest spatial size (the upsampled branch can be one pixel larger)."""

    def __init__(self, *branches: nn.Module) -> None:
        super().__init__()
        for i, branch in enumerate(branches):
            self.add_module(str(i), branch)

    def forward(self, x: Tensor) -> Tensor:
        outs = [m(x) for m in self._modules.values()]  # type: ignore[misc]
        h = min(o.shape[2] for o in outs)
        w = min(o.shape[3] for o in outs)
        cropped = []
        for o in outs:
            dh, dw = (o.shape[2] - h) // 2, (o.shape[3] - w) // 2
            cropped.append(o[:, :, dh:dh + h, dw:dw + w])
        return torch.cat(cropped, dim=1)


class NonLocalBlock(nn.Module):
    """Embedded dot-product non-local block (Wang et al., CVPR 2018) with 2x2 max-pool
    sub-sampling of g and phi and a zero-initialised BatchNorm on the output projection."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.inter = max(channels // 2, 1)
        g = nn.Conv2d(channels, self.inter, 1)
        self.g = g
        self.W = nn.Sequential(nn.Conv2d(self.inter, channels, 1), nn.BatchNorm2d(channels))
        nn.init.constant_(self.W[1].weight, 0)
        nn.init.constant_(self.W[1].bias, 0)
        self.theta = nn.Conv2d(channels, self.inter, 1)
        self.phi = nn.Conv2d(channels, self.inter, 1)
        self.g = nn.Sequential(g, nn.MaxPool2d(2))
        self.phi = nn.Sequential(self.phi, nn.MaxPool2d(2))

    def forward(self, x: Tensor) -> Tensor:
        b = x.shape[0]
        g_x = self.g(x).view(b, self.inter, -1).permute(0, 2, 1)
        theta_x = self.theta(x).view(b, self.inter, -1).permute(0, 2, 1)
        phi_x = self.phi(x).view(b, self.inter, -1)
        f = torch.matmul(theta_x, phi_x)
        y = torch.matmul(f / f.shape[-1], g_x)
        y = y.permute(0, 2, 1).contiguous().view(b, self.inter, *x.shape[2:])
        return self.W(y) + x


class _Upsample(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def _conv(c_in: int, c_out: int, k: int, stride: int = 1) -> _Seq:
    """Reflection pad + conv, named ("1": pad, ... ) as upstream's ``conv`` Sequential."""
    seq = nn.Sequential(nn.ReflectionPad2d((k - 1) // 2), nn.Conv2d(c_in, c_out, k, stride))
    return seq  # type: ignore[return-value]


def build_skip(c_in: int = 3, c_out: int = 3, down: int = 128, skip: int = 16,
               levels: int = 5) -> nn.Module:
    """DIP-FKP's generator: ``skip(down=[128]*5, up=[128]*5, skip=[16]*5)``, bilinear
    upsampling, reflection padding, LeakyReLU(0.2), sigmoid output, non-local blocks at
    levels > 1. Modules are created in upstream's order (so a seed reproduces its init)."""
    model = _Seq()
    tmp = model
    depth = c_in
    for i in range(levels):
        deeper, skip_branch = _Seq(), _Seq()
        tmp.add(_Concat(skip_branch, deeper))
        last = i == levels - 1
        tmp.add(nn.BatchNorm2d(skip + down))  # skip + (up[i+1] or down[i]): both 128
        skip_branch.add(_conv(depth, skip, 1)).add(nn.BatchNorm2d(skip))
        skip_branch.add(nn.LeakyReLU(0.2, inplace=True))
        deeper.add(_conv(depth, down, 3, 2)).add(nn.BatchNorm2d(down))
        deeper.add(nn.LeakyReLU(0.2, inplace=True))
        if i > 1:
            deeper.add(NonLocalBlock(down))
        deeper.add(_conv(down, down, 3)).add(nn.BatchNorm2d(down))
        deeper.add(nn.LeakyReLU(0.2, inplace=True))
        main = _Seq()
        if not last:
            deeper.add(main)
        deeper.add(_Upsample())
        tmp.add(_conv(skip + down, down, 3)).add(nn.BatchNorm2d(down))
        tmp.add(nn.LeakyReLU(0.2, inplace=True))
        tmp.add(_conv(down, down, 1)).add(nn.BatchNorm2d(down))
        tmp.add(nn.LeakyReLU(0.2, inplace=True))
        depth = down
        tmp = main
    model.add(_conv(down, c_out, 1)).add(nn.Sigmoid())
    return model
