"""Reading HR images: folders of files, and the embedded default set.

Images come back as :class:`HRImage` with uint8 pixels ``(H, W, C)``: ``C = 3`` for colour
and ``C = 1`` for grey. Grey images stay single-channel here because they are *scored* on
their own channel; methods receive them expanded to RGB (see :mod:`bsrbench.datasets`).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bsrbench.errors import InputError

__all__ = [
    "EMBEDDED_CROP",
    "EMBEDDED_IMAGES",
    "HRImage",
    "embedded_images",
    "hr_set_digest",
    "list_image_files",
    "load_hr_set",
    "read_image",
    "write_png",
]

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".ppm", ".webp")
# scikit-image's bundled colour photographs that load offline (no pooch download).
EMBEDDED_IMAGES = ("astronaut", "coffee", "chelsea", "rocket")
# Centre crop of each embedded image: 192x192 HR keeps `bsrbench run --method ikc` (full
# SFTMD, 7 iterations, 4 images x 8 kernels at x4) within a few minutes on a 2-core CPU.
EMBEDDED_CROP = 192


@dataclass(frozen=True)
class HRImage:
    """One ground-truth image."""

    name: str  # file stem, unique within a set
    pixels: np.ndarray  # uint8 (H, W, C), C = 1 (grey) or 3 (RGB)

    @property
    def grey(self) -> bool:
        """True when the image has a single channel (scored on that channel)."""
        return self.pixels.shape[2] == 1


def _from_pil(img: object, source: str) -> np.ndarray:
    mode = img.mode  # type: ignore[attr-defined]
    if mode in {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"} or mode.startswith("I;16"):
        raise InputError(
            f"{source} is a {mode} (16-bit or float) image; bsrbench scores 8-bit images: "
            "convert it to 8-bit PNG first"
        )
    if mode in {"RGBA", "LA", "PA"} or (mode == "P" and "transparency" in img.info):
        log.warning("%s: alpha channel dropped", source)
    if mode in {"L", "LA", "1"}:
        arr = np.asarray(img.convert("L"))[:, :, None]  # type: ignore[attr-defined]
    else:
        arr = np.asarray(img.convert("RGB"))  # type: ignore[attr-defined]
    return np.ascontiguousarray(arr, dtype=np.uint8)


def read_image(path: str | Path) -> HRImage:
    """Read an 8-bit image file; alpha is dropped with a warning, 16-bit is an error."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as img:
            pixels = _from_pil(img, str(path))
    except FileNotFoundError:
        raise InputError(f"image {path} not found") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"{path} is not a readable image ({exc})") from None
    return HRImage(path.stem, pixels)


def list_image_files(folder: str | Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"HR folder {folder} does not exist: pass --hr with a folder of images")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(
            f"no images in {folder}: expected files ending in {', '.join(IMAGE_SUFFIXES)}"
        )
    return files


def _centre_crop(arr: np.ndarray, size: int) -> np.ndarray:
    h, w = arr.shape[:2]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return np.ascontiguousarray(arr[top : top + size, left : left + size])


def embedded_images(crop: int | None = EMBEDDED_CROP) -> list[HRImage]:
    """scikit-image's bundled colour photographs (no network), centre-cropped to ``crop``."""
    import skimage.data

    out = []
    for name in EMBEDDED_IMAGES:
        arr = np.asarray(getattr(skimage.data, name)(), dtype=np.uint8)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        arr = arr[:, :, :3]
        out.append(HRImage(name, _centre_crop(arr, crop) if crop else arr))
    return out


def load_hr_set(folder: str | Path | None) -> tuple[str, list[HRImage]]:
    """Load an HR set: a folder, or the embedded default when ``folder`` is None.

    Returns:
        The set's name (folder name, or ``"skimage"``) and its images.
    """
    if folder is None:
        return "skimage", embedded_images()
    images = [read_image(p) for p in list_image_files(folder)]
    names = [im.name for im in images]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"{folder} has several images named {dupes[0]!r}: rename one")
    return Path(folder).resolve().name, images


def hr_set_digest(images: list[HRImage]) -> str:
    """sha256 over names, shapes and pixels: identifies an HR set for dataset caching."""
    digest = hashlib.sha256()
    for im in images:
        digest.update(im.name.encode())
        digest.update(str(im.pixels.shape).encode())
        digest.update(im.pixels.tobytes())
    return digest.hexdigest()


def write_png(path: str | Path, pixels: np.ndarray) -> None:
    """Write uint8 ``(H, W, C)`` pixels (C = 1 or 3) as PNG."""
    from PIL import Image

    arr = pixels[:, :, 0] if pixels.ndim == 3 and pixels.shape[2] == 1 else pixels
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(arr)).save(path)
