"""Training data on the device: the HR images, the random pair sampler, the validation pairs."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bsrbench.errors import InputError
from bsrbench.training.degradation import PairBatch, make_pairs, random_kernels, to_device

if TYPE_CHECKING:
    from torch import Tensor


log = logging.getLogger("bsrbench.training")  # one logger for the whole package


# --------------------------------------------------------------------------- images


def load_hr_images(folder: str | Path, *, device: str, min_size: int) -> list[Tensor]:
    """Read every image in ``folder`` to ``device`` as uint8 ``(3, H, W)`` tensors.

    Files are decoded by a thread pool (PIL releases the GIL), so a DIV2K-sized folder
    loads in seconds rather than minutes. Grey images are repeated to three channels
    (training pairs are RGB). Images smaller than ``min_size`` on either side cannot give
    a training crop and are skipped with a warning.

    Raises:
        InputError: The folder is missing or holds no usable image.
    """
    from concurrent.futures import ThreadPoolExecutor

    import torch

    from bsrbench.images import list_image_files, read_image

    files = list_image_files(folder)
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=min(16, os.cpu_count() or 1)) as pool:
        decoded = list(pool.map(lambda p: read_image(p).pixels, files))
    out = []
    for path, pixels in zip(files, decoded, strict=True):
        if min(pixels.shape[:2]) < min_size:
            h, w = pixels.shape[:2]
            log.warning("%s is %dx%d, smaller than the %d px crop: skipped", path, h, w, min_size)
            continue
        img = torch.from_numpy(pixels.copy()).permute(2, 0, 1)
        if img.shape[0] == 1:
            img = img.expand(3, -1, -1)
        out.append(img.contiguous().to(device))
    if not out:
        raise InputError(
            f"no image in {folder} is at least {min_size}x{min_size} px: "
            "use larger images or smaller patches"
        )
    size = sum(t.numel() for t in out) / 2**30
    log.info(
        "loaded %d images from %s to %s (%.2f GiB) in %.1f s",
        len(out),
        folder,
        device,
        size,
        time.monotonic() - start,
    )
    return out


def split_validation(
    images: list[Tensor], val_images: list[Tensor] | None, *, hold_out: int
) -> tuple[list[Tensor], list[Tensor]]:
    """Return (train, val) images: ``val_images`` when given, else the last ``hold_out``.

    With a single training image and no validation folder the image is used for both
    (and a warning says so): a tiny run still reports a PSNR.
    """
    if val_images:
        return images, val_images
    if len(images) == 1:
        log.warning("only one training image and no --val-dir: validating on the training image")
        return images, images
    k = max(1, min(hold_out, len(images) // 2))
    return images[:-k], images[-k:]


# --------------------------------------------------------------------------- pairs


def dihedral(x: Tensor, code: int) -> Tensor:
    """One of the 8 flips/transposes of the last two axes: bit 0 flips W, 1 flips H,
    2 transposes (the official configs' ``use_flip``/``use_rot``)."""
    if code & 1:
        x = x.flip(-1)
    if code & 2:
        x = x.flip(-2)
    if code & 4:
        x = x.transpose(-2, -1)
    return x


class PairSampler:
    """Makes LR/HR training pairs on the device from HR images held on the device.

    Each call crops ``batch`` random ``lr_size·scale`` squares (uniform over images, then
    over positions), applies a random flip/transpose per item when ``augment`` is set
    (the official configs' ``use_flip``/``use_rot``), blurs each with its own random
    kernel (:func:`random_kernels`), downsamples with ``downsampler`` and quantises to
    uint8. Small random numbers come from a CPU generator, large ones (noise) from a
    device generator; both are part of :meth:`state_dict` so a resumed run draws the same
    batches as an uninterrupted one.
    """

    def __init__(
        self,
        images: Sequence[Tensor],
        *,
        scale: int,
        lr_size: int,
        batch: int,
        downsampler: str = "matlab-bicubic",
        kernel_size: int = 21,
        sigma_range: tuple[float, float] = (0.2, 4.0),
        rate_iso: float = 1.0,
        scaling: float = 3.0,
        noise_range: tuple[float, float] | None = None,
        noise_free_rate: float = 0.0,
        augment: bool = True,
        seed: int = 0,
    ) -> None:
        import torch

        if not images:
            raise InputError("no training images")
        self.images = list(images)
        self.device = self.images[0].device
        self.scale, self.lr_size, self.batch = scale, lr_size, batch
        self.hr_size = lr_size * scale
        self.downsampler = downsampler
        self.kernel_size = kernel_size
        self.sigma_range = sigma_range
        self.rate_iso, self.scaling = rate_iso, scaling
        self.noise_range, self.noise_free_rate = noise_range, noise_free_rate
        self.augment = augment
        for img in self.images:
            if min(img.shape[-2:]) < self.hr_size:
                raise InputError(
                    f"an HR image of {tuple(img.shape[-2:])} is smaller than the "
                    f"{self.hr_size} px crop"
                )
        self._sizes = torch.tensor([img.shape[-2:] for img in self.images], dtype=torch.float64)
        self.generator = torch.Generator().manual_seed(seed)
        self.device_generator = torch.Generator(device=self.device).manual_seed(seed + 1)

    def state_dict(self) -> dict[str, Tensor]:
        """The generators' states (plain tensors, loadable with ``weights_only=True``)."""
        return {
            "cpu": self.generator.get_state(),
            "device": self.device_generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.generator.set_state(state["cpu"])
        self.device_generator.set_state(state["device"])

    def _crops(self) -> Tensor:
        import torch

        n, size = self.batch, self.hr_size
        u = torch.rand(n, 4, generator=self.generator, dtype=torch.float64)
        idx = (u[:, 0] * len(self.images)).long().clamp_max(len(self.images) - 1)
        room = self._sizes[idx] - size + 1
        top = (u[:, 1] * room[:, 0]).long()
        left = (u[:, 2] * room[:, 1]).long()
        aug = (u[:, 3] * 8).long() if self.augment else torch.zeros(n, dtype=torch.long)
        crops = []
        for i, t, x, a in zip(idx.tolist(), top.tolist(), left.tolist(), aug.tolist(), strict=True):
            crops.append(dihedral(self.images[i][:, t : t + size, x : x + size], a))
        return torch.stack(crops)

    def sample(self) -> PairBatch:
        """Draw one batch (no host synchronisation)."""
        import torch

        hr_u8 = self._crops()
        kernels, _ = random_kernels(
            self.batch,
            size=self.kernel_size,
            sigma_range=self.sigma_range,
            generator=self.generator,
            device=self.device,
            rate_iso=self.rate_iso,
            scaling=self.scaling,
        )
        noise = None
        if self.noise_range is not None:
            lo, hi = self.noise_range
            u = torch.rand(self.batch, 2, generator=self.generator, dtype=torch.float64)
            level = lo + (hi - lo) * u[:, 0]
            level = torch.where(u[:, 1] < self.noise_free_rate, torch.zeros_like(level), level)
            noise = to_device(level.to(torch.float32), self.device)
        return make_pairs(
            hr_u8, kernels, self.scale, self.downsampler, noise, self.device_generator
        )


def validation_pairs(
    images: Sequence[Tensor],
    *,
    count: int,
    scale: int,
    hr_size: int,
    downsampler: str,
    kernel_size: int,
    sigma_range: tuple[float, float],
    noise: float | None = None,
) -> PairBatch:
    """Fixed validation pairs: centre crops of the images, isotropic σ evenly over the range.

    Pair ``i`` uses image ``i mod len(images)`` and σ = linspace(σmin, σmax, count)[i], so
    every validation reports the same numbers for the same weights. ``noise`` (0..255) adds
    that noise level with a fixed seed.
    """
    import torch

    from bsrbench.kernels import gaussian_kernel

    lo, hi = sigma_range
    sigmas = [lo + (hi - lo) * i / max(count - 1, 1) for i in range(count)]
    crops = []
    for i in range(count):
        img = images[i % len(images)]
        h, w = img.shape[-2:]
        size = min(hr_size, h - h % scale, w - w % scale)
        top, left = (h - size) // 2, (w - size) // 2
        crops.append(img[:, top : top + size, left : left + size])
    size = min(c.shape[-1] for c in crops)
    hr_u8 = torch.stack([c[:, :size, :size] for c in crops])
    device = hr_u8.device
    kernels = torch.stack([gaussian_kernel(s, size=kernel_size) for s in sigmas]).to(device)
    level = None
    gen = None
    if noise is not None:
        level = torch.full((count,), float(noise), device=device)
        gen = torch.Generator(device=device).manual_seed(12345)
    return make_pairs(hr_u8, kernels, scale, downsampler, level, gen)
