"""Option ranges, cache folders and 16-bit images (issue #16)."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from bsrbench.datasets import (
    check_cache_dir,
    check_jpeg,
    check_noise,
    check_seed,
    resolve_dataset,
)
from bsrbench.errors import InputError
from bsrbench.images import read_image


@pytest.mark.parametrize("noise", [float("inf"), float("nan"), 1e6, -1, 255.5, "x"])
def test_noise_outside_0_255_is_refused(noise) -> None:
    with pytest.raises(InputError, match="noise must be"):
        check_noise(noise)


def test_noise_seed_jpeg_ranges_accept_their_bounds() -> None:
    assert check_noise(0) == 0.0 and check_noise(255) == 255.0
    assert check_seed(0) == 0 and check_seed(2**32 - 1) == 2**32 - 1
    assert check_jpeg(None) is None and check_jpeg(1) == 1 and check_jpeg(100) == 100
    for seed in (-1, 2**32, 1.5, True):
        with pytest.raises(InputError, match="seed must be"):
            check_seed(seed)
    for q in (0, 101, 50.0):
        with pytest.raises(InputError, match="JPEG quality"):
            check_jpeg(q)


def test_resolve_dataset_refuses_infinite_noise(registry, hr_dir, tmp_path) -> None:
    with pytest.raises(InputError, match="noise must be"):
        resolve_dataset(registry, "gaussian8", hr=hr_dir, noise=float("inf"),
                        cache_dir=tmp_path)


def test_cache_dir_that_is_a_file_is_one_line(tmp_path: Path, monkeypatch,
                                              registry, hr_dir) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    monkeypatch.setenv("BSRBENCH_CACHE", str(f))
    with pytest.raises(InputError, match=r"is a file, not a folder.*BSRBENCH_CACHE"):
        resolve_dataset(registry, "bicubic", hr=hr_dir)
    with pytest.raises(InputError, match="cannot create"):
        check_cache_dir(f / "sub")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root can write into read-only folders")
def test_read_only_cache_dir_is_one_line(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(InputError, match="not writable"):
            check_cache_dir(ro)
    finally:
        ro.chmod(0o755)


def _png16(path: Path, arr: np.ndarray) -> None:
    """Write a 16-bit PNG (grey, RGB or RGBA), one filter type per row (0..4)."""
    h, w, c = arr.shape
    ctype = {1: 0, 3: 2, 4: 6}[c]
    raw = arr.astype(">u2").reshape(h, w * c).view(np.uint8).reshape(h, w * c * 2)
    raw = raw.astype(np.int32)
    bpp = 2 * c
    rows = []
    for y in range(h):
        x = raw[y]
        up = raw[y - 1] if y else np.zeros_like(x)
        left = np.concatenate([np.zeros(bpp, np.int32), x[:-bpp]])
        ul = np.concatenate([np.zeros(bpp, np.int32), up[:-bpp]])
        kind = y % 5
        p = left + up - ul
        pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - ul)
        paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, ul))
        pred = [0, left, up, (left + up) // 2, paeth][kind]
        rows.append(bytes([kind]) + ((x - pred) % 256).astype(np.uint8).tobytes())

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, ctype, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b""))


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_16bit_png_is_scaled_by_round_x_over_257(tmp_path: Path, channels: int) -> None:
    rng = np.random.default_rng(channels)
    arr = rng.integers(0, 65536, (7, 9, channels), dtype=np.uint16)
    arr[0, 0] = 65535
    arr[0, 1] = 128  # 128/257 < .5 -> 0; truncation to the high byte would also give 0
    arr[0, 2] = 257 * 3 + 200  # 3.78 -> 4, the high byte is 3
    _png16(tmp_path / "a.png", arr)
    im = read_image(tmp_path / "a.png")
    want = np.floor(arr.astype(np.float64) / 257 + 0.5).astype(np.uint8)
    want = want[:, :, :3] if channels == 4 else want
    assert np.array_equal(im.pixels, want)
