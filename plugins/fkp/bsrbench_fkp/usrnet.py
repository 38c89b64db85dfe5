"""USRNet-tiny as a bsrbench non-blind model (the SR network of DIP-FKP and KernelGAN-FKP).

The FKP authors restore every image with KAIR's USRNet-tiny, calling it as
``netG(lr, flip(kernel, [2, 3]), sf, sigma/255)``: their kernels are correlation kernels
(used with ``F.conv2d``) and USRNet's FFT data step convolves, hence the flip. bsrbench's
kernels follow the same correlation convention, so :meth:`USRNetModel.restore` applies the
same flip. The kernel enters only through an FFT, so any size up to the HR size works
(even sizes too). The network's output is not clamped (the goldens test it raw);
:meth:`USRNetModel.restore` clamps to [0, 1] as FKP does when it saves images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from bsrbench.errors import InputError
from bsrbench.specs import BuildContext
from bsrbench_fkp.loading import load_into
from bsrbench_fkp.usrnet_arch import USRNet
from bsrbench_fkp.weight_files import find_file, usrnet_names

__all__ = ["SCALES", "USRNetModel", "build_usrnet", "load_usrnet"]

SCALES = (2, 3, 4)  # the factors USRNet's hyper-network was trained on


def load_usrnet(path: str | Path | None = None) -> USRNet:
    """Build USRNet-tiny (n_iter 6, h_nc 32, nc 16/32/64/64, nb 2) and load weights strictly.

    Args:
        path: a weights file or folder; None = the bundled safetensors.

    Returns:
        The network on the CPU, in eval mode.
    """
    file = find_file(path, usrnet_names(), "USRNet-tiny")
    return load_into(USRNet(), file, "USRNet-tiny").eval()


class USRNetModel:
    """A loaded USRNet behind the :class:`~bsrbench.interfaces.NonBlindModel` API.

    Args:
        net: the network, on its device.
        scale: the SR factor of the run (2, 3 or 4).
    """

    kernel_size = None  # restore() accepts any odd size (the spec says so too)
    # how it treats --tile (bsrbench.tiling): no finite receptive field to tile with
    whole_image = ("its data step solves for the SR image by FFT over the whole image "
                   "(circular boundary), so every output pixel depends on every input pixel")

    def __init__(self, net: USRNet, scale: int) -> None:
        if scale not in SCALES:
            raise InputError(f"USRNet handles scales 2, 3 and 4, got {scale}")
        self.net, self.scale = net, scale

    def restore(self, lr: Tensor, estimate: Any, noise: Tensor | None = None) -> Tensor:
        """Return the SR ``(B, 3, s*h, s*w)`` in [0, 1] for LR ``(B, 3, h, w)``.

        Args:
            lr: float LR images in [0, 1].
            estimate: a :class:`~bsrbench.interfaces.KernelEstimate` whose ``kernel`` is
                ``(B, k, k)`` (correlation convention, any k up to the HR size), or such a
                kernel tensor itself.
            noise: (B,) noise std in 0..255 units; None means 0 (as FKP for synthetic LR).

        Raises:
            InputError: bad shapes, or a kernel larger than the HR image.
        """
        kernel = getattr(estimate, "kernel", estimate)
        if lr.dim() != 4 or lr.shape[1] != 3 or not lr.is_floating_point():
            raise InputError(f"USRNet needs float LR images (B, 3, h, w), got {lr.dtype} "
                             f"{tuple(lr.shape)}")
        if kernel.dim() == 2:
            kernel = kernel.expand(lr.shape[0], -1, -1)
        if kernel.dim() != 3 or kernel.shape[0] != lr.shape[0]:
            raise InputError(f"USRNet needs one (k, k) kernel per LR image, got kernels "
                             f"{tuple(kernel.shape)} for LR {tuple(lr.shape)}")
        s, (h, w) = self.scale, lr.shape[-2:]
        if kernel.shape[-2] > h * s or kernel.shape[-1] > w * s:
            raise InputError(f"a {kernel.shape[-2]}x{kernel.shape[-1]} kernel is larger than "
                             f"the {h * s}x{w * s} HR image USRNet would produce")
        device = next(self.net.parameters()).device
        k = torch.flip(kernel.to(device=device, dtype=torch.float32)[:, None], [2, 3])
        if noise is None:
            sigma = torch.zeros(lr.shape[0], 1, 1, 1, device=device)
        else:
            sigma = (torch.as_tensor(noise, dtype=torch.float32, device=device)
                     .reshape(-1, 1, 1, 1).expand(lr.shape[0], 1, 1, 1) / 255.0)
        lr = lr.to(device=device, dtype=torch.float32)
        # One image at a time: with sigma = 0 the FFT data step is ill-conditioned enough
        # that batched FFTs round differently from single ones (1e-5); per item, a batch
        # gives exactly the single-image results. Clamped to [0, 1] as FKP's saving does
        # (tensor2im01): noise-free deconvolution of textured LR overshoots far outside.
        out = [self.net(lr[i:i + 1], k[i:i + 1], s, sigma[i:i + 1]) for i in range(lr.shape[0])]
        return torch.cat(out).clamp_(0.0, 1.0)


def build_usrnet(ctx: BuildContext) -> USRNetModel:
    """Factory for the ``usrnet`` model: bundled USRNet-tiny unless ``--weights`` is given."""
    if ctx.scale not in SCALES:
        raise InputError(f"USRNet handles scales 2, 3 and 4, got {ctx.scale}")
    return USRNetModel(load_usrnet(ctx.weights).to(ctx.device), ctx.scale)
