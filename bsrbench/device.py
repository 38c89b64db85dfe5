"""Device choice: cuda, then mps, then cpu. Code never hard-codes ``.cuda()``.

Also the per-device switches a run sets before it computes: exact math on CUDA, and on a
CPU an allocator that keeps freed memory (:func:`keep_freed_memory`).
"""

from __future__ import annotations

import os
import sys

from bsrbench.errors import InputError

__all__ = ["DEVICES", "exact_math", "keep_freed_memory", "pick_device"]

DEVICES = ("auto", "cpu", "cuda", "mps")


def pick_device(name: str = "auto") -> str:
    """Return a torch device string for ``name`` ("auto" picks the best available).

    Raises:
        InputError: the device is unknown or not available on this machine.
    """
    import torch

    if name not in DEVICES and not name.startswith("cuda:"):
        raise InputError(f"unknown device {name!r}: use one of {', '.join(DEVICES)}")
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps is not None and mps.is_available())
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if has_mps else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device {name!r} requested but CUDA is not available: use --device cpu")
    if name.startswith("cuda:"):
        index = name.removeprefix("cuda:")
        count = torch.cuda.device_count()
        if not index.isdigit() or int(index) >= count:
            raise InputError(f"device {name!r}: this machine has {count} CUDA device(s), "
                             f"cuda:0 to cuda:{count - 1}")
    if name == "mps" and not has_mps:
        raise InputError("device 'mps' requested but MPS is not available: use --device cpu")
    return name


def exact_math(device: str) -> None:
    """Turn off TF32 on CUDA so float32 results match the CPU goldens (FACTS.md §7)."""
    import torch

    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False


# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_allocator: str | None = None


def keep_freed_memory() -> str:
    """Make glibc's malloc keep freed memory for reuse instead of handing it back to the
    kernel, once per process; return what the allocator now does (run.json records it).

    Every activation of a network on a CPU is a large allocation; by default glibc serves
    those with ``mmap`` and unmaps them when freed, so the next forward pass page-faults
    its memory in again (the kernel zeroes every page). Measured on the project's 2-core
    CPU, SFTMD on 8 LR images of 128x128 spent a third of its time in those faults: 6.67 s
    with glibc's defaults, 5.53 s with freed memory kept; at a batch of 8, 9.89 s and
    6.66 s (``benchmarks/test_bench_speed.py`` measures it). Outputs are unchanged; the
    price is that peak memory stays with the process until it exits. ``BSRBENCH_MALLOC=
    system`` leaves glibc's defaults; other C libraries are left alone.
    """
    global _allocator
    if _allocator is not None:
        return _allocator
    _allocator = "system"
    if os.environ.get("BSRBENCH_MALLOC", "").strip().lower() != "system" \
            and sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL("libc.so.6")
            mallopt = libc.mallopt
        except (OSError, AttributeError):  # not glibc (musl has no mallopt)
            return _allocator
        if mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1:
            _allocator = "glibc, freed memory kept (no mmap, no trim)"
    return _allocator
