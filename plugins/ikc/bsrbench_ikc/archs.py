"""IKC's three networks: SFTMD (non-blind SR), Predictor and Corrector (kernel codes).

Written from the IKC paper (Gu et al., CVPR 2019) and the architecture facts in the shared
reference bundle (FACTS.md §2 and §2a). Parameter names match the official checkpoints
(``yuanjunchai/IKC``, ``codes/models/modules/sftmd_arch.py``) so released weights load
strictly, except SFTMD's ``sft_branch.*``: the official module builds 16 extra SFT blocks
that ``forward`` never calls, so they are not built here and the loader drops their keys.

Every forward pass is dtype-agnostic: the code is cast to the feature dtype where the two
meet, so bf16 autocast, a bf16 model and channels_last inputs work without special cases,
while float32 results stay bit-compatible with the goldens.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bsrbench.errors import InputError
from bsrbench.tiling import chain_receptive_field

__all__ = ["SFTMD", "Corrector", "Predictor", "SFTLayer", "SFTResidualBlock"]

_SLOPE = 0.2  # LeakyReLU slope used throughout IKC


def _lrelu() -> nn.LeakyReLU:
    return nn.LeakyReLU(_SLOPE)


class SFTLayer(nn.Module):
    """Spatial feature transform: ``features * sigmoid(mul(cat)) + add(cat)``.

    ``cat`` is ``[features, code map]`` with the features first; the order matters for the
    released weights (FACTS.md §2a).
    """

    def __init__(self, nf: int = 64, para: int = 10, hidden: int = 32) -> None:
        super().__init__()
        self.mul_conv1 = nn.Conv2d(nf + para, hidden, 3, padding=1)
        self.mul_conv2 = nn.Conv2d(hidden, nf, 3, padding=1)
        self.add_conv1 = nn.Conv2d(nf + para, hidden, 3, padding=1)
        self.add_conv2 = nn.Conv2d(hidden, nf, 3, padding=1)

    def forward(self, features: Tensor, code_map: Tensor) -> Tensor:
        """Modulate ``features`` (B, nf, h, w) by ``code_map`` (B, para, h, w)."""
        cat = torch.cat((features, code_map.to(features.dtype)), dim=1)
        mul = torch.sigmoid(self.mul_conv2(F.leaky_relu(self.mul_conv1(cat), _SLOPE)))
        add = self.add_conv2(F.leaky_relu(self.add_conv1(cat), _SLOPE))
        return features * mul + add


class SFTResidualBlock(nn.Module):
    """``x + conv2(relu(sft2(conv1(relu(sft1(x, m))), m)))``, with plain ReLU."""

    def __init__(self, nf: int = 64, para: int = 10, hidden: int = 32) -> None:
        super().__init__()
        self.sft1 = SFTLayer(nf, para, hidden)
        self.sft2 = SFTLayer(nf, para, hidden)
        self.conv1 = nn.Conv2d(nf, nf, 3, padding=1)
        self.conv2 = nn.Conv2d(nf, nf, 3, padding=1)

    def forward(self, x: Tensor, code_map: Tensor) -> Tensor:
        """Apply the block to ``x`` conditioned on ``code_map``."""
        fea = F.relu(self.sft1(x, code_map))
        fea = F.relu(self.sft2(self.conv1(fea), code_map))
        return x + self.conv2(fea)


class SFTMD(nn.Module):
    """SFTMD: SR conditioned on a kernel code through SFT layers (IKC paper, Fig. 5).

    Args:
        in_nc: input channels (3, RGB).
        out_nc: output channels.
        nf: feature channels (64 in the release).
        nb: number of SFT residual blocks (16 in the release).
        scale: SR factor; ×4 upsamples in two ×2 stages, other factors in one stage.
        input_para: code length (10: the PCA dimension).
        clamp: clamp the output to [0, 1] as the official module does; ``False`` gives the
            raw output (useful for training and for comparing unclamped goldens).
        sft_hidden: channels inside each SFT layer (32 in the release).
    """

    def __init__(
        self,
        in_nc: int = 3,
        out_nc: int = 3,
        nf: int = 64,
        nb: int = 16,
        scale: int = 4,
        input_para: int = 10,
        clamp: bool = True,
        sft_hidden: int = 32,
    ) -> None:
        super().__init__()
        if scale < 1 or nb < 1:
            raise InputError(f"SFTMD needs scale >= 1 and nb >= 1, got scale={scale}, nb={nb}")
        self.config: dict[str, Any] = {
            "in_nc": in_nc,
            "out_nc": out_nc,
            "nf": nf,
            "nb": nb,
            "scale": scale,
            "input_para": input_para,
            "sft_hidden": sft_hidden,
        }
        self.scale = scale
        self.nb = nb
        self.clamp = clamp
        self.conv1 = nn.Conv2d(in_nc, nf, 3, padding=1)
        self.conv2 = nn.Conv2d(nf, nf, 3, padding=1)
        self.conv3 = nn.Conv2d(nf, nf, 3, padding=1)
        # Hyphenated names are the official keys ("SFT-residual1.sft1.mul_conv1.weight").
        for i in range(1, nb + 1):
            self.add_module(f"SFT-residual{i}", SFTResidualBlock(nf, input_para, sft_hidden))
        self.sft = SFTLayer(nf, input_para, sft_hidden)
        self.conv_mid = nn.Conv2d(nf, nf, 3, padding=1)
        if scale == 4:  # keys upscale.0 and upscale.3, each 4*nf output channels
            stages: list[nn.Module] = [
                nn.Conv2d(nf, nf * 4, 3, padding=1),
                nn.PixelShuffle(2),
                _lrelu(),
                nn.Conv2d(nf, nf * 4, 3, padding=1),
                nn.PixelShuffle(2),
                _lrelu(),
            ]
        else:
            stages = [nn.Conv2d(nf, nf * scale**2, 3, padding=1), nn.PixelShuffle(scale), _lrelu()]
        self.upscale = nn.Sequential(*stages)
        self.conv_output = nn.Conv2d(nf, out_nc, 9, padding=4)

    @property
    def trunk_field(self) -> int:
        """Radius in LR pixels of :meth:`trunk`: three 3×3 head convs; per residual block
        two SFT layers (two 3×3 convs in series each; the code map is constant) and two
        3×3 convs; the tail SFT layer and conv_mid. 102 for the released layout (nb = 16).
        """
        return 3 + 6 * self.nb + 3

    @property
    def tail_field(self) -> int:
        """Radius in LR pixels of :meth:`tail`: every upsampling conv and the 9×9 output
        conv at their own resolution, each rounded up to whole LR pixels (an upper bound):
        3 at ×2, ×3 and ×4."""
        radius, res = 0, 1
        for layer in self.upscale:
            if isinstance(layer, nn.PixelShuffle):
                res *= layer.upscale_factor
            elif isinstance(layer, nn.Conv2d):
                radius += -(-(layer.kernel_size[0] // 2) // res)
        return radius + -(-(self.conv_output.kernel_size[0] // 2) // res)

    @property
    def receptive_field(self) -> int:
        """Radius in LR pixels beyond which an LR pixel cannot change an SR pixel: 105 for
        the released ×2/×3/×4 layouts. Tiles with this overlap are exact."""
        return self.trunk_field + self.tail_field

    def blocks(self) -> list[SFTResidualBlock]:
        """The residual blocks in order (their names are not Python identifiers)."""
        return [getattr(self, f"SFT-residual{i}") for i in range(1, self.nb + 1)]

    def trunk(self, lr: Tensor, code: Tensor) -> Tensor:
        """LR-resolution features ``(B, nf, h, w)`` before upsampling, for LR
        ``(B, in_nc, h, w)`` and codes ``(B, d)``.

        The code is broadcast over the LR grid and the same map feeds every SFT layer.
        """
        b, _, h, w = lr.shape
        if code.dim() != 2 or code.shape[0] != b:
            raise InputError(f"SFTMD needs codes of shape ({b}, d), got {tuple(code.shape)}")
        code_map = code.view(b, -1, 1, 1).expand(-1, -1, h, w)
        fea_bef = self.conv3(F.leaky_relu(self.conv2(F.leaky_relu(self.conv1(lr), _SLOPE)), _SLOPE))
        fea = fea_bef
        for block in self.blocks():
            fea = block(fea, code_map)
        # No activation between the tail SFT layer and conv_mid (FACTS.md §2a).
        return self.conv_mid(self.sft(fea + fea_bef, code_map))

    def tail(self, fea: Tensor) -> Tensor:
        """Upsample trunk features to SR ``(B, out_nc, s*h, s*w)`` (clamped if ``clamp``).

        Most of the working memory is here, at SR resolution, while its receptive field
        is 3 LR pixels: tiling it apart from the trunk costs almost no overlap.
        """
        out = self.conv_output(self.upscale(fea))
        return out.clamp(0.0, 1.0) if self.clamp else out

    def forward(self, lr: Tensor, code: Tensor) -> Tensor:
        """Return SR ``(B, out_nc, s*h, s*w)`` for LR ``(B, in_nc, h, w)`` and codes ``(B, d)``."""
        return self.tail(self.trunk(lr, code))


def _conv_stack(in_nc: int, channels: list[int], strides: list[int]) -> nn.Sequential:
    """5×5 'same' convs, each followed by LeakyReLU(0.2): keys ConvNet.0, .2, .4, ..."""
    layers: list[nn.Module] = []
    prev = in_nc
    for out, stride in zip(channels, strides, strict=True):
        layers += [nn.Conv2d(prev, out, 5, stride=stride, padding=2), _lrelu()]
        prev = out
    return nn.Sequential(*layers)


class Predictor(nn.Module):
    """Predicts an initial kernel code from the LR image (IKC paper, Fig. 6a).

    Six 5×5 convs (the fourth with stride 2), LeakyReLU after every one including the last,
    then global average pooling.
    """

    def __init__(self, in_nc: int = 3, nf: int = 64, code_len: int = 10) -> None:
        super().__init__()
        self.config: dict[str, Any] = {"in_nc": in_nc, "nf": nf, "code_len": code_len}
        self.ConvNet = _conv_stack(in_nc, [nf] * 5 + [code_len], [1, 1, 1, 2, 1, 1])

    @property
    def field(self) -> tuple[int, int]:
        """``(radius, stride)`` of :meth:`features` in LR pixels: (16, 2). The pooled code
        is a mean over that map, so tiles can compute it exactly
        (:func:`bsrbench.tiling.pooled_mean`)."""
        return chain_receptive_field(m for m in self.ConvNet if isinstance(m, nn.Conv2d))

    def features(self, lr: Tensor) -> Tensor:
        """The code map before pooling, ``(B, code_len, h/2, w/2)``."""
        return self.ConvNet(lr)

    def forward(self, lr: Tensor) -> Tensor:
        """Return codes ``(B, code_len)`` for LR images ``(B, in_nc, h, w)``."""
        return F.adaptive_avg_pool2d(self.features(lr), 1).flatten(1)


class Corrector(nn.Module):
    """Corrects a kernel code from the SR image it produced (IKC paper, Fig. 6b).

    Image branch: seven 5×5 convs (2nd and 4th with stride 2). Code branch: two Linear
    layers, broadcast over the image features. Then 1×1 convs on ``[image, code]`` features
    and global average pooling give the correction Δh.
    """

    def __init__(self, in_nc: int = 3, nf: int = 64, code_len: int = 10) -> None:
        super().__init__()
        self.config: dict[str, Any] = {"in_nc": in_nc, "nf": nf, "code_len": code_len}
        self.ConvNet = _conv_stack(in_nc, [nf] * 7, [1, 2, 1, 2, 1, 1, 1])
        self.code_dense = nn.Sequential(
            nn.Linear(code_len, nf), _lrelu(), nn.Linear(nf, nf), _lrelu()
        )
        self.global_dense = nn.Sequential(
            nn.Conv2d(nf * 2, nf * 2, 1),
            _lrelu(),
            nn.Conv2d(nf * 2, nf, 1),
            _lrelu(),
            nn.Conv2d(nf, code_len, 1),
        )

    @property
    def field(self) -> tuple[int, int]:
        """``(radius, stride)`` of :meth:`delta_map` in SR pixels: (36, 4); the dense
        part is 1×1 convs, so Δh is a mean of a local map and tiles compute it exactly."""
        return chain_receptive_field(m for m in self.ConvNet if isinstance(m, nn.Conv2d))

    def delta_map(self, sr: Tensor, code: Tensor) -> Tensor:
        """The correction before pooling, ``(B, code_len, H/4, W/4)``."""
        fea = self.ConvNet(sr)
        b, _, h, w = fea.shape
        code_fea = self.code_dense(code.to(fea.dtype)).view(b, -1, 1, 1).expand(-1, -1, h, w)
        return self.global_dense(torch.cat((fea, code_fea), dim=1))

    def delta(self, sr: Tensor, code: Tensor) -> Tensor:
        """Return the correction Δh ``(B, code_len)`` alone."""
        return F.adaptive_avg_pool2d(self.delta_map(sr, code), 1).flatten(1)

    def forward(self, sr: Tensor, code: Tensor) -> Tensor:
        """Return the corrected code ``code + Δh``: the next code, not a residual."""
        return code + self.delta(sr, code).to(code.dtype)
