"""Training plumbing shared by the ``bsrbench train`` commands of the method plugins.

Everything a plugin's training needs except the model-specific step lives here:

* :func:`load_hr_images` reads a folder of HR images once, straight to the training
  device, as uint8 tensors;
* :class:`PairSampler` makes (LR, HR, kernel) batches *on that device*: random crops with
  flips and transposes, random Gaussian kernels sampled as one batch, a per-item blur, the
  chosen downsampler and 8-bit quantisation, exactly as the test sets are made;
* :func:`run_training` is the loop: resumable atomic checkpoints, a wall-clock cap, a CSV
  log, periodic validation, a tqdm bar on a terminal or plain ``logging`` lines otherwise,
  a clean stop on Ctrl-C, and the final export of weights and ``train_summary.json``.

The loop asks the host for numbers (``.item()``) only every ``log_every`` steps, so the
device runs ahead of Python between log lines.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bsrbench.errors import InputError

if TYPE_CHECKING:
    import torch
    from torch import Tensor

__all__ = [
    "CHECKPOINT_NAME",
    "LOG_NAME",
    "SUMMARY_NAME",
    "LoopConfig",
    "LoopResult",
    "PairBatch",
    "PairSampler",
    "StageBase",
    "TrainTask",
    "autocast",
    "blur_batch",
    "command_line",
    "load_checkpoint",
    "load_hr_images",
    "lr_lambda",
    "make_pairs",
    "random_kernels",
    "run_command",
    "run_training",
    "save_checkpoint",
    "setup_device",
    "split_validation",
    "to_device",
    "validation_pairs",
]

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "train_log.csv"
SUMMARY_NAME = "train_summary.json"


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


# --------------------------------------------------------------------------- kernels


def _kernel_grid(
    size: int, device: torch.device | str, dtype: torch.dtype
) -> tuple[Tensor, Tensor]:
    import torch

    half = size // 2
    ax = torch.arange(-half, half + 1, dtype=dtype, device=device)
    yy, xx = torch.meshgrid(ax, ax, indexing="ij")
    return xx, yy


def to_device(t: Tensor, device: torch.device | str) -> Tensor:
    """Copy a small CPU tensor to ``device`` without stalling the host.

    A plain ``.to("cuda")`` from pageable memory synchronises the stream, so the host
    would wait for the previous step's kernels every step; from pinned memory with
    ``non_blocking=True`` the copy is queued behind them instead.
    """
    import torch

    if torch.device(device).type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def random_kernels(
    n: int,
    *,
    size: int,
    sigma_range: tuple[float, float],
    generator: torch.Generator,
    device: torch.device | str,
    rate_iso: float = 1.0,
    scaling: float = 3.0,
) -> tuple[Tensor, Tensor]:
    """Sample ``n`` Gaussian kernels as one batch, the way IKC's ``random_batch_kernel`` does.

    With probability ``rate_iso`` a kernel is isotropic with σ ~ U(σmin, σmax); otherwise it
    is anisotropic with σx ~ U(σmin, σmax), σy = clip(U·scaling·σx, σmin, σmax) and an angle
    ~ U(-π, π). The random numbers come from ``generator`` (a CPU generator, so a seed gives
    the same kernels on every device); the kernels are built on ``device`` in float64 and
    cast to float32, like :func:`bsrbench.kernels.gaussian_kernel`.

    Returns:
        ``(kernels, sigmas)``: float32 ``(n, size, size)`` kernels on ``device`` and the
        float64 ``(n, 2)`` CPU widths (σx, σy) for logging.
    """
    import torch

    f64 = torch.float64 if str(device) != "mps" else torch.float32
    u = torch.rand(n, 4, generator=generator, dtype=torch.float64)
    lo, hi = sigma_range
    sx = lo + (hi - lo) * u[:, 0]
    sy = (u[:, 1] * scaling * sx).clamp(lo, hi)
    theta = u[:, 2] * 2.0 * math.pi - math.pi
    iso = u[:, 3] < rate_iso
    sy = torch.where(iso, sx, sy)
    theta = torch.where(iso, torch.zeros_like(theta), theta)
    sigmas = torch.stack([sx, sy], dim=1)

    xx, yy = _kernel_grid(size, device, f64)
    params = to_device(torch.stack([sx, sy, theta, iso.double()], dim=1), device).to(f64)
    sx_d, sy_d, th, iso_d = (params[:, i, None, None] for i in range(4))
    iso_k = torch.exp(-(xx**2 + yy**2) / (2.0 * sx_d**2))
    c, s = torch.cos(th), torch.sin(th)
    a = c**2 / sx_d**2 + s**2 / sy_d**2
    b = c * s * (1.0 / sx_d**2 - 1.0 / sy_d**2)
    d = s**2 / sx_d**2 + c**2 / sy_d**2
    aniso_k = torch.exp(-0.5 * (a * xx**2 + 2.0 * b * xx * yy + d * yy**2))
    k = torch.where(iso_d > 0.5, iso_k, aniso_k)
    k = k / k.sum(dim=(-2, -1), keepdim=True)
    return k.to(torch.float32), sigmas


def blur_batch(x: Tensor, kernels: Tensor) -> Tensor:
    """Blur ``x`` (B,C,H,W) with one kernel per item: :func:`bsrbench.kernels.blur` without checks.

    Same operation order as the core's blur (reflect padding, one grouped float32
    correlation), so the LR images match the test sets', but without validating the
    kernels: the check would read a value back to the host every step.
    """
    import torch.nn.functional as F

    batch, channels, height, width = x.shape
    k = kernels.shape[-1]
    pad = k // 2
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    planes = padded.reshape(1, batch * channels, height + 2 * pad, width + 2 * pad)
    weight = kernels.to(dtype=x.dtype).unsqueeze(1).repeat(1, channels, 1, 1)
    weight = weight.reshape(batch * channels, 1, k, k)
    out = F.conv2d(planes, weight, groups=batch * channels)
    return out.reshape(batch, channels, height, width)


def _lr_u8(
    blurred: Tensor,
    scale: int,
    method: str,
    noise: Tensor | None,
    generator: torch.Generator | None,
) -> Tensor:
    """Downsample and quantise; with ``noise`` (B,) in 0..255 units, add it before rounding.

    Noise-free batches go through :func:`bsrbench.degradations.downsample` itself. Noisy
    ones follow :func:`bsrbench.degradations.degrade`: noise on the float LR just before
    MATLAB rounding (``pil-bicubic`` resizes 8-bit data, so there it is added to the
    resized image and rounded again), with a per-item level.
    """
    import torch

    from bsrbench.degradations import downsample
    from bsrbench.resize import imresize

    if noise is None:
        return downsample(blurred, scale, method)
    if method == "pil-bicubic":
        lr = downsample(blurred, scale, method).to(torch.float64) / 255.0
    elif method == "matlab-bicubic":
        lr = imresize(blurred.to(torch.float64), 1.0 / scale)
    else:
        downsample(blurred[:1, :, :scale, :scale], scale, method)  # validates the name
        lr = blurred[..., ::scale, ::scale].to(torch.float64)
    draw = torch.randn(lr.shape, generator=generator, device=lr.device, dtype=torch.float64)
    lr = lr + draw * (noise.to(lr.device, torch.float64) / 255.0)[:, None, None, None]
    return torch.floor(lr.clamp(0.0, 1.0) * 255.0 + 0.5).to(torch.uint8)


# --------------------------------------------------------------------------- pairs


@dataclass
class PairBatch:
    """One training batch, everything on the training device."""

    lr: Tensor  # (B,3,h,w) float32 = lr_u8 / 255, the 8-bit LR a test set would hold
    hr: Tensor  # (B,3,s*h,s*w) float32 in [0,1]
    hr_u8: Tensor  # (B,3,s*h,s*w) uint8
    kernels: Tensor  # (B,k,k) float32, the blur of each item
    noise: Tensor | None = None  # (B,) float32 noise std in 0..255 units; None when noise-free


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
            c = self.images[i][:, t : t + size, x : x + size]
            if a & 1:
                c = c.flip(-1)
            if a & 2:
                c = c.flip(-2)
            if a & 4:
                c = c.transpose(-2, -1)
            crops.append(c)
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


def make_pairs(
    hr_u8: Tensor,
    kernels: Tensor,
    scale: int,
    downsampler: str,
    noise: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> PairBatch:
    """Blur each uint8 HR image with its kernel, downsample, quantise: a :class:`PairBatch`."""
    hr = hr_u8.to(kernels.dtype) / 255.0
    lr_u8 = _lr_u8(blur_batch(hr, kernels), scale, downsampler, noise, generator)
    return PairBatch(
        lr=lr_u8.to(hr.dtype) / 255.0, hr=hr, hr_u8=hr_u8, kernels=kernels, noise=noise
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


# --------------------------------------------------------------------------- schedules


def lr_lambda(
    scheme: str,
    *,
    period: int = 0,
    eta_min_ratio: float = 0.0,
    milestones: Sequence[int] = (),
    gamma: float = 0.5,
) -> Callable[[int], float]:
    """The learning-rate factor as a function of the step, for ``LambdaLR``.

    ``constant``; ``cosine-restart`` (BasicSR's ``CosineAnnealingLR_Restart`` with equal
    periods of ``period`` steps, restart weights 1, floor ``eta_min``); ``multistep``
    (multiply by ``gamma`` at each milestone, KAIR's ``MultiStepLR``).
    """
    if scheme == "constant":
        return _Constant()
    if scheme == "cosine-restart":
        if period < 1:
            raise InputError(f"--lr-period must be >= 1, got {period}")
        return _CosineRestart(period, eta_min_ratio)
    if scheme == "multistep":
        return _MultiStep(tuple(sorted(int(m) for m in milestones)), gamma)
    raise InputError(
        f"unknown learning-rate scheme {scheme!r}: use constant, cosine-restart or multistep"
    )


class _Constant:
    def __call__(self, step: int) -> float:
        return 1.0


@dataclass(frozen=True)
class _CosineRestart:
    period: int
    floor: float

    def __call__(self, step: int) -> float:
        t = step % self.period
        return self.floor + (1.0 - self.floor) * 0.5 * (1.0 + math.cos(math.pi * t / self.period))


@dataclass(frozen=True)
class _MultiStep:
    milestones: tuple[int, ...]
    gamma: float

    def __call__(self, step: int) -> float:
        return self.gamma ** sum(step >= m for m in self.milestones)


# --------------------------------------------------------------------------- device


def setup_device(
    name: str, *, amp: bool | None, channels_last: bool | None
) -> tuple[str, bool, bool]:
    """Pick the device and resolve the speed flags (None = on for CUDA, off elsewhere).

    Turns on ``cudnn.benchmark`` for CUDA: training shapes never change.
    """
    import torch

    from bsrbench.device import pick_device

    device = pick_device(name)
    cuda = device.startswith("cuda")
    if cuda:
        torch.backends.cudnn.benchmark = True
    amp = cuda if amp is None else amp
    channels_last = cuda if channels_last is None else channels_last
    if amp and not cuda:
        log.warning(
            "--amp (bf16 autocast) is meant for CUDA; on %s it is slow and only tested loosely",
            device,
        )
    return device, amp, channels_last


def autocast(device: str, enabled: bool) -> Any:
    """bf16 autocast on ``device`` when ``enabled`` (a no-op context otherwise)."""
    import torch

    return torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16, enabled=enabled)


class StageBase:
    """A network with its Adam optimizer, ``LambdaLR`` schedule and pair sampler.

    Implements the bookkeeping half of :class:`TrainTask` (state, learning rate, the
    optimiser update, autocast and memory format); a plugin's stage adds ``train_step``,
    ``validate`` and ``export``.
    """

    val_columns: tuple[str, ...] = ()

    def __init__(
        self,
        net: torch.nn.Module,
        *,
        sampler: PairSampler,
        device: str,
        lr: float,
        betas: tuple[float, float],
        schedule: Callable[[int], float],
        amp: bool,
        channels_last: bool,
    ) -> None:
        import torch

        self.device, self.use_amp = device, amp
        self.memory = torch.channels_last if channels_last else torch.contiguous_format
        self.net = net.to(device, memory_format=self.memory).train()
        self.sampler = sampler
        self.opt = torch.optim.Adam(self.net.parameters(), lr=lr, betas=betas)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, schedule)

    def frozen(self, net: torch.nn.Module) -> torch.nn.Module:
        """Move a helper network to the device, in eval mode with gradients off."""
        return net.to(self.device, memory_format=self.memory).eval().requires_grad_(False)

    def cl(self, x: Tensor) -> Tensor:
        """``x`` in the stage's memory format (channels_last when enabled)."""
        return x.contiguous(memory_format=self.memory)

    def amp(self) -> Any:
        """The stage's autocast context."""
        return autocast(self.device, self.use_amp)

    def update(self, loss: Tensor) -> None:
        """One optimiser step on ``loss`` (gradients reset with ``set_to_none``)."""
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()

    def current_lr(self) -> float:
        return float(self.opt.param_groups[0]["lr"])

    def state_dict(self) -> dict[str, Any]:
        return {
            "net": self.net.state_dict(),
            "opt": self.opt.state_dict(),
            "sched": self.sched.state_dict(),
            "sampler": self.sampler.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])
        self.sched.load_state_dict(state["sched"])
        self.sampler.load_state_dict(state["sampler"])


