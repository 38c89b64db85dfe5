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
    "to_uint8_16bit",
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


def to_uint8_16bit(arr: np.ndarray) -> np.ndarray:
    """16-bit samples to 8 bits by ``round(x / 257)`` (65535 -> 255 exactly).

    This is MATLAB's ``im2uint8`` for uint16 input, the conversion behind the MATLAB-made
    SR test sets; it is applied identically to HR folders (``run``) and ``sr`` inputs,
    both of which read through :func:`read_image`. Ties cannot occur (x/257 is never .5).
    """
    return np.floor(arr.astype(np.float64) / 257.0 + 0.5).astype(np.uint8)


def _png_16bit_colour(path: Path) -> np.ndarray | None:
    """Decode a 16-bit RGB(A)/grey+alpha PNG, which Pillow truncates to 8 bits; None when
    the file is not such a PNG (Pillow then reads it)."""
    import struct
    import zlib

    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    channels = {2: 3, 6: 4, 4: 2}.get(ctype)
    if depth != 16 or channels is None:
        return None
    if interlace:
        raise InputError(f"{path} is an interlaced 16-bit PNG: save it non-interlaced")
    chunks, pos = [], 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            chunks.append(data[pos + 8:pos + 8 + length])
        pos += 12 + length
    try:
        raw = np.frombuffer(zlib.decompress(b"".join(chunks)), dtype=np.uint8)
    except zlib.error as exc:
        raise InputError(f"{path} is not a readable image ({exc})") from None
    bpp, stride = 2 * channels, 2 * channels * width
    if raw.size != height * (stride + 1):
        raise InputError(f"{path} is not a readable image (truncated PNG data)")
    rows = raw.reshape(height, stride + 1)
    out = np.zeros((height, stride), dtype=np.uint8)
    prev = [0] * stride
    for y in range(height):
        kind, line = int(rows[y, 0]), rows[y, 1:].tolist()
        if kind in (0, 2):
            cur = [(v + (prev[x] if kind == 2 else 0)) % 256 for x, v in enumerate(line)]
        else:  # sub, average, paeth depend on the reconstructed left byte: sequential
            cur = [0] * stride
            for x in range(stride):
                a = cur[x - bpp] if x >= bpp else 0
                b, c = prev[x], (prev[x - bpp] if x >= bpp else 0)
                if kind == 1:
                    pred = a
                elif kind == 3:
                    pred = (a + b) // 2
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                cur[x] = (line[x] + pred) % 256
        out[y], prev = cur, cur
    samples = out.view(">u2").reshape(height, width, channels).astype(np.uint16)
    if channels in (2, 4):
        log.warning("%s: alpha channel dropped", path)
        samples = samples[:, :, :channels - 1]
    return to_uint8_16bit(samples)


def _from_pil(img: object, source: str) -> np.ndarray:
    mode = img.mode  # type: ignore[attr-defined]
    if mode in {"F", "I"} or mode.startswith("I;16"):
        arr = np.asarray(img)  # type: ignore[call-overload]
        if mode == "F" or arr.min() < 0 or arr.max() > 65535:
            raise InputError(f"{source} is a {mode} (float or 32-bit) image; bsrbench scores "
                             "8-bit images: convert it to an 8- or 16-bit PNG first")
        return np.ascontiguousarray(to_uint8_16bit(arr)[:, :, None])
    if mode in {"RGBA", "LA", "PA"} or (mode == "P" and "transparency" in img.info):
        log.warning("%s: alpha channel dropped", source)
    if mode in {"L", "LA", "1"}:
        arr = np.asarray(img.convert("L"))[:, :, None]  # type: ignore[attr-defined]
    else:
        arr = np.asarray(img.convert("RGB"))  # type: ignore[attr-defined]
    return np.ascontiguousarray(arr, dtype=np.uint8)


def read_image(path: str | Path) -> HRImage:
    """Read an image file as 8 bits; alpha is dropped with a warning.

    16-bit images (grey, RGB, with alpha) are scaled to 8 bits by :func:`to_uint8_16bit`
    (``round(x/257)``); Pillow alone would truncate 16-bit colour PNGs to their high byte.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        if path.suffix.lower() == ".png":
            colour16 = _png_16bit_colour(path)
            if colour16 is not None:
                return HRImage(path.stem, np.ascontiguousarray(colour16))
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
