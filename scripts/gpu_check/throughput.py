"""IKC's throughput per device and precision, and the PSNR change lower precision causes.

Used by ``check.py``. The runner owns grad modes and exact math in bsrbench; this script
measures from outside, so it sets them itself: fp32 under ``inference_mode`` with TF32
off (``exact_math``), then the same under bf16/fp16 autocast, then the per-image loop the
official ``codes/test_IKC.py`` runs (one LR image at a time, autograd not disabled).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from bsrbench.device import exact_math
from bsrbench.interfaces import LRBatch


@dataclass(frozen=True)
class Speed:
    """One measurement: LR images per second and the mean final-step PSNR."""

    device: str
    variant: str  # "fp32", "bf16 autocast", "fp16 autocast", "per-image loop"
    images_per_s: float
    psnr: float
    seconds: float


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _batches(images: list[Any], device: str) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for image in images:
        lr = torch.from_numpy(image.lr.copy()).permute(0, 3, 1, 2).float().div(255)
        hr = torch.from_numpy(image.hr.copy()).permute(2, 0, 1)[None]
        yield lr.to(device), hr.to(device)


def _final(method: Any, lr: torch.Tensor) -> torch.Tensor:
    last = None
    for step in method.run(LRBatch(lr=lr, scale=4)):
        last = step
    assert last is not None
    return last.sr


def measure(method: Any, images: list[Any], scorer: Any, device: str, variant: str,
            repeats: int = 1) -> Speed:
    """Run ``method`` on every LR image of ``images`` (one batch per HR image)
    ``repeats`` times after one warm-up batch; time it and score the final step."""
    exact_math(device)
    dtype = {"bf16 autocast": torch.bfloat16, "fp16 autocast": torch.float16}.get(variant)
    per_image = variant == "per-image loop"
    grad = torch.enable_grad() if per_image else torch.inference_mode()
    cast = (torch.autocast(device_type=device.split(":")[0], dtype=dtype)
            if dtype is not None else contextlib.nullcontext())
    batches = list(_batches(images, device))
    outputs: list[tuple[torch.Tensor, torch.Tensor]] = []
    with grad, cast:
        _final(method, batches[0][0][:1])  # warm-up: kernels, allocator, autotuning
        _sync(device)
        n = 0
        t0 = time.perf_counter()
        for r in range(repeats):
            for lr, hr in batches:
                chunks = lr.split(1) if per_image else (lr,)
                srs = [_final(method, c).detach() for c in chunks]
                n += lr.shape[0]
                if r == 0:
                    outputs.append((torch.cat(srs), hr))
        _sync(device)
        seconds = time.perf_counter() - t0
    psnrs: list[float] = []
    with torch.inference_mode():  # scored outside the timing
        for sr, hr in outputs:
            psnrs += scorer.score(sr.float().clamp(0, 1), hr)["psnr"]
    return Speed(device, variant, n / seconds, sum(psnrs) / len(psnrs), seconds)


def variants(device: str) -> list[str]:
    """The precisions measured on a device: fp32 and bf16 everywhere, fp16 on CUDA."""
    out = ["fp32", "bf16 autocast"]
    if device.startswith("cuda"):
        out.append("fp16 autocast")
    return out
