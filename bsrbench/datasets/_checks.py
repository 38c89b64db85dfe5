"""Range checks for the values that make a test set, callable by the CLI before any work.

Each returns the value (normalised) or raises a one-line :class:`InputError` that names the
option and its range: a bad ``--noise`` or ``--seed`` must fail before HR images are read.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from bsrbench.errors import InputError

__all__ = ["check_cache_dir", "check_jpeg", "check_noise", "check_seed"]

NOISE_MAX = 255.0  # noise std in 0..255 units: beyond one full grey range it is no test
SEED_MAX = 2**32 - 1  # numpy's legacy RandomState accepts 0..2**32-1
JPEG_RANGE = (1, 100)  # libjpeg quality, as cv2 IMWRITE_JPEG_QUALITY and PIL quality=


def check_noise(noise: float) -> float:
    """``noise`` as a float in [0, 255], finite (std of additive Gaussian noise, 0..255 units)."""
    try:
        value = float(noise)
    except (TypeError, ValueError):
        raise InputError(f"noise must be a number in 0..255, got {noise!r}") from None
    if not (math.isfinite(value) and 0.0 <= value <= NOISE_MAX):
        raise InputError(f"noise must be a finite number in 0..255 (std in grey levels), "
                         f"got {noise!r}")
    return value


def check_seed(seed: int) -> int:
    """``seed`` as an int in [0, 2**32-1]."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        raise InputError(f"seed must be an integer in 0..{SEED_MAX}, got {seed!r}")
    return seed


def check_jpeg(quality: int | None) -> int | None:
    """``quality`` as an int in [1, 100], or None (no JPEG stage)."""
    if quality is None:
        return None
    lo, hi = JPEG_RANGE
    if isinstance(quality, bool) or not isinstance(quality, int) or not lo <= quality <= hi:
        raise InputError(f"JPEG quality must be an integer in {lo}..{hi}, got {quality!r}")
    return quality


def check_cache_dir(path: str | Path) -> Path:
    """Create the cache folder if needed and check it is a writable folder.

    Raises:
        InputError: When the path is a file, cannot be created, or is not writable (the
            message names ``BSRBENCH_CACHE``, the usual source of the path).
    """
    path = Path(path)
    hint = "set BSRBENCH_CACHE (or --cache-dir) to a writable folder"
    if path.exists() and not path.is_dir():
        raise InputError(f"dataset cache {path} is a file, not a folder: {hint}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create dataset cache {path} "
                         f"({exc.strerror or type(exc).__name__}): {hint}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise InputError(f"dataset cache {path} is not writable: {hint}")
    return path
