"""Device choice: cuda, then mps, then cpu. Code never hard-codes ``.cuda()``."""

from __future__ import annotations

from bsrbench.errors import InputError

__all__ = ["DEVICES", "pick_device"]

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
