"""The SRMD network, laid out so KAIR's released checkpoints load strictly.

Reference: K. Zhang, W. Zuo and L. Zhang, "Learning a Single Convolutional Super-Resolution
Network for Multiple Degradations", CVPR 2018. The layer layout follows KAIR
(``cszn/KAIR``, MIT licence, ``models/network_srmd.py``), rewritten here: the layers sit in
one ``nn.Sequential`` named ``model`` so the state-dict keys are KAIR's
``model.{0,2,...,22}.{weight,bias}`` (ReLU and PixelShuffle hold no parameters).
"""

from __future__ import annotations

from torch import Tensor, nn

from bsrbench.errors import InputError

__all__ = ["SRMD"]


class SRMD(nn.Module):
    """Plain conv stack: ``nb`` 3×3 convs with ReLU between them, then a pixel shuffle.

    The input is the LR image followed by the degradation map (see
    :mod:`bsrbench_srmd.kernel_map`). The output is raw, not clamped, because KAIR clamps
    only when writing 8-bit images and the runner clamps before scoring.

    Args:
        in_nc: Input channels: 3 + 15 PCA (+ 1 noise) = 19 for srmd, 18 for srmdnf.
        out_nc: Output image channels.
        nc: Feature channels (128 in every released model).
        nb: Number of convs in total, head and tail included (12 in every released model).
        scale: Upscaling factor of the final pixel shuffle.
    """

    def __init__(
        self, in_nc: int = 19, out_nc: int = 3, nc: int = 128, nb: int = 12, scale: int = 4
    ) -> None:
        super().__init__()
        if nb < 2:
            raise InputError(f"SRMD needs nb >= 2 convs (head and tail), got {nb}")
        if scale < 1:
            raise InputError(f"SRMD scale must be a positive integer, got {scale}")
        layers: list[nn.Module] = [nn.Conv2d(in_nc, nc, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(nb - 2):
            layers += [nn.Conv2d(nc, nc, 3, padding=1), nn.ReLU(inplace=True)]
        layers += [nn.Conv2d(nc, out_nc * scale**2, 3, padding=1), nn.PixelShuffle(scale)]
        self.model = nn.Sequential(*layers)
        self.in_nc, self.scale = in_nc, scale

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(B, in_nc, h, w)`` to the raw SR ``(B, out_nc, scale*h, scale*w)``."""
        return self.model(x)