# --------------------------------------------------------------------------- checkpoints


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` atomically: to a temporary file beside ``path``, then rename.

    A crash mid-write leaves the previous checkpoint intact.
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True`` (no code is ever unpickled).

    Raises:
        InputError: The file cannot be read as plain tensors and containers.
    """
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError for a truncated file
        raise InputError(
            f"{path} is not a readable checkpoint ({type(exc).__name__}: "
            f"{exc}); delete it to start over"
        ) from None


def _rng_state() -> dict[str, Any]:
    import torch

    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --------------------------------------------------------------------------- the loop


class TrainTask(Protocol):
    """What a plugin's training stage provides to :func:`run_training`."""

    val_columns: tuple[str, ...]  # keys of validate()'s result, CSV columns after val_psnr

    def train_step(self) -> Tensor:
        """Draw a batch, take one optimisation step, return the loss (0-dim, on device)."""
        ...

    def current_lr(self) -> float: ...

    def validate(self) -> dict[str, float]:
        """Return ``{"val_psnr": ..., **extra}`` on the fixed validation pairs."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Model, optimizer, scheduler and sampler states (tensors and plain containers)."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    def export(self, out: Path, metadata: dict[str, str]) -> list[Path]:
        """Write the weights in bsrbench's layout into ``out``; return the files written."""
        ...


@dataclass
class LoopConfig:
    """How :func:`run_training` runs; every field comes from a CLI option."""

    out: Path  # folder for checkpoint.pt, train_log.csv, weights and train_summary.json
    steps: int  # total optimisation steps (a resumed run continues up to this)
    identity: dict[str, Any]  # settings a resumed run must share (stage, scale, sizes...)
    command: str  # the command line, recorded in metadata and the summary
    data: str  # the HR folder, recorded likewise
    seed: int
    device: str
    max_minutes: float | None = None  # wall-clock cap of this invocation; None = no cap
    started: float | None = None  # time.monotonic() the cap counts from; None = loop start
    log_every: int = 100
    val_every: int = 5000
    save_every: int = 5000
    progress: bool | None = None  # tqdm bar; None = only when stderr is a terminal
    extra_metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class LoopResult:
    """What happened: where it stopped and why, and the files it exported."""

    step: int
    seconds: float  # training seconds over all invocations
    stopped: str  # "done", "time-cap" or "interrupted"
    val: dict[str, float]
    files: list[Path]


@contextmanager
def _sigint_flag() -> Iterator[threading.Event]:
    """Turn the first Ctrl-C into a flag checked between steps; a second one aborts."""
    flag = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum: int, frame: object) -> None:
        flag.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        log.warning("Ctrl-C: stopping after this step (press again to abort without a checkpoint)")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def _trim_log(path: Path, step: int) -> None:
    """Drop log rows after ``step`` (written after the checkpoint a resume restarts from)."""
    if not path.exists():
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    kept = [rows[0]] + [r for r in rows[1:] if r and int(r[0]) <= step]
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(kept)


def _fmt_eta(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def run_training(task: TrainTask, cfg: LoopConfig) -> LoopResult:
    """Train ``task`` for ``cfg.steps`` steps, resuming from ``cfg.out/checkpoint.pt``.

    A checkpoint holds the task's state (model, optimizer, scheduler, sampler RNG), the
    global torch RNG, the step and the training seconds so far. It is written every
    ``save_every`` steps, at the end, on the time cap and on Ctrl-C; rerunning the same
    command resumes from it. The weights are exported (``task.export``) whenever the loop
    stops, with the command, steps, seconds, data folder and seed in their metadata.

    Raises:
        InputError: The checkpoint in ``cfg.out`` belongs to a different configuration.
    """
    import torch

    out = cfg.out
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path, log_path = out / CHECKPOINT_NAME, out / LOG_NAME
    step, seconds_before = 0, 0.0
    val: dict[str, float] = {}
    if ckpt_path.exists():
        ckpt = load_checkpoint(ckpt_path)
        saved = ckpt.get("identity", {})
        diff = sorted(
            k for k in set(saved) | set(cfg.identity) if saved.get(k) != cfg.identity.get(k)
        )
        if diff:
            k = diff[0]
            raise InputError(
                f"{ckpt_path} was made with {k}={saved.get(k)!r}, this run "
                f"has {k}={cfg.identity.get(k)!r}: "
                "rerun with the same settings to resume, or use another --out"
            )
        task.load_state_dict(ckpt["task"])
        _set_rng_state(ckpt["rng"])
        step, seconds_before = int(ckpt["step"]), float(ckpt["seconds"])
        val = dict(ckpt.get("val", {}))
        _trim_log(log_path, step)
        log.info("resuming from %s at step %d (%.0f s trained)", ckpt_path, step, seconds_before)

    columns = ["step", "loss", "lr", "seconds", "val_psnr", *task.val_columns]
    new_log = not log_path.exists()
    log_file = open(log_path, "a", newline="")  # noqa: SIM115 - closed in finally
    writer = csv.DictWriter(log_file, fieldnames=columns, restval="")
    if new_log:
        writer.writeheader()

    def checkpoint() -> None:
        state = {
            "identity": cfg.identity,
            "task": task.state_dict(),
            "rng": _rng_state(),
            "step": step,
            "seconds": seconds_before + (time.monotonic() - start),
            "val": val,
        }
        save_checkpoint(ckpt_path, state)

    show_bar = sys.stderr.isatty() if cfg.progress is None else cfg.progress
    bar = None
    if show_bar:
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps, initial=step, unit="step", dynamic_ncols=True, smoothing=0.05)

    start = time.monotonic()
    cap = None if cfg.max_minutes is None else cfg.max_minutes * 60.0
    cap_start = start if cfg.started is None else cfg.started
    start_step = step
    loss_sum = torch.zeros((), device=cfg.device)
    window = 0
    stopped = "done"
    try:
        with _sigint_flag() as interrupted:
            while step < cfg.steps:
                if interrupted.is_set():
                    stopped = "interrupted"
                    break
                if cap is not None and time.monotonic() - cap_start >= cap:
                    stopped = "time-cap"
                    break
                loss = task.train_step()
                step += 1
                loss_sum += loss.detach().float()
                window += 1
                row: dict[str, Any] = {}
                if step % cfg.log_every == 0 or step == cfg.steps:
                    elapsed = time.monotonic() - start
                    mean = loss_sum.item() / window
                    loss_sum.zero_()
                    window = 0
                    row = {
                        "step": step,
                        "loss": f"{mean:.6g}",
                        "lr": f"{task.current_lr():.6g}",
                        "seconds": f"{seconds_before + elapsed:.1f}",
                    }
                    rate = (step - start_step) / max(elapsed, 1e-9)
                    if bar is not None:
                        bar.set_postfix(loss=f"{mean:.4g}", lr=f"{task.current_lr():.2e}")
                    else:
                        log.info(
                            "step %d/%d loss %.5g lr %.3g %.2f step/s ETA %s",
                            step,
                            cfg.steps,
                            mean,
                            task.current_lr(),
                            rate,
                            _fmt_eta((cfg.steps - step) / max(rate, 1e-9)),
                        )
                if step % cfg.val_every == 0 or step == cfg.steps:
                    val = task.validate()
                    row = row or {
                        "step": step,
                        "lr": f"{task.current_lr():.6g}",
                        "seconds": f"{seconds_before + time.monotonic() - start:.1f}",
                    }
                    row.update({k: f"{v:.6g}" for k, v in val.items()})
                    log.info(
                        "step %d validation: %s",
                        step,
                        ", ".join(f"{k} {v:.4f}" for k, v in val.items()),
                    )
                if row:
                    writer.writerow(row)
                    log_file.flush()
                if bar is not None:
                    bar.update(1)
                if step % cfg.save_every == 0 and step < cfg.steps:
                    checkpoint()
            if stopped != "done" and (window or step % cfg.val_every):
                row = {
                    "step": step,
                    "lr": f"{task.current_lr():.6g}",
                    "seconds": f"{seconds_before + time.monotonic() - start:.1f}",
                }
                if window:  # losses since the last log line
                    row["loss"] = f"{loss_sum.item() / window:.6g}"
                if step > start_step and step % cfg.val_every:
                    val = task.validate()
                    row.update({k: f"{v:.6g}" for k, v in val.items()})
                if step > start_step:
                    writer.writerow(row)
            checkpoint()
            log_file.close()
            seconds = seconds_before + (time.monotonic() - start)
            files = _finish(task, cfg, step, seconds, stopped, val)
    finally:
        log_file.close()
        if bar is not None:
            bar.close()
    return LoopResult(step=step, seconds=seconds, stopped=stopped, val=val, files=files)


def _finish(
    task: TrainTask,
    cfg: LoopConfig,
    step: int,
    seconds: float,
    stopped: str,
    val: dict[str, float],
) -> list[Path]:
    """Export the weights and write ``train_summary.json``; return the exported files."""
    if stopped == "time-cap":
        log.info(
            "time cap of %s min reached at step %d: checkpoint written, exporting weights",
            cfg.max_minutes,
            step,
        )
    metadata = {
        "command": cfg.command,
        "steps": str(step),
        "seconds": f"{seconds:.1f}",
        "data": cfg.data,
        "seed": str(cfg.seed),
        **cfg.extra_metadata,
    }
    files = task.export(cfg.out, metadata)
    summary = {
        "steps": step,
        "target_steps": cfg.steps,
        "stopped": stopped,
        "wall_seconds": round(seconds, 1),
        "final_val": val,
        "final_val_psnr": val.get("val_psnr"),
        "device": cfg.device,
        "command": cfg.command,
        "data": cfg.data,
        "seed": cfg.seed,
        "files": [p.name for p in files],
        **cfg.identity,
    }
    (cfg.out / SUMMARY_NAME).write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return files


def command_line(ctx: Any) -> str:
    """The command as typed, or (when not run from the ``bsrbench`` script) rebuilt from ``ctx``."""
    import shlex

    script = Path(sys.argv[0])
    if "bsrbench" in (script.name, script.parent.name) and len(sys.argv) > 1:
        return shlex.join(["bsrbench", *sys.argv[1:]])
    params = [
        f"--{k.replace('_', '-')}={v}" for k, v in sorted(ctx.params.items()) if v is not None
    ]
    return shlex.join(["bsrbench", "train", str(ctx.info_name), *params])


def run_command(ctx: Any, train: Callable[[], LoopResult]) -> None:
    """Run a train command the way ``bsrbench``'s own commands run.

    INFO logging goes to stderr unless logging is configured already; a
    :class:`~bsrbench.errors.BsrbenchError` becomes one ``error:`` line and its exit code;
    a Ctrl-C stop (after its checkpoint and export) exits 130.
    """
    import click

    from bsrbench.errors import BsrbenchError

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        result = train()
    except BsrbenchError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(exc.exit_code)
    if result.stopped == "interrupted":
        click.echo(
            "interrupted: checkpoint and weights written; rerun the same command to resume",
            err=True,
        )
        ctx.exit(130)
